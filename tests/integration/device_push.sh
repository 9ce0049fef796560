#!/bin/sh
# tests/integration/device_push.sh - device push --dry-run and password
# rotate --push --dry-run: the exact envelopes a push sends, in order (the
# realm check, SetAdminAclEntryEx with the candidate's DigestPassword, the
# verifying Get), well-formed, the DigestPassword matching python's
# base64(md5(admin:realm:password)), no plaintext, nothing sent or changed.
. tests/integration/lib.sh

S="$TESTTMP/push-state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
REALM=Digest:A4070000000000000000000000000000

t_exit "init" 0 c init
t_exit "device add" 0 c device add p1.corp.example --digest-realm "$REALM" \
	--address 127.0.0.1:20000
t_exit "device add without a realm" 0 c device add p2.corp.example
t_exit "nothing pending: nothing to push" 1 c device push p1.corp.example \
	--dry-run
t_grep "says so" 'no pending admin password' "$TESTTMP/err"
t_exit "rotate" 0 c password rotate p1.corp.example p2.corp.example
t_exit "pending password" 0 c password show p1.corp.example --pending
cp "$TESTTMP/out" "$TESTTMP/pending"
t_exit "device push --dry-run (JSON)" 0 c --json device push \
	p1.corp.example --dry-run
cp "$TESTTMP/out" "$TESTTMP/push.json"
t_check "three envelopes in order, well-formed, the right DigestPassword" \
	py "$TESTTMP/push.json" "$TESTTMP/pending" "$REALM" <<'EOF'
import base64, hashlib, json, sys
import xml.etree.ElementTree as ET
r = json.load(open(sys.argv[1]))
pw = open(sys.argv[2]).read().rstrip("\n")
realm = sys.argv[3]
want = base64.b64encode(hashlib.md5(("admin:%s:%s" % (realm, pw)).encode()).digest()).decode()
S = "{http://www.w3.org/2003/05/soap-envelope}"
A = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
W = "{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}"
AUTHZ = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService"
GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
steps = r["steps"]
assert [s["step"] for s in steps] == ["realm-check", "set-admin", "verify", "refusal-check"]
assert [s["message_id"] for s in steps] == [1, 2, 3, 4]
assert [s["action"] for s in steps] == [GET, AUTHZ + "/SetAdminAclEntryEx", GET, GET]
assert r["url"] == "http://p1.corp.example:16992/wsman"
assert r["connect_to"] == "p1.corp.example:16992:127.0.0.1:20000"
assert r["version"] == 2 and r["current"] == 1
for s in steps:
    env = ET.fromstring(s["envelope"].encode())
    hdr = env.find(S + "Header")
    names = [e.tag for e in hdr]
    assert names == [A + "Action", A + "To", W + "ResourceURI", A + "MessageID",
        A + "ReplyTo", W + "OperationTimeout"], names
    assert hdr.find(A + "MessageID").text == str(s["message_id"])
    assert hdr.find(A + "Action").text == s["action"]
    assert pw not in s["envelope"]
body = ET.fromstring(steps[1]["envelope"].encode()).find(S + "Body")
inp = body.find("{%s}SetAdminAclEntryEx_INPUT" % AUTHZ)
assert inp.find("{%s}Username" % AUTHZ).text == "admin"
assert inp.find("{%s}DigestPassword" % AUTHZ).text == want, want
assert "current v1" in steps[1]["auth"] and "candidate v2" in steps[2]["auth"]
assert "v1" in steps[3]["auth"] and "refused" in steps[3]["auth"]
EOF
t_exit "device push --dry-run (text)" 0 c device push p1.corp.example \
	--dry-run
t_grep "text says nothing was sent" '^# dry run: nothing was sent' \
	"$TESTTMP/out"
t_grep "text has the set-admin step" '^# 2/4 set-admin: MessageID 2' \
	"$TESTTMP/out"
t_check "the plaintext is in no output" py "$TESTTMP/out" "$TESTTMP/pending" <<'EOF'
import sys
sys.exit(open(sys.argv[2]).read().rstrip("\n") in open(sys.argv[1]).read())
EOF
t_exit "unknown realm: DigestPassword hidden" 0 c --json device push \
	p2.corp.example --dry-run
t_check "*** and a note" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not ("<h:DigestPassword>***</h:DigestPassword>" in r["steps"][1]["envelope"]
    and "not registered" in r["note"] and r["connect_to"] is None))
EOF
t_exit "rotate --push --dry-run" 0 c --json password rotate \
	p1.corp.example p2.corp.example --push --dry-run
t_check "one plan per device, a new candidate shown as ***" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (len(r) == 2 and all(p["candidate"] == "new" and p["version"] is None
    and "<h:DigestPassword>***</h:DigestPassword>" in p["steps"][1]["envelope"]
    for p in r)))
EOF
t_exit "rotate --push --dry-run takes FQDNs only" 2 c password rotate \
	--all --push --dry-run
t_exit "history after the dry runs" 0 c --json password history \
	p1.corp.example
t_check "nothing rotated or confirmed by a dry run" py "$TESTTMP/out" <<'EOF'
import json, sys
h = [(v["kind"], v["version"], v["state"]) for v in json.load(open(sys.argv[1]))["versions"]
     if v["kind"] == "admin"]
sys.exit(sorted(h) != [("admin", 1, "current"), ("admin", 2, "pending")])
EOF
t_exit "audit list" 0 c audit list
t_grep "reading the candidate is audited" 'device\.push.*p1\.corp\.example' \
	"$TESTTMP/out"
t_done
