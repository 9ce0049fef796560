#!/bin/sh
# tests/integration/daemon_hostile.sh - custodyd against clients that do
# what a hostile review found it mishandled: each block is a defect that
# was fixed, and fails without its fix.
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl python3
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_hostile.sh "custodyd is not built"; exit 77; }
PY="python3 $(dirname "$0")/hostile_client.py"
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
c init >/dev/null || { t_fail "init"; t_done; }
CA="$S/ca/bundle.pem"
DPID=
cleanup() { [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; }
trap cleanup EXIT
start() {
	t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 "$@" ||
	    return 1
	DPID=$T_DPID PORT=$T_PORT
}
stop() {
	kill -TERM "$DPID"
	wait "$DPID"
	_rc=$?
	DPID=
	return $_rc
}
start || { t_fail "custodyd starts"; t_done; }

# --- clients gone: after its first reply a connection lost its event
# callback, so custodyd no longer saw a client close (it kept the
# connection until the idle timeout, 60 s), nor a reply's write fail or
# time out: clients that pipeline requests without reading the replies
# until custodyd's writes block, then go away, stayed in custodyd for
# ever, each holding a slot of max_connections.
# sockets custodyd holds (its listener and its connections)
nsock() { ls -l "/proc/$DPID/fd" 2>/dev/null | grep -c 'socket:'; }
# gone WHAT: custodyd holds its listener only, within 2 s
gone() {
	if [ "$(nsock)" -eq 0 ]; then
		t_skip "$1" "cannot list /proc/$DPID/fd (not root?)"
		return
	fi
	_n=0
	while [ "$(nsock)" -gt 1 ] && [ $_n -lt 20 ]; do
		sleep 0.1; _n=$((_n + 1))
	done
	t_check "$1 (sockets: $(nsock))" test "$(nsock)" -eq 1
}
$PY stuck "$PORT" "$CA" 5 > "$W/stuck"
t_grep "5 clients stopped reading and went away" '^gone 5$' "$W/stuck"
gone "... their connections are closed"
$PY body "$PORT" "$CA" x 5
gone "5 clients answered and gone: their connections are closed"

# --- Connection: close and HTTP/1.0 are honoured on every reply, not
# only on the loop's own errors: the reply says "close" and the server
# closes, so a client reading to the end is not held until the idle
# timeout (60 s), nor its connection slot.
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    $PY eof "$PORT" "$CA" 5 > "$W/r"
t_grep "Connection: close: the reply says close" '^Connection: close' "$W/r"
t_grep "... and the server closes after it" '^eof$' "$W/r"
printf 'GET /healthz HTTP/1.0\r\n\r\n' | $PY eof "$PORT" "$CA" 5 > "$W/r"
t_grep "HTTP/1.0: the reply says close" '^Connection: close' "$W/r"
t_grep "... and the server closes after it" '^eof$' "$W/r"
printf 'GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n' |
    $PY eof "$PORT" "$CA" 5 > "$W/r"
t_check "HTTP/1.0 keep-alive: kept for the next, closed after the last" \
    sh -c "tr -d '\r' < '$W/r' | grep '^Connection:' | tr '\n' , |
    grep -qx 'Connection: keep-alive,Connection: close,' &&
    grep -q '^eof\$' '$W/r'"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    $PY eof "$PORT" "$CA" 5 > "$W/r"
t_check "pipelined, the second with close: two replies, then closed" \
    sh -c "test \$(grep -c '^HTTP/1.1 200' '$W/r') -eq 2 &&
    grep -q '^eof\$' '$W/r'"

# --- request bodies are not left in the service's memory: an import's
# passwords pass through OpenSSL's record buffer and libevent's input
# buffer before custodyd copies (and later wipes) them; both used to free
# them as they were. 40 requests with a body holding a marker, then the
# marker is looked for in custodyd's memory (root reads /proc/PID/mem).
M=body$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
$PY body "$PORT" "$CA" "$M" 40
n=$($PY scan "$DPID" "$M")
if [ "$n" = unreadable ]; then
	t_skip "request bodies wiped from memory" "cannot read /proc/$DPID/mem (not root?)"
else
	t_check "request bodies wiped from memory (marker found $n times)" \
	    test "$n" -eq 0
fi

# --- a malformed JSON body is refused without quoting it back: jansson's
# error text quotes the token it failed on, which may be a password of
# an import (the message reaches the client's terminal and logs).
ACRT="$S/admin/admin.crt"
AKEY="$S/admin/admin.key"
for b in '{"data":"fqdn,password\nd.corp.example,Pw0rdSecret1!\x"}' \
    '{"data":"Pw0rdSecret1\u12"}' '{"data": Pw0rdSecret1}'; do
	curl -sS --max-time 10 --cacert "$CA" --cert "$ACRT" --key "$AKEY" \
	    -H 'Content-Type: application/json' --data-binary "$b" \
	    "https://127.0.0.1:$PORT/v1/ops/device.import" >> "$W/json.err"
	echo >> "$W/json.err"
done
t_check "malformed JSON: 3 parse errors" \
    test "$(grep -c '"error":"parse"' "$W/json.err")" -eq 3
t_check "... none quotes the body" sh -c "! grep -q 'Pw0rd' '$W/json.err'"

# --- the remote CLI does not leave a secret it received in its memory:
# libcurl's receive buffer held the reply as it came off the connection
# and was freed unwiped. custodyctl runs under gdb, stopped at its
# exit_group(), and its memory is searched for the password it printed.
if t_need gdb; then
	ACRT="$S/admin/admin.crt"
	AKEY="$S/admin/admin.key"
	c device add cli.corp.example >/dev/null
	c password show cli.corp.example --json | python3 -c \
	    'import json, sys; print(json.load(sys.stdin)["password"])' \
	    > "$W/pw"
	[ -s "$W/pw" ] || t_fail "remote CLI memory: the password to look for"
	cat > "$W/gdb.cmds" <<EOF2
set pagination off
catch syscall exit_group
run
python
import gdb, json, sys
sys.path.insert(0, "$(cd "$(dirname "$0")" && pwd)")
from hostile_client import scan
pw = open("$W/pw").read().strip()
# as printed, and as it was on the wire (JSON-escaped)
pws = {pw.encode(), json.dumps(pw)[1:-1].encode()}
inf = gdb.selected_inferior()
n, heap = scan(inf.pid, inf.read_memory, pws)
print("SCAN %s" % (n if heap else "unreadable"))
end
kill
quit
EOF2
	gdb -q -batch -x "$W/gdb.cmds" --args "$CUSTODYCTL" \
	    --server "https://127.0.0.1:$PORT" --cacert "$CA" --cert "$ACRT" \
	    --key "$AKEY" password show cli.corp.example > "$W/gdb.out" 2>&1
	n=$(sed -n 's/^SCAN //p' "$W/gdb.out")
	case "$n" in
	''|unreadable)
		t_skip "remote CLI: no received secret left in its memory" \
		    "gdb could not read custodyctl's memory" ;;
	*)
		t_check "remote CLI: no received secret left in its memory (found $n)" \
		    test "$n" -eq 0 ;;
	esac
else
	t_skip "remote CLI: no received secret left in its memory" "no gdb"
fi

# --- a careless operator: SIGHUP with a broken custody.yaml keeps the
# old configuration, keeps serving and says why (at file:line:col).
cp -p "$S/custody.yaml" "$W/custody.yaml"
printf 'limits:\n  colour: blue\n' >> "$S/custody.yaml"
kill -HUP "$DPID"
_n=0
while ! grep -q 'custody.yaml not reloaded' "$W/d.log" && [ $_n -lt 50 ]; do
	sleep 0.1; _n=$((_n + 1))
done
t_grep "SIGHUP, broken custody.yaml: not reloaded, and why" \
    'custody.yaml not reloaded: .*custody.yaml:[0-9]+:[0-9]+: ' "$W/d.log"
t_check "... still serving" sh -c "curl -sS --max-time 10 --cacert '$CA' \
    https://127.0.0.1:$PORT/healthz | grep -q ok"
cp -p "$W/custody.yaml" "$S/custody.yaml"

t_check "SIGTERM: exit 0" stop

# --- a secret's audit entry is committed before the first byte of the
# secret is sent: the process is stopped (CUSTODY_TEST_STOP_AT) with the
# reply built and nothing of it written; the entry is in the store then
# (read by another process), and still there after a crash at that point,
# which sends the client nothing.
c device add dev1.corp.example >/dev/null
before=$(c audit list | grep -c 'password.show')
CUSTODY_TEST_STOP_AT=daemon-reply start || t_fail "custodyd restarts"
curl -sS --max-time 20 --cacert "$CA" --cert "$ACRT" --key "$AKEY" \
    -o "$W/secret" \
    "https://127.0.0.1:$PORT/v1/devices/dev1.corp.example/admin-password" \
    2>/dev/null &
CPID=$!
t_wait_stopped "$DPID"
t_check "stopped with the secret's reply built" \
    test "$(cut -d' ' -f3 "/proc/$DPID/stat")" = T
# Read from the database file itself: custodyctl would wait for the
# rollback counter's lock, which the stopped process may hold.
committed=$(python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(db.execute("SELECT COUNT(*) FROM audit WHERE action = ?",
    ("password.show",)).fetchone()[0])' "$S/custody.db")
t_check "... its audit entry is already committed ($committed)" \
    test "$committed" -eq $((before + 1))
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
wait $CPID
t_check "crash there: the client got no byte of it" \
    test ! -s "$W/secret"
t_check "... and the entry is still there" \
    test "$(c audit list | grep -c 'password.show')" -eq $((before + 1))
t_exit "... and the chain verifies" 0 c audit verify

# --- the state directory removed under a running custodyd: its
# connections still reach the unlinked database, and a secret was handed
# out with an audit entry committed to a file that is gone with the
# process. A commit now checks that the file is still at its path.
S2="$TESTTMP/state2"
cp -a "$S" "$S2"
cp "$S2/ca/bundle.pem" "$W/ca2.pem"
cp "$S2/admin/admin.crt" "$S2/admin/admin.key" "$W/"
t_custodyd "$S2" "$W/d2.log" --listen 127.0.0.1:0 --workers 2 ||
    t_fail "custodyd starts on a copy"
DPID=$T_DPID PORT=$T_PORT
rm -rf "$S2"
st=$(curl -sS --max-time 10 --cacert "$W/ca2.pem" --cert "$W/admin.crt" \
    --key "$W/admin.key" -o "$W/secret" -w '%{http_code}' \
    "https://127.0.0.1:$PORT/v1/devices/dev1.corp.example/admin-password")
t_check "state directory removed: a secret read is refused, 503 (got $st)" \
    test "$st" = 503
t_check "... with no password" sh -c "! grep -q '\"password\"' '$W/secret'"
st=$(curl -sS --max-time 10 --cacert "$W/ca2.pem" --cert "$W/admin.crt" \
    --key "$W/admin.key" -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/json' -d '{"fqdn":"dev2.corp.example"}' \
    "https://127.0.0.1:$PORT/v1/devices")
t_check "... and so is a change (got $st)" test "$st" = 503
t_check "... and custodyd still stops cleanly" stop
t_done
