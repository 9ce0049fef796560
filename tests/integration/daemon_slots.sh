#!/bin/sh
# tests/integration/daemon_slots.sh - connections that never send a
# request must not hold every slot of max_connections: a client that would
# be served at once is served beside them (the issue: slow, garbage or
# half-open clients never delay others). At the limit a new connection
# closes the oldest one that has no request in progress (TLS handshake,
# head not complete, idle keep-alive) instead of being refused
# (src/daemon/conn.c, evict()); custody_connections_evicted_total counts
# them. One address may hold at most max_connections_per_address, so
# connections busy with requests from one address cannot take every slot
# either.
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl python3
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_slots.sh "custodyd is not built"; exit 77; }
PY="python3 $(dirname "$0")/daemon_client.py"
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
cc --state-dir "$S" init >/dev/null || { t_fail "init"; t_done; }
t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 \
    --max-connections 20 --max-connections-per-address 10 \
    --header-timeout 10000 || { t_fail "custodyd starts"; t_done; }
DPID=$T_DPID PORT=$T_PORT
trap 'kill -9 $DPID 2>/dev/null' EXIT
# wait_open FILE: the helper has its connections open (and the service
# has taken them)
wait_open() { t_wait_line "$1" '^open'; sleep 0.3; }
healthz() {
	curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" -o /dev/null \
	    -w '%{http_code}' "https://127.0.0.1:$PORT/healthz"
}
# 20 silent TCP connections from two addresses: every slot, for 4 s.
$PY idle "$PORT" 10 4 127.0.0.2 > "$W/idle2" &
I2=$!
$PY idle "$PORT" 10 4 127.0.0.3 > "$W/idle3" &
I3=$!
wait_open "$W/idle2"
wait_open "$W/idle3"
st=$(healthz)
t_check "a client beside max_connections silent connections is served (got $st)" \
    test "$st" = 200
wait $I2 $I3
# 20 connections from one address, each with a request head sent and its
# body pending (not to be closed for another): only 10 get a slot.
$PY partial "$PORT" "$S/ca/bundle.pem" 20 4 127.0.0.2 > "$W/partial" &
IPID=$!
wait_open "$W/partial"
st=$(healthz)
t_check "one address cannot take every slot (got $st)" test "$st" = 200
wait $IPID
kill -TERM "$DPID"
wait "$DPID"
t_done
