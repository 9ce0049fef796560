#!/bin/sh
# tests/integration/jobs.sh - a bulk rotation runs as a job. SIGKILL it
# mid-way, at a moment found from the job's own progress (its per-device
# items appearing in the store), never by a timer: the job is then found
# interrupted and resumable with its results intact, and resuming it
# rotates exactly the devices it had not done: none twice.
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
db() { sqlite3 "$S/custody.db" "$@" 2>/dev/null; }
N=10000

c init >/dev/null
awk -v n=$N 'BEGIN { print "fqdn,tags"; for (i = 0; i < n; i++) printf "dev%05d.fleet.example,fleet\n", i }' > "$TESTTMP/fleet.csv"
t_exit "import $N devices" 0 c device import "$TESTTMP/fleet.csv"

items() { db "SELECT COUNT(*) FROM job_item"; }
landed=0
for attempt in 1 2 3 4 5; do
	"$CUSTODYCTL" --state-dir "$S" password rotate --tag fleet --kind all \
	    > /dev/null 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		i=$(items)
		[ "${i:-0}" -gt 0 ] && break
	done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	i=$(items); echo "# attempt $attempt: $i items"
	if [ "${i:-0}" -gt 0 ] && [ "$i" -lt $((2 * N)) ]; then
		landed=1
		break
	fi
	c init --force >/dev/null
	c device import "$TESTTMP/fleet.csv" >/dev/null
done
t_check "the kill landed mid-job ($i of $((2 * N)) items)" test $landed -eq 1
id=$(db "SELECT MAX(id) FROM job")
done1=$((i / 2))

t_exit "job list" 0 c job list
t_grep "job list: interrupted, resumable" "^$id password.rotate interrupted $done1/$N .*\\(resumable\\)" "$TESTTMP/out"
t_exit "job show" 0 c job show "$id" --limit 5
t_grep "job show: interrupted" "^job $id: password.rotate, interrupted" "$TESTTMP/out"
t_grep "job show: progress" "^devices: $done1 of $N done; results \\(per device and kind\\): $i ok, 0 refused, 0 gone" "$TESTTMP/out"
t_grep "job show: says how to resume" "resumable: custodyctl job resume $id" "$TESTTMP/out"
t_grep "job show: names its dead process" "message: its process \\(pid $pid\\) ended" "$TESTTMP/out"
t_exit "job show --json" 0 c --json job show "$id" --limit 1
t_grep "json: state" '"state": "interrupted"' "$TESTTMP/out"
t_grep "json: resumable" '"resumable": true' "$TESTTMP/out"
t_check "items are whole batches" test $((done1 % 1000)) -eq 0
t_check "every committed rotation has its item" test "$(db "SELECT COUNT(*) FROM secret WHERE state = 'pending'")" -eq "$i"
t_check "no item without its rotation" test "$(db "SELECT COUNT(*) FROM job_item i LEFT JOIN secret s ON s.device_id = i.device_id AND s.kind = i.kind AND s.version = i.version AND s.state = 'pending' WHERE s.device_id IS NULL")" -eq 0

# A plain re-run would refuse the devices already done; the job does not.
t_exit "job resume finishes the rest" 0 c job resume "$id"
t_grep "resume: only the rest" "^$((2 * N - i)) secrets rotated \\(pending\\), 0 refused, 0 on devices gone; $((N - done1)) devices selected" "$TESTTMP/out"
t_exit "job show after resume" 0 c job show "$id" --limit 1
t_grep "done now" "^job $id: password.rotate, done" "$TESTTMP/out"
t_grep "every device once" "^devices: $N of $N done; results \\(per device and kind\\): $((2 * N)) ok, 0 refused, 0 gone" "$TESTTMP/out"
t_check "no device rotated twice: one new version each" test "$(db "SELECT COUNT(*) FROM secret WHERE version > 2")" -eq 0
t_check "every secret pending once" test "$(db "SELECT COUNT(*) FROM secret WHERE state = 'pending'")" -eq $((2 * N))
t_check "one audit entry per rotation" test "$(db "SELECT COUNT(*) FROM audit WHERE action = 'password.rotate' AND result = 'ok'")" -eq $((2 * N))
t_exit "a finished job is not resumed again" 1 c job resume "$id"
t_grep "says why" "not resumable" "$TESTTMP/err"
t_exit "no such job" 4 c job show 999999
t_exit "job id must be a number" 2 c job show x
t_exit "password verify" 0 c password verify
t_exit "audit verify" 0 c audit verify

# Paging: all items through the pages equal one listing.
t_exit "job show, every page" 0 c --json job show "$id"
t_check "all items, merged" test "$(grep -c '"seq"' "$TESTTMP/out")" -eq $((2 * N))
t_done
