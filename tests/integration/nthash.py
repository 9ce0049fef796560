#!/usr/bin/env python3
# tests/integration/nthash.py KEYTAB PWFILE - exit 0 when the arcfour-hmac
# key of KEYTAB (klist -keK) is the NT hash of the password in PWFILE
# (MD4 of its UTF-16LE encoding, trailing newline dropped). MD4 is written
# out (RFC 1320): OpenSSL 3 keeps it in the legacy provider, which
# hashlib may not load.
import struct
import subprocess
import sys


def md4(m):
    def rl(x, n):
        return ((x << n) | (x >> (32 - n))) & 0xffffffff
    f = lambda x, y, z: (x & y) | (~x & z)
    g = lambda x, y, z: (x & y) | (x & z) | (y & z)
    h = lambda x, y, z: x ^ y ^ z
    n = len(m) * 8
    m += b"\x80" + b"\0" * ((55 - len(m)) % 64) + struct.pack("<Q", n)
    st = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]
    for i in range(0, len(m), 64):
        x = struct.unpack("<16I", m[i:i + 64])
        a, b, c, d = st
        for k in range(16):
            s = (3, 7, 11, 19)[k % 4]
            a, b, c, d = d, rl((a + f(b, c, d) + x[k]) & 0xffffffff, s), b, c
        for k in range(16):
            s = (3, 5, 9, 13)[k % 4]
            j = (k % 4) * 4 + k // 4
            a, b, c, d = d, rl((a + g(b, c, d) + x[j] + 0x5a827999)
                               & 0xffffffff, s), b, c
        for k in range(16):
            s = (3, 9, 11, 15)[k % 4]
            j = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[k]
            a, b, c, d = d, rl((a + h(b, c, d) + x[j] + 0x6ed9eba1)
                               & 0xffffffff, s), b, c
        st = [(p + q) & 0xffffffff for p, q in zip(st, (a, b, c, d))]
    return struct.pack("<4I", *st)


# RFC 1320's test values, and the check value of reference/amt.md 5
assert md4(b"").hex() == "31d6cfe0d16ae931b73c59d7e0c089c0"
assert md4(b"abc").hex() == "a448017aaf21d8525fc10ae87aa6729d"
assert md4("password".encode("utf-16-le")).hex() == \
    "8846f7eaee8fb117ad06bdd830b7586c"

out = subprocess.run(["klist", "-keK", sys.argv[1]], capture_output=True,
                     text=True).stdout
keys = [l.rsplit("(0x", 1)[1].rstrip(")\n ").lower()
        for l in out.splitlines() if "arcfour-hmac" in l]
pw = open(sys.argv[2]).read().rstrip("\n")
sys.exit(not keys or keys[0] != md4(pw.encode("utf-16-le")).hex())
