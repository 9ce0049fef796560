#!/bin/sh
# bench/api.sh - scoped-credential fetches over keep-alive mTLS: custodyd
# against nginx serving the same response bytes as a static file, with
# the same certificate, TLS versions, suites and client-certificate
# verification, side by side in one run. Server pinned to core 0, the
# load client (BUILD/bench/api_client) to core 1. Reports requests/s,
# p50/p99 and the ratio, and the server's CPU time per request (every
# thread's; less disturbed by other load on a shared machine); then
# custodyd's RSS with 100k devices registered. Nothing is asserted
# (performance is reported, not tested).
#
#   sh bench/api.sh            (BUILD, CUSTODYCTL from bench/run.sh)
#   API_CONNS=32 API_SECONDS=10 API_DEVICES=100000 sh bench/api.sh
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
CUSTODYCTL=${CUSTODYCTL:-$BUILD/custodyctl}
CUSTODYD=${CUSTODYD:-$BUILD/custodyd}
CLIENT=$BUILD/bench/api_client
CONNS=${API_CONNS:-32}
SECS=${API_SECONDS:-8}
NDEV=${API_DEVICES:-100000}
NGINX=${NGINX:-/usr/sbin/nginx}

echo "bench api: credential fetch, keep-alive mTLS, $CONNS connections," \
	"${SECS}s each (server on core 0, client on core 1)"
for x in "$CUSTODYD" "$CLIENT" "$NGINX"; do
	if [ ! -x "$x" ]; then
		echo "bench api: $x is missing (make $x; make deps)" >&2
		exit 1
	fi
done
T=$(mktemp -d /tmp/custody-bench-api.XXXXXX)
SPID= NPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	[ -n "$NPID" ] && kill "$NPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

freeport() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Run "$@" on one core; exec, so that "pin ... &" leaves $! the server's
# own pid (signals reach it, not a subshell).
pin() {
	core=$1; shift
	if [ "$(nproc)" -ge 2 ]; then exec taskset -c "$core" "$@"; fi
	exec "$@"
}

S=$T/var
"$CUSTODYCTL" --state-dir "$S" init >/dev/null || exit 1
# One console with a digest entry on every device, one device to fetch.
cat > "$T/policy.yaml" <<'EOF'
version: 1
owner: sccm
consoles:
  sccm:
    identity: { certificate: "CN=sccm" }
    duties: [setup, power, inventory]
  power:
    identity: { certificate: "CN=power" }
    duties: [power]
EOF
"$CUSTODYCTL" --state-dir "$S" device add bench1.example >/dev/null || exit 1
"$CUSTODYCTL" --state-dir "$S" policy load "$T/policy.yaml" >/dev/null ||
	exit 1
mkdir -m 700 "$T/power"
"$CUSTODYCTL" --state-dir "$S" console add power -o "$T/power" >/dev/null ||
	exit 1
# The client sends its chain (leaf and issuing CA) to both servers: nginx
# trusts the roots only, as a console's peer that knows only the bundle.
cat "$T/power/power.crt" "$T/power/power-chain.pem" > "$T/client.pem"
CERT=$T/client.pem KEY=$T/power/power.key
CA=$S/ca/bundle.pem
ROUTE=/v1/devices/bench1.example/credential

# custodyd
PORT=$(freeport)
pin 0 "$CUSTODYD" --state-dir "$S" --listen "127.0.0.1:$PORT" --foreground \
	2> "$T/custodyd.log" &
SPID=$!
i=0
until curl -s -o /dev/null --cacert "$CA" "https://127.0.0.1:$PORT/healthz"; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "bench api: custodyd did not start:" >&2
		tail -5 "$T/custodyd.log" >&2
		exit 1
	fi
	sleep 0.1
done
code=$(curl -s -o "$T/body" -w '%{http_code}' --cacert "$CA" --cert "$CERT" \
	--key "$KEY" "https://127.0.0.1:$PORT$ROUTE")
if [ "$code" != 200 ]; then
	echo "bench api: $ROUTE answered $code: $(cat "$T/body")" >&2
	exit 1
fi
a0=$("$CUSTODYCTL" --state-dir "$S" --json status | /usr/bin/python3 -c \
	'import json,sys; print(json.load(sys.stdin)["audit_entries"])' 2>/dev/null)
# CPU time of the server's process (every thread), clock ticks: a figure
# that other load on the machine disturbs less than requests/s.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
c0=$(cpu "$SPID")
C=$( pin 1 "$CLIENT" 127.0.0.1 "$PORT" "$ROUTE" "$CERT" "$KEY" "$CA" "$CONNS" "$SECS")
c1=$(cpu "$SPID")
a1=$("$CUSTODYCTL" --state-dir "$S" --json status | /usr/bin/python3 -c \
	'import json,sys; print(json.load(sys.stdin)["audit_entries"])' 2>/dev/null)
# The group writer's batches during the run: entries per commit.
curl -fs --cacert "$CA" --cert "$S/admin/admin.crt" --key "$S/admin/admin.key" \
	"https://127.0.0.1:$PORT/metrics" > "$T/metrics" || : > "$T/metrics"
kill "$SPID"; wait "$SPID" 2>/dev/null; SPID=
# What one durable commit costs on this disk: fdatasync of 4 KiB appends
# in the state directory's file system (median of 200).
FSYNC_MS=$(/usr/bin/python3 - "$S" <<'EOF2'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
t = []
for i in range(200):
    os.write(fd, b"x" * 4096)
    a = time.monotonic(); os.fdatasync(fd); t.append(time.monotonic() - a)
os.close(fd); os.unlink(p)
t.sort(); print("%.3f" % (t[len(t) // 2] * 1e3))
EOF2
)

# nginx: the same bytes, the same TLS.
mkdir -p "$T/www/v1/devices/bench1.example" "$T/nginx"
cp "$T/body" "$T/www$ROUTE"
# Every CRL (root's and issuing CA's): nginx checks the whole chain.
"$CUSTODYCTL" --state-dir "$S" ca crl --pem --all -o "$T/crl.pem" >/dev/null ||
	exit 1
NPORT=$(freeport)
cat > "$T/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log $T/nginx/access.log;
	client_body_temp_path $T/nginx;
	proxy_temp_path $T/nginx;
	fastcgi_temp_path $T/nginx;
	uwsgi_temp_path $T/nginx;
	scgi_temp_path $T/nginx;
	keepalive_requests 100000000;
	keepalive_timeout 120s;
	server {
		listen 127.0.0.1:$NPORT ssl;
		ssl_certificate $S/tls/server.crt;
		ssl_certificate_key $S/tls/server.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
		ssl_client_certificate $CA;
		ssl_verify_client on;
		ssl_verify_depth 3;
		ssl_crl $T/crl.pem;
		location / {
			root $T/www;
			default_type application/json;
			add_header Cache-Control no-store;
		}
	}
}
EOF
pin 0 "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" 2> "$T/nginx/stderr" &
NPID=$!
i=0
until curl -fs -o /dev/null --cacert "$CA" --cert "$CERT" --key "$KEY" \
	"https://127.0.0.1:$NPORT$ROUTE"; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "bench api: nginx did not start:" >&2
		cat "$T/nginx/stderr" "$T/nginx/error.log" >&2
		exit 1
	fi
	sleep 0.1
done
# nginx serves from its worker process (the master's child).
NW=$(ps -o pid= --ppid "$NPID" | head -1 | tr -d ' ')
n0=$(cpu "${NW:-$NPID}")
N=$( pin 1 "$CLIENT" 127.0.0.1 "$NPORT" "$ROUTE" "$CERT" "$KEY" "$CA" "$CONNS" "$SECS")
n1=$(cpu "${NW:-$NPID}")
kill "$NPID"; wait "$NPID" 2>/dev/null; NPID=

/usr/bin/python3 - "$C" "$N" "${a0:-0}" "${a1:-0}" "$T/metrics" "${FSYNC_MS:-0}" "$CONNS" \
	"$((c1 - c0))" "$((n1 - n0))" "$(getconf CLK_TCK)" "$SECS" <<'EOF'
import json, sys
c, n = json.loads(sys.argv[1]), json.loads(sys.argv[2])
a0, a1 = int(sys.argv[3]), int(sys.argv[4])
m = {}
for line in open(sys.argv[5]):
    if line and not line.startswith("#") and " " in line:
        k, v = line.rsplit(" ", 1)
        try: m[k] = float(v)
        except ValueError: pass
fs, conns = float(sys.argv[6]), int(sys.argv[7])
ticks = {"custodyd": int(sys.argv[8]), "nginx": int(sys.argv[9])}
hz, secs = float(sys.argv[10]), float(sys.argv[11])
for name, r in (("custodyd", c), ("nginx", n)):
    print("  %-9s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  (%d requests, %d non-200, %d errors)"
          % (name, r["rps"], r["p50_ms"], r["p99_ms"], r["requests"], r["non200"], r["errors"]))
print("  custodyd/nginx: %.2fx requests/s (target >= 0.7x); custodyd p99 %.3f ms (target < 5 ms)"
      % (c["rps"] / n["rps"] if n["rps"] else 0, c["p99_ms"]))
# CPU per request: the server's CPU time over the whole client run (its
# 1 s warm-up included) divided by the requests it served at the measured
# rate over that time.
cpr = {}
for name, r in (("custodyd", c), ("nginx", n)):
    served = r["rps"] * (secs + 1.0)
    cpr[name] = 1e6 * ticks[name] / hz / served if served else 0
print("  server CPU per request: custodyd %.1f us, nginx %.1f us (%.2fx)"
      % (cpr["custodyd"], cpr["nginx"],
         cpr["nginx"] / cpr["custodyd"] if cpr["custodyd"] else 0))
print("  audit entries written during the custodyd run: %d (requests counted: %d, incl. warm-up)"
      % (a1 - a0, c["requests"]))
b, e = m.get("custody_audit_batches_total", 0), m.get("custody_audit_entries_committed_total", 0)
if b:
    print("  group commit: %.1f entries per batch (largest %d), %d batches"
          % (e / b, m.get("custody_audit_batch_max", 0), b))
if fs > 0:
    print("  this disk: fdatasync %.3f ms (median); %d connections each waiting for a"
          " durable commit allow at most ~%.0f req/s" % (fs, conns, conns / (fs / 1e3)))
EOF

# RSS with NDEV devices registered.
printf 'fqdn\n' > "$T/devices.csv"
/usr/bin/python3 -c "
import sys
with open('$T/devices.csv', 'a') as f:
    for i in range($NDEV):
        f.write('d%06d.rss.example\n' % i)"
"$CUSTODYCTL" --state-dir "$S" device import "$T/devices.csv" >/dev/null ||
	{ echo "bench api: import failed" >&2; exit 1; }
PORT=$(freeport)
"$CUSTODYD" --state-dir "$S" --listen "127.0.0.1:$PORT" --foreground \
	2> "$T/custodyd2.log" &
SPID=$!
i=0
until curl -s -o /dev/null --cacert "$CA" "https://127.0.0.1:$PORT/healthz"; do
	i=$((i + 1)); [ $i -gt 300 ] && break; sleep 0.1
done
( pin 1 "$CLIENT" 127.0.0.1 "$PORT" "$ROUTE" "$CERT" "$KEY" "$CA" "$CONNS" 3 >/dev/null )
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$SPID/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SPID/status")
echo "  custodyd with $NDEV devices after 3 s of load: RSS $((rss / 1024)) MB," \
	"peak $((hwm / 1024)) MB (target < 64 MB)"
