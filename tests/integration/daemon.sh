#!/bin/sh
# tests/integration/daemon.sh - custodyd end to end on loopback: a fresh
# state directory, the service on a free port (it binds port 0 and logs
# the port), driven with curl (the bootstrap admin's client certificate),
# openssl s_client and a small raw client (daemon_client.py) for what curl
# cannot send. Covers the public and admin routes, POST /v1/ops/NAME,
# secrets (no-store, audited), anonymous access, a revocation by the
# local CLI seen within a second, bad input with the service still
# serving others, the TLS protocol and suite policy, and signals.
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl openssl python3
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon.sh "custodyd is not built"; exit 77; }
PY="python3 $(dirname "$0")/daemon_client.py"
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
c init >/dev/null || { t_fail "init"; t_done; }
CA="$S/ca/bundle.pem"
ACRT="$S/admin/admin.crt"
AKEY="$S/admin/admin.key"
DPID=
cleanup() { [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; }
trap cleanup EXIT

# start [OPTIONS]: custodyd in the background; sets DPID and PORT.
# sanitizers: what an instance reported (make asan, a TSan build) fails
# the test
san_check() {
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' \
	    "$W/d.log" 2>/dev/null; then
		t_fail "custodyd: sanitizer report"
		grep -E -A30 'Sanitizer|runtime error:' "$W/d.log" | head -60
	fi
}
start() {
	san_check
	t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 3 \
	    --max-header-bytes 8192 --max-body-bytes 65536 \
	    --header-timeout 3000 --body-timeout 3000 --max-connections 1200 \
	    "$@" || return 1
	DPID=$T_DPID PORT=$T_PORT
	U="https://127.0.0.1:$PORT"
}
cu() { curl -sS --max-time 10 --cacert "$CA" "$@"; }
ad() { cu --cert "$ACRT" --key "$AKEY" "$@"; }
# status CURLARGS...: the HTTP status only
status() { cu -o /dev/null -w '%{http_code}' "$@"; }
astatus() { status --cert "$ACRT" --key "$AKEY" "$@"; }
J='Content-Type: application/json'
raw() { $PY raw "$PORT" "$CA" "$@"; }
# log_has NAME PATTERN: the service's log has PATTERN within a second (it
# may log after the client has seen the end)
log_has() {
	_n=0
	while ! grep -Eq -- "$2" "$W/d.log" && [ $_n -lt 20 ]; do
		sleep 0.05; _n=$((_n + 1))
	done
	t_grep "$1" "$2" "$W/d.log"
}

t_exit "--check-config on a good state directory" 0 "$D" --state-dir "$S" \
    --check-config
t_exit "--check-config on a missing one" 5 "$D" --state-dir "$W/none" \
    --check-config
t_exit "no --state-dir: usage" 2 "$D"
t_exit "bad --listen: usage" 2 "$D" --state-dir "$S" --listen nonsense
start || { t_fail "custodyd starts"; t_done; }
t_ok "custodyd starts and logs its port ($PORT)"

# --- public routes
t_check "bundle: 200 with an ETag" sh -c "curl -sS --cacert '$CA' -D '$W/h' \
    -o '$W/bundle.pem' '$U/v1/trust/bundle' && grep -qi '^ETag: \"' '$W/h'"
t_check "bundle: the roots of DIR/ca/bundle.pem" cmp "$W/bundle.pem" "$CA"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(".*"\).*/\1/p' "$W/h" | tr -d '\r')
t_check "bundle: If-None-Match with its ETag gives 304" \
    test "$(status -H "If-None-Match: $etag" "$U/v1/trust/bundle")" = 304
t_check "bundle: another ETag gives 200" \
    test "$(status -H 'If-None-Match: "x"' "$U/v1/trust/bundle")" = 200
t_check "CRL: DER that openssl reads" sh -c "curl -sS --cacert '$CA' \
    '$U/v1/trust/crl' -o '$W/crl.der' && openssl crl -inform DER \
    -in '$W/crl.der' -noout"
t_check "CRL: PEM" sh -c "curl -sS --cacert '$CA' '$U/v1/trust/crl.pem' | \
    openssl crl -noout"
t_check "healthz: anonymous 200" test "$(status "$U/healthz")" = 200
t_check "ops: ca.bundle is public" test "$(status -X POST "$U/v1/ops/ca.bundle")" = 200

# --- anonymous: public routes only
t_check "anonymous: device list 401" test "$(status "$U/v1/devices")" = 401
t_check "anonymous: /v1/ops/device.list 401" \
    test "$(status -X POST -H "$J" -d '{}' "$U/v1/ops/device.list")" = 401
t_check "anonymous: metrics 401" test "$(status "$U/metrics")" = 401
cu "$U/v1/audit" > "$W/anon.json"
t_grep "anonymous: the error is JSON {error, message}" \
    '^\{"error":"denied","message":".+"\}$' "$W/anon.json"

# --- admin over REST and /v1/ops
F1=dev1.corp.example
F2=dev2.corp.example
t_check "POST /v1/devices adds" test "$(astatus -X POST -H "$J" \
    -d "{\"fqdn\":\"$F1\",\"tags\":[\"lab\"]}" "$U/v1/devices")" = 200
t_check "POST /v1/ops/device.add adds" test "$(astatus -X POST -H "$J" \
    -d "{\"fqdn\":\"$F2\"}" "$U/v1/ops/device.add")" = 200
ad "$U/v1/devices" > "$W/list.json"
t_grep "GET /v1/devices lists both" "\"fqdn\":\"$F1\".*\"fqdn\":\"$F2\"" \
    "$W/list.json"
ad "$U/v1/devices?tag=lab" > "$W/list.json"
t_check "GET /v1/devices?tag=lab filters" sh -c "grep -q '$F1' '$W/list.json' \
    && ! grep -q '$F2' '$W/list.json'"
ad "$U/v1/devices?limit=1" > "$W/list.json"
t_grep "GET /v1/devices?limit=1 pages" "\"next\":\"$F1\"" "$W/list.json"
ad "$U/v1/devices?limit=1&after=$F1" > "$W/list.json"
t_grep "... and after= continues" "\"fqdn\":\"$F2\"" "$W/list.json"
ad "$U/v1/devices/$F1" > "$W/show.json"
t_grep "GET /v1/devices/FQDN shows it" "\"fqdn\":\"$F1\"" "$W/show.json"
t_check "GET an unknown device: 404" \
    test "$(astatus "$U/v1/devices/nope.corp.example")" = 404
t_check "unknown query parameter: 400" \
    test "$(astatus "$U/v1/devices?colour=red")" = 400
t_check "unknown op: 400" \
    test "$(astatus -X POST -H "$J" -d '{}' "$U/v1/ops/no.such")" = 400
t_check "credential route: the admin must name the console (400)" \
    test "$(astatus "$U/v1/devices/$F1/credential")" = 400

# --- a secret: no-store, and audited before it is sent
ad -D "$W/h" "$U/v1/devices/$F1/admin-password" > "$W/pw.json"
t_grep "admin-password: the password" '"password":"' "$W/pw.json"
t_grep "admin-password: Cache-Control: no-store" '^[Cc]ache-[Cc]ontrol: no-store' \
    "$W/h"
c audit list > "$W/audit.txt"
t_grep "admin-password: audited (admin:admin, password.show, the device)" \
    "admin:admin +password.show +$F1 +ok" "$W/audit.txt"
t_check "GET /v1/audit as admin" sh -c "curl -sS --cacert '$CA' \
    --cert '$ACRT' --key '$AKEY' '$U/v1/audit?object=$F1' | \
    grep -q '\"action\":\"password.show\"'"
ad -X POST -H "$J" -d '{}' "$U/v1/devices/$F1/rotate" > "$W/rot.json"
t_grep "POST /v1/devices/FQDN/rotate starts a rotation job" \
    '"job":[0-9]+.*"rotated":1' "$W/rot.json"
job=$(sed -n 's/.*"job":\([0-9]*\).*/\1/p' "$W/rot.json")
t_check "GET /v1/jobs/ID" sh -c "curl -sS --cacert '$CA' --cert '$ACRT' \
    --key '$AKEY' '$U/v1/jobs/$job' | grep -q '\"job\":{'"
ad -X POST -H "$J" -d '{"tag":"lab"}' "$U/v1/rotations" > "$W/rot.json"
t_grep "POST /v1/rotations by tag" '"selected":1' "$W/rot.json"
t_check "DELETE /v1/devices/FQDN removes" \
    test "$(astatus -X DELETE "$U/v1/devices/$F2")" = 200
t_check "... and it is gone from the list" sh -c "! curl -sS --cacert '$CA' \
    --cert '$ACRT' --key '$AKEY' '$U/v1/devices' | grep -q '$F2'"
ad "$U/metrics" > "$W/metrics.txt"
t_grep "metrics: requests by route and status" \
    'custody_http_requests_total\{method="GET",route="/v1/devices",status="200"\} [0-9]+' \
    "$W/metrics.txt"
t_grep "metrics: latency histogram" \
    'custody_http_request_duration_seconds_bucket\{le="\+Inf"\} [1-9]' \
    "$W/metrics.txt"
t_grep "metrics: secrets handed out" \
    'custody_secrets_handed_out_total\{kind="admin"\} 1$' "$W/metrics.txt"
t_grep "metrics: audit batches" 'custody_audit_batches_total [1-9]' \
    "$W/metrics.txt"
t_grep "metrics: seal state" 'custody_sealed 0' "$W/metrics.txt"
t_grep "metrics: rotations by outcome (F1 rotated, then refused by tag)" \
    'custody_rotations_total\{outcome="rotated"\} 1$' "$W/metrics.txt"
t_grep "... refused" 'custody_rotations_total\{outcome="refused"\} 1$' \
    "$W/metrics.txt"
t_grep "metrics: jobs" 'custody_jobs_recent\{state="[a-z_]+"\} 2$' \
    "$W/metrics.txt"

# --- bad input; the service keeps serving
printf 'GARBAGE\r\n\r\n' | raw > "$W/r"
t_grep "malformed request line: 400" '^HTTP/1.1 400 ' "$W/r"
printf 'GET /healthz HTTP/1.1\nHost: x\n\n' | raw > "$W/r"
t_grep "bare LF line ends: 400" '^HTTP/1.1 400 ' "$W/r"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n' |
    raw > "$W/r"
t_grep "two Content-Lengths: 400" '^HTTP/1.1 400 ' "$W/r"
printf 'POST /v1/ops/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
    raw > "$W/r"
t_grep "Transfer-Encoding: 501" '^HTTP/1.1 501 ' "$W/r"
big=$(python3 -c 'print("a" * 9000)')
t_check "oversized header: 413" \
    test "$(status -H "X-Big: $big" "$U/healthz")" = 413
python3 -c 'import json; print(json.dumps({"fqdn": "x" * 70000}))' > "$W/big.json"
t_check "oversized body: 413" test "$(astatus -X POST -H "$J" \
    --data-binary @"$W/big.json" "$U/v1/devices")" = 413
t_check "invalid JSON: 400" test "$(astatus -X POST -H "$J" -d '{"fqdn":' \
    "$U/v1/devices")" = 400
t_check "a JSON array body: 400" test "$(astatus -X POST -H "$J" -d '[]' \
    "$U/v1/devices")" = 400
t_check "duplicate JSON member: 400" test "$(astatus -X POST -H "$J" \
    -d '{"fqdn":"a.corp.example","fqdn":"b.corp.example"}' \
    "$U/v1/devices")" = 400
t_check "wrong content type: 415" test "$(astatus -X POST \
    -H 'Content-Type: text/plain' -d '{}' "$U/v1/devices")" = 415
t_check "a body member that the path gives: 400" test "$(astatus -X POST \
    -H "$J" -d '{"fqdns":["x.corp.example"]}' "$U/v1/devices/$F1/rotate")" = 400
t_check "%2e%2e segment: 400" test "$(astatus --path-as-is \
    "$U/v1/devices/%2e%2e/admin-password")" = 400
t_check "../ traversal: 400" test "$(astatus --path-as-is \
    "$U/v1/devices/../healthz")" = 400
t_check "%2F in a segment: 400" test "$(astatus \
    "$U/v1/devices/a%2Fb.corp.example")" = 400
t_check "%00 in a segment: 400" test "$(astatus \
    "$U/v1/devices/a%00b")" = 400
t_check "invalid UTF-8 in a segment: 400" test "$(astatus \
    "$U/v1/devices/%ff%fe")" = 400
t_check "unknown path: 404" test "$(astatus "$U/v1/nothing")" = 404
t_check "wrong method: 405" test "$(astatus -X PUT "$U/v1/devices")" = 405
# two requests in one write: two replies, in order
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    raw > "$W/r"
t_check "pipelined requests: both answered, in order" sh -c "grep -a \
    '^HTTP/1.1' '$W/r' | tr -d '\r' | tr '\n' , | \
    grep -q '^HTTP/1.1 200 OK,HTTP/1.1 404 Not Found,\$'"
# device CSR signing: JSON and application/pkcs10 (PEM and DER)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/dev.key" -subj "/CN=$F1" -out "$W/dev.csr" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read()}))' \
    "$W/dev.csr" > "$W/csr.json"
ad -X POST -H "$J" --data-binary @"$W/csr.json" \
    "$U/v1/devices/$F1/certificate" > "$W/cert.json"
t_grep "POST /v1/devices/FQDN/certificate (JSON): the chain" \
    '"chain":"-----BEGIN CERTIFICATE' "$W/cert.json"
ad -X POST -H 'Content-Type: application/pkcs10' --data-binary @"$W/dev.csr" \
    "$U/v1/devices/$F1/certificate" > "$W/cert.json"
t_grep "... as application/pkcs10 PEM" '"certificate":"-----BEGIN' \
    "$W/cert.json"
openssl req -in "$W/dev.csr" -outform DER -out "$W/dev.der"
ad -X POST -H 'Content-Type: application/pkcs10' --data-binary @"$W/dev.der" \
    "$U/v1/devices/$F1/certificate" > "$W/cert.json"
t_grep "... as application/pkcs10 DER" '"certificate":"-----BEGIN' \
    "$W/cert.json"
t_check "... pkcs10 elsewhere: 415" test "$(astatus -X POST \
    -H 'Content-Type: application/pkcs10' --data-binary @"$W/dev.der" \
    "$U/v1/devices")" = 415
# A device certificate for 10 days, signed locally beside the service:
# /metrics counts it as expiring within 30 days and due for renewal (the
# certificates signed above are valid for longer and are not counted).
c cert sign "$F1" --csr "$W/dev.csr" --days 10 -o "$W/short.crt" >/dev/null
ad "$U/metrics" > "$W/metrics.txt"
t_grep "metrics: certificates expiring within 30 days, by kind" \
    '^custody_certificates_expiring\{kind="device"\} 1$' "$W/metrics.txt"
t_grep "metrics: certificates due for renewal, by kind" \
    '^custody_certificates_renew_due\{kind="device"\} 1$' "$W/metrics.txt"
# slowloris: a trickled head is cut at the header deadline (3 s), and
# others are served meanwhile.
$PY slowloris "$PORT" "$CA" 6 > "$W/slow" &
SPID=$!
sleep 0.5
t0=$(date +%s%N)
t_check "served while a slowloris trickles" test "$(status "$U/healthz")" = 200
t1=$(date +%s%N)
t_check "... promptly (under 1 s)" test $(( (t1 - t0) / 1000000 )) -lt 1000
wait $SPID
t_grep "slowloris: closed at the header deadline" '^closed$' "$W/slow"
# idle connections: 1000 silent TCP connections, then a normal request.
$PY idle "$PORT" 1000 4 > "$W/idle" &
IPID=$!
t_wait_line "$W/idle" '^open'
t_grep "1000 idle connections open" '^open 1000$' "$W/idle"
t_check "served beside 1000 idle connections" \
    test "$(astatus "$U/v1/devices")" = 200
wait $IPID

# --- TLS policy (the suites of the server key's type: a refusal must not
# be only a key-type mismatch)
sc() { openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$CA" "$@" \
    </dev/null >"$W/sc" 2>&1; }
no_sc() { ! sc "$@"; }
if openssl x509 -in "$S/tls/server.crt" -noout -text |
    grep -q 'id-ecPublicKey'; then A=ECDSA; else A=RSA; fi
t_check "TLS 1.1 refused" no_sc -tls1_1
t_check "TLS 1.0 refused" no_sc -tls1
t_check "TLS 1.2 RSA key transport (AES128-GCM-SHA256) refused" no_sc \
    -tls1_2 -cipher AES128-GCM-SHA256
t_check "TLS 1.2 ECDHE-$A with CBC (AES128-SHA) refused" no_sc -tls1_2 \
    -cipher "ECDHE-$A-AES128-SHA"
t_check "TLS 1.2 ECDHE-$A with CBC (AES256-SHA384) refused" no_sc -tls1_2 \
    -cipher "ECDHE-$A-AES256-SHA384"
t_check "TLS 1.2 ECDHE-$A-AES128-GCM-SHA256 accepted" sc -tls1_2 \
    -cipher "ECDHE-$A-AES128-GCM-SHA256"
t_check "TLS 1.2 ECDHE-$A-CHACHA20-POLY1305 accepted" sc -tls1_2 \
    -cipher "ECDHE-$A-CHACHA20-POLY1305"
t_check "TLS 1.3 accepted" sc -tls1_3
t_grep "TLS 1.3: an AEAD suite" 'TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)' \
    "$W/sc"
# A client certificate from another CA is refused in the handshake.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/f.key" -out "$W/f.crt" \
    -subj /CN=foreign -days 2 2>/dev/null
t_check "foreign-CA client certificate refused" sh -c "! curl -sS \
    --max-time 10 --cacert '$CA' --cert '$W/f.crt' --key '$W/f.key' \
    '$U/healthz' >/dev/null 2>&1"
log_has "... and logged with the reason" \
    'client certificate refused: self-signed certificate'
# An expired certificate custody issued: made with the clock two years
# back (CUSTODY_TEST_NOW), so it expired yesterday.
mkdir -p "$W/old"
CUSTODY_TEST_NOW=-63244800 c console add oldcon -o "$W/old" >/dev/null
t_check "expired client certificate refused" sh -c "! curl -sS \
    --max-time 10 --cacert '$CA' --cert '$W/old/oldcon.crt' \
    --key '$W/old/oldcon.key' '$U/healthz' >/dev/null 2>&1"
log_has "... and logged with the reason" \
    'client certificate refused: certificate has expired'

# --- revocation by the local CLI, seen by the running service
c policy load policy/example.yaml >/dev/null
mkdir -p "$W/con"
c console add sccm -o "$W/con" >/dev/null
CC="$W/con/sccm.crt"
CK="$W/con/sccm.key"
[ -f "$CC" ] || { CC=$(ls "$W"/con/*.crt | head -1); CK=$(ls "$W"/con/*.key | head -1); }
t_check "owner console: admin-password of a device in scope" \
    test "$(status --cert "$CC" --key "$CK" \
    "$U/v1/devices/$F1/admin-password")" = 200
t_check "owner console: not admin routes (403)" \
    test "$(status --cert "$CC" --key "$CK" "$U/v1/devices")" = 403
$PY keepalive "$PORT" "$CA" "$CC" "$CK" "/v1/devices/$F1/admin-password" \
    "$CUSTODYCTL" --state-dir "$S" console revoke sccm > "$W/ka"
t_grep "console revoked locally: refused on an open connection within 1 s" \
    '^200 401$' "$W/ka"
sleep 0.6
t_check "... and a new connection with its certificate is refused" sh -c \
    "s=\$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
    --cacert '$CA' --cert '$CC' --key '$CK' \
    '$U/v1/devices/$F1/admin-password' 2>/dev/null); [ \"\$s\" != 200 ]"

# --- the server certificate replaced on disk by another process: new
# connections get the new one within a second, then the old one again
cp -p "$S/tls/server.crt" "$W/server.crt"
cp -p "$S/tls/server.key" "$W/server.key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/new.key" -out "$W/new.crt" -subj /CN=replaced -days 2 \
    2>/dev/null
install -m 0600 "$W/new.key" "$S/tls/server.key.tmp"
install -m 0644 "$W/new.crt" "$S/tls/server.crt.tmp"
mv "$S/tls/server.key.tmp" "$S/tls/server.key"
mv "$S/tls/server.crt.tmp" "$S/tls/server.crt"
sleep 1.2
t_check "server certificate replaced on disk: served within a second" sh -c \
    "openssl s_client -connect 127.0.0.1:$PORT </dev/null 2>/dev/null | \
    grep -q 'CN *= *replaced'"
cp -p "$W/server.key" "$S/tls/server.key.tmp"
cp -p "$W/server.crt" "$S/tls/server.crt.tmp"
mv "$S/tls/server.key.tmp" "$S/tls/server.key"
mv "$S/tls/server.crt.tmp" "$S/tls/server.crt"
sleep 1.2
t_check "... and custody's again once it is back" \
    test "$(status "$U/healthz")" = 200

# A JSON reply larger than the loop's stack buffer (2 KiB): whole, and
# as long as its Content-Length says.
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	ad "$U/v1/devices/$F1/admin-password" > /dev/null
done
ad -D "$W/ah" "$U/v1/audit?limit=100" > "$W/audit.json"
t_check "a large JSON reply (over 2 KiB) arrives whole" python3 -c '
import json, sys
b = open(sys.argv[1], "rb").read()
h = open(sys.argv[2]).read().lower()
n = int(h.split("content-length:")[1].split()[0])
assert len(b) == n > 2048, (len(b), n)
assert len(json.loads(b)["entries"]) > 10' "$W/audit.json" "$W/ah"

# --- the secret reads that one pass of the loop finds ready run under one
# hold of the keys (two mprotect calls), not one hold each (two calls per
# read: 16 for eight): eight reads sent while the process is stopped are
# all ready when it goes on. Counted around them: the metrics request
# that reads the count (its cost measured alone), and per audit batch the
# writer's hold (2) and the counter's write (6); what is left may also
# hold a worker's identity made again (the store changed).
mval() { sed -n "s/^$1 //p" "$2"; }
: > "$W/keys.txt"
ad "$U/metrics" > "$W/m0"
ad "$U/metrics" > "$W/m1"
$PY burst "$PORT" "$CA" "$ACRT" "$AKEY" "/v1/devices/$F1/admin-password" 8 \
    "$DPID" sh -c "curl -sS --cacert '$CA' --cert '$ACRT' --key '$AKEY' \
    '$U/metrics' >> '$W/keys.txt'" > "$W/burst"
t_grep "eight reads at once: all answered" '^200 200 200 200 200 200 200 200$' \
    "$W/burst"
f=$(( $(mval custody_key_protect_changes_total "$W/m1") - \
    $(mval custody_key_protect_changes_total "$W/m0") ))
set -- $(mval custody_key_protect_changes_total "$W/keys.txt")
kd=$(($2 - $1))
set -- $(mval custody_audit_batches_total "$W/keys.txt")
bd=$(($2 - $1))
reads=$((kd - f - 8 * bd))
echo "# key protection changes: $kd in all, a metrics request $f," \
    "$bd batches: $reads for the reads"
t_check "eight reads in one pass: one hold of the keys ($reads changes)" \
    test "$reads" -lt 16

# --- signals
kill -HUP "$DPID"
sleep 0.3
t_check "SIGHUP: still serving" test "$(status "$U/healthz")" = 200
t_grep "SIGHUP: logged" 'SIGHUP: reloading' "$W/d.log"
t_grep "one line per request: method, route, status, actor, duration" \
    'GET /v1/devices/\{fqdn\}/admin-password password.show 200 admin:admin [0-9.]+ms' \
    "$W/d.log"
t_check "the log holds no password" sh -c "! grep -F \"\$(sed -n \
    's/.*\"password\":\"\([^\"]*\)\".*/\1/p' '$W/pw.json')\" '$W/d.log'"
kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
t_check "SIGTERM: exit 0" test "$rc" -eq 0
t_grep "SIGTERM: stopped cleanly" 'stopped' "$W/d.log"
t_check "audit verify after the service ran" c audit verify

# --- SIGTERM while a request is at a worker: its reply is still sent.
# CUSTODY_TEST_STOP_AT stops the process when the worker has the request.
CUSTODY_TEST_STOP_AT=daemon-request start || t_fail "custodyd restarts"
ad -o "$W/drain.json" -w '%{http_code}' "$U/v1/devices" > "$W/drain.st" &
CPID=$!
_n=0
while [ "$(awk '{print $3}' /proc/$DPID/stat 2>/dev/null)" != T ] &&
    [ $_n -lt 100 ]; do
	sleep 0.1; _n=$((_n + 1))
done
t_check "a request is held at a worker" \
    test "$(awk '{print $3}' /proc/$DPID/stat)" = T
kill -TERM "$DPID"
kill -CONT "$DPID"
wait $CPID
t_check "SIGTERM with a request in flight: its reply is sent (200)" \
    test "$(cat "$W/drain.st")" = 200
t_grep "... complete" '"devices":\[' "$W/drain.json"
wait "$DPID"
rc=$?
DPID=
t_check "... and custodyd exits 0" test "$rc" -eq 0

# --- systemd: READY, WATCHDOG (WATCHDOG_USEC), STOPPING
$PY notify "$W/notify.sock" 4 > "$W/notify" &
NPID=$!
t_wait_line "$W/notify" '^bound'
NOTIFY_SOCKET="$W/notify.sock" WATCHDOG_USEC=400000 start ||
    t_fail "custodyd restarts"
sleep 1
kill -TERM "$DPID"
wait "$DPID"
DPID=
wait $NPID
t_grep "sd_notify: READY=1" '^READY=1$' "$W/notify"
t_grep "sd_notify: WATCHDOG=1 while WATCHDOG_USEC is set" '^WATCHDOG=1$' \
    "$W/notify"
t_grep "sd_notify: STOPPING=1 on SIGTERM" '^STOPPING=1$' "$W/notify"

# --- at max_connections: silent connections make room for a new one (the
# oldest is closed); connections with a request in progress do not, and a
# new one is then answered 503.
start --max-connections 3 || t_fail "custodyd restarts"
# wait_open FILE: the helper has its connections open (and the service
# has taken them)
wait_open() { t_wait_line "$1" '^open'; sleep 0.3; }
$PY idle "$PORT" 3 3 > "$W/idle" &
IPID=$!
wait_open "$W/idle"
t_check "beyond max-connections of silent ones: 200" \
    test "$(ad -o "$W/metrics.txt" -w '%{http_code}' "$U/metrics")" = 200
t_grep "metrics: the silent connections closed for it are counted" \
    '^custody_connections_evicted_total [1-9]' "$W/metrics.txt"
wait $IPID
$PY partial "$PORT" "$CA" 3 3 > "$W/partial" &
IPID=$!
wait_open "$W/partial"
t_check "beyond max-connections reading requests: 503" \
    test "$(status "$U/healthz")" = 503
wait $IPID
sleep 0.3
t_check "below it again: 200" test "$(status "$U/healthz")" = 200
kill -TERM "$DPID"
wait "$DPID"
DPID=

# --- an identity is not kept past its certificate's expiry: a certificate
# that expires while its connection stays open (or its TLS session is
# resumed) is refused from then on, though the store has not changed.
# Made with the clock 730 days less 8 seconds back: it expires in 8 s;
# the service has seen the new certificate (its TLS trust reloaded) before
# the connection opens.
# One worker, so that both requests meet the same identity cache.
start --workers 1 || t_fail "custodyd restarts"
mkdir -p "$W/short"
CUSTODY_TEST_NOW=-63071990 c staff add shortaud --role auditor \
    -o "$W/short" >/dev/null
sleep 3
$PY keepalive "$PORT" "$CA" "$W/short/shortaud.crt" \
    "$W/short/shortaud.key" "/v1/devices" sleep 7 > "$W/ka2"
t_grep "certificate expired on an open connection: refused (401)" \
    ' 401$' "$W/ka2"
t_grep "... and it was accepted before it expired" '^200 ' "$W/ka2"
kill -TERM "$DPID"
wait "$DPID"
DPID=
san_check
t_done
