#!/bin/sh
# tests/integration/daemon_console_reconcile.sh - a console user's version
# left 'pushed' by a policy apply killed (SIGKILL) while its change was on
# the wire, the device having taken it, is settled by custodyd's start-up
# reconciliation (device.reconcile), as an admin password's is: a digest
# login as the user with it works, so it becomes current; nothing is sent
# again. The apply job itself cannot be resumed (a policy was loaded
# since), so only the reconciliation can settle it.
. "$(dirname "$0")/lib.sh"
t_need_or_skip sqlite3 curl python3
[ -x "$BUILD/custodyd" ] || { t_skip daemon_console_reconcile.sh \
	"custodyd is not built"; exit 77; }
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
db() { sqlite3 "$S/custody.db" "$@" 2>/dev/null; }
DPID=
t_amtsim 2
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; t_amtsim_stop' EXIT
SLOW=$(sim_dev 0)
pushed() {	# the console versions of SLOW in state 'pushed'
	db "SELECT COUNT(*) FROM secret s JOIN device d ON d.id = s.device_id
	    WHERE d.fqdn = '$SLOW' AND s.kind LIKE 'console:%' AND
	    s.state = 'pushed'"
}

t_exit "init" 0 c init
printf 'fqdn,admin_password,address\n%s,P@ssw0rd,127.0.0.1:%s\n%s,P@ssw0rd,127.0.0.1:%s\n' \
	"$SLOW" "$port" "$(sim_dev 1)" "$port" >"$W/fleet.csv"
t_exit "import" 0 c device import "$W/fleet.csv"
cp tests/integration/acl_policy.yaml "$W/p.yaml"
t_exit "policy load" 0 c policy load "$W/p.yaml"
# Every answer of the slow device comes 12 s late: its first change is
# applied on the device while custody waits for the answer.
sim_fault "$SLOW" delay -1 12000
"$CUSTODYCTL" --state-dir "$S" policy apply --all >/dev/null 2>&1 &
APID=$!
n=0
while [ "$(sim_state "$SLOW" 'len(d["users"])')" = 0 ] && [ $n -lt 300 ]; do
	sleep 0.1; n=$((n + 1))
done
kill -9 "$APID"
wait "$APID" 2>/dev/null
sim_fault "$SLOW" clear
t_check "the device took the change; its version is left pushed" test \
	"$(sim_state "$SLOW" 'len(d["users"])')" = 1 -a "$(pushed)" = 1
t_exit "the policy loaded again (the apply job cannot resume)" 0 c \
	policy load "$W/p.yaml"
epoch=$(sim_state "$SLOW" 'd["acl_epoch"]')

t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    t_fail "custodyd starts"
DPID=$T_DPID
n=0
while [ "$(pushed)" != 0 ] && [ $n -lt 300 ]; do
	sleep 0.1; n=$((n + 1))
done
t_check "custodyd's start settled it: nothing left pushed" test \
	"$(pushed)" = 0
t_check "... it is current (a login as the user with it works)" test \
	"$(db "SELECT COUNT(*) FROM secret s JOIN device d ON d.id = \
	s.device_id WHERE d.fqdn = '$SLOW' AND s.kind = 'console:prov' AND \
	s.state = 'current'")" = 1
t_check "... nothing was sent to the device again" test \
	"$(sim_state "$SLOW" 'd["acl_epoch"]')" = "$epoch"
t_wait_line "$W/d.log" 'console users with an unknown outcome'
t_grep "... logged" 'scheduler: console users with an unknown outcome checked on 1 devices, 0 not settled' \
	"$W/d.log"
t_exit "audited as the reconciliation" 0 c --json audit list
t_check "... by the scheduler" python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["entries"]
sys.exit(not any(x["actor"] == "local:scheduler" and "reconciled" in
    (x.get("detail") or "") and x["object"].startswith(sys.argv[2]) for x in e))
' "$TESTTMP/out" "$SLOW"
kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=
t_done
