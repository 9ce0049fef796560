#!/bin/sh
# tests/integration/crash.sh - SIGKILL in the middle of a bulk rotation of
# 10k devices: every device keeps a readable current password, at most one
# pending version exists per secret, the audit chain is intact, and the
# rotation can simply be run again.
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
N=10000

c init >/dev/null
awk -v n=$N 'BEGIN { print "fqdn,tags"; for (i = 0; i < n; i++) printf "dev%05d.fleet.example,fleet\n", i }' > "$TESTTMP/fleet.csv"
t_exit "import $N devices" 0 c device import "$TESTTMP/fleet.csv"

pending() { sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM secret WHERE state = 'pending'"; }
# Kill at growing delays until the kill lands mid-way (some but not all
# devices rotated); the machine's speed decides which delay does.
landed=0
opened_bad=0
for d in 0.05 0.1 0.2 0.3 0.5 0.8 1.2 2 3; do
	# the binary itself, not the shell function, so $! is its PID
	"$CUSTODYCTL" --state-dir "$S" password rotate --all --kind all \
	    > /dev/null 2>&1 &
	pid=$!
	sleep $d
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	# custody opens the store first, as it finds it after the kill
	# (the sqlite3 shell below would recover the WAL before we look)
	c status > /dev/null 2> "$TESTTMP/status.err" || opened_bad=1
	p=$(pending); echo "# delay $d: $p pending"
	if [ "$p" -gt 0 ] && [ "$p" -lt $((2 * N)) ]; then
		landed=1
		break
	fi
	# too early (nothing) or too late (all): reset and try again
	if [ "$p" -gt 0 ]; then
		c init --force >/dev/null
		c device import "$TESTTMP/fleet.csv" >/dev/null
	fi
done
t_check "the kill landed mid-rotation ($p of $((2 * N)) pending)" test $landed -eq 1
t_check "custody opens the store right after every kill" test $opened_bad -eq 0
t_exit "every device has a readable, valid current password" 0 c password verify
t_grep "all $N devices checked" "^$N devices" "$TESTTMP/out"
t_check "at most one pending per device and kind" test "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM (SELECT device_id, kind FROM secret WHERE state = 'pending' GROUP BY 1, 2 HAVING COUNT(*) > 1)")" -eq 0
t_check "batches are whole: pending count is a batch multiple" test $((p % 1000)) -eq 0
t_check "every pending version has its audit entry" test "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM audit WHERE action = 'password.rotate' AND result = 'ok'")" -eq "$p"
t_exit "audit chain intact after the crash" 0 c audit verify
t_exit "re-run refuses the pending ones, rotates the rest" 1 c password rotate --all --kind all
t_check "now every secret is pending once" test "$(pending)" -eq $((2 * N))
t_exit "verify again" 0 c password verify
t_done
