#!/usr/bin/env python3
# tests/integration/push_check.py - used by push_crash.sh: checks, over
# custodyd's API (the bootstrap admin's certificate, one kept-alive TLS
# connection) and the AMT simulator's state dump, that every simulated
# device accepts a password custody holds.
#
#   push_check.py PORT CA CERT KEY CONTROL_PORT TIMEOUT_S
#
# Waits (up to TIMEOUT_S) until every job is done (the service resumes
# the interrupted rotation and push jobs) and no admin version is left
# 'pushed' (it reconciles them at start-up), then requires, for every device:
# its admin HA1 on the device is MD5(admin:realm:password) of custody's
# current admin version (so the password custody would hand out works),
# and the newest version (the one a killed push may have sent) is still
# readable (nothing that may be on a device was lost). Prints one line per problem; exit 1 on any.
import hashlib, http.client, json, ssl, sys, time

port, ca, cert, key, cport, timeout = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
ctx.load_cert_chain(cert, key)
conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx,
                                   timeout=30)


def op(name, req):
    conn.request("POST", "/v1/ops/" + name, json.dumps(req),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit("%s: HTTP %d %s" % (name, r.status, body[:200]))
    return json.loads(body)


def sim_state():
    c = http.client.HTTPConnection("127.0.0.1", int(cport), timeout=30)
    c.request("GET", "/state")
    d = json.loads(c.getresponse().read())
    c.close()
    return d["devices"]


fqdns = [d["fqdn"] for d in sim_state()]
hist = {}
deadline = time.time() + float(timeout)
while True:
    # custodyd resumes the interrupted jobs (the rotation's, the push's)
    # and reconciles: wait for every job to end, and nothing 'pushed'.
    unsettled = ["job %d %s" % (j["id"], j["state"])
                 for j in op("job.list", {"limit": 1000})["jobs"]
                 if j["state"] != "done"]
    pushed = []
    for f in fqdns:
        hist[f] = op("password.history", {"fqdn": f})["versions"]
        pushed += [f for v in hist[f]
                   if v["kind"] == "admin" and v["state"] == "pushed"]
    if (not pushed and not unsettled) or time.time() > deadline:
        break
    time.sleep(0.5)
bad = 0
if pushed:
    print("still 'pushed' after %ss: %s" % (timeout, " ".join(pushed[:10])))
    bad += 1
if unsettled:
    print("jobs not done after %ss: %s" % (timeout, ", ".join(unsettled)))
    bad += 1
byname = {d["fqdn"]: d for d in sim_state()}
for f in fqdns:
    d = byname[f]
    cur = None
    adm = [v for v in hist[f] if v["kind"] == "admin"]
    newest = max(v["version"] for v in adm) if adm else 0
    for v in adm:
        # The current version, and the newest (the one a killed push may
        # have sent): both must still be readable.
        if v["state"] != "current" and v["version"] != newest:
            continue
        pw = op("password.show", {"fqdn": f, "version": v["version"]})
        if v["state"] == "current":
            cur = pw["password"]
    if cur is None:
        print("%s: no current admin version" % f)
        bad += 1
        continue
    want = hashlib.md5(("admin:%s:%s" % (d["realm"], cur)).encode()).hexdigest()
    if d["admin"]["ha1"].lower() != want:
        print("%s: the device does not accept custody's current password"
              % f)
        bad += 1
sys.exit(1 if bad else 0)
