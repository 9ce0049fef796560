#!/bin/sh
# tests/integration/demo.sh - `make demo` cannot rot: scripts/demo.sh, the
# very script the target runs, end to end in a temporary directory (50
# simulated devices, custodyd, a console fetching its credential and
# logging in to a device with curl --digest over TLS); it prints no
# secret (no device's admin password, not the console's credential, not
# the factory password), stops custodyd and amtsim, refuses a directory
# that is not a demo's, and a failing step exits non-zero with both
# stopped all the same.
. tests/integration/lib.sh
t_need_or_skip curl python3
for b in custodyd amtsim; do
	[ -x "$BUILD/$b" ] || { t_skip demo.sh "$b is not built"; exit 77; }
done
py() { python3 - "$@"; }
D="$TESTTMP/demo"
OUT="$TESTTMP/demo.out"

sh scripts/demo.sh "$BUILD" "$D" >"$OUT" 2>"$TESTTMP/demo.err"
rc=$?
t_check "the demo runs to the end (exit 0)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || { sed 's/^/    /' "$OUT" "$TESTTMP/demo.err" | tail -30; }
t_grep "every step is narrated" '^\[9/9\] ' "$OUT"
t_grep "50 devices get their pushed password" \
	'50 of 50 devices now hold their new admin password' "$OUT"
t_grep "3 devices TLS-provisioned" \
	'dev00002.amtsim.test: ok: TLS provisioned and verified' "$OUT"
t_grep "the policy applied everywhere" '^ +50 devices, 0 not ok' "$OUT"
t_grep "the console fetched its credential" \
	'got user prov on dev00001.amtsim.test \(current' "$OUT"
t_grep "and logged in with it over TLS" '^ +HTTP 200 over TLS' "$OUT"
t_grep "another console's credential refused" \
	'may only ask for its own credentials' "$OUT"
t_grep "no drift after the apply" '50 devices, 0 not matching the plan' \
	"$OUT"
if [ -s "$TESTTMP/demo.err" ]; then
	t_fail "nothing on stderr"
	sed 's/^/    stderr: /' "$TESTTMP/demo.err"
else
	t_ok "nothing on stderr"
fi

S="$D/state"
c() { cc --state-dir "$S" "$@"; }
# Every secret the demo could have shown: the admin passwords, the
# credential it fetched, the factory password.
secrets() {
	echo 'P@ssw0rd'
	i=0
	while [ $i -lt 50 ]; do
		c password show "$(printf 'dev%05d.amtsim.test' $i)" || return 1
		i=$((i + 1))
	done
	c credential show dev00001.amtsim.test --console provisioning
}
secrets >"$TESTTMP/secrets" 2>"$TESTTMP/secrets.err"
t_check "the secrets are known ($(wc -l <"$TESTTMP/secrets") of 52)" \
	[ "$(wc -l <"$TESTTMP/secrets")" -eq 52 ]
t_check "none of them is in the demo's output" py "$TESTTMP/secrets" \
	"$OUT" "$TESTTMP/demo.err" <<'EOF'
import sys
out = open(sys.argv[2]).read() + open(sys.argv[3]).read()
sys.exit(any(s and s in out for s in open(sys.argv[1]).read().split("\n")))
EOF
t_check "nor in its logs" py "$TESTTMP/secrets" "$D/log" <<'EOF'
import os, sys
sec = [s for s in open(sys.argv[1]).read().split("\n") if s]
for f in os.listdir(sys.argv[2]):
    t = open(os.path.join(sys.argv[2], f), errors="replace").read()
    if any(s in t for s in sec):
        sys.exit("%s holds a secret" % f)
EOF
# stopped PATTERN: the process the output named (pid N) is gone
stopped() {
	_p=$(sed -n "s/.*$1 (pid \([0-9]*\)).*/\1/p" "$2" | head -1)
	[ -n "$_p" ] && ! kill -0 "$_p" 2>/dev/null
}
t_check "amtsim stopped" stopped amtsim "$OUT"
t_check "custodyd stopped" stopped custodyd "$OUT"
t_exit "the state it leaves verifies" 0 c audit verify

t_check "a second run replaces the demo directory" sh -c \
	"sh scripts/demo.sh '$BUILD' '$D' >'$TESTTMP/again.out' 2>&1"

mkdir -p "$TESTTMP/mine"
: >"$TESTTMP/mine/keep"
t_exit "a directory that is not a demo's is refused" 1 sh scripts/demo.sh \
	"$BUILD" "$TESTTMP/mine"
t_check "and left alone" [ -e "$TESTTMP/mine/keep" ]

# A step that fails: a custodyctl whose policy apply fails.
FB="$TESTTMP/fakebuild"
mkdir -p "$FB"
ln -s "$BUILD/custodyd" "$BUILD/amtsim" "$FB/"
cat >"$FB/custodyctl" <<EOF
#!/bin/sh
case " \$* " in *" policy apply "*) echo "injected failure" >&2; exit 1 ;; esac
exec "$BUILD/custodyctl" "\$@"
EOF
chmod +x "$FB/custodyctl"
sh scripts/demo.sh "$FB" "$TESTTMP/demo2" >"$TESTTMP/fail.out" \
	2>"$TESTTMP/fail.err"
t_check "a failing step: exit 1" [ $? -eq 1 ]
t_grep "it says which" 'FAILED: .*policy apply' "$TESTTMP/fail.err"
t_grep "and shows why" 'injected failure' "$TESTTMP/fail.err"
t_check "the steps after it did not run" sh -c \
	"! grep -q '^\[7/9\]' '$TESTTMP/fail.out'"
t_check "amtsim stopped all the same" stopped amtsim "$TESTTMP/fail.out"
t_check "custodyd stopped all the same" stopped custodyd "$TESTTMP/fail.out"
t_done
