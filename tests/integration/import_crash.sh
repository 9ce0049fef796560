#!/bin/sh
# tests/integration/import_crash.sh - SIGKILL at growing points of a large
# import (staged in batches, published at once, then settled), each point
# found from the import's own progress in the store (device_import.count
# and .state, read while it runs), never by a timer: after every kill
# either no imported device is visible or all of them are, the counts
# agree, the audit chain and every password verify, and the next import
# (or the sweep) finishes or clears what was left.
. "$(dirname "$0")/lib.sh"
t_need_or_skip sqlite3
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
N=30000
db() { sqlite3 "$S/custody.db" "$1" 2>/dev/null; }
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
ndev() { c --json status | j 'd["devices"]'; }
awk -v n=$N 'BEGIN { print "fqdn,tags"
	for (i = 0; i < n; i++) printf "imp%05d.fleet.example,fleet\n", i }' \
    > "$TESTTMP/fleet.csv"

# kill_at COND: start the import, kill it once COND (SQL, true or false)
# holds in the store; prints what the store said at the kill.
kill_at() {
	"$CUSTODYCTL" --state-dir "$S" device import "$TESTTMP/fleet.csv" \
	    > /dev/null 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		[ "$(db "SELECT COUNT(*) FROM device_import WHERE $1")" = 1 ] &&
		    break
	done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
}

staged_kill=0
for cond in "count >= 1000" "count >= 10000" "count >= 25000" \
    "state = 'published'"; do
	c init --force > /dev/null
	kill_at "$cond"
	# custody first, as it finds the store after the kill
	v=$(ndev)
	raw=$(db "SELECT COUNT(*) FROM device")
	echo "# killed at ($cond): $v visible, $raw rows"
	t_check "[$cond] none or all visible ($v)" \
	    test "$v" -eq 0 -o "$v" -eq $N
	t_check "[$cond] the list agrees with the count" test "$(c --json \
	    device list --limit 1 | j 'len(d["devices"])')" -eq $((v > 0))
	t_exit "[$cond] password verify" 0 c password verify
	t_grep "[$cond] verify saw $v devices" "^$v devices" "$TESTTMP/out"
	t_exit "[$cond] audit verify" 0 c audit verify
	if [ "$v" -eq 0 ]; then
		[ "$raw" -gt 0 ] && staged_kill=1
		t_check "[$cond] nothing of it in the audit log" test \
		    "$(db "SELECT COUNT(*) FROM audit WHERE action IN \
		    ('device.add', 'device.import')")" -eq 0
		# The import's job: found interrupted, abandoned, and
		# not resumable (its input is not kept).
		t_check "[$cond] its job is interrupted, not resumable" test \
		    "$(c --json job list | j '[(x["state"], x["resumable"]) \
		    for x in d["jobs"] if x["kind"] == "device.import"]')" = \
		    "[('interrupted', False)]"
		t_check "[$cond] and says it was abandoned" test "$(c --json \
		    job list | j '[x for x in d["jobs"] if x["kind"] == \
		    "device.import"][0]["message"].find("abandoned") >= 0')" = True
		t_check "[$cond] the sweep deleted what it staged" test \
		    "$(db "SELECT COUNT(*) FROM device")" -eq 0
		jid=$(c --json job list | j '[x for x in d["jobs"] if \
		    x["kind"] == "device.import"][0]["id"]')
		t_exit "[$cond] job resume refuses an import" 1 c job resume "$jid"
		t_grep "[$cond] saying why" "not resumable" "$TESTTMP/err"
		t_exit "[$cond] the next import works" 0 \
		    c device import "$TESTTMP/fleet.csv"
		t_check "[$cond] then all $N are there" test "$(ndev)" -eq $N
		t_check "[$cond] and no leftover row" test \
		    "$(db "SELECT COUNT(*) FROM device")" -eq $N
	else
		t_exit "[$cond] the sweep settles it" 0 c job list
		t_check "[$cond] its job is done, with every device" test \
		    "$(c --json job list | j '[(x["state"], x["total"]) \
		    for x in d["jobs"] if x["kind"] == "device.import"]')" = \
		    "[('done', $N)]"
		t_exit "[$cond] importing again finds them all" 1 \
		    c device import "$TESTTMP/fleet.csv"
		t_check "[$cond] still $N" test "$(ndev)" -eq $N
	fi
	t_check "[$cond] one device.add per device" test "$(db "SELECT \
	    COUNT(*) FROM audit WHERE action = 'device.add'")" -eq $N
	t_check "[$cond] no import left in the store" test \
	    "$(db "SELECT COUNT(*) FROM device_import")" -eq 0
	t_check "[$cond] no device left marked" test \
	    "$(db "SELECT COUNT(*) FROM device WHERE import_id IS NOT NULL")" \
	    -eq 0
done
t_check "some kill landed while staging (rows there, none visible)" \
    test $staged_kill -eq 1

# A device add of a name a dead import staged frees it first, with no
# job command run in between (the add sweeps dead imports).
c init --force > /dev/null
kill_at "count >= 1000"
t_check "[add] killed while staging" test \
    "$(db "SELECT COUNT(*) FROM device WHERE import_id IS NOT NULL \
    AND fqdn = 'imp00005.fleet.example'")" -eq 1
t_exit "[add] a staged name is not found" 4 \
    c device show imp00005.fleet.example
t_exit "[add] device add of it succeeds" 0 \
    c device add imp00005.fleet.example
t_exit "[add] and it is found" 0 c device show imp00005.fleet.example
t_check "[add] the dead import is gone" test \
    "$(db "SELECT COUNT(*) FROM device_import")" -eq 0
t_check "[add] only the added device is left" test \
    "$(db "SELECT COUNT(*) FROM device")" -eq 1
t_done
