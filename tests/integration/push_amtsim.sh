#!/bin/sh
# tests/integration/push_amtsim.sh - password rotate --push against the
# AMT simulator (tests/amtsim): the device holds custody's new password
# once the push says ok; every fault the simulator injects into the
# SetAdminAclEntryEx exchange (armed while custodyctl is stopped right
# before sending it) ends as a per-device result with a reason, nothing
# crashes, and the device always accepts a password custody holds; a
# second push settles them all.
. tests/integration/lib.sh
t_need_or_skip curl python3

S="$TESTTMP/push-sim-state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
FAULTS="drop-after-apply delay http500 malformed-xml oversized entity-expansion doctype wrong-relatesto down"
N=15
t_amtsim $N

t_exit "init" 0 c init
{
	echo "fqdn,digest_realm,admin_password,address"
	i=0
	while [ $i -lt $N ]; do
		# dev00000's realm is not registered: the push learns it.
		r=$([ $i -gt 0 ] && sim_state "$(sim_dev $i)" 'd["realm"]')
		echo "$(sim_dev $i),$r,P@ssw0rd,127.0.0.1:$port"
		i=$((i + 1))
	done
} >"$TESTTMP/fleet.csv"
t_exit "import the simulated fleet" 0 c device import "$TESTTMP/fleet.csv"

py_state() {	# py_state VERSION < history JSON: its state
	python3 -c 'import json,sys; print([v["state"] for v in json.load(sys.stdin)["versions"] if v["kind"] == "admin" and v["version"] == int(sys.argv[1])][0])' "$1"
}
# The device's admin HA1 is that of custody's version VERSION (or the
# current one).
holds() {	# holds FQDN current|VERSION
	c password show "$1" $([ "$2" != current ] && echo --version "$2") \
		>"$TESTTMP/pw" || return 1
	sim_state "$1" 'd["admin"]["ha1"] + " " + d["realm"]' >"$TESTTMP/dev"
	py "$TESTTMP/dev" "$TESTTMP/pw" <<'EOF'
import hashlib, sys
ha1, realm = open(sys.argv[1]).read().split()
pw = open(sys.argv[2]).read().rstrip("\n")
sys.exit(ha1 != hashlib.md5(("admin:%s:%s" % (realm, pw)).encode()).hexdigest())
EOF
}

t_exit "rotate --push four devices" 0 c --json password rotate $(sim_dev 0) \
	$(sim_dev 1) $(sim_dev 2) $(sim_dev 3) --push
t_check "all four ok (each with its elapsed_ms)" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["pushed"] == 4 and all(p["result"] == "ok" for p in r["pushes"])
    and all(isinstance(p["elapsed_ms"], int) and p["elapsed_ms"] > 0
            for p in r["pushes"])))
EOF
for i in 0 1 2 3; do
	t_check "$(sim_dev $i) holds custody's new current password" holds $(sim_dev $i) current
done
t_exit "device show $(sim_dev 0)" 0 c --json device show $(sim_dev 0)
t_check "its realm was learned" py "$TESTTMP/out" "$(sim_state $(sim_dev 0) 'd["realm"]')" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["digest_realm"] != sys.argv[2])
EOF

# Each fault armed on the SetAdminAclEntryEx exchange itself.
i=4
for f in $FAULTS; do
	d=$(sim_dev $i)
	CUSTODY_TEST_STOP_AT=push-begun "$CUSTODYCTL" --state-dir "$S" --json \
	    password rotate "$d" --push >"$TESTTMP/f.out" 2>"$TESTTMP/f.err" &
	pid=$!
	t_wait_stopped $pid
	# down stays down (count -1) until cleared below.
	sim_fault "$d" "$f" "$([ "$f" = down ] && echo -1 || echo 1)" 300
	kill -CONT $pid
	wait $pid
	rc=$?
	t_check "$f: custodyctl ends (exit $rc)" [ $rc -eq 0 -o $rc -eq 1 ]
	res=$(py "$TESTTMP/f.out" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))["pushes"][0]
print(p["result"], "|", p["detail"])
EOF
)
	echo "    $f: $res"
	case $f in
	delay) want="ok" ;;
	http500) want="kept-current" ;;
	down) want="unknown" ;;
	*) want="reconciled" ;;
	esac
	t_check "$f: result ${want}" [ "${res%% *}" = "$want" ]
	if [ "$f" = down ]; then
		t_check "down: v2 stays pushed" [ "$(c --json password history \
		    "$d" | py_state 2)" = pushed ]
	elif holds "$d" current; then
		t_ok "$f: the device holds custody's current password"
	else
		t_fail "$f: the device holds custody's current password"
	fi
	i=$((i + 1))
done
sim_fault "$(sim_dev 12)" up
sim_fault "$(sim_dev 12)" clear
t_exit "a second push settles what was left" 1 c --json password rotate \
	$(sim_dev 4) $(sim_dev 5) $(sim_dev 6) $(sim_dev 7) $(sim_dev 8) $(sim_dev 9) $(sim_dev 10) \
	$(sim_dev 11) $(sim_dev 12) --push
t_check "every one ok (the one in flight pushed again, not rotated)" \
	py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
res = {p["fqdn"]: (p["result"], p["version"]) for p in r["pushes"]}
sys.exit(not (r["refused"] == 1 and res["dev00012.amtsim.test"] == ("ok", 2)
    and all(v[0] == "ok" for v in res.values())))
EOF
i=4
while [ $i -le 12 ]; do
	t_check "$(sim_dev $i) holds custody's current password" holds $(sim_dev $i) current
	i=$((i + 1))
done
# A rotation that replaces the pending version while its push waits for
# the device (rotate --replace-pending): the push must not send the old
# value as the new version, which would leave the device holding a
# password custody counts as failed.
d=$(sim_dev 13)
t_exit "rotate $d" 0 c password rotate "$d"
sim_fault "$d" delay 1 1500
c --json device push "$d" >"$TESTTMP/race.out" 2>"$TESTTMP/race.err" &
pid=$!
sleep 0.5
t_exit "rotate --replace-pending while the push waits" 0 c password rotate \
	"$d" --replace-pending
wait $pid
t_check "the push of the replaced version sends nothing (superseded)" \
	py "$TESTTMP/race.out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "superseded" and r["version"] == 2))
EOF
t_check "$d holds custody's current password" holds "$d" current
t_exit "a push of the new pending version" 0 c device push "$d"
t_check "$d holds custody's new current password" holds "$d" current

# Two pushers of the same version (custodyctl twice here; custodyd and
# custodyctl alike): the one that finds it settled by the other says so
# as its device's outcome, and the device holds custody's current.
d=$(sim_dev 14)
t_exit "rotate $d" 0 c password rotate "$d"
sim_fault "$d" delay 1 1500
c --json device push "$d" >"$TESTTMP/two.out" 2>"$TESTTMP/two.err" &
pid=$!
sleep 0.3
t_exit "a second pusher of the same version" 0 c device push "$d"
wait $pid
rc=$?
t_check "the first one ends with its device's outcome (exit $rc)" py \
	"$TESTTMP/two.out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "superseded" and r["version"] == 2))
EOF
t_check "$d holds custody's current password" holds "$d" current

# A device left holding a version custody marked failed (applied by a
# console after it was replaced with --replace-pending; two pushers and
# a crash): neither the candidate nor the current logs in; the push tries
# the newest failed version newer than the current, which becomes
# current (reconciled), not auth-failed until an operator confirms it.
admin_in() {	# admin_in FQDN STATE: its newest admin version in STATE
	c --json password history "$1" | python3 -c 'import json, sys; print(max(v["version"] for v in json.load(sys.stdin)["versions"] if v["kind"] == "admin" and v["state"] == sys.argv[1]))' "$2"
}
t_exit "rotate $d" 0 c password rotate "$d"
t_exit "its push, as a dry run (the change's envelope)" 0 \
	c --json device push "$d" --dry-run
py "$TESTTMP/out" >"$TESTTMP/set.xml" <<'EOF'
import json, sys
print([s["envelope"] for s in json.load(open(sys.argv[1]))["steps"]
    if s["step"] == "set-admin"][0])
EOF
failv=$(admin_in "$d" pending)
t_exit "rotate $d --replace-pending: v$failv failed" 0 c password rotate \
	"$d" --replace-pending
c password show "$d" >"$TESTTMP/cur"
t_check "a console applies v$failv on $d anyway" [ "$(curl -s --digest \
	-u "admin:$(cat "$TESTTMP/cur")" -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/soap+xml; charset=utf-8' \
	--connect-to "$d:16992:127.0.0.1:$port" \
	--data-binary "@$TESTTMP/set.xml" "http://$d:16992/wsman")" = 200 ]
t_check "$d holds v$failv" holds "$d" "$failv"
t_exit "device push $d" 0 c --json device push "$d"
t_check "reconciled: v$failv, marked failed, logs in" py "$TESTTMP/out" \
	"$failv" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "reconciled" and
    ("v%s" % sys.argv[2]) in r["detail"]))
EOF
t_check "v$failv is custody's current" [ "$(admin_in "$d" current)" = "$failv" ]
t_check "$d holds custody's current password" holds "$d" current

# The change is held until 'pushed' is durable, while the commit runs on
# the push's store thread and the fleet driver goes on: with each batch
# commit slowed down (CUSTODY_TEST_DELAY_AT=push-commit), the device must
# never hold the new password while custody still has it 'pending'.
# Watched throughout the push: the device's HA1, then the version's state
# (which only moves on: pending, pushed, current).
d=$(sim_dev 1)
t_exit "rotate $d" 0 c password rotate "$d"
v=$(admin_in "$d" pending)
c password show "$d" --version "$v" >"$TESTTMP/newpw"
new=$(py "$TESTTMP/newpw" "$(sim_state "$d" 'd["realm"]')" <<'EOF'
import hashlib, sys
pw = open(sys.argv[1]).read().rstrip("\n")
print(hashlib.md5(("admin:%s:%s" % (sys.argv[2], pw)).encode()).hexdigest())
EOF
)
CUSTODY_TEST_DELAY_AT=push-commit CUSTODY_TEST_DELAY_MS=5000 \
	c --json device push "$d" >"$TESTTMP/order.out" 2>"$TESTTMP/order.err" &
pid=$!
early= pending=0
while kill -0 $pid 2>/dev/null; do
	ha1=$(sim_state "$d" 'd["admin"]["ha1"]')
	st=$(c --json password history "$d" | py_state "$v")
	[ "$st" = pending ] && pending=$((pending + 1))
	[ "$ha1" = "$new" ] && [ "$st" = pending ] && early=1
	sleep 0.05
done
wait $pid
t_check "the push ends ok" py "$TESTTMP/order.out" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["result"] != "ok")
EOF
t_check "watched while the begin's commit waited ($pending samples)" \
	[ "$pending" -ge 2 ]
t_check "no SetAdminAclEntryEx before v$v's 'pushed' was committed" \
	[ -z "$early" ]
t_check "$d holds v$v, custody's current" holds "$d" current

t_amtsim_stop
t_done
