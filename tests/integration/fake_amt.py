#!/usr/bin/env python3
# tests/integration/fake_amt.py - a minimal stand-in for AMT devices, for
# the push tests until the simulator (tests/amtsim) is on main: one HTTP
# port, devices routed by the Host header, RFC 2617 digest (qop=auth) with
# each device's DigestRealm, Get AMT_GeneralSettings and
# SetAdminAclEntryEx (the DigestPassword becomes the admin's HA1, as on a
# device). Faults per device from the command line:
#   --drop-after-apply FQDN   apply the next SetAdminAclEntryEx, then close
#                             the connection without answering
#   --refuse FQDN=CODE        answer SetAdminAclEntryEx with ReturnValue CODE
#   --apply-and-refuse FQDN=CODE  apply SetAdminAclEntryEx, then answer it
#                             with ReturnValue CODE (a device that lies)
#   --body-realm FQDN=REALM   answer Gets with DigestRealm REALM (what a man
#                             in the middle on plain HTTP can rewrite)
#   --accept-any FQDN         challenge, then take any digest response, and
#                             answer SetAdminAclEntryEx 0 without applying
#                             it (an impostor, or a man in the middle)
# The admin HA1 of every device is written to --state FILE (JSON) after
# each change; the port it listens on to --ready FILE.
#
# usage: fake_amt.py --devices FILE.json --state FILE --ready FILE [faults]
#   FILE.json: {"FQDN": {"realm": "Digest:...", "password": "..."}}
import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import threading
import xml.etree.ElementTree as ET

S = "{http://www.w3.org/2003/05/soap-envelope}"
A = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
AUTHZ = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService"
GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"

lock = threading.Lock()
devices = {}
drop = set()
refuse = {}
liar = set()
accept_any = set()
body_realm = {}
state_file = None


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def save():
    tmp = state_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({k: {"realm": v["realm"], "ha1": v["ha1"]}
                   for k, v in devices.items()}, f)
    os.rename(tmp, state_file)


def envelope(relates, action, body):
    return ('<?xml version="1.0" encoding="UTF-8"?><a:Envelope '
            'xmlns:a="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing">'
            '<a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/'
            'addressing/role/anonymous</b:To><b:RelatesTo>%s</b:RelatesTo>'
            '<b:Action>%sResponse</b:Action><b:MessageID>uuid:00000000-8086-'
            '8086-8086-000000000001</b:MessageID></a:Header><a:Body>%s'
            '</a:Body></a:Envelope>' % (relates, action, body)).encode()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", extra=None):
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/soap+xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fqdn = (self.headers.get("Host") or "").split(":")[0].lower()
        with lock:
            dev = devices.get(fqdn)
        if dev is None or self.path != "/wsman":
            return self.reply(404)
        auth = self.headers.get("Authorization") or ""
        f = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
        ok = False
        if auth.startswith("Digest ") and f.get("username") == "admin" and \
                f.get("realm") == dev["realm"]:
            ha2 = md5("POST:" + f.get("uri", ""))
            want = md5(":".join([dev["ha1"], f.get("nonce", ""),
                                 f.get("nc", ""), f.get("cnonce", ""),
                                 "auth", ha2]))
            ok = f.get("response") == want and f.get("qop") == "auth"
        if auth.startswith("Digest ") and fqdn in accept_any:
            ok = True
        if not ok:
            return self.reply(401, extra={"WWW-Authenticate":
                'Digest realm="%s", nonce="%s", stale="false", qop="auth"'
                % (dev["realm"], os.urandom(8).hex())})
        env = ET.fromstring(body)
        hdr = env.find(S + "Header")
        mid = hdr.find(A + "MessageID").text
        action = hdr.find(A + "Action").text
        if action == GET:
            out = ('<g:AMT_GeneralSettings xmlns:g="http://intel.com/wbem/'
                   'wscim/1/amt-schema/1/AMT_GeneralSettings"><g:DigestRealm>'
                   '%s</g:DigestRealm></g:AMT_GeneralSettings>'
                   % body_realm.get(fqdn, dev["realm"]))
            return self.reply(200, envelope(mid, action, out))
        if action == AUTHZ + "/SetAdminAclEntryEx":
            inp = env.find(S + "Body").find("{%s}SetAdminAclEntryEx_INPUT" % AUTHZ)
            dpw = inp.find("{%s}DigestPassword" % AUTHZ).text
            rv = refuse.get(fqdn, 0)
            if (rv == 0 or fqdn in liar) and fqdn not in accept_any:
                with lock:
                    dev["ha1"] = base64.b64decode(dpw).hex()
                    save()
                    dropped = fqdn in drop
                    drop.discard(fqdn)
                if dropped:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
            out = ('<g:SetAdminAclEntryEx_OUTPUT xmlns:g="%s"><g:ReturnValue>'
                   '%d</g:ReturnValue></g:SetAdminAclEntryEx_OUTPUT>' % (AUTHZ, rv))
            return self.reply(200, envelope(mid, action, out))
        return self.reply(400)


def main():
    global state_file
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--drop-after-apply", action="append", default=[])
    ap.add_argument("--refuse", action="append", default=[])
    ap.add_argument("--apply-and-refuse", action="append", default=[])
    ap.add_argument("--accept-any", action="append", default=[])
    ap.add_argument("--body-realm", action="append", default=[])
    a = ap.parse_args()
    state_file = a.state
    for fqdn, d in json.load(open(a.devices)).items():
        devices[fqdn] = {"realm": d["realm"],
                         "ha1": md5("admin:%s:%s" % (d["realm"], d["password"]))}
    drop.update(a.drop_after_apply)
    for r in a.refuse + a.apply_and_refuse:
        k, v = r.split("=")
        refuse[k] = int(v)
    liar.update(r.split("=")[0] for r in a.apply_and_refuse)
    accept_any.update(a.accept_any)
    body_realm.update(r.split("=", 1) for r in a.body_realm)
    save()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(a.ready + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.ready + ".tmp", a.ready)
    srv.serve_forever()


if __name__ == "__main__":
    main()
