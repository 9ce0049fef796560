#!/usr/bin/env python3
# tests/integration/daemon_client.py - raw TLS and TCP clients for
# tests/integration/daemon.sh (what curl cannot do: send malformed bytes,
# keep one connection across a revocation, trickle a request, hold many
# idle connections).
#
#   raw PORT CA [CERT KEY]          stdin as the request; print the reply
#   keepalive PORT CA CERT KEY PATH CMD...
#                                   GET PATH, run CMD, wait 1 s, GET PATH
#                                   again on the same connection; print
#                                   both statuses ("200 401")
#   slowloris PORT CA SECONDS       trickle a request head for SECONDS
#   idle PORT N SECONDS [SRC]       hold N TCP connections open, silent
#                                   (from address SRC, default 127.0.0.1)
#   partial PORT CA N SECONDS [SRC] hold N TLS connections, each with a
#                                   request head sent and its body not
#   notify PATH SECONDS             a systemd notify socket at PATH: print
#                                   each message received for SECONDS
#   burst PORT CA CERT KEY PATH N PID CMD...
#                                   N connections, each with a GET
#                                   /healthz answered; run CMD; then, with
#                                   process PID stopped (SIGSTOP), GET PATH
#                                   on all N, and SIGCONT: the N requests
#                                   are ready at once; run CMD again; print
#                                   the N statuses
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import time


def tls(port, ca, cert=None, key=None, src="127.0.0.1"):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10,
                                 source_address=(src, 0))
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def read_reply(s):
    """One HTTP reply (head and Content-Length body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            break
        body += d
    return head + b"\r\n\r\n" + body


def pipeline(s, data, quiet=0.0, timeout=60.0):
    """Send data on TLS socket s while reading what comes back, in one
    thread: yield each chunk read, b"" last at the end of the stream.
    Nothing is read for the first `quiet` seconds. One thread because an
    SSL object takes no read and write at once from two threads (Python
    drops the GIL around SSL_read and SSL_write): a recv() racing a
    sendall() on another thread may see its error state and return a
    false end of stream."""
    s.setblocking(False)
    off, t0 = 0, time.monotonic()
    while True:
        now = time.monotonic()
        if now - t0 > timeout:
            raise SystemExit("no end of stream after %.0f s" % timeout)
        reading = now - t0 >= quiet
        if not reading or s.pending() == 0:
            select.select([s] if reading else [],
                          [s] if off < len(data) else [], [], 0.05)
        if off < len(data):
            try:
                # The same bytes again after a want-write, as OpenSSL asks.
                off += s.send(data[off:off + 65536])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        if not reading:
            continue
        try:
            d = s.recv(1 << 20)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            continue
        yield d
        if not d:
            return


def main():
    cmd = sys.argv[1]
    if cmd == "raw":
        port, ca = sys.argv[2:4]
        cert, key = (sys.argv[4:6] + [None, None])[:2]
        s = tls(port, ca, cert, key)
        s.sendall(sys.stdin.buffer.read())
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except (ssl.SSLError, ConnectionResetError, socket.timeout):
            pass
        sys.stdout.buffer.write(out)
    elif cmd == "keepalive":
        port, ca, cert, key, path = sys.argv[2:7]
        s = tls(port, ca, cert, key)
        req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
        st = []
        s.sendall(req)
        st.append(read_reply(s).split(b" ")[1].decode())
        subprocess.run(sys.argv[7:], check=True, stdout=subprocess.DEVNULL)
        time.sleep(1)
        s.sendall(req)
        r = read_reply(s)
        st.append(r.split(b" ")[1].decode() if r else "closed")
        print(" ".join(st))
    elif cmd == "burst":
        port, ca, cert, key, path = sys.argv[2:7]
        n, pid = int(sys.argv[7]), int(sys.argv[8])
        req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
        conns = [tls(port, ca, cert, key) for _ in range(n)]
        for s in conns:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            read_reply(s)
        time.sleep(0.5)     # the service idle, every entry committed
        subprocess.run(sys.argv[9:], check=True)
        os.kill(pid, signal.SIGSTOP)
        try:
            for s in conns:
                s.sendall(req)
            time.sleep(0.2)
        finally:
            os.kill(pid, signal.SIGCONT)
        st = [read_reply(s).split(b" ")[1].decode() for s in conns]
        time.sleep(0.5)     # their entries committed
        subprocess.run(sys.argv[9:], check=True)
        print(" ".join(st))
    elif cmd == "slowloris":
        port, ca, secs = sys.argv[2], sys.argv[3], float(sys.argv[4])
        s = tls(port, ca)
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        end = time.time() + secs
        i = 0
        try:
            while time.time() < end and i < len(head):
                s.sendall(head[i:i + 1])
                i += 1
                time.sleep(0.05)
            # The server must have closed it by its header deadline.
            s.settimeout(max(0.1, end - time.time()))
            print("closed" if s.recv(100) == b"" else "answered")
        except (ssl.SSLError, OSError):
            print("closed")
    elif cmd == "idle":
        port, n, secs = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
        src = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
        socks = [socket.create_connection(("127.0.0.1", port),
                                          source_address=(src, 0))
                 for _ in range(n)]
        print("open %d" % len(socks), flush=True)
        time.sleep(secs)
        for s in socks:
            s.close()
    elif cmd == "partial":
        port, ca = sys.argv[2:4]
        n, secs = int(sys.argv[4]), float(sys.argv[5])
        src = sys.argv[6] if len(sys.argv) > 6 else "127.0.0.1"
        socks = []
        for _ in range(n):
            s = tls(port, ca, src=src)
            s.sendall(b"POST /v1/ops/device.list HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: 10\r\n\r\n{")
            socks.append(s)
        print("open %d" % len(socks), flush=True)
        time.sleep(secs)
        for s in socks:
            s.close()
    elif cmd == "notify":
        path, secs = sys.argv[2], float(sys.argv[3])
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        print("bound", flush=True)
        end = time.time() + secs
        while time.time() < end:
            s.settimeout(max(0.01, end - time.time()))
            try:
                print(s.recv(4096).decode().strip(), flush=True)
            except socket.timeout:
                break
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
