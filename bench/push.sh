#!/bin/sh
# bench/push.sh - a rotation pushed to N simulated devices (amtsim, HTTP
# digest on loopback) by custodyd: password rotate --all, then device
# push --all through custodyd's API, timed; devices/s, the push job's
# wall time, custodyd's peak RSS (VmHWM). Side by side, the floor: the
# same devices, each a new connection and one digest-authenticated Get
# with bare libcurl multi at the same concurrency (BUILD/bench/
# push_client). A push is three digest exchanges per device (a Get, the
# change, a Get on a fresh connection), so the floor's rate over 3 is
# what a push could reach at best. Nothing is asserted.
#
#   sh bench/push.sh                 (BUILD, CUSTODYCTL from bench/run.sh)
#   PUSH_DEVICES=10000 sh bench/push.sh
#
# amtsim is single-threaded: with many devices it, not custody, may be
# the limit (both share the 2 cores with custodyd).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
CUSTODYCTL=${CUSTODYCTL:-$BUILD/custodyctl}
CUSTODYD=${CUSTODYD:-$BUILD/custodyd}
AMTSIM=$BUILD/amtsim
CLIENT=$BUILD/bench/push_client
N=${PUSH_DEVICES:-2000}
CONC=64

echo "bench push: rotation pushed to $N simulated devices (amtsim, HTTP digest), $CONC at once"
for x in "$CUSTODYD" "$AMTSIM" "$CLIENT"; do
	if [ ! -x "$x" ]; then
		echo "bench push: $x is missing (make $x)" >&2
		exit 1
	fi
done
T=$(mktemp -d /tmp/custody-bench-push.XXXXXX)
SIMPID= DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
ms() { echo $(($(date +%s%N) / 1000000)); }

"$AMTSIM" --port 0 --control-port 0 --count "$N" --ready-file "$T/ready" \
	>"$T/sim.log" 2>&1 &
SIMPID=$!
i=0
while [ ! -s "$T/ready" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
. "$T/ready"

# The floor first, while every device still has the initial password.
"$CLIENT" "$port" "$N" "$CONC" 'P@ssw0rd' || echo "bench push: the floor client failed"

S="$T/state"
"$CUSTODYCTL" --state-dir "$S" init >/dev/null || exit 1
curl -s "http://127.0.0.1:$control_port/state" | python3 -c '
import json, sys
print("fqdn,digest_realm,admin_password,address")
for d in json.load(sys.stdin)["devices"]:
    print("%s,%s,P@ssw0rd,127.0.0.1:%s" % (d["fqdn"], d["realm"], sys.argv[1]))
' "$port" >"$T/fleet.csv"
"$CUSTODYCTL" --state-dir "$S" device import "$T/fleet.csv" >/dev/null || exit 1
"$BUILD/custodyd" --state-dir "$S" --listen 127.0.0.1:0 2>"$T/d.log" &
DPID=$!
i=0
while ! grep -q ' ready: ' "$T/d.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/d.log" | head -1)
op() {	# op NAME JSON
	curl -sS --max-time 3600 --cacert "$S/ca/bundle.pem" \
	    --cert "$S/admin/admin.crt" --key "$S/admin/admin.key" \
	    -H 'Content-Type: application/json' --data-binary "$2" \
	    "https://127.0.0.1:$PORT/v1/ops/$1"
}
t0=$(ms)
op password.rotate '{"all": true}' >"$T/rot.json"
t1=$(ms)
op device.push '{"all": true}' >"$T/push.json"
t2=$(ms)
python3 - "$T/push.json" "$N" "$((t1 - t0))" "$((t2 - t1))" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
n, rot, push = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print("custodyd: rotate --all %d ms; device push --all (job %s): %d of %d "
      "now current in %.2fs: %.0f devices/s (%s)" % (rot, r.get("job"),
      r.get("pushed", 0), n, push / 1000.0, n / (push / 1000.0),
      ", ".join("%s %d" % kv for kv in sorted(r.get("results", {}).items()))))
EOF
echo "custodyd peak RSS: $(awk '/VmHWM/ { print $2, $3 }' "/proc/$DPID/status")"
echo "(per-device p99 is the floor's only: a push job records results, not times)"
