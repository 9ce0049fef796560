#!/bin/sh
# tests/integration/daemon_jobs.sh - a rotation job killed mid-way (a
# custodyctl SIGKILLed, found from the job's own progress) is resumed by
# custodyd's scheduler when it starts: the job ends done, every device
# rotated exactly once, one current password each, and the audit chain
# verifies.
. "$(dirname "$0")/lib.sh"
t_need_or_skip sqlite3
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_jobs.sh "custodyd is not built"; exit 77; }
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
db() { sqlite3 "$S/custody.db" "$@" 2>/dev/null; }
N=3000
DPID=
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null' EXIT

c init >/dev/null
awk -v n=$N 'BEGIN { print "fqdn,tags"; for (i = 0; i < n; i++) printf "dev%05d.fleet.example,fleet\n", i }' > "$W/fleet.csv"
t_exit "import $N devices" 0 c device import "$W/fleet.csv"
items() { db "SELECT COUNT(*) FROM job_item"; }
landed=0
for attempt in 1 2 3 4 5; do
	"$CUSTODYCTL" --state-dir "$S" password rotate --tag fleet \
	    > /dev/null 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		i=$(items)
		[ "${i:-0}" -gt 0 ] && break
	done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	i=$(items)
	if [ "${i:-0}" -gt 0 ] && [ "$i" -lt $N ]; then
		landed=1
		break
	fi
	c init --force >/dev/null
	c device import "$W/fleet.csv" >/dev/null
done
t_check "the kill landed mid-job ($i of $N)" test $landed -eq 1
id=$(db "SELECT MAX(id) FROM job WHERE kind = 'password.rotate'")

t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    t_fail "custodyd starts"
DPID=$T_DPID
n=0
while [ "$(db "SELECT state FROM job WHERE id = $id")" != done ] &&
    [ $n -lt 300 ]; do
	sleep 0.1; n=$((n + 1))
done
t_check "custodyd's scheduler resumed the job to done" \
    test "$(db "SELECT state FROM job WHERE id = $id")" = done
t_grep "... and logged it" 'scheduler: 1 jobs resumed' "$W/d.log"
t_check "every device rotated exactly once" test "$(db "SELECT COUNT(*) \
    FROM job_item WHERE job_id = $id")" -eq $N
t_check "... as distinct devices" test "$(db "SELECT COUNT(DISTINCT device_id) \
    FROM job_item WHERE job_id = $id")" -eq $N
t_check "one pending version per device, none twice" test "$(db "SELECT \
    COUNT(*) FROM secret WHERE state = 'pending'")" -eq $N
kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
t_check "SIGTERM: exit 0" test $rc -eq 0
t_exit "audit verify" 0 c audit verify
t_done
