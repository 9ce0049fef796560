#!/bin/sh
# tests/integration/policy.sh - custodyctl policy check|load|plan end to end.
#
# Every file in policy/examples/ names the finding it must produce in a
# "# expect: RULE LINE:COL" line (or "none"); its prefix gives the exit
# status: bad- 1, malformed- 2, warn- 0 (1 with --strict), ok- 0. The
# output formats are validated with python3 (json, xml.etree).
. tests/integration/lib.sh

EX=policy/examples
NOSTATE="$TESTTMP/no-such-state"
py() { python3 - "$@"; }

# ---- check: offline, no state directory ----
t_exit "example passes" 0 cc --state-dir "$NOSTATE" policy check \
	policy/example.yaml
t_check "example: no findings" test ! -s "$TESTTMP/out"
t_exit "example passes --strict" 0 cc policy check --strict \
	policy/example.yaml
t_check "no state directory was created" test ! -e "$NOSTATE"

n=0
for f in "$EX"/*.yaml; do
	name=$(basename "$f" .yaml)
	exp=$(sed -n 's/^# expect: //p' "$f")
	case $name in
	bad-*) want=1 ;;
	malformed-*) want=2 ;;
	*) want=0 ;;
	esac
	t_exit "$name: exit $want" "$want" cc policy check "$f"
	if [ "$exp" = none ]; then
		t_check "$name: no findings" test ! -s "$TESTTMP/out"
	else
		rule=${exp%% *}
		pos=${exp#* }
		t_grep "$name: $rule at $pos" \
			"^$f:$pos: (error|warning): .+ \\[$rule\\]\$" "$TESTTMP/out"
	fi
	case $name in
	warn-*)
		t_exit "$name: --strict exit 1" 1 cc policy check --strict "$f"
		;;
	esac
	n=$((n + 1))
done
t_check "at least 20 examples" test "$n" -ge 20

t_exit "unreadable file: exit 2" 2 cc policy check "$TESTTMP/none.yaml"
t_grep "unreadable named" "none.yaml: error: .*\\[unreadable\\]" \
	"$TESTTMP/out"
t_exit "malformed among good: exit 2" 2 cc policy check policy/example.yaml \
	"$EX/malformed-syntax.yaml" "$EX/bad-owner.yaml"
t_exit "violations among good: exit 1" 1 cc policy check policy/example.yaml \
	"$EX/bad-owner.yaml"
t_exit "no file: usage" 2 cc policy check
t_exit "bad format: usage" 2 cc policy check --format xml policy/example.yaml
t_exit "stdin" 1 sh -c "\"$CUSTODYCTL\" policy check - < $EX/bad-owner.yaml"
t_grep "stdin named -" "^-:4:8: error: .*\\[owner\\]" "$TESTTMP/out"

# ---- JSON ----
t_exit "json: exit 1" 1 cc policy check --format json policy/example.yaml \
	"$EX/bad-excess-realm.yaml"
t_check "json: valid, finding at 16:54" py "$TESTTMP/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
f = [x for x in d["findings"] if x["rule"] == "excess-realm"]
assert len(f) == 1 and f[0]["line"] == 16 and f[0]["column"] == 54, f
assert f[0]["console"] == "powertool" and f[0]["severity"] == "error"
assert d["errors"] == 1 and len(d["files"]) == 2, d
EOF
t_exit "--json selects json" 2 cc --json policy check \
	"$EX/malformed-unknown-key.yaml"
t_check "--json: valid" py "$TESTTMP/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["findings"][0]["rule"] == "unknown-key"
assert d["files"][0]["checked"] is False
EOF

# ---- SARIF 2.1.0 ----
t_exit "sarif: exit 1" 1 cc policy check --format sarif \
	policy/example.yaml "$EX"/bad-*.yaml "$EX"/warn-*.yaml
t_check "sarif: valid for code scanning" py "$TESTTMP/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == "2.1.0" and d["$schema"].endswith("sarif-2.1.0.json")
assert set(d) <= {"$schema", "version", "runs", "properties"}
assert len(d["runs"]) == 1
run = d["runs"][0]
drv = run["tool"]["driver"]
assert isinstance(drv["name"], str) and drv["name"]
rules = drv["rules"]
ids = [r["id"] for r in rules]
assert len(ids) == len(set(ids)) and len(ids) >= 20
levels = {"none", "note", "warning", "error"}
for r in rules:
    for k in ("shortDescription", "fullDescription", "help"):
        assert isinstance(r[k]["text"], str) and r[k]["text"]
    assert r["defaultConfiguration"]["level"] in levels
assert run["invocations"][0]["executionSuccessful"] is True
res = run["results"]
assert len(res) >= 17
for x in res:
    assert x["ruleId"] == ids[x["ruleIndex"]]
    assert x["level"] in levels and x["message"]["text"]
    pl = x["locations"][0]["physicalLocation"]
    uri = pl["artifactLocation"]["uri"]
    assert uri.startswith("policy/examples/") and " " not in uri, uri
    assert pl["region"]["startLine"] >= 1 and pl["region"]["startColumn"] >= 1
seen = {(x["ruleId"], x["locations"][0]["physicalLocation"]["region"]["startLine"]) for x in res}
assert ("exclusive-duty", 17) in seen and ("acl-budget", 27) in seen, seen
EOF

# ---- JUnit ----
t_exit "junit: exit 2 (one malformed)" 2 cc policy check --format junit policy/example.yaml \
	"$EX/bad-exclusive-duty.yaml" "$EX/malformed-syntax.yaml"
t_check "junit: valid, one case per rule per console" py "$TESTTMP/out" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites"
cases = root.findall("./testsuite/testcase")
assert int(root.get("tests")) == len(cases)
assert int(root.get("failures")) == len(root.findall("./testsuite/testcase/failure"))
assert int(root.get("errors")) == len(root.findall("./testsuite/testcase/error"))
suites = {s.get("name"): s for s in root.findall("testsuite")}
ex = suites["policy/example.yaml"]
cons = {c.get("classname") for c in ex.findall("testcase")}
assert cons == {"document", "policy", "sccm", "secsuite", "auditors", "powertool"}, cons
per = {}
for c in ex.findall("testcase"):
    per.setdefault(c.get("classname"), set()).add(c.get("name"))
assert per["sccm"] == per["powertool"] and "excess-realm" in per["sccm"]
assert not ex.findall("testcase/failure")
bad = suites["policy/examples/bad-exclusive-duty.yaml"]
f = [c for c in bad.findall("testcase") if c.find("failure") is not None]
assert [(c.get("classname"), c.get("name")) for c in f] == [("edr", "exclusive-duty")], f
mal = suites["policy/examples/malformed-syntax.yaml"]
assert {c.get("classname") for c in mal.findall("testcase")} == {"document"}
assert mal.find("testcase/error") is not None
EOF

# ---- load and plan on a state directory ----
S="$TESTTMP/state"
t_exit "init" 0 cc --state-dir "$S" init
t_exit "device d1 (lab)" 0 cc --state-dir "$S" device add d1.corp.example \
	--tag lab
t_exit "device d2" 0 cc --state-dir "$S" device add d2.corp.example
t_exit "plan before load: not found" 4 cc --state-dir "$S" policy plan --all
t_exit "load example" 0 cc --state-dir "$S" policy load policy/example.yaml
t_grep "load: consoles and hash" "4 consoles, sha256 [0-9a-f]{64}" \
	"$TESTTMP/out"
t_exit "load refuses violations" 1 cc --state-dir "$S" policy load \
	"$EX/bad-excess-realm.yaml"
t_grep "refusal shows the finding" ":16:54: error: .*\\[excess-realm\\]" \
	"$TESTTMP/err"
t_exit "load refuses malformed" 2 cc --state-dir "$S" policy load \
	"$EX/malformed-duplicate-key.yaml"
t_exit "load accepts warnings" 0 cc --state-dir "$S" policy load \
	"$EX/warn-realm-missing.yaml"
t_exit "load example again" 0 cc --state-dir "$S" policy load \
	policy/example.yaml
t_exit "audit list" 0 cc --state-dir "$S" audit list
t_grep "audit: load ok" "policy\\.load policy ok file=policy/example\\.yaml sha256=[0-9a-f]{64} consoles=4" \
	"$TESTTMP/out"
t_grep "audit: refusal" "policy\\.load policy refused file=$EX/bad-excess-realm\\.yaml 1 errors; first: .*:16:54 \\[excess-realm\\]" \
	"$TESTTMP/out"
t_exit "audit chain intact" 0 cc --state-dir "$S" audit verify

t_exit "plan --all (loaded policy)" 0 cc --state-dir "$S" --json policy plan \
	--all
t_check "plan: scopes, realms, Kerberos placeholders" py "$TESTTMP/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
dev = {p["device"]: p for p in d["devices"]}
assert set(dev) == {"d1.corp.example", "d2.corp.example"}
c1 = [e["console"] for e in dev["d1.corp.example"]["entries"]]
c2 = [e["console"] for e in dev["d2.corp.example"]["entries"]]
assert c1 == ["sccm", "secsuite", "auditors", "powertool"], c1
assert c2 == ["sccm", "secsuite", "auditors"], c2
for e in dev["d1.corp.example"]["entries"]:
    assert e["type"] == "kerberos" and e["sid"] == "${sid:%s}" % e["principal"]
    assert e["access"] in (0, 1, 2) and e["realms"] == sorted(e["realms"])
r = {e["console"]: e["realms"] for e in dev["d1.corp.example"]["entries"]}
assert r == {"sccm": [2, 3, 4, 5, 13], "secsuite": [11, 19],
             "auditors": [19, 20], "powertool": [4, 5, 13]}, r
assert d["over_limits"] == 0
EOF
t_exit "plan --device, given policy" 0 cc --state-dir "$S" --json policy plan \
	"$EX/ok-digest-fleet.yaml" --device d1.corp.example
t_check "plan: digest user names valid for AMT" py "$TESTTMP/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
(p,) = d["devices"]
users = {e["console"]: e["username"] for e in p["entries"]}
assert users == {"provisioning": "prov", "secsuite": "secsuite",
                 "auditor": "auditor", "lab-agent": "labagent"}, users
for u in users.values():
    assert 1 <= len(u) <= 16 and not u.startswith("$$")
    assert all(33 <= ord(ch) <= 126 and ch not in ':,<>&"' for ch in u)
    assert u.lower() not in ("admin", "administrator")
acc = {e["console"]: e["access"] for e in p["entries"]}
assert acc["lab-agent"] == 0 and acc["provisioning"] == 1
assert p["digest_entries"] == 4 and p["within_limits"] is True
EOF
t_exit "plan text" 0 cc --state-dir "$S" policy plan --device d2.corp.example
t_grep "plan text: entry line, its SID kind" "^  sccm +kerberos +svc-amt-sccm@CORP\\.EXAMPLE +network +2,3,4,5,13  \\(account SID\\)\$" \
	"$TESTTMP/out"
t_exit "plan unknown device" 4 cc --state-dir "$S" policy plan \
	--device nope.corp.example
t_exit "plan refuses a failing policy" 1 cc --state-dir "$S" policy plan \
	"$EX/bad-admin-realm.yaml" --all
t_exit "plan needs a selector" 2 cc --state-dir "$S" policy plan
t_exit "plan --tags offline" 0 cc --state-dir "$NOSTATE" policy plan \
	policy/example.yaml --tags lab,branch
t_grep "plan --tags: scoped console" "^  powertool " "$TESTTMP/out"
# Group entries (directory.ad acl_sid auto; account is the default): power goes to
# all its holders on every device, one entry with the group's SID (pa
# and pc need no entry of their own, prov and pb one for their other
# duty); redirection only where the scoped consoles apply.
cat >"$TESTTMP/groups.yaml" <<EOF
version: 1
owner: prov
directory: {type: ad, realm: CORP.EXAMPLE}
consoles:
  prov:
    identity: {kerberos: "svc-prov@CORP.EXAMPLE"}
    duties: [setup, power]
  pa:
    identity: {kerberos: "svc-pa@CORP.EXAMPLE"}
    duties: [power]
  pb:
    identity: {kerberos: "svc-pb@CORP.EXAMPLE"}
    duties: [power, redirection]
  pc:
    identity: {kerberos: "svc-pc@CORP.EXAMPLE"}
    duties: [power]
  lab:
    identity: {kerberos: "svc-lab@CORP.EXAMPLE"}
    duties: [redirection]
    scope: {tags: [lab]}
  lab2:
    identity: {kerberos: "svc-lab2@CORP.EXAMPLE"}
    duties: [redirection]
    scope: {tags: [lab]}
EOF
t_exit "plan --tags: groups" 0 cc --state-dir "$NOSTATE" policy plan \
	"$TESTTMP/groups.yaml" --tags site --acl-sid auto
t_grep "plan: power's group entry" "^  group:power +kerberos +members prov,pa,pb,pc +network +5  \(group SID\)\$" \
	"$TESTTMP/out"
t_grep "plan: pb's account entry, redirection only" "^  pb +kerberos +svc-pb@CORP\.EXAMPLE +network +2  \(account SID\)\$" \
	"$TESTTMP/out"
t_grep "plan: 3 entries" "^\(a device tagged site\): 3 entries \(0 digest, 3 Kerberos\)" \
	"$TESTTMP/out"
t_exit "plan --tags lab: groups" 0 cc --state-dir "$NOSTATE" policy plan \
	"$TESTTMP/groups.yaml" --tags lab --acl-sid auto
t_grep "plan lab: redirection's group entry" "^  group:redirection +kerberos +members pb,lab,lab2 +network +2  \(group SID\)\$" \
	"$TESTTMP/out"
t_exit "plan --acl-sid account" 0 cc --state-dir "$NOSTATE" policy plan \
	"$TESTTMP/groups.yaml" --tags site --acl-sid account
t_check "account: no group entry" sh -c '! grep -q "group" "$1"' _ \
	"$TESTTMP/out"
t_grep "account: pa's own entry" "^  pa +kerberos +svc-pa@CORP\.EXAMPLE +network +5  \(account SID\)\$" \
	"$TESTTMP/out"
t_exit "plan --tags: account by default" 0 cc --state-dir "$NOSTATE" \
	policy plan "$TESTTMP/groups.yaml" --tags site
t_check "default: no group entry" sh -c '! grep -q "group" "$1"' _ \
	"$TESTTMP/out"
t_exit "plan --acl-sid bad: usage" 2 cc --state-dir "$NOSTATE" policy plan \
	"$TESTTMP/groups.yaml" --tags site --acl-sid groups
t_exit "--acl-sid without --tags: usage" 2 cc --state-dir "$NOSTATE" policy \
	plan --acl-sid account --all
t_check "still no state directory" test ! -e "$NOSTATE"
t_done
