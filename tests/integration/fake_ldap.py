#!/usr/bin/env python3
# tests/integration/fake_ldap.py - a hostile LDAPS "domain controller" for
# tests/integration/ad_hostile.sh: it accepts any simple bind and answers
# every search the way its mode says, ignoring the size limit it is sent.
#
#   fake_ldap.py CERT KEY READYFILE LOGFILE MODE [ARG [ARG2]]
#   fake_ldap.py plain READYFILE LOGFILE
#   fake_ldap.py silent READYFILE
#
# MODE: flood N      N small entries for every search
#       huge N       N entries of 3 MiB each
#       referral URI a referral result (code 10) naming URI
#       spn DN SPN   one entry DN holding servicePrincipalName SPN (a
#                    Global Catalog that knows an object of another
#                    domain of the forest: ad_gc.sh)
# The port it listens on (127.0.0.1) goes to READYFILE; LOGFILE gets one
# line per request ("bind", "search BASE", "unbind"). Minimal BER: the
# definite-length encodings libldap sends and reads. "plain" is a bare TCP
# listener that writes whatever it receives to LOGFILE (made empty first):
# a server custody must never talk to. "silent" accepts connections,
# keeps them open and never sends a byte (a DC that hangs mid-handshake).
import socket
import ssl
import sys
import threading


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b + content


def integer(v):
    return tlv(0x02, v.to_bytes((v.bit_length() + 8) // 8 or 1, "big"))


def octets(b):
    return tlv(0x04, b if isinstance(b, bytes) else b.encode())


def result(tag, code, extra=b""):
    return tlv(tag, tlv(0x0A, bytes([code])) + octets("") + octets("") +
               extra)


def message(msgid, op):
    return tlv(0x30, integer(msgid) + op)


def entry(dn, attrs):
    pal = b"".join(tlv(0x30, octets(k) + tlv(0x31, b"".join(
        octets(v) for v in vals))) for k, vals in attrs)
    return tlv(0x64, octets(dn) + tlv(0x30, pal))


def read_tlv(f):
    h = f.read(2)
    if len(h) < 2:
        return None, None
    tag, n = h[0], h[1]
    if n & 0x80:
        n = int.from_bytes(f.read(n & 0x7F), "big")
    return tag, f.read(n)


def parse(content):
    """(msgid, op tag, op content) of an LDAPMessage's content."""
    i = 0
    out = []
    while i < len(content) and len(out) < 2:
        tag, n = content[i], content[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(content[i:i + k], "big")
            i += k
        out.append((tag, content[i:i + n]))
        i += n
    return int.from_bytes(out[0][1], "big"), out[1][0], out[1][1]


def serve(conn, mode, arg, arg2, log):
    f = conn.makefile("rb")
    try:
        while True:
            tag, content = read_tlv(f)
            if tag is None:
                return
            msgid, op, body = parse(content)
            if op == 0x60:
                log("bind")
                conn.sendall(message(msgid, result(0x61, 0)))
            elif op == 0x63:
                _, n = body[0], body[1]
                base = body[2:2 + n].decode(errors="replace")
                log("search " + base)
                if mode == "flood":
                    for i in range(int(arg)):
                        conn.sendall(message(msgid, entry(
                            "CN=x%d,%s" % (i, base),
                            [("sAMAccountName", ["x%d" % i])])))
                    conn.sendall(message(msgid, result(0x65, 0)))
                elif mode == "spn":
                    conn.sendall(message(msgid, entry(
                        arg, [("servicePrincipalName", [arg2])])))
                    conn.sendall(message(msgid, result(0x65, 0)))
                elif mode == "huge":
                    big = b"A" * (3 << 20)
                    for i in range(int(arg)):
                        conn.sendall(message(msgid, entry(
                            "CN=x%d,%s" % (i, base),
                            [("description", [big])])))
                    conn.sendall(message(msgid, result(0x65, 0)))
                else:
                    conn.sendall(message(msgid, result(
                        0x65, 10, tlv(0xA3, octets(arg)))))
            elif op == 0x42:
                log("unbind")
                return
            else:
                conn.sendall(message(msgid, result(0x65, 53)))
    except (OSError, ValueError, IndexError):
        return
    finally:
        conn.close()


def plain(ready, logfile):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    out = open(logfile, "wb")
    with open(ready, "w") as fh:
        fh.write("%d\n" % ls.getsockname()[1])
    while True:
        s, _ = ls.accept()
        s.settimeout(5)
        try:
            out.write(s.recv(65536) or b"(a connection)\n")
            out.flush()
        except OSError:
            pass
        s.close()


def silent(ready):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    with open(ready, "w") as fh:
        fh.write("%d\n" % ls.getsockname()[1])
    held = []
    while True:
        s, _ = ls.accept()
        held.append(s)


def main():
    if sys.argv[1] == "plain":
        plain(sys.argv[2], sys.argv[3])
        return
    if sys.argv[1] == "silent":
        silent(sys.argv[2])
        return
    cert, key, ready, logfile, mode = sys.argv[1:6]
    arg = sys.argv[6] if len(sys.argv) > 6 else "0"
    arg2 = sys.argv[7] if len(sys.argv) > 7 else ""
    lock = threading.Lock()

    def log(line):
        with lock, open(logfile, "a") as fh:
            fh.write(line + "\n")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    with open(ready, "w") as fh:
        fh.write("%d\n" % ls.getsockname()[1])
    while True:
        c, _ = ls.accept()
        try:
            t = ctx.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError):
            c.close()
            continue
        threading.Thread(target=serve, args=(t, mode, arg, arg2, log),
                         daemon=True).start()


if __name__ == "__main__":
    main()
