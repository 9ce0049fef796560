#!/bin/sh
# tests/integration/provision_job.sh - cert provision --tag T | --all is a
# job against the AMT simulator: one item per device (kind tls) with its
# outcome (ok, unchanged, unreachable, auth-failed), one bad device never
# stopping the others; a provisioning killed mid-way (SIGKILL) leaves an
# interrupted job that job resume finishes, doing only the devices
# without an item; the devices end serving custody's certificate.
. tests/integration/lib.sh
t_need_or_skip curl python3 openssl

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
t_amtsim 7
dev() { printf 'dev%05d.amtsim.test' "$1"; }
fault() {	# fault FQDN KIND [COUNT [MS]]
	curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	    -d "{\"device\":\"$1\",\"fault\":\"$2\",\"count\":${3:-1},\"ms\":${4:-0}}"
}
verifies() {	# verifies FQDN: openssl checks the chain and the name
	openssl s_client -connect "127.0.0.1:$tls_port" -servername "$1" \
	    -CAfile "$S/ca/bundle.pem" -verify_return_error \
	    -verify_hostname "$1" </dev/null >"$TESTTMP/sclient" 2>&1 &&
	    grep -q 'Verify return code: 0 (ok)' "$TESTTMP/sclient"
}
t_exit "init" 0 c init
# dev5's registered admin password is not the device's: auth-failed.
{
	echo "fqdn,admin_password,address,tags"
	for i in 0 1 2 3 4 5; do
		pw='P@ssw0rd'
		[ $i = 5 ] && pw='Wr0ng!pass'
		echo "$(dev $i),$pw,127.0.0.1:$port,tls"
	done
	echo "$(dev 6),P@ssw0rd,127.0.0.1:$port,other"
} >"$TESTTMP/fleet.csv"
t_exit "import" 0 c device import "$TESTTMP/fleet.csv"
t_exit "cert provision $(dev 0) first" 0 c cert provision "$(dev 0)"
t_exit "a dry run takes one FQDN" 2 c cert provision --all --dry-run
t_exit "FQDN and --tag together: usage" 2 c cert provision "$(dev 1)" \
	--tag tls

fault "$(dev 4)" down -1
fault "$(dev 2)" delay -1 1500
"$CUSTODYCTL" --state-dir "$S" cert provision --tag tls \
	>"$TESTTMP/killed.out" 2>&1 &
PID=$!
n=0
while [ $n -lt 200 ]; do
	c --json job list --limit 1 >"$TESTTMP/jl" 2>/dev/null &&
	    [ "$(python3 -c 'import json, sys; j = json.load(open(sys.argv[1]))["jobs"][0]; print(j["kind"], j["done"])' "$TESTTMP/jl")" = "cert.provision 2" ] && break
	sleep 0.1; n=$((n + 1))
done
sleep 2		# dev2 is under way, one slow step after the other
kill -9 "$PID"
wait "$PID" 2>/dev/null
fault "$(dev 2)" clear
t_exit "job list" 0 c --json job list --limit 1
job=$(py "$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(j["id"] if j["kind"] == "cert.provision" and j["state"] ==
    "interrupted" and j["resumable"] and j["total"] == 6 and
    j["done"] == 2 else 0)
EOF
)
t_check "the killed provisioning is an interrupted, resumable job, 2 of 6" \
	[ "$job" != 0 ]
t_exit "job resume $job: 4 devices, 2 of them bad (exit 1)" 1 c --json \
	job resume "$job"
t_check "dev2 and dev3 ok, dev4 unreachable, dev5 auth-failed" py \
	"$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
it = {i["fqdn"][:8]: (i["result"], i["step"]) for i in r["items"]}
sys.exit(not (r["devices"] == 4 and r["failed"] == 2 and
    it == {"dev00002": ("ok", None), "dev00003": ("ok", None),
           "dev00004": ("unreachable", "login-check"),
           "dev00005": ("auth-failed", "realm-check")}))
EOF
t_exit "job show $job" 0 c --json job show "$job"
t_check "done: 6 items, kind tls: unchanged, 3 ok, unreachable, auth-failed" \
	py "$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
r = {k: v for k, v in j["job"]["results"].items() if v}
sys.exit(not (j["job"]["state"] == "done" and j["job"]["done"] == 6 and
    all(i["kind"] == "tls" for i in j["items"]) and
    r == {"unchanged": 1, "ok": 3, "unreachable": 1, "auth-failed": 1}))
EOF
t_exit "text job show" 0 c job show "$job"
t_grep "names the failed step" "$(dev 5) tls auth-failed: realm-check: " \
	"$TESTTMP/out"
for i in 0 1 2 3; do
	t_check "$(dev $i) serves custody's certificate" verifies "$(dev $i)"
done
fault "$(dev 4)" up
t_exit "cert provision --all: the rest" 1 c cert provision --all
t_grep "dev4 and dev6 done now, the others unchanged" \
	'^7 devices, 1 not ok \(job [0-9]+\)$' "$TESTTMP/out"
t_grep "dev5 still auth-failed" "$(dev 5): auth-failed: realm-check: " \
	"$TESTTMP/out"
t_check "$(dev 6) serves custody's certificate" verifies "$(dev 6)"
# A device removed while the job runs (the job stopped in the first
# device's run): it is reported missing and the job does the others.
CUSTODY_TEST_STOP_AT=provision-bind "$CUSTODYCTL" --state-dir "$S" --json \
    cert provision --all --renew >"$TESTTMP/rm.out" 2>"$TESTTMP/rm.err" &
pid=$!
t_wait_stopped $pid
t_exit "device remove $(dev 3) meanwhile" 0 c device remove "$(dev 3)"
while kill -0 $pid 2>/dev/null; do	# it stops again at each device's bind
	[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = T ] &&
	    kill -CONT $pid
	sleep 0.05
done
wait $pid
t_check "the job ends exit 1 (dev5), not stopped by the removal" \
	[ $? -eq 1 ]
t_check "$(dev 3) missing, the devices after it done" py "$TESTTMP/rm.out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
it = {i["fqdn"][:8]: i["result"] for i in r["items"]}
sys.exit(not (it.get("dev00003") == "missing" and
    it.get("dev00004") == "ok" and it.get("dev00006") == "ok" and
    it.get("dev00005") == "auth-failed"))
EOF
t_exit "an unknown tag: not found" 4 c cert provision --tag nosuch
kill "$SIMPID" 2>/dev/null; wait "$SIMPID" 2>/dev/null; SIMPID=""
t_done
