#!/bin/sh
# tests/integration/apply_job.sh - policy apply is a resumable job, against
# the AMT simulator with more devices than the fleet driver's 64 slots:
# one item per device (kind acl) with its outcome; one device down is an
# 'unreachable' item and the others go on; an apply killed (SIGKILL) while
# a device's change was on the wire leaves an interrupted job, and job
# resume does only the device without an item, reconciling the change
# whose outcome was lost (the device took it: nothing sent again); job
# show tells it all. A policy loaded since refuses the resumption.
. tests/integration/lib.sh
t_need_or_skip curl python3

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
N=70
t_amtsim $N
dev() { printf 'dev%05d.amtsim.test' "$1"; }
fault() {	# fault FQDN KIND [COUNT [MS]]
	curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	    -d "{\"device\":\"$1\",\"fault\":\"$2\",\"count\":${3:-1},\"ms\":${4:-0}}"
}
nusers() {	# nusers FQDN: how many ACL entries the device holds
	curl -s "http://127.0.0.1:$control_port/state?device=$1" |
	    python3 -c 'import json, sys; print(len(json.load(sys.stdin)["users"]))'
}
t_exit "init" 0 c init
curl -s "http://127.0.0.1:$control_port/state" | python3 -c '
import json, sys
print("fqdn,digest_realm,admin_password,address")
for d in json.load(sys.stdin)["devices"]:
    print("%s,%s,P@ssw0rd,127.0.0.1:%s" % (d["fqdn"], d["realm"], sys.argv[1]))
' "$port" >"$TESTTMP/fleet.csv"
t_exit "import $N devices" 0 c device import "$TESTTMP/fleet.csv"
cp tests/integration/acl_policy.yaml "$TESTTMP/p1.yaml"
t_exit "policy load" 0 c policy load "$TESTTMP/p1.yaml"

SLOW=$(dev 5) DOWN=$(dev 69)
fault "$DOWN" down -1
# Every answer of the slow device comes 12 s late: its first change is
# applied on the device while custody waits for the answer (long enough
# for the other 69 to end first on a loaded machine).
fault "$SLOW" delay -1 12000
"$CUSTODYCTL" --state-dir "$S" --json policy apply --all \
	>"$TESTTMP/killed.out" 2>&1 &
APID=$!
n=0
while [ "$(nusers "$SLOW")" = 0 ] && [ $n -lt 300 ]; do
	sleep 0.1; n=$((n + 1))
done
t_check "the slow device took its first change" [ "$(nusers "$SLOW")" = 1 ]
# The others have ended by now (about 7 s into the slow one).
n=0
while [ $n -lt 300 ]; do
	c --json job list --limit 1 >"$TESTTMP/jl" 2>/dev/null
	[ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["jobs"][0]["done"])' "$TESTTMP/jl")" = 69 ] && break
	sleep 0.1; n=$((n + 1))
done
kill -9 "$APID"
wait "$APID" 2>/dev/null
t_exit "job list" 0 c --json job list --limit 1
job=$(py "$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(j["id"] if j["kind"] == "policy.apply" and j["state"] ==
    "interrupted" and j["resumable"] and j["total"] == 70 and
    j["done"] == 69 else 0)
EOF
)
t_check "the killed apply is an interrupted, resumable job, 69 of 70 done" \
	[ "$job" != 0 ]
t_exit "job show $job" 0 c --json job show "$job"
t_check "68 ok, the down device unreachable, the slow one without an item" \
	py "$TESTTMP/out" "$SLOW" "$DOWN" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
it = {i["fqdn"]: i for i in j["items"]}
sys.exit(not (j["job"]["results"].get("ok") == 68 and
    it[sys.argv[3]]["result"] == "unreachable" and
    it[sys.argv[3]]["kind"] == "acl" and sys.argv[2] not in it and
    "push prov ok" in it["dev00000.amtsim.test"]["detail"]))
EOF
t_exit "text job show" 0 c job show "$job"
t_grep "names each device's outcome" "$DOWN acl unreachable: " "$TESTTMP/out"
t_exit "password history of the slow device" 0 c --json password history \
	"$SLOW"
t_check "its prov credential is left pushed (outcome lost)" py \
	"$TESTTMP/out" <<'EOF'
import json, sys
v = {x["kind"]: x["state"] for x in json.load(open(sys.argv[1]))["versions"]
    if x["kind"].startswith("console:")}
sys.exit(v != {"console:prov": "pushed", "console:secsuite": "pending"})
EOF

fault "$SLOW" clear
before=$(curl -s "http://127.0.0.1:$control_port/state?device=$SLOW" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["acl_epoch"])')
t_exit "job resume $job (the down device is not retried)" 0 c --json job \
	resume "$job"
t_check "only the slow device, reconciled" py "$TESTTMP/out" "$SLOW" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
it = r["items"]
a = {(x["action"], x["user"]): x["result"] for x in it[0]["actions"]}
sys.exit(not (r["devices"] == 1 and r["failed"] == 0 and
    r["results"] == {"reconciled": 1} and it[0]["fqdn"] == sys.argv[2] and
    a == {("push", "prov"): "reconciled", ("push", "secsuite"): "ok"}))
EOF
t_check "prov was not sent again: one ACL change (secsuite's) since" [ \
	"$(curl -s "http://127.0.0.1:$control_port/state?device=$SLOW" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["acl_epoch"])')" \
	-eq $((before + 1)) ]
t_exit "job show $job" 0 c --json job show "$job"
t_check "done: 70 items, 68 ok, 1 reconciled, 1 unreachable" py \
	"$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["job"]
r = {k: v for k, v in j["results"].items() if v}
sys.exit(not (j["state"] == "done" and j["done"] == 70 and not j["resumable"]
    and r == {"ok": 68, "reconciled": 1, "unreachable": 1}))
EOF
t_exit "job resume of a done job: refused" 1 c job resume "$job"
PROV=$(c credential show "$SLOW" --console prov)
t_check "curl --digest as prov with custody's credential works" [ "$(printf \
	'user = "prov:%s"\n' "$(printf '%s' "$PROV" | sed 's/[\\"]/\\&/g')" |
	curl -s -K - --digest -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/soap+xml; charset=utf-8' \
	--connect-to "$SLOW:16992:127.0.0.1:$port" --data-binary \
	'<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>9</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo></Header><Body></Body></Envelope>' \
	"http://$SLOW:16992/wsman")" = 200 ]
t_exit "drift: only the down device differs (unreadable)" 1 c --json \
	policy drift --all
t_check "69 devices match the plan" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
bad = [i["fqdn"] for i in r["items"] if i["result"] != "ok"]
sys.exit(bad != ["dev00069.amtsim.test"])
EOF

# A policy loaded after an apply was killed: its resumption is refused.
fault "$SLOW" delay -1 3000
t_exit "policy load p2" 0 c policy load "$TESTTMP/p1.yaml"
"$CUSTODYCTL" --state-dir "$S" policy apply --device "$SLOW" >/dev/null 2>&1 &
APID=$!
# kill it once its job exists (the slow device holds it 3 s per answer)
n=0
while [ $n -lt 100 ]; do
	c --json job list --limit 1 >"$TESTTMP/jl" 2>/dev/null
	[ "$(python3 -c 'import json, sys; j = json.load(open(sys.argv[1]))["jobs"][0]; print(j["id"] != int(sys.argv[2]) and j["state"])' "$TESTTMP/jl" "$job")" = running ] && break
	sleep 0.1; n=$((n + 1))
done
kill -9 "$APID"
wait "$APID" 2>/dev/null
fault "$SLOW" clear
t_exit "job list" 0 c --json job list --limit 1
job2=$(python3 -c 'import json, sys; j = json.load(open(sys.argv[1]))["jobs"][0]; print(j["id"] if j["state"] == "interrupted" else 0)' "$TESTTMP/out")
t_check "a second interrupted apply job" [ "$job2" != 0 ] && [ "$job2" != "$job" ]
sed 's/access: network/access: any/' "$TESTTMP/p1.yaml" >"$TESTTMP/p3.yaml"
t_exit "policy load p3" 0 c policy load "$TESTTMP/p3.yaml"
t_exit "resuming it after p3 is refused" 1 c job resume "$job2"
t_grep "saying why" 'was loaded since: run policy apply' "$TESTTMP/err"
t_exit "the job stays resumable" 0 c --json job show "$job2"
t_check "interrupted still" py "$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["job"]
sys.exit(not (j["state"] == "interrupted" and j["resumable"]))
EOF
kill "$SIMPID" 2>/dev/null; wait "$SIMPID" 2>/dev/null; SIMPID=""
t_done
