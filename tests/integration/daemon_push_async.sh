#!/bin/sh
# tests/integration/daemon_push_async.sh - custodyd runs push jobs on its
# job threads, not on the worker that took the request: against amtsim
# with every device slow (a delay fault), a device.push with "async"
# answers 202 (the job, Location /v1/jobs/ID) before the push ends,
# other requests are served meanwhile, job.show reports the progress;
# a client that did not ask async still gets the full reply at the end;
# SIGTERM mid-job leaves it 'interrupted' at a device boundary and the
# next start finishes it; the remote CLI waits with progress (or prints
# the job with --no-wait). A password rotate --push whose rotation was
# killed is resumed by custodyd's scheduler and pushed.
. tests/integration/lib.sh
t_need_or_skip curl python3
[ -x "$BUILD/custodyd" ] || { t_skip daemon_push_async.sh "custodyd is not built"; exit 77; }

S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
N=300
DPID=
t_amtsim $N
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; [ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null' EXIT
fault() {	# fault FQDN KIND [COUNT [MS]]
	curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	    -d "{\"device\":\"$1\",\"fault\":\"$2\",\"count\":${3:-1},\"ms\":${4:-0}}"
}
t_exit "init" 0 c init
curl -s "http://127.0.0.1:$control_port/state" | python3 -c '
import json, sys
print("fqdn,digest_realm,tags,admin_password,address")
for i, d in enumerate(json.load(sys.stdin)["devices"]):
    print("%s,%s,%s,P@ssw0rd,127.0.0.1:%s" % (d["fqdn"], d["realm"],
          "lab" if i < 10 else "fleet", sys.argv[1]))
' "$port" >"$W/fleet.csv"
t_exit "import $N devices" 0 c device import "$W/fleet.csv"
CA="$S/ca/bundle.pem"
ACRT="$S/admin/admin.crt"
AKEY="$S/admin/admin.key"

# Every device's admin HA1 is that of custody's current password, and no
# admin version is left pending or pushed.
all_hold() {
	curl -s "http://127.0.0.1:$control_port/state" >"$W/state.json"
	sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM secret WHERE kind = \
	    'admin' AND state IN ('pending', 'pushed')" >"$W/inflight" 2>/dev/null
	[ "$(cat "$W/inflight")" = 0 ] || { echo "    $(cat "$W/inflight") in flight"; return 1; }
	: >"$W/pws"
	for f in $(python3 -c 'import json, sys; print(" ".join(d["fqdn"] for d in json.load(open(sys.argv[1]))["devices"]))' "$W/state.json"); do
		printf '%s\t' "$f" >>"$W/pws"
		c password show "$f" >>"$W/pws" || return 1
	done
	python3 -c '
import hashlib, json, sys
devs = {d["fqdn"]: d for d in json.load(open(sys.argv[1]))["devices"]}
bad = 0
for line in open(sys.argv[2]):
    f, pw = line.rstrip("\n").split("\t", 1)
    d = devs[f]
    if d["admin"]["ha1"] != hashlib.md5(("admin:%s:%s" % (d["realm"], pw)).encode()).hexdigest():
        print("    %s does not" % f)
        bad += 1
sys.exit(bad != 0 or len(devs) == 0)
' "$W/state.json" "$W/pws"
}
t_need_or_skip sqlite3

start() {
	t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 \
	    --job-threads 1 || { t_fail "custodyd starts"; t_done; }
	DPID=$T_DPID
	U="https://127.0.0.1:$T_PORT"
}
# post OP JSON: POST /v1/ops/OP as the admin; the body in $W/body, the
# head in $W/head; prints the status.
post() {
	curl -s -o "$W/body" -D "$W/head" -w '%{http_code}' --cacert "$CA" \
	    --cert "$ACRT" --key "$AKEY" -H 'Content-Type: application/json' \
	    -X POST "$U/v1/ops/$1" -d "$2"
}
member() {	# member KEY: of $W/body
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$W/body" "$1"
}
jobstate() {	# jobstate ID: "STATE DONE TOTAL" read from the store
	sqlite3 "$S/custody.db" "SELECT state, (SELECT COUNT(DISTINCT \
	    device_id) FROM job_item WHERE job_id = $1), total FROM job WHERE \
	    id = $1" 2>/dev/null | tr '|' ' '
}
wait_state() {	# wait_state ID STATE: up to 60 s
	_w=0
	while [ "$(jobstate "$1" | cut -d' ' -f1)" != "$2" ] && [ $_w -lt 600 ]; do
		sleep 0.1; _w=$((_w + 1))
	done
	[ "$(jobstate "$1" | cut -d' ' -f1)" = "$2" ]
}

t_exit "rotate every admin password (no push)" 0 c password rotate --all
# Every authenticated request waits 600 ms: a push of 300 devices, 64 at
# a time, three requests each, takes some 10 s.
fault '*' delay -1 600
start

# 1. async: 202 at once, the job's id and where to follow it.
t0=$(date +%s%N)
st=$(post device.push '{"all": true, "async": true}')
t1=$(date +%s%N)
t_check "device.push async answers 202 ($st)" [ "$st" = 202 ]
job=$(member job)
t_check "... with the job's id ($job) and state running" \
    test "$job" -gt 0 -a "$(member state)" = running -a "$(member async)" = True
t_grep "... and Location: /v1/jobs/$job" "^Location: /v1/jobs/$job" "$W/head"
t_check "... within 2 s ($(( (t1 - t0) / 1000000 )) ms), the push under way" \
    [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]
t_check "the job is running, not done" [ "$(jobstate "$job" | cut -d' ' -f1)" = running ]
# 2. Other requests are served during the push (2 workers, none held).
t0=$(date +%s%N)
st=$(post status '{}')
st2=$(post device.list '{"limit": 5}')
t1=$(date +%s%N)
t_check "status and device.list answered during the push ($st $st2, $(( (t1 - t0) / 1000000 )) ms)" \
    test "$st" = 200 -a "$st2" = 200 -a $(( (t1 - t0) / 1000000 )) -lt 2000
# 3. Progress: job.show (GET /v1/jobs/ID) sees it move.
n=0; seen=0
while [ $n -lt 200 ]; do
	curl -s -o "$W/body" --cacert "$CA" --cert "$ACRT" --key "$AKEY" \
	    "$U/v1/jobs/$job?limit=1"
	py "$W/body" <<'EOF' && { seen=1; break; }
import json, sys
j = json.load(open(sys.argv[1]))["job"]
sys.exit(not (j["state"] == "running" and 0 < j["done"] < j["total"]))
EOF
	sleep 0.1; n=$((n + 1))
done
t_check "job show reports the progress (running, 0 < done < $N)" [ $seen = 1 ]
t_check "the job ends done" wait_state "$job" done
t_check "... $N items" [ "$(jobstate "$job")" = "done $N $N" ]
t_check "every device holds custody's current password" all_hold

# 4. A client that does not ask async: the full reply at the end, as
# before (no worker held: another request meanwhile).
c password rotate --tag lab >/dev/null
post device.push '{"tag": "lab", "items": true}' >"$W/sync.st" &
spid=$!
sleep 0.3
st=$(post status '{}')
t_check "status answered while a client waits for its push ($st)" [ "$st" = 200 ]
wait $spid
t_check "the waiting client gets 200 and the push's results" py "$W/body" "$(cat "$W/sync.st")" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (sys.argv[2] == "200" and r["pushed"] == 10 and r["selected"] == 10
    and r["results"] == {"ok": 10} and len(r["items"]) == 10 and "async" not in r))
EOF

# 5. SIGTERM mid-job: interrupted at a device boundary, then finished by
# the next start.
c password rotate --all >/dev/null
st=$(post device.push '{"all": true, "async": true}')
job=$(member job)
n=0
while [ "$(jobstate "$job" | cut -d' ' -f2)" -lt 20 ] && [ $n -lt 300 ]; do
	sleep 0.05; n=$((n + 1))
done
kill -TERM "$DPID"
wait "$DPID"; rc=$?
DPID=
t_check "custodyd exits 0 on SIGTERM mid-job ($rc)" [ $rc -eq 0 ]
set -- $(jobstate "$job")
t_check "the job is left interrupted with part done ($*)" \
    test "$1" = interrupted -a "$2" -gt 0 -a "$2" -lt $N
t_check "... at a device boundary: nothing left pushed" \
    [ "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM secret WHERE state = 'pushed'")" = 0 ]
t_grep "... and logged why" "job $job interrupted: stopped at a device boundary" "$W/d.log"
start
t_check "the next start resumes it to done" wait_state "$job" done
t_check "... every device has its item" [ "$(jobstate "$job")" = "done $N $N" ]
t_check "every device holds custody's current password" all_hold

# 6. The remote CLI: waits for the job with progress on stderr, prints
# the same summary as local mode; --no-wait prints the job.
r() { cc --server "$U" --cacert "$CA" --cert "$ACRT" --key "$AKEY" "$@"; }
c password rotate --tag lab >/dev/null
t_exit "remote device push --tag lab --wait" 0 r device push --tag lab --wait
t_grep "... prints the summary" "10 of 10 devices now hold their new admin password \\(push job [0-9]*\\): ok 10" "$TESTTMP/out"
t_grep "... progress on stderr" "progress: 10/10 devices" "$TESTTMP/err"
c password rotate --tag lab >/dev/null
t_exit "remote device push --tag lab --no-wait" 0 r device push --tag lab --no-wait
t_grep "... prints the job" "push job [0-9]* started" "$TESTTMP/out"
job=$(sed -n 's/.*push job \([0-9]*\) started.*/\1/p' "$TESTTMP/out")
t_check "... which ends done" wait_state "$job" done
t_exit "remote password rotate --tag lab --push" 0 r password rotate --tag lab --push
t_grep "... rotated then pushed" "10 of 10 devices now hold" "$TESTTMP/out"
t_check "every device holds custody's current password" all_hold
kill -TERM "$DPID"; wait "$DPID"; DPID=

# 7. A password rotate --push killed during its rotation: custodyd's
# scheduler resumes the rotation and pushes it.
fault '*' clear
before=$(sqlite3 "$S/custody.db" "SELECT MAX(version) FROM secret s JOIN device d ON d.id = s.device_id WHERE d.fqdn = 'dev00000.amtsim.test' AND s.kind = 'admin' AND s.state = 'current'")
CUSTODY_TEST_CRASH_AT=rotate-item "$CUSTODYCTL" --state-dir "$S" \
    password rotate --tag lab --push >/dev/null 2>&1
t_check "the rotation died mid-way" [ $? -eq 99 ]
rjob=$(sqlite3 "$S/custody.db" "SELECT MAX(id) FROM job WHERE kind = 'password.rotate'")
start
t_check "custodyd's scheduler resumes the rotation" wait_state "$rjob" done
n=0
while ! grep -q "push job [0-9]* of rotation job $rjob (resumed)" "$W/d.log" && [ $n -lt 300 ]; do
	sleep 0.1; n=$((n + 1))
done
pjob=$(sed -n "s/.*push job \([0-9]*\) of rotation job $rjob (resumed).*/\1/p" "$W/d.log")
t_check "... and pushes it (push job ${pjob:-none})" wait_state "${pjob:-0}" done
after=$(sqlite3 "$S/custody.db" "SELECT MAX(version) FROM secret s JOIN device d ON d.id = s.device_id WHERE d.fqdn = 'dev00000.amtsim.test' AND s.kind = 'admin' AND s.state = 'current'")
t_check "dev00000 has a newer current admin password ($before -> $after)" [ "$after" -gt "$before" ]
t_check "every device holds custody's current password" all_hold
kill -TERM "$DPID"; wait "$DPID"; DPID=
t_done
