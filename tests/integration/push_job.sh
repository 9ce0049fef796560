#!/bin/sh
# tests/integration/push_job.sh - pushes by selector as jobs, against the
# AMT simulator with more devices than the fleet driver's 64 slots:
# password rotate --tag T --push and device push --tag/--all record one
# item per device (ok, unreachable, nothing-pending ...); one device down
# does not stop the others; a push job whose process died is resumed by
# job resume, doing only the devices without a result.
. tests/integration/lib.sh
t_need_or_skip curl python3 sqlite3

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
N=70
t_amtsim $N
t_exit "init" 0 c init
curl -s "http://127.0.0.1:$control_port/state" | python3 -c '
import json, sys
print("fqdn,digest_realm,tags,admin_password,address")
for i, d in enumerate(json.load(sys.stdin)["devices"]):
    print("%s,%s,%s,P@ssw0rd,127.0.0.1:%s" % (d["fqdn"], d["realm"],
          "lab" if i < 68 else "spare", sys.argv[1]))
' "$port" >"$TESTTMP/fleet.csv"
t_exit "import $N devices" 0 c device import "$TESTTMP/fleet.csv"

# Every device's admin HA1 is that of custody's current password.
all_hold() {
	curl -s "http://127.0.0.1:$control_port/state" >"$TESTTMP/state.json"
	for f in $(python3 -c 'import json, sys; print(" ".join(d["fqdn"] for d in json.load(open(sys.argv[1]))["devices"]))' "$TESTTMP/state.json"); do
		c password show "$f" >"$TESTTMP/pw" || return 1
		python3 -c '
import hashlib, json, sys
d = [d for d in json.load(open(sys.argv[1]))["devices"] if d["fqdn"] == sys.argv[3]][0]
pw = open(sys.argv[2]).read().rstrip("\n")
sys.exit(d["admin"]["ha1"] != hashlib.md5(("admin:%s:%s" % (d["realm"], pw)).encode()).hexdigest())
' "$TESTTMP/state.json" "$TESTTMP/pw" "$f" || { echo "    $f does not"; return 1; }
	done
}
results() {	# results JSONFILE KEY: the counts as k=v, sorted
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))[sys.argv[2]]
print(" ".join("%s=%d" % kv for kv in sorted(r.items())))
' "$1" "$2"
}
member() {	# member JSONFILE KEY
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

t_exit "password rotate --tag lab --push (68 devices)" 0 \
	c --json password rotate --tag lab --push
t_check "68 ok in the push job" [ "$(results "$TESTTMP/out" push_results)" = "ok=68" ]
t_check "every device holds custody's current password" all_hold

t_exit "device push --all: nothing pending anywhere" 0 c --json device push --all
t_check "70 nothing-pending" [ "$(results "$TESTTMP/out" results)" = "nothing-pending=70" ]

t_exit "rotate the spare devices" 0 c password rotate --tag spare
sim_fault "$(sim_dev 69)" down -1
t_exit "device push --tag spare with one device down" 1 c --json device push --tag spare
t_check "one ok, one unreachable" [ "$(results "$TESTTMP/out" results)" = "ok=1 unreachable=1" ]
job=$(member "$TESTTMP/out" job)
t_exit "job show $job" 0 c --json job show "$job"
t_check "the job is done, one item per device with its result" py "$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
items = {i["fqdn"]: i["result"] for i in j["items"]}
sys.exit(not (j["job"]["kind"] == "device.push" and j["job"]["state"] == "done"
    and items == {"dev00068.amtsim.test": "ok", "dev00069.amtsim.test": "unreachable"}))
EOF
sim_fault "$(sim_dev 69)" up
sim_fault "$(sim_dev 69)" clear

# A push job killed after its first device's change is committed
# 'pushed': interrupted, then resumed.
t_exit "rotate the lab devices (no push)" 0 c password rotate --tag lab
CUSTODY_TEST_CRASH_AT=push-begun "$CUSTODYCTL" --state-dir "$S" device push \
	--tag lab >/dev/null 2>&1
t_check "the push died mid-way" [ $? -eq 99 ]
t_exit "job list" 0 c --json job list --limit 1
job=$(py "$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j = j["jobs"][0] if isinstance(j, dict) else j[0]
print(j["id"] if j["kind"] == "device.push" and j["state"] == "interrupted" and j["resumable"] else 0)
EOF
)
t_check "it is an interrupted, resumable push job" [ "$job" != 0 ]
t_exit "job resume $job" 0 c --json job resume "$job"
t_check "the rest of the 68 pushed ok" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["results"].get("ok", 0) == r["selected"] and r["selected"] >= 67))
EOF
t_exit "job show $job" 0 c --json job show "$job"
t_check "done: 68 items, all ok" py "$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(not (j["job"]["state"] == "done" and j["job"]["done"] == 68 and
    j["job"]["results"].get("ok") == 68))
EOF
t_check "every device holds custody's current password" all_hold

# Scheduled rotation with rotation.push: custodyd, its clock 200 days on
# (every admin password due, but dev00069's, whose version from above is
# still pending), rotates and pushes them on its first tick.
admin_v() {	# admin_v FQDN: the current admin version
	c --json password history "$1" | python3 -c 'import json, sys; print([v["version"] for v in json.load(sys.stdin)["versions"] if v["kind"] == "admin" and v["state"] == "current"][0])'
}
before=$(admin_v "$(sim_dev 0)")
printf 'rotation:\n  jitter: 0s\n  batch_size: 100\n  push: true\n' >"$S/custody.yaml"
t_exit "config check (rotation.push)" 0 c config check
if [ -x "$BUILD/custodyd" ]; then
	CUSTODY_TEST_NOW=+17280000 t_custodyd "$S" "$TESTTMP/d.log" \
	    --listen 127.0.0.1:0 || t_fail "custodyd starts"
	DPID=$T_DPID
	n=0
	# The push runs on custodyd's job threads.
	while ! grep -q 'job [0-9]* (device.push, local:scheduler) done' \
	    "$TESTTMP/d.log" && [ $n -lt 300 ]; do
		sleep 0.1; n=$((n + 1))
	done
	kill "$DPID"; wait "$DPID" 2>/dev/null
	t_grep "custodyd's scheduler pushed what it rotated" \
	    "scheduler: push job [0-9]* of rotation job [0-9]*: 69 rotated devices" "$TESTTMP/d.log"
	t_grep "... all of it, on a job thread" \
	    "job [0-9]* \\(device.push, local:scheduler\\) done: 69 of 69 devices" "$TESTTMP/d.log"
	t_check "$(sim_dev 0) has a newer current admin password" \
	    [ "$(admin_v "$(sim_dev 0)")" -gt "$before" ]
	t_check "every device holds custody's current password" all_hold
fi

# One device whose admin secret row fails its row MAC (altered in the
# store): that device's item is 'error' (naming no secret), the others
# are pushed; the job ends done with every device's outcome, exit 1.
t_exit "rotate $(sim_dev 68) again (dev00069 is still pending)" 0 c password rotate "$(sim_dev 68)"
sqlite3 "$S/custody.db" "UPDATE secret SET created = created + 1 WHERE kind = 'admin' AND state = 'pending' AND device_id = (SELECT id FROM device WHERE fqdn = '$(sim_dev 68)')"
t_exit "device push --all with one device's secret row altered" 1 \
	c --json device push --all
t_check "error=1, the others pushed or with nothing pending" \
	[ "$(results "$TESTTMP/out" results)" = "error=1 nothing-pending=68 ok=1" ]
job=$(member "$TESTTMP/out" job)
t_exit "job show $job" 0 c --json job show "$job"
t_check "the job is done, 70 items; the error is $(sim_dev 68)'s, naming no secret" \
	py "$TESTTMP/out" "$(sim_dev 68)" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
e = [i for i in j["items"] if i["result"] == "error"]
sys.exit(not (j["job"]["state"] == "done" and j["job"]["done"] == 70 and
    len(e) == 1 and e[0]["fqdn"] == sys.argv[2] and
    "nothing sent" in e[0]["detail"]))
PYEOF
t_amtsim_stop
t_done
