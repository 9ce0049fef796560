#!/bin/sh
# bench/push.sh - a rotation pushed to N simulated devices by custodyd,
# over TLS + digest (doc/internals/SERVICE.md "Push throughput"):
# password rotate --all, then device push --all through custodyd's API,
# timed; devices/s, p50/p99 per device (the push items' elapsed_ms),
# custodyd's peak RSS (VmHWM). Side by side, the floor: the same devices,
# one digest-authenticated Get each on new TLS connections (bare libcurl
# multi, the same concurrency: BUILD/bench/push_client floor; its second
# connection resumes the first one's TLS session, libcurl's default, as
# custody's do), and the ratio. Nothing is asserted.
#
#   sh bench/push.sh                 (BUILD, CUSTODYCTL from bench/run.sh)
#   PUSH_DEVICES=10000 sh bench/push.sh
#   PUSH_TLS=0 sh bench/push.sh      (HTTP digest instead, no certificates)
#   PUSH_TLS_RESUME=0 sh bench/push.sh (amtsim --no-tls-resume: firmware
#                                    that makes every handshake a full one)
#
# PUSH_DEVICES (default 1000), PUSH_SIMS amtsim processes (default 2), each
# a contiguous slice of the devices on its own ports (amtsim --first;
# registry addresses 127.0.0.1:PORT of the slice), PUSH_CONC (default 64),
# PUSH_KEEP=1 keeps the scratch directory (custodyd's log, the results).
#
# TLS setup (not timed): custodyctl init; the devices imported; one
# certificate per device signed by custody's CA (push_client certs:
# ca_sign_bulk, one RSA 2048 key shared), served by amtsim --tls-dir; then
# custodyd's cert.provision for each device, whose tls-check finds TLS
# verifying against custody's bundle with the device's name and records
# the device as provisioned (nothing is changed on it). Every push then
# goes over TLS, as for devices custody provisioned itself.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
CUSTODYCTL=${CUSTODYCTL:-$BUILD/custodyctl}
CUSTODYD=${CUSTODYD:-$BUILD/custodyd}
AMTSIM=$BUILD/amtsim
CLIENT=$BUILD/bench/push_client
N=${PUSH_DEVICES:-1000}
SIMS=${PUSH_SIMS:-2}
CONC=${PUSH_CONC:-64}
TLS=${PUSH_TLS:-1}
RESUME=${PUSH_TLS_RESUME:-1}
PW='P@ssw0rd'
[ "$SIMS" -gt "$N" ] && SIMS=$N
if [ "$TLS" = 1 ]; then proto="TLS + digest"; else proto="HTTP digest"; fi
[ "$TLS" = 1 ] && [ "$RESUME" != 1 ] && proto="$proto, no TLS resumption"

echo "bench push: rotation pushed to $N simulated devices ($proto, $SIMS amtsim), $CONC at once"
for x in "$CUSTODYD" "$AMTSIM" "$CLIENT"; do
	if [ ! -x "$x" ]; then
		echo "bench push: $x is missing (make $x)" >&2
		exit 1
	fi
done
T=$(mktemp -d /tmp/custody-bench-push.XXXXXX)
SIMPIDS= DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	for p in $SIMPIDS; do kill "$p" 2>/dev/null; done
	[ -n "${PUSH_KEEP:-}" ] || rm -rf "$T"; [ -n "${PUSH_KEEP:-}" ] && echo "kept $T"
}
trap cleanup EXIT INT TERM
ms() { echo $(($(date +%s%N) / 1000000)); }
cpu() {	# cpu PID...: their CPU time (user + system), ms
	for p in "$@"; do cut -d' ' -f14,15 "/proc/$p/stat"; done |
	    awk -v hz="$(getconf CLK_TCK)" '{ t += $1 + $2 } END { printf "%d", t * 1000 / hz }'
}
S="$T/state"
PER=$(((N + SIMS - 1) / SIMS))

# Free port pairs (P, P + 1), one per amtsim; the fleet's CSV with the
# realms amtsim derives (MD5 of amtsim/1/INDEX) and each slice's address.
python3 - "$N" "$SIMS" "$PER" "$PW" "$T" <<'EOF' || exit 1
import hashlib, random, socket, sys
n, sims, per, pw, t = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ports, held = [], []
while len(ports) < sims:
    p = random.randrange(20000, 60000, 2)
    try:
        ss = []
        for q in (p, p + 1):
            s = socket.socket()
            s.bind(("127.0.0.1", q))
            ss.append(s)
    except OSError:
        for s in ss:
            s.close()
        continue
    held += ss
    ports.append(p)
for s in held:
    s.close()
open(t + "/ports", "w").write(" ".join(map(str, ports)) + "\n")
with open(t + "/fleet.csv", "w") as f:
    f.write("fqdn,digest_realm,admin_password,address\n")
    for i in range(n):
        realm = "Digest:" + hashlib.md5(("amtsim/1/%d" % i).encode()).hexdigest().upper()
        f.write("dev%05d.amtsim.test,%s,%s,127.0.0.1:%d\n" % (i, realm, pw, ports[i // per]))
EOF
PORTS=$(cat "$T/ports")
"$CUSTODYCTL" --state-dir "$S" init >/dev/null || exit 1
"$CUSTODYCTL" --state-dir "$S" device import "$T/fleet.csv" >/dev/null || exit 1
TLSARGS= CAFILE=-
if [ "$TLS" = 1 ]; then
	mkdir "$T/certs"
	t0=$(ms)
	"$CLIENT" certs "$S" "$N" "$T/certs" >/dev/null || exit 1
	echo "setup: $N device certificates signed by custody (ca_sign_bulk) in $(($(ms) - t0)) ms"
	TLSARGS="--tls-dir $T/certs --tls-key $T/certs/key.pem"
	[ "$RESUME" = 1 ] || TLSARGS="$TLSARGS --no-tls-resume"
	CAFILE="$S/ca/bundle.pem"
fi

k=0
for p in $PORTS; do
	cnt=$PER
	[ $((k * PER + cnt)) -gt "$N" ] && cnt=$((N - k * PER))
	# shellcheck disable=SC2086
	"$AMTSIM" --port "$p" --count "$cnt" --first $((k * PER)) \
	    --ready-file "$T/ready$k" $TLSARGS >"$T/sim$k.log" 2>&1 &
	SIMPIDS="$SIMPIDS $!"
	k=$((k + 1))
done
k=0
for p in $PORTS; do
	i=0
	while [ ! -s "$T/ready$k" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	[ -s "$T/ready$k" ] || { echo "bench push: amtsim $k did not start" >&2; cat "$T/sim$k.log" >&2; exit 1; }
	k=$((k + 1))
done

# The floor first, while every device still has the initial password.
c0=$(cpu $SIMPIDS)
"$CLIENT" floor "$N" "$CONC" "$PW" "$CAFILE" "$(echo $PORTS | tr ' ' ,)" \
	>"$T/floor.txt" || echo "bench push: the floor client failed"
cat "$T/floor.txt"
echo "floor: amtsim CPU $(( ($(cpu $SIMPIDS) - c0) * 1000 / N )) us per device"

: >"$T/d.log"
"$CUSTODYD" --state-dir "$S" --listen 127.0.0.1:0 2>"$T/d.log" &
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
if [ "$TLS" = 1 ]; then
	# cert.provision of every device, 8 at once (setup, not the push).
	t0=$(ms)
	python3 - "$PORT" "$S" "$N" <<'PY' || exit 1
import http.client, json, ssl, sys, threading
port, s, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=s + "/ca/bundle.pem")
ctx.load_cert_chain(s + "/admin/admin.crt", s + "/admin/admin.key")
ctx.check_hostname = False
ok, lock, nxt = [0], threading.Lock(), [0]
def work():
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=600)
    while True:
        with lock:
            i = nxt[0]
            nxt[0] += 1
        if i >= n:
            return
        c.request("POST", "/v1/ops/cert.provision",
                  json.dumps({"fqdn": "dev%05d.amtsim.test" % i}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read())
        if r.status == 200 and body.get("result") in ("ok", "unchanged"):
            with lock:
                ok[0] += 1
ts = [threading.Thread(target=work) for _ in range(8)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("setup: cert provision of %d devices through custodyd: %d found "
      "TLS-provisioned" % (n, ok[0]), end="")
sys.exit(0 if ok[0] == n else 1)
PY
	echo " in $(($(ms) - t0)) ms"
fi

t0=$(ms)
op password.rotate '{"all": true}' >"$T/rot.json"
t1=$(ms)
echo "custodyd RSS before the push: $(awk '/VmRSS/ { printf "%.1f MB", $2 / 1024 }' "/proc/$DPID/status") (peak $(awk '/VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$DPID/status"))"
# The push's own peak: VmHWM reset to the current RSS (Linux clear_refs).
echo 5 >"/proc/$DPID/clear_refs" 2>/dev/null
c0=$(cpu $SIMPIDS) d0=$(cpu $DPID)
op device.push '{"all": true, "items": true}' >"$T/push.json"
t2=$(ms)
echo "custodyd: CPU $(( ($(cpu $DPID) - d0) * 1000 / N )) us per device pushed; amtsim CPU $(( ($(cpu $SIMPIDS) - c0) * 1000 / N )) us per device"
RSS=$(awk '/VmHWM/ { print $2 }' "/proc/$DPID/status")
python3 - "$T/push.json" "$N" "$((t1 - t0))" "$((t2 - t1))" "$RSS" "$T/floor.txt" <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
n, rot, push, rss = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
lat = sorted(i.get("elapsed_ms", 0) for i in r.get("items", []))
p = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] if lat else 0
rate = n / (push / 1000.0)
print("custodyd: rotate --all %d ms; device push --all (job %s): %d of %d "
      "now current in %.2fs: %.0f devices/s, p50 %d ms, p99 %d ms per device "
      "(%s)" % (rot, r.get("job"), r.get("pushed", 0), n, push / 1000.0, rate,
      p(0.5), p(0.99),
      ", ".join("%s %d" % kv for kv in sorted(r.get("results", {}).items()))))
print("custodyd peak RSS during the push: %.1f MB" % (rss / 1024.0))
m = re.search(r"([0-9]+) devices/s", open(sys.argv[6]).read())
if m:
    print("ratio: %.2fx the floor (%.0f / %s devices/s)" % (rate / int(m.group(1)), rate, m.group(1)))
EOF
