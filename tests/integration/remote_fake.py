#!/usr/bin/env python3
# tests/integration/remote_fake.py CERT KEY MODE PORTFILE LOG - a stand-in
# for custodyd that custodyctl's remote backend is tested against where
# the real service cannot be made to misbehave: it serves HTTPS on a free
# loopback port (written to PORTFILE), logs "CONN n" per connection and
# "POST path body" per request to LOG, and answers by MODE:
#   pages  device.list in three pages (next cursors), to see them followed
#          over one kept-alive connection
#   huge   a 200 reply of 65 MiB (over custodyctl's bound)
#   denied 403 {"error": "denied", "message": ...}
#   html   502 with an HTML body (no error name)
import http.server
import json
import socketserver
import ssl
import sys

cert, key, mode, portfile, logfile = sys.argv[1:6]
log = open(logfile, "a", buffering=1)
conns = 0


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global conns
        conns += 1
        log.write("CONN %d\n" % conns)
        super().setup()

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        log.write("POST %s %s %s\n" % (self.path, self.headers.get("Content-Type"), body))
        if mode == "pages":
            after = json.loads(body).get("after")
            page = {None: ("a.corp.example", "p1"), "p1": ("b.corp.example", "p2"),
                    "p2": ("c.corp.example", None)}[after]
            dev = {"fqdn": page[0], "uuid": None, "tags": [], "state": "active"}
            self.reply(200, json.dumps({"devices": [dev], "next": page[1]}).encode())
        elif mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(65):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        elif mode == "denied":
            self.reply(403, b'{"error": "denied", "message": "fake: not yours"}')
        else:
            self.reply(502, b"<html>bad gateway</html>", "text/html")


class S(socketserver.TCPServer):
    allow_reuse_address = True


srv = S(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
