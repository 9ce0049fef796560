#!/bin/sh
# tests/integration/push.sh - password rotate --push and device push
# against devices on loopback (tests/integration/fake_amt.py, a stand-in
# until the simulator is on main): the new admin password is proven by a
# fresh digest login before it is current and the device then holds its
# HA1; a dropped connection after the change is reconciled; a refusal
# (PT_STATUS), a device with another DigestRealm and an unreachable one
# leave the pending version pending and the device untouched; a realm not
# registered is learned.
. tests/integration/lib.sh
t_need_or_skip python3

S="$TESTTMP/push-state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
R1=Digest:A4070000000000000000000000000001
R2=Digest:A4070000000000000000000000000002
PW='Init1al-Passw0rd!'

cat >"$TESTTMP/devices.json" <<EOF
{"ok.corp.example": {"realm": "$R1", "password": "$PW"},
 "drop.corp.example": {"realm": "$R1", "password": "$PW"},
 "refuse.corp.example": {"realm": "$R1", "password": "$PW"},
 "liar.corp.example": {"realm": "$R1", "password": "$PW"},
 "anylogin.corp.example": {"realm": "$R1", "password": "$PW"},
 "mitm.corp.example": {"realm": "$R1", "password": "$PW"},
 "other.corp.example": {"realm": "$R2", "password": "$PW"},
 "learn.corp.example": {"realm": "$R2", "password": "$PW"},
 "crash1.corp.example": {"realm": "$R1", "password": "$PW"},
 "crash2.corp.example": {"realm": "$R1", "password": "$PW"},
 "m1.corp.example": {"realm": "$R1", "password": "$PW"},
 "m2.corp.example": {"realm": "$R1", "password": "$PW"},
 "m3.corp.example": {"realm": "$R1", "password": "$PW"},
 "m4.corp.example": {"realm": "$R1", "password": "$PW"},
 "m5.corp.example": {"realm": "$R1", "password": "$PW"}}
EOF
python3 tests/integration/fake_amt.py --devices "$TESTTMP/devices.json" \
	--state "$TESTTMP/amt.json" --ready "$TESTTMP/port" \
	--drop-after-apply drop.corp.example \
	--refuse refuse.corp.example=2054 \
	--apply-and-refuse liar.corp.example=2075 \
	--accept-any anylogin.corp.example \
	--body-realm mitm.corp.example=$R2 &
FAKE=$!
trap 'kill $FAKE 2>/dev/null' EXIT
i=0
while [ ! -s "$TESTTMP/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat "$TESTTMP/port")
A=127.0.0.1:$PORT

t_exit "init" 0 c init
{
	echo "fqdn,digest_realm,admin_password,address"
	for d in ok drop refuse liar anylogin crash1 crash2 m1 m2 m3 m4 m5; do
		echo "$d.corp.example,$R1,$PW,$A"
	done
	echo "other.corp.example,$R1,$PW,$A"
	echo "learn.corp.example,,$PW,$A"
	echo "mitm.corp.example,,$PW,$A"
	echo "down.corp.example,$R1,$PW,127.0.0.1:1"
} >"$TESTTMP/fleet.csv"
t_exit "import the fleet with its passwords and addresses" 0 c device \
	import "$TESTTMP/fleet.csv"

# The device's admin HA1 is md5(admin:realm:password) of custody's version.
ha1_is() {	# FQDN current|VERSION
	c password show "$1" $([ "$2" != current ] && echo --version "$2") \
		>"$TESTTMP/pw" || return 1
	py "$TESTTMP/amt.json" "$1" "$TESTTMP/pw" <<'EOF'
import hashlib, json, sys
d = json.load(open(sys.argv[1]))[sys.argv[2]]
pw = open(sys.argv[3]).read().rstrip("\n")
sys.exit(d["ha1"] != hashlib.md5(("admin:%s:%s" % (d["realm"], pw)).encode()).hexdigest())
EOF
}
state_of() {	# FQDN VERSION -> state
	c --json password history "$1" >"$TESTTMP/hist"
	py "$TESTTMP/hist" "$2" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))["versions"]
print([v["state"] for v in h if v["kind"] == "admin" and v["version"] == int(sys.argv[2])][0])
EOF
}

t_exit "rotate --push: ok" 0 c --json password rotate ok.corp.example --push
t_check "result ok" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["pushed"] == 1 and r["pushes"][0]["result"] == "ok"))
EOF
t_check "v2 is current" test "$(state_of ok.corp.example 2)" = current
t_check "v1 retired" test "$(state_of ok.corp.example 1)" = retired
t_check "the device holds v2's HA1" ha1_is ok.corp.example current

t_exit "rotate --push, connection dropped after the change" 0 c --json \
	password rotate drop.corp.example --push
t_check "reconciled: the candidate logs in" py "$TESTTMP/out" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))["pushes"][0]
sys.exit(not (p["result"] == "reconciled" and "now current" in p["detail"]))
EOF
t_check "v2 is current" test "$(state_of drop.corp.example 2)" = current
t_check "the device holds v2's HA1" ha1_is drop.corp.example current

t_exit "rotate --push refused by the device (PT_STATUS)" 1 c password \
	rotate refuse.corp.example --push
t_grep "the refusal is named" \
	'refuse\.corp\.example admin: refused: .*PT_STATUS_INVALID_PASSWORD \(2054\)' \
	"$TESTTMP/out"
t_check "v2 failed (kept)" test "$(state_of refuse.corp.example 2)" = failed
t_check "the device keeps v1" ha1_is refuse.corp.example current

# A device that applies the change and answers an error all the same:
# custody does not take the refusal's word for it while the current
# password no longer logs in.
t_exit "rotate --push to a device that lies about a refusal" 0 c password \
	rotate liar.corp.example --push
t_grep "reconciled, naming the refusal" \
	'liar\.corp\.example admin: reconciled: .*PT_STATUS_AUDIT_FAIL \(2075\)' \
	"$TESTTMP/out"
t_check "v2 is current" test "$(state_of liar.corp.example 2)" = current
t_check "the device holds it" ha1_is liar.corp.example current

# First contact (no realm registered) with a reply whose DigestRealm was
# rewritten on the way: the realm the device logs in with wins, nothing
# is sent. (A DigestPassword made with the rewritten realm would leave
# the device's admin account without any working password.)
t_exit "a rewritten DigestRealm at first contact" 1 c password rotate \
	mitm.corp.example --push
t_grep "realm mismatch, nothing sent" \
	'mitm\.corp\.example admin: realm-mismatch: .*not the realm it logs in' \
	"$TESTTMP/out"
t_check "v2 stays pending" test "$(state_of mitm.corp.example 2)" = pending
t_check "the device keeps v1" ha1_is mitm.corp.example current

# A peer that asks for a login and then takes any (an impostor with the
# device's realm, or a man in the middle on plain HTTP) and answers the
# change 0 without applying it: the proving login proves nothing there.
# The proof also has the replaced password refused on the proof's digest
# session; this peer takes it, so nothing becomes current.
t_exit "a peer taking any login" 1 c --json password rotate \
	anylogin.corp.example --push
t_check "named: auth-failed, any login taken" py "$TESTTMP/out" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))["pushes"][0]
sys.exit(not (p["result"] == "auth-failed" and "takes any login" in p["detail"]))
EOF
t_check "a peer taking any login: nothing becomes current" test \
    "$(state_of anylogin.corp.example 2)" = pushed
t_check "and the device still takes custody's current" ha1_is \
    anylogin.corp.example current
t_exit "device push: reconciling proves nothing either" 1 c device push \
	anylogin.corp.example
t_grep "named again" 'anylogin\.corp\.example admin: auth-failed: .*takes any login' \
	"$TESTTMP/out"
t_check "v2 still pushed" test "$(state_of anylogin.corp.example 2)" = pushed

t_exit "another device behind that name (DigestRealm)" 1 c password rotate \
	other.corp.example --push
t_grep "realm mismatch, nothing sent" 'realm-mismatch: .*not the registered' \
	"$TESTTMP/out"
t_check "v2 stays pending" test "$(state_of other.corp.example 2)" = pending
t_check "the device keeps v1" ha1_is other.corp.example current

t_exit "unregistered realm: learned from the device" 0 c password rotate \
	learn.corp.example --push
t_exit "device show" 0 c --json device show learn.corp.example
t_check "realm recorded" py "$TESTTMP/out" "$R2" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["digest_realm"] != sys.argv[2])
EOF
t_check "the device holds v2's HA1" ha1_is learn.corp.example current

t_exit "an unreachable device" 1 c password rotate down.corp.example --push
t_grep "unreachable" 'down\.corp\.example admin: unreachable' "$TESTTMP/out"
t_check "v2 stays pending" test "$(state_of down.corp.example 2)" = pending

# custodyctl killed after the device applied the change, before custody
# knew: the version stays 'pushed'; the next push finds the current
# password refused, the candidate working, and commits it.
CUSTODY_TEST_CRASH_AT=push-sent "$CUSTODYCTL" --state-dir "$S" password \
	rotate crash1.corp.example --push >/dev/null 2>&1
t_check "killed after sending (exit 99)" test $? -eq 99
t_check "v2 left pushed" test "$(state_of crash1.corp.example 2)" = pushed
t_check "the device already holds v2" ha1_is crash1.corp.example 2
t_exit "device push reconciles it" 0 c device push crash1.corp.example
t_grep "reconciled" 'crash1\.corp\.example admin: reconciled: the current password was refused' \
	"$TESTTMP/out"
t_check "v2 is current" test "$(state_of crash1.corp.example 2)" = current
# Killed after marking it pushed, before sending: pushed again.
CUSTODY_TEST_CRASH_AT=push-begun "$CUSTODYCTL" --state-dir "$S" password \
	rotate crash2.corp.example --push >/dev/null 2>&1
t_check "killed before sending (exit 99)" test $? -eq 99
t_check "v2 left pushed" test "$(state_of crash2.corp.example 2)" = pushed
t_check "the device still holds v1" ha1_is crash2.corp.example current
t_exit "device push sends it again" 0 c device push crash2.corp.example
t_grep "ok" 'crash2\.corp\.example admin: ok' "$TESTTMP/out"
t_check "v2 is current" test "$(state_of crash2.corp.example 2)" = current
t_check "the device holds v2's HA1" ha1_is crash2.corp.example current

# Several devices in one call, over the fleet driver.
t_exit "rotate --push of five devices" 0 c --json password rotate \
	m1.corp.example m2.corp.example m3.corp.example m4.corp.example \
	m5.corp.example --push
t_check "five pushed" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["pushed"] == 5 and sorted(p["fqdn"] for p in r["pushes"]) ==
    ["m%d.corp.example" % i for i in range(1, 6)] and
    all(p["result"] == "ok" for p in r["pushes"])))
EOF
for i in 1 2 3 4 5; do
	t_check "m$i holds its v2" ha1_is m$i.corp.example current
done

t_exit "device push of nothing pending" 1 c device push ok.corp.example
t_grep "nothing pending" 'nothing-pending' "$TESTTMP/out"
t_exit "device push of the refused one again: nothing in flight" 1 c \
	device push refuse.corp.example
t_grep "nothing in flight" 'nothing-pending' "$TESTTMP/out"
t_exit "audit list" 0 c audit list
t_grep "the push is audited as started" \
	'password\.push.*ok\.corp\.example.*started' "$TESTTMP/out"
t_grep "and as proven" 'password\.push.*ok\.corp\.example.*proven' \
	"$TESTTMP/out"
t_grep "a refusal is audited with its reason" \
	'password\.push.*refuse\.corp\.example.*failed.*2054' "$TESTTMP/out"
t_done
