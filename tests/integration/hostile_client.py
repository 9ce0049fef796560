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
#   scan PID MARKER           how many times MARKER is in process PID's
#                             memory (root: /proc/PID/mem); "unreadable"
#                             when it cannot be read
import socket
import ssl
import sys
import time


def tls(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


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
    elif cmd == "scan":
        pid, marker = int(sys.argv[2]), sys.argv[3].encode()
        n = 0
        try:
            maps = open("/proc/%d/maps" % pid).read().splitlines()
            mem = open("/proc/%d/mem" % pid, "rb", 0)
        except OSError:
            print("unreadable")
            return
        for line in maps:
            f = line.split()
            # Readable private or heap mappings; not a sanitizer's shadow
            # (terabytes reserved, untouched), nor files and devices.
            if not f[1].startswith("rw") or f[4] != "0":
                continue
            a, b = (int(x, 16) for x in f[0].split("-"))
            if b - a > (1 << 30):
                continue
            prev = b""
            while a < b:
                step = min(b - a, 16 << 20)
                try:
                    mem.seek(a)
                    d = mem.read(step)
                except (OSError, OverflowError, ValueError):
                    break
                n += (prev + d).count(marker)
                prev = d[-(len(marker) - 1):]
                a += step
        print(n)
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
