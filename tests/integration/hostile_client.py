#!/usr/bin/env python3
# tests/integration/hostile_client.py - what tests/integration/daemon_hostile.sh
# does to custodyd that curl and daemon_client.py cannot.
#
#   eof PORT CA SECS          stdin as the request; read until the server
#                             closes (at most SECS); print the reply and a
#                             last line "eof" or "timeout"
#   body PORT CA MARKER N     N requests, each on its own connection, whose
#                             body holds MARKER (GET /healthz with a body:
#                             read, never parsed)
#   stuck PORT CA N           N connections that send requests and never
#                             read a reply, until the server's writes
#                             block; then they close
#   scan PID MARKER           how many times MARKER is in process PID's
#                             memory (root: /proc/PID/mem); "unreadable"
#                             when it cannot be read
import socket
import ssl
import sys
import time

from daemon_client import tls


def scan(pid, read, markers):
    """How many times any of markers is in process pid's memory, read
    with read(address, length) (bytes; raises OSError when it cannot),
    and whether its heap could be read. Readable anonymous mappings only:
    not a sanitizer's shadow (terabytes reserved, untouched), nor files
    and devices. Also used by gdb (daemon_hostile.sh)."""
    n, heap = 0, False
    for line in open("/proc/%d/maps" % pid).read().splitlines():
        f = line.split()
        if not f[1].startswith("rw") or f[4] != "0":
            continue
        a, b = (int(x, 16) for x in f[0].split("-"))
        if b - a > (1 << 30):
            continue
        keep = max(len(m) for m in markers) - 1
        prev = b""
        while a < b:
            step = min(b - a, 16 << 20)
            try:
                d = bytes(read(a, step))
            except (OSError, OverflowError, ValueError, MemoryError,
                    RuntimeError):  # gdb.MemoryError
                break
            heap = heap or line.endswith("[heap]")
            n += sum((prev + d).count(m) for m in markers)
            prev = d[-keep:] if keep else b""
            a += step
    return n, heap


def main():
    cmd = sys.argv[1]
    if cmd == "eof":
        port, ca, secs = sys.argv[2], sys.argv[3], float(sys.argv[4])
        s = tls(port, ca)
        s.sendall(sys.stdin.buffer.read())
        s.settimeout(secs)
        out, end = b"", "eof"
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except socket.timeout:
            end = "timeout"
        except (ssl.SSLError, ConnectionResetError):
            pass
        sys.stdout.buffer.write(out + b"\n" + end.encode() + b"\n")
    elif cmd == "body":
        port, ca, marker, n = sys.argv[2], sys.argv[3], sys.argv[4], \
            int(sys.argv[5])
        body = ('{"pad":"%s"}' % marker).encode()
        for _ in range(n):
            s = tls(port, ca)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            s.recv(4096)
            s.close()
    elif cmd == "stuck":
        # N connections that pipeline requests without reading the
        # replies until the server's writes block, then go away.
        port, ca, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
        req = b"GET /v1/trust/bundle HTTP/1.1\r\nHost: x\r\n\r\n" * 50
        socks = []
        for _ in range(n):
            s = tls(port, ca)
            s.setblocking(False)
            end = time.time() + 2
            while time.time() < end:
                try:
                    s.send(req)
                except ssl.SSLWantWriteError:
                    time.sleep(0.01)
            socks.append(s)
        for s in socks:
            s.close()
        print("gone %d" % len(socks))
    elif cmd == "scan":
        pid, marker = int(sys.argv[2]), sys.argv[3].encode()
        try:
            mem = open("/proc/%d/mem" % pid, "rb", 0)
        except OSError:
            print("unreadable")
            return

        def read(a, n):
            mem.seek(a)
            return mem.read(n)
        n, _ = scan(pid, read, {marker})
        print(n)
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
