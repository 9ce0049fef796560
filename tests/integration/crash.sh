#!/bin/sh
# tests/integration/crash.sh - SIGKILL in the middle of a bulk rotation of
# 10k devices, at a moment found from the rotation's own progress: every
# device keeps a readable current password, at most one
# pending version exists per secret, the audit chain is intact, and the
# rotation can simply be run again.
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
N=10000

c init >/dev/null
awk -v n=$N 'BEGIN { print "fqdn,tags"; for (i = 0; i < n; i++) printf "dev%05d.fleet.example,fleet\n", i }' > "$TESTTMP/fleet.csv"
t_exit "import $N devices" 0 c device import "$TESTTMP/fleet.csv"

pending() { sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM secret WHERE state = 'pending'" 2>/dev/null; }
# Kill the rotation at a moment its own progress shows: as soon as its
# first batch is committed (pending secrets appear in the store, read
# while it runs), so the kill lands between batches or inside one, never
# by a timer that a faster or slower machine would get wrong. Should the
# whole run have finished in between, reset and try again.
landed=0
opened_bad=0
for attempt in 1 2 3 4 5; do
	# the binary itself, not the shell function, so $! is its PID
	"$CUSTODYCTL" --state-dir "$S" password rotate --all --kind all \
	    > /dev/null 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		p=$(pending)
		[ "${p:-0}" -gt 0 ] && break
	done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	# custody opens the store first, as it finds it after the kill
	# (the sqlite3 shell below would recover the WAL before we look)
	c status > /dev/null 2> "$TESTTMP/status.err" || opened_bad=1
	p=$(pending); echo "# attempt $attempt: $p pending"
	if [ "$p" -gt 0 ] && [ "$p" -lt $((2 * N)) ]; then
		landed=1
		break
	fi
	# too late (all rotated, or it failed before any batch): start over
	c init --force >/dev/null
	c device import "$TESTTMP/fleet.csv" >/dev/null
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
