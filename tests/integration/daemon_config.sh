#!/bin/sh
# tests/integration/daemon_config.sh - custodyd reads DIR/custody.yaml
# (custody.yaml(5)) under its command line: listen, limits and TLS from
# the file, an option on the command line wins, a file with problems
# stops the start (exit 2, FILE:LINE:COL) and --check-config says so, and
# SIGHUP applies the log level and TLS options and names what needs a
# restart.
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl openssl python3
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_config.sh "custodyd is not built"; exit 77; }
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
DPID=
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null' EXIT
c init >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
U="https://127.0.0.1:$PORT"
conf() {	# the body of custody.yaml, mode 0600
	cat > "$S/custody.yaml.new"
	chmod 600 "$S/custody.yaml.new"
	mv "$S/custody.yaml.new" "$S/custody.yaml"
}
start() {
	t_custodyd "$S" "$W/d.log" "$@" || return 1
	DPID=$T_DPID
}
stop() { kill -TERM "$DPID"; wait "$DPID"; DPID=; }
status() {
	curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" -o /dev/null \
	    -w '%{http_code}' "$@"
}
body() {	# a JSON body of about N bytes
	python3 -c "import json; print(json.dumps({'fqdn': 'x' * $1}))" \
	    > "$W/body.json"
}
post() {
	status --cert "$S/admin/admin.crt" --key "$S/admin/admin.key" \
	    -H 'Content-Type: application/json' --data-binary @"$W/body.json" \
	    "$U/v1/devices"
}

conf <<EOF2
listen:
  - "127.0.0.1:$PORT"
tls:
  min_version: "1.3"
limits:
  max_body_bytes: 1024
  workers: 2
log:
  level: info
EOF2
t_exit "--check-config: valid" 0 "$D" --state-dir "$S" --check-config
t_grep "--check-config: says the file is valid" 'custody.yaml: valid' \
    "$TESTTMP/out"
start || { cat "$W/d.log"; t_fail "custodyd starts"; t_done; }
t_grep "listens where custody.yaml says" "listening on 127.0.0.1:$PORT" \
    "$W/d.log"
t_grep "workers from custody.yaml" ' ready: 2 workers' "$W/d.log"
t_check "healthz on that address" test "$(status "$U/healthz")" = 200
body 2000
t_check "limits.max_body_bytes: 413 beyond" test "$(post)" = 413
t_check "tls.min_version 1.3: TLS 1.2 refused" sh -c "! openssl s_client \
    -connect 127.0.0.1:$PORT -tls1_2 </dev/null >/dev/null 2>&1"
t_check "... TLS 1.3 accepted" sh -c "openssl s_client -connect \
    127.0.0.1:$PORT -tls1_3 </dev/null >/dev/null 2>&1"
# SIGHUP: TLS options and the log level apply; limits need a restart.
conf <<EOF2
listen:
  - "127.0.0.1:$PORT"
limits:
  max_body_bytes: 4096
  workers: 2
log:
  level: warn
EOF2
kill -HUP "$DPID"
sleep 0.5
t_check "SIGHUP: tls.min_version back to 1.2" sh -c "openssl s_client \
    -connect 127.0.0.1:$PORT -tls1_2 </dev/null >/dev/null 2>&1"
t_grep "SIGHUP: limits named as needing a restart" \
    'listen, workers and limits apply at the next start' "$W/d.log"
t_check "... and still the old limit" test "$(post)" = 413
n=$(grep -c 'GET /healthz' "$W/d.log")
status "$U/healthz" >/dev/null
t_check "SIGHUP: log level warn: no request lines any more" \
    test "$(grep -c 'GET /healthz' "$W/d.log")" -eq "$n"
stop
start --max-body-bytes 8192 --log-level info ||
    { cat "$W/d.log"; t_fail "custodyd restarts"; }
t_check "the new limit after a restart, the command line over the file" \
    test "$(post)" != 413
# One custodyd per state directory: a second one (another port) refuses
# to start, naming the first; the first goes on serving.
t_exit "a second custodyd on the same state directory: refused (5)" 5 \
    timeout 20 "$D" --state-dir "$S" --listen 127.0.0.1:0
t_grep "... naming the one that serves it" \
    "another custodyd \(pid $DPID\) serves" "$TESTTMP/err"
t_check "... and the first still serves" \
    test "$(status "$U/healthz")" = 200
stop
# A file with problems: no start, exit 2, where the problem is.
conf <<EOF2
limits:
  max_body_bytes: 1024
  colour: blue
EOF2
t_exit "--check-config: a bad file exits 2" 2 "$D" --state-dir "$S" \
    --check-config
t_grep "... at file:line:col" 'custody.yaml:3:[0-9]+: ' "$TESTTMP/err"
t_exit "custodyd refuses to start with it (2)" 2 "$D" --state-dir "$S" \
    --listen 127.0.0.1:0
t_grep "... saying where" 'custody.yaml:3:[0-9]+: ' "$TESTTMP/err"
chmod 666 "$S/custody.yaml"
t_exit "a custody.yaml others may write is refused (5)" 5 "$D" \
    --state-dir "$S" --listen 127.0.0.1:0
t_done
