#!/bin/sh
# tests/integration/policy_tool.sh - custody-policy, the CI front door of
# the policy checker: what it links, that it answers exactly as
# `custodyctl policy` does, the privilege diff with the git recipe, the
# report formats checked by the tools that consume them (Microsoft's SARIF
# multitool from npm, python3-junitparser), and the pre-commit, GitHub
# Actions and GitLab CI recipes run with the built binary.
. tests/integration/lib.sh

TOP=$(pwd)
CP="$BUILD/custody-policy"
EX=policy/examples
PY=/usr/bin/python3	# Debian's, with python3-yaml and python3-junitparser
cp_() { "$CP" "$@"; }
# Commits in scratch repositories (and pre-commit's shadow repository)
# need an identity on a machine without a git configuration.
GIT_AUTHOR_NAME=custody-test GIT_AUTHOR_EMAIL=test@custody.invalid
GIT_COMMITTER_NAME=custody-test GIT_COMMITTER_EMAIL=test@custody.invalid
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

# ---- what it links: libyaml, jansson and libc, nothing else ----
ldd "$CP" > "$TESTTMP/ldd"
t_grep "links libyaml" "libyaml" "$TESTTMP/ldd"
t_grep "links jansson" "libjansson" "$TESTTMP/ldd"
# Sanitizer builds add their own runtimes; anything else is a defect.
extra=$(awk '{print $1}' "$TESTTMP/ldd" | grep -Ev \
	'^(linux-vdso|/lib64/ld-linux|libc\.so|libyaml|libjansson)' |
	grep -Ev '^(libasan|libubsan|libstdc\+\+|libm\.so|libgcc_s|libdl|librt|libpthread)' ||
	true)
grep -q libasan "$TESTTMP/ldd" || extra=$(awk '{print $1}' "$TESTTMP/ldd" |
	grep -Ev '^(linux-vdso|/lib64/ld-linux|libc\.so|libyaml|libjansson)' ||
	true)
t_check "links nothing else (got: $extra)" test -z "$extra"

# ---- one implementation, two front doors ----
mkdir -p "$TESTTMP/empty"
same() {	# name, then the arguments after "policy" / the command
	_n=$1; shift
	"$CUSTODYCTL" policy "$@" >"$TESTTMP/a.out" 2>/dev/null
	_a=$?
	"$CP" "$@" >"$TESTTMP/b.out" 2>/dev/null
	_b=$?
	if [ "$_a" -eq "$_b" ] && cmp -s "$TESTTMP/a.out" "$TESTTMP/b.out"; then
		t_ok "$_n"
	else
		t_fail "$_n (custodyctl $_a, custody-policy $_b)"
		diff "$TESTTMP/a.out" "$TESTTMP/b.out" | head -10
	fi
}
for fmt in text json sarif junit codeclimate; do
	same "check --format $fmt: same output and exit as custodyctl" \
		check --format "$fmt" policy/example.yaml "$EX"/*.yaml
done
same "check --strict: same" check --strict "$EX"/warn-*.yaml
same "plan --tags: same" plan policy/example.yaml --tags branch
same "diff: same" diff "$EX/bad-owner.yaml" policy/example.yaml

t_exit "example passes" 0 cp_ check policy/example.yaml
t_exit "bad policy: exit 1" 1 cp_ check "$EX/bad-owner.yaml"
t_grep "bad policy: finding" "^$EX/bad-owner.yaml:4:8: error: .*\\[owner\\]" \
	"$TESTTMP/out"
t_grep "summary on stderr" "^custody-policy: 1 file checked: 2 errors" \
	"$TESTTMP/err"
t_exit "-q: no summary" 1 cp_ -q check "$EX/bad-owner.yaml"
t_check "-q: stderr empty" test ! -s "$TESTTMP/err"
t_exit "malformed: exit 2" 2 cp_ check "$EX/malformed-syntax.yaml"
t_exit "several files, one bad: exit 1" 1 cp_ check policy/example.yaml \
	"$EX/bad-owner.yaml"
t_exit "stdin" 1 sh -c "\"$CP\" check - < $EX/bad-owner.yaml"
t_grep "stdin named -" "^-:4:8: error: " "$TESTTMP/out"
t_exit "warnings pass" 0 cp_ check "$EX/warn-legacy-realm.yaml"
t_exit "warnings fail --strict" 1 cp_ check --strict \
	"$EX/warn-legacy-realm.yaml"
t_exit "--json" 1 cp_ --json check "$EX/bad-owner.yaml"
t_check "--json is JSON" $PY -c 'import json,sys; json.load(open(sys.argv[1]))' \
	"$TESTTMP/out"
t_exit "no file: usage" 2 cp_ check
t_grep "usage names custody-policy" "^usage: custody-policy check " \
	"$TESTTMP/err"
t_exit "bad format: usage" 2 cp_ check --format xml policy/example.yaml
t_exit "unknown option: usage" 2 cp_ check --bogus policy/example.yaml
t_check "unknown option: said once" test "$(grep -c . "$TESTTMP/err")" -eq 2
t_exit "bad short option in a group: usage" 2 cp_ check --strict -xs \
	policy/example.yaml
t_grep "bad short option: named" "option -x is unknown" "$TESTTMP/err"
t_exit "check - -: usage" 2 cp_ check - -
t_exit "check --help" 0 cp_ check --help
t_grep "check --help: synopsis" "^usage: custody-policy check " "$TESTTMP/out"
t_exit "unknown command: usage" 2 cp_ frobnicate
t_exit "no command: usage" 2 cp_
t_exit "--version" 0 cp_ --version
t_grep "--version prints it" "^custody-policy [0-9]+\\.[0-9]+" "$TESTTMP/out"
t_exit "--help" 0 cp_ --help
t_exit "plan: offline, tagged device" 0 cp_ plan policy/example.yaml \
	--tags branch
t_grep "plan: powertool on a branch device" "^  powertool " "$TESTTMP/out"
t_exit "plan: untagged device" 0 cp_ plan policy/example.yaml
t_check "plan: powertool not on an untagged device" \
	sh -c "! grep -q '^  powertool ' '$TESTTMP/out'"
t_exit "plan: bad tag is usage" 2 cp_ plan policy/example.yaml --tags 'a b'
t_exit "plan of a failing policy: exit 1" 1 cp_ plan "$EX/bad-owner.yaml"
# No state directory, no home, nothing written.
(cd "$TESTTMP/empty" && env -i PATH=/usr/bin:/bin "$CP" check \
	"$TOP/policy/example.yaml" >/dev/null 2>&1)
t_check "runs with an empty environment" test $? -eq 0
t_check "writes nothing in its directory" \
	test -z "$(ls -A "$TESTTMP/empty")"

# ---- privilege diff ----
mkdir -p "$TESTTMP/d"
cp policy/example.yaml "$TESTTMP/d/old.yaml"
# powertool gains redirection and the hq scope; newtool appears
sed -e 's/duties: \[power, inventory\]$/duties: [power, inventory, redirection]/' \
	-e 's/tags: \[branch, lab\]/tags: [branch, hq]/' \
	"$TESTTMP/d/old.yaml" > "$TESTTMP/d/new.yaml"
cat >> "$TESTTMP/d/new.yaml" <<'EOF'

  newtool:
    identity:
      kerberos: "svc-amt-new@CORP.EXAMPLE"
    duties: [inventory]
EOF
D="$TESTTMP/d"
t_exit "diff: exit 0 without the gate" 0 cp_ diff "$D/old.yaml" "$D/new.yaml"
t_grep "diff: new console" "^\\+ console newtool \\(added\\) ESCALATION" \
	"$TESTTMP/out"
t_grep "diff: realm gained on a scope" \
	"devices tagged branch: gains RedirectionRealm" "$TESTTMP/out"
t_grep "diff: new scope" "devices tagged hq: gains RedirectionRealm, " \
	"$TESTTMP/out"
t_grep "diff: lost scope" "devices tagged lab: loses " "$TESTTMP/out"
t_exit "diff --fail-on-escalation: exit 1" 1 cp_ diff --fail-on-escalation \
	"$D/old.yaml" "$D/new.yaml"
t_exit "reverse: the lab scope comes back, exit 1" 1 cp_ diff \
	--fail-on-escalation "$D/new.yaml" "$D/old.yaml"
# a pure reduction: drop a console and a duty
sed -e 's/duties: \[power, inventory\]$/duties: [power]/' "$D/old.yaml" |
	awk '/^  auditors:/{skip=1} /^  powertool:/{skip=0} !skip' > "$D/less.yaml"
t_exit "pure reduction: exit 0 with the gate" 0 cp_ diff \
	--fail-on-escalation "$D/old.yaml" "$D/less.yaml"
t_grep "pure reduction: said" "no privilege escalation" "$TESTTMP/out"
t_grep "pure reduction: console removed" "^- console auditors \\(removed\\)" \
	"$TESTTMP/out"
t_exit "identical: exit 0" 0 cp_ diff --fail-on-escalation "$D/old.yaml" \
	"$D/old.yaml"
t_grep "identical: nothing changed" "^0 consoles changed" "$TESTTMP/out"
t_exit "diff --format markdown" 0 cp_ diff --format markdown "$D/old.yaml" \
	"$D/new.yaml"
t_grep "markdown: heading" "^### custody policy diff" "$TESTTMP/out"
t_grep "markdown: table row" \
	"^\\| newtool \\| added \\| every device \\| HardwareAssetRealm" \
	"$TESTTMP/out"
t_exit "diff --format json" 0 cp_ diff --format json "$D/old.yaml" \
	"$D/new.yaml"
t_check "json: escalation and consoles" $PY - "$TESTTMP/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["escalation"] is True
names = {c["console"]: c for c in d["consoles"]}
assert names["newtool"]["change"] == "added", names
assert any("hq" in u["scope"] for u in names["powertool"]["scopes"])
EOF
t_exit "diff: malformed side is exit 2" 2 cp_ diff "$D/old.yaml" \
	"$EX/malformed-syntax.yaml"
t_grep "diff: malformed side named" "malformed-syntax.yaml:.*\\[yaml-syntax\\]" \
	"$TESTTMP/err"
t_exit "diff: malformed OLD counts as no policy" 0 cp_ diff \
	"$EX/malformed-syntax.yaml" "$D/old.yaml"
t_grep "diff: malformed OLD warned" "warning: .*malformed-syntax.yaml is \
malformed: compared as no policy" "$TESTTMP/err"
t_exit "diff: ... and everything in NEW is an escalation" 1 cp_ diff \
	--fail-on-escalation "$EX/malformed-syntax.yaml" "$D/old.yaml"
t_exit "diff: one file is usage" 2 cp_ diff "$D/old.yaml"
t_exit "diff: two stdins is usage" 2 cp_ diff - -
t_exit "diff: missing file is exit 2" 2 cp_ diff "$D/none.yaml" "$D/old.yaml"

# The git recipe of custody-policy(1): OLD from a revision, on stdin.
G="$TESTTMP/repo"
git init -q -b main "$G"
mkdir -p "$G/policy"
cp "$D/old.yaml" "$G/policy/fleet.yaml"
git -C "$G" add policy && git -C "$G" -c user.name=t -c user.email=t@t \
	commit -qm base
cp "$D/new.yaml" "$G/policy/fleet.yaml"
(cd "$G" && git show main:policy/fleet.yaml |
	"$CP" diff --fail-on-escalation --old-name main:policy/fleet.yaml - \
	policy/fleet.yaml) >"$TESTTMP/out" 2>"$TESTTMP/err"
t_check "git recipe: escalation exit 1" test $? -eq 1
t_grep "git recipe: old named" "^policy diff: main:policy/fleet.yaml -> " \
	"$TESTTMP/out"
# A file new in this change: git show prints nothing; all of it is new.
(cd "$G" && { git show main:policy/added.yaml 2>/dev/null || true; } |
	"$CP" diff - policy/fleet.yaml) >"$TESTTMP/out" 2>"$TESTTMP/err"
t_check "git recipe: new file diffs against nothing" test $? -eq 0
t_grep "git recipe: every console added" "^\\+ console sccm \\(added\\)" \
	"$TESTTMP/out"

# ---- JUnit, as Jenkins and GitLab read it (python3-junitparser) ----
"$CP" check --format junit policy/example.yaml "$EX/bad-owner.yaml" \
	"$EX/warn-legacy-realm.yaml" "$EX/malformed-syntax.yaml" \
	>"$TESTTMP/junit.xml" 2>/dev/null
t_check "junit: junitparser reads it, counts add up" $PY - \
	"$TESTTMP/junit.xml" <<'EOF'
import sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
total = fails = errs = 0
names = []
for suite in xml:
    cases = list(suite)
    n_fail = sum(1 for c in cases for r in c.result if isinstance(r, Failure))
    n_err = sum(1 for c in cases for r in c.result if isinstance(r, Error))
    assert suite.tests == len(cases), (suite.name, suite.tests, len(cases))
    assert suite.failures == n_fail, (suite.name, suite.failures, n_fail)
    assert suite.errors == n_err, (suite.name, suite.errors, n_err)
    for c in cases:
        for r in c.result:
            if isinstance(r, (Failure, Error)):
                assert r.message and r.type, (c.name, r.message, r.type)
    total += suite.tests; fails += suite.failures; errs += suite.errors
    names.append(suite.name)
root = xml._elem
assert int(root.get("tests")) == total and int(root.get("failures")) == fails \
    and int(root.get("errors")) == errs, (root.attrib, total, fails, errs)
assert len(names) == 4 and fails >= 2 and errs == 1, (names, fails, errs)
EOF

# ---- Code Quality (GitLab) ----
"$CP" check --format codeclimate policy/example.yaml "$EX"/*.yaml \
	>"$TESTTMP/cq.json" 2>/dev/null
t_check "codeclimate: the fields GitLab reads" $PY - "$TESTTMP/cq.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list) and len(d) >= 20
fps = set()
for i in d:
    assert isinstance(i["description"], str) and i["description"]
    assert isinstance(i["check_name"], str) and i["check_name"]
    assert i["severity"] in ("info", "minor", "major", "critical", "blocker")
    assert isinstance(i["location"]["path"], str)
    assert isinstance(i["location"]["lines"]["begin"], int)
    assert i["location"]["lines"]["begin"] >= 1
    assert i["fingerprint"] not in fps, i
    fps.add(i["fingerprint"])
EOF

# ---- SARIF: Microsoft's validator, no errors and no warnings ----
# Installed with npm into build/tools once (then reused by the plain and
# the sanitizer runs); .NET without ICU needs invariant globalization.
SARIFDIR="$TOP/build/tools/sarif"
MT="$SARIFDIR/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [ ! -x "$MT" ]; then
	mkdir -p "$SARIFDIR"
	npm install --silent --no-audit --no-fund --prefix "$SARIFDIR" \
		@microsoft/sarif-multitool-linux@5 >"$TESTTMP/npm.log" 2>&1 ||
		cat "$TESTTMP/npm.log"
	[ -f "$MT" ] && chmod u+x "$MT"
fi
t_check "SARIF multitool installed with npm" test -x "$MT"
"$CP" check --format sarif policy/example.yaml "$EX"/*.yaml \
	>"$TESTTMP/out.sarif" 2>/dev/null
DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$MT" validate "$TESTTMP/out.sarif" \
	--level "Error;Warning" -o "$TESTTMP/validation.sarif" \
	>"$TESTTMP/mt.log" 2>&1
t_check "SARIF validator ran" test -s "$TESTTMP/validation.sarif"
t_check "SARIF: no errors or warnings" $PY - "$TESTTMP/validation.sarif" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
bad = [r for run in d["runs"] for r in run.get("results", [])
       if r.get("level", "warning") in ("error", "warning")]
for r in bad:
    print(r.get("ruleId"), r["message"].get("text", "")[:200])
assert d["runs"][0]["invocations"][0]["executionSuccessful"]
assert not bad
EOF
grep -E '(error|warning) (SARIF|ERR|JSON)' "$TESTTMP/mt.log" | head -5
# the validator's own verdict is worth a look too: a planted defect shows
# that this check can fail
$PY - "$TESTTMP/out.sarif" "$TESTTMP/planted.sarif" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["runs"][0]["tool"]["driver"]["rules"][0]
r["name"] = r["id"]
json.dump(d, open(sys.argv[2], "w"))
EOF
DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$MT" validate "$TESTTMP/planted.sarif" \
	--level "Error;Warning" -o "$TESTTMP/planted.out" >/dev/null 2>&1
t_check "SARIF validator flags a planted defect" \
	grep -q SARIF1001 "$TESTTMP/planted.out"

# ---- recipes, run with the built binary ----
BIN="$TESTTMP/bin"
mkdir -p "$BIN"
ln -s "$CP" "$BIN/custody-policy"
cat > "$BIN/gh" <<EOF
#!/bin/sh
# stand-in for the GitHub CLI: records a PR comment, refuses the rest
[ "\$1 \$2" = "pr comment" ] && [ "\$4" = --body-file ] || exit 9
printf '%s\n' "\$3" > "$TESTTMP/gh.pr"
cp "\$5" "$TESTTMP/gh.body"
EOF
chmod +x "$BIN/gh"
export PATH="$BIN:$PATH"

# A repository with a base branch on "origin" and a change on top.
mkrepo() {	# dir newpolicy
	rm -rf "$1" "$1.git"
	git init -q --bare -b main "$1.git"
	git clone -q "$1.git" "$1" 2>/dev/null
	mkdir -p "$1/policy"
	cp "$D/old.yaml" "$1/policy/fleet.yaml"
	cp policy/example.yaml "$1/policy/other.yaml"
	git -C "$1" add policy
	git -C "$1" -c user.name=t -c user.email=t@t commit -qm base
	git -C "$1" push -q origin main 2>/dev/null
	git -C "$1" checkout -q -b change
	cp "$2" "$1/policy/fleet.yaml"
	git -C "$1" add policy
	git -C "$1" commit -qm change
}

R="$TESTTMP/gh"
mkrepo "$R" "$D/new.yaml"
(cd "$R" && $PY "$TOP/tests/integration/ci_recipe.py" github \
	"$TOP/contrib/ci/github-actions.yml" pull_request) >"$TESTTMP/gh.json" \
	2>"$TESTTMP/gh.err"
t_check "github: the recipe runs" test $? -eq 0
t_check "github: steps as expected" $PY - "$TESTTMP/gh.json" "$R" <<'EOF'
import json, os, sys
d = json.load(open(sys.argv[1]))
steps = {s["id"]: s["status"] for s in d["steps"]}
assert steps["check"] == 0, d          # the check step records, not fails
assert not d["failed"], d              # the example passes: job green
uses = [u for u in d["uses"] if "upload-sarif" in u["uses"]]
assert uses and os.path.exists(os.path.join(sys.argv[2],
                                            uses[0]["with"]["sarif_file"]))
sarif = json.load(open(os.path.join(sys.argv[2], "custody-policy.sarif")))
assert sarif["version"] == "2.1.0"
EOF
t_check "github: diff posted on PR 7" grep -qx 7 "$TESTTMP/gh.pr"
t_grep "github: comment shows the escalation" "Privilege escalation" \
	"$TESTTMP/gh.body"
t_grep "github: comment names the base" "main\\\\:policy\\\\/fleet\\\\\\.yaml" \
	"$TESTTMP/gh.body"
# Every policy file under policy/, any depth, .yml too; deletions too.
mkrepo "$R" "$D/new.yaml"
mkdir -p "$R/policy/sub dir"
cp "$EX/warn-legacy-realm.yaml" "$R/policy/sub dir/site.yml"
git -C "$R" rm -q policy/other.yaml
git -C "$R" add policy && git -C "$R" commit -qm more
(cd "$R" && $PY "$TOP/tests/integration/ci_recipe.py" github \
	"$TOP/contrib/ci/github-actions.yml" pull_request) >"$TESTTMP/gh.json" \
	2>"$TESTTMP/gh.err"
t_check "github: subdirectory .yml and deleted files run" test $? -eq 0
t_grep "github: the new .yml is in the comment" \
	"sub dir\\\\/site\\\\.yml" "$TESTTMP/gh.body"
t_grep "github: the deleted file is in the comment" \
	"main\\\\:policy\\\\/other\\\\.yaml → policy\\\\/other\\\\.yaml" \
	"$TESTTMP/gh.body"
t_check "github: the new .yml was checked (SARIF names it)" \
	grep -q 'sub%20dir/site.yml' "$R/custody-policy.sarif"
# With the gate: every file is still diffed and the comment posted, then
# the step fails (and, with continue-on-error, the job does not).
rm -f "$TESTTMP/gh.body"
(cd "$R" && CUSTODY_FAIL_ON_ESCALATION=1 $PY \
	"$TOP/tests/integration/ci_recipe.py" github \
	"$TOP/contrib/ci/github-actions.yml" pull_request) >"$TESTTMP/gh.json" \
	2>"$TESTTMP/gh.err"
t_check "github gate: the diff step fails after commenting" $PY - \
	"$TESTTMP/gh.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
st = {s["name"]: s["status"] for s in d["steps"]}
assert st["Comment the privilege diff"] == 1, d
EOF
t_grep "github gate: the first file is in the comment" \
	"main\\\\:policy\\\\/fleet\\\\.yaml" "$TESTTMP/gh.body"
t_grep "github gate: ... and the last one" "sub dir\\\\/site\\\\.yml" \
	"$TESTTMP/gh.body"
# A malformed policy beside an escalation: the comment still comes.
printf 'version: [\n' > "$R/policy/broken.yaml"
git -C "$R" add policy && git -C "$R" commit -qm broken
rm -f "$TESTTMP/gh.body"
(cd "$R" && $PY "$TOP/tests/integration/ci_recipe.py" github \
	"$TOP/contrib/ci/github-actions.yml" pull_request) >"$TESTTMP/gh.json" \
	2>"$TESTTMP/gh.err"
t_grep "github: a malformed file does not stop the comment" \
	"Privilege escalation" "$TESTTMP/gh.body"
t_check "github: ... and the job fails on it" $PY - "$TESTTMP/gh.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["failed"], d
EOF
# A failing policy fails the job after the SARIF upload.
mkrepo "$R" "$EX/bad-owner.yaml"
(cd "$R" && $PY "$TOP/tests/integration/ci_recipe.py" github \
	"$TOP/contrib/ci/github-actions.yml" push) >"$TESTTMP/gh.json" \
	2>"$TESTTMP/gh.err"
t_check "github: bad policy fails the job, SARIF still uploaded" $PY - \
	"$TESTTMP/gh.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["failed"], d
assert [u for u in d["uses"] if "upload-sarif" in u["uses"]], d
assert d["steps"][-1]["status"] == 1, d
EOF

R="$TESTTMP/gl"
mkrepo "$R" "$D/new.yaml"
CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main
export CI_MERGE_REQUEST_TARGET_BRANCH_NAME
(cd "$R" && $PY "$TOP/tests/integration/ci_recipe.py" gitlab \
	"$TOP/contrib/ci/gitlab-ci.yml" merge_request_event) \
	>"$TESTTMP/gl.json" 2>"$TESTTMP/gl.err"
t_check "gitlab: the recipe runs" test $? -eq 0
t_check "gitlab: jobs pass, reports made and valid" $PY - "$TESTTMP/gl.json" \
	"$R" <<'EOF'
import json, os, sys
from junitparser import JUnitXml
d = json.load(open(sys.argv[1]))
jobs = d["jobs"]
assert jobs["custody-policy"]["status"] == 0, d
assert jobs["custody-policy-diff"]["status"] == 0, d
rep = jobs["custody-policy"]["reports"]
cq = json.load(open(os.path.join(sys.argv[2], rep["codequality"])))
assert isinstance(cq, list)
JUnitXml.fromfile(os.path.join(sys.argv[2], rep["junit"]))
md = open(os.path.join(sys.argv[2], "custody-policy-diff.md")).read()
assert "Privilege escalation" in md, md
EOF
CUSTODY_FAIL_ON_ESCALATION=1
export CUSTODY_FAIL_ON_ESCALATION
(cd "$R" && $PY "$TOP/tests/integration/ci_recipe.py" gitlab \
	"$TOP/contrib/ci/gitlab-ci.yml" merge_request_event) \
	>"$TESTTMP/gl.json" 2>"$TESTTMP/gl.err"
t_check "gitlab: escalation fails the diff job when asked" $PY - \
	"$TESTTMP/gl.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["jobs"]
assert d["custody-policy-diff"]["status"] == 1, d
EOF
unset CUSTODY_FAIL_ON_ESCALATION
mkrepo "$R" "$EX/bad-owner.yaml"
(cd "$R" && $PY "$TOP/tests/integration/ci_recipe.py" gitlab \
	"$TOP/contrib/ci/gitlab-ci.yml" push) >"$TESTTMP/gl.json" \
	2>"$TESTTMP/gl.err"
t_check "gitlab: bad policy fails the check job, reports kept" $PY - \
	"$TESTTMP/gl.json" "$R" <<'EOF'
import json, os, sys
d = json.load(open(sys.argv[1]))["jobs"]
assert d["custody-policy"]["status"] == 1, d
assert "custody-policy-diff" not in d, d    # merge requests only
cq = json.load(open(os.path.join(sys.argv[2], "gl-code-quality-report.json")))
assert any(i["check_name"] == "owner" for i in cq), cq
EOF

# pre-commit: the hook by reference to this repository (try-repo takes the
# working tree as it is), on a repository with one good and one bad policy.
R="$TESTTMP/pc"
mkrepo "$R" "$D/new.yaml"
export PRE_COMMIT_HOME="$TESTTMP/pre-commit-home"
(cd "$R" && git add -A && pre-commit try-repo "$TOP" custody-policy \
	--all-files) >"$TESTTMP/out" 2>&1
t_check "pre-commit: passing policies pass" test $? -eq 0
t_grep "pre-commit: the hook ran" "custody policy check\\.+Passed" \
	"$TESTTMP/out"
cp "$EX/bad-owner.yaml" "$R/policy/bad.yaml"
cp "$EX/bad-owner.yaml" "$R/notpolicy.yaml"
(cd "$R" && git add -A && pre-commit try-repo "$TOP" custody-policy \
	--all-files) >"$TESTTMP/out" 2>&1
t_check "pre-commit: a bad policy fails" test $? -eq 1
t_grep "pre-commit: names the finding" "^policy/bad.yaml:4:8: error: " \
	"$TESTTMP/out"
t_check "pre-commit: files outside policy/ are not checked" \
	sh -c "! grep -q '^notpolicy.yaml' '$TESTTMP/out'"

# ---- make install-policy: the binary and its man pages, alone ----
make -s --no-print-directory -C "$TOP" BUILD="$BUILD" install-policy \
	DESTDIR="$TESTTMP/dest" PREFIX=/usr >/dev/null 2>&1
t_check "install-policy: binary" test -x "$TESTTMP/dest/usr/bin/custody-policy"
t_check "install-policy: custody-policy(1)" \
	test -f "$TESTTMP/dest/usr/share/man/man1/custody-policy.1"
t_check "install-policy: custody-policy(5)" \
	test -f "$TESTTMP/dest/usr/share/man/man5/custody-policy.5"
t_check "install-policy: nothing else" test "$(find "$TESTTMP/dest" -type f |
	wc -l)" -eq 3
t_check "install-policy: custodyctl not installed" \
	test ! -e "$TESTTMP/dest/usr/bin/custodyctl"
t_done
