#!/bin/sh
# tests/integration/daemon_writes.sh - custodyd writes a reply at once
# with SSL_write() when the socket takes it, and hands libevent the rest
# when it does not (conn.c, write_now()): a client that pipelines many
# requests and reads nothing for a while fills the socket, so replies are
# cut where the socket blocked; every reply must still arrive whole and
# in order, and the connection go on. Fails when the bytes handed over
# after a blocked write are not exactly the ones OpenSSL expects again
# (a "bad write retry", or a reply repeated or cut).
. "$(dirname "$0")/lib.sh"
t_need_or_skip python3
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_writes.sh "custodyd is not built"; exit 77; }
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
cc --state-dir "$S" init >/dev/null || { t_fail "init"; t_done; }
CA="$S/ca/bundle.pem"
DPID=
cleanup() { [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; }
trap cleanup EXIT
t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    { t_fail "custodyd starts"; t_done; }
DPID=$T_DPID

# N pipelined GET /v1/trust/bundle (public, a few KiB each: megabytes in
# all; the client's receive buffer is small), nothing read for a second,
# then every reply read: "ok N" when each is a 200 whose body is the
# bundle, in order, and one more request on the connection answers.
PYTHONPATH="$(dirname "$0")" python3 - "$T_PORT" "$CA" 6000 > "$W/out" \
    2>&1 <<'PY'
import socket, ssl, sys
from daemon_client import pipeline
port, ca, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
want = open(ca, "rb").read()
# A small receive window: the server's socket blocks after a few replies.
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.settimeout(30)
raw.connect(("127.0.0.1", int(port)))
s = ssl.create_default_context(cafile=ca).wrap_socket(
    raw, server_hostname="127.0.0.1")
req = b"GET /v1/trust/bundle HTTP/1.1\r\nHost: x\r\n\r\n"
buf = b""
def reply(chunks):
    global buf
    while b"\r\n\r\n" not in buf:
        d = next(chunks)
        if not d:
            raise SystemExit("eof after %d replies" % ok)
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    clen = [int(l.split(b":", 1)[1]) for l in lines[1:]
            if l.lower().startswith(b"content-length:")][0]
    while len(buf) < clen:
        d = next(chunks)
        if not d:
            raise SystemExit("eof in a body after %d replies" % ok)
        buf += d
    body, buf = buf[:clen], buf[clen:]
    return lines[0], body
ok = 0
# All requests sent, nothing read for a second, then every reply read.
chunks = pipeline(s, req * n, quiet=1.0)
for i in range(n):
    status, body = reply(chunks)
    if not status.startswith(b"HTTP/1.1 200") or body != want:
        raise SystemExit("reply %d: %r, %d bytes" % (i, status, len(body)))
    ok += 1
status, body = reply(pipeline(s, req))
print("ok %d %s" % (ok, "more" if body == want else "bad"))
PY
t_grep "6000 pipelined replies read late arrive whole, in order" \
    '^ok 6000 more$' "$W/out"
t_check "custodyd logged no TLS write error" \
    sh -c "! grep -qi 'bad write retry\|ssl' '$W/d.log'"
# Many pipelined requests the loop answers itself and keeps the
# connection for (404: no such route): each reply written at once goes on
# to the next request, whose reply must not be written from inside that
# call again (it nested one call per request, as many as one read of the
# input holds: about 500 levels here, which this build's stack still
# took; send_reply() now nests at most once). All answered, custodyd
# alive.
PYTHONPATH="$(dirname "$0")" python3 - "$T_PORT" "$CA" 20000 > "$W/out2" \
    2>&1 <<'PY'
import sys
from daemon_client import pipeline, tls
port, ca, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = tls(port, ca)
req = b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
buf, got = b"", 0
for d in pipeline(s, req * n):
    if not d:
        break
    buf += d
    got += buf.count(b"HTTP/1.1 404 ")
    buf = buf[buf.rfind(b"HTTP/1.1 404 ") + 1:] if b"HTTP/1.1 404 " in buf \
        else buf[-16:]
    if got >= n:
        break
print("answered %d" % got)
PY
t_grep "20000 pipelined 404s on one connection all answered" \
    '^answered 20000$' "$W/out2"
t_check "custodyd still runs" kill -0 "$DPID"
kill -TERM "$DPID"
wait "$DPID"
t_check "custodyd stops cleanly" test $? -eq 0
DPID=
t_done
