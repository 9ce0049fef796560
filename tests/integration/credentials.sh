#!/bin/sh
# tests/integration/credentials.sh - scoped console credentials end to end
# on a state directory: a policy with certificate identities and scopes,
# devices added and imported, credentials with the plan's user names, the
# HA1 against python3's hashlib, retirement on a policy change and a
# device removal, and an audit entry for every secret shown.
. tests/integration/lib.sh

S="$TESTTMP/cred-state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
REALM=Digest:A4070000000000000000000000000000

t_exit "init" 0 c init
cat >"$TESTTMP/p1.yaml" <<'EOF'
version: 1
owner: sccm
consoles:
  sccm:
    identity: { certificate: "CN=sccm.corp.example" }
    duties: [setup, power, inventory, redirection]
  pwr:
    identity: { certificate: "CN=pwr.corp.example,O=Corp" }
    duties: [power]
    username: pwruser
    scope: { tags: [branch] }
EOF
t_exit "device add before any policy" 0 c device add d1.corp.example \
	--tag branch --digest-realm "$REALM"
t_exit "no credentials without a policy" 0 c --json credential list \
	--console sccm
t_check "list is empty" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(len(json.load(open(sys.argv[1]))["items"]) != 0)
EOF
t_exit "policy load syncs credentials" 0 c --json policy load \
	"$TESTTMP/p1.yaml"
t_check "load granted 2 (sccm and pwr on d1)" py "$TESTTMP/out" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["credentials"]
sys.exit(not (c["granted"] == 2 and c["withdrawn"] == 0))
EOF
t_exit "device add gets its consoles' credentials" 0 c device add \
	d2.corp.example --digest-realm "$REALM"
printf 'fqdn,digest_realm,tags\ni1.corp.example,%s,branch\ni2.corp.example,,\n' \
	"$REALM" >"$TESTTMP/imp.csv"
t_exit "device import gets them too" 0 c --json device import \
	"$TESTTMP/imp.csv"
t_check "import granted 3 (sccm x2, pwr on i1)" py "$TESTTMP/out" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["credentials"]
sys.exit(not (c["granted"] == 3 and c["devices"] == 2))
EOF
t_exit "credential list pwr" 0 c --json credential list --console pwr
t_check "pwr holds d1 and i1 only, pending v1" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
got = {i["fqdn"]: i["versions"] for i in r["items"]}
ok = sorted(got) == ["d1.corp.example", "i1.corp.example"] and all(
    v == [{"version": 1, "state": "pending"}] for v in got.values())
sys.exit(not ok or "password" in json.dumps(r))
EOF

# show: the plan's user name, realms and access; the HA1 is
# base64(MD5(user:realm:password)), as python3 computes it.
t_exit "credential show (plain)" 0 c --json credential show \
	d1.corp.example --console pwr
cp "$TESTTMP/out" "$TESTTMP/plain.json"
t_exit "credential show --ha1" 0 c --json credential show \
	d1.corp.example --console pwr --ha1
t_check "plain: user pwruser, RemoteControlRealm, network" py \
	"$TESTTMP/plain.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["username"] == "pwruser" and r["realms"] ==
    ["RemoteControlRealm"] and r["access"] == "network" and
    r["state"] == "pending" and r["version"] == 1 and
    r["digest_realm"] == "Digest:A4070000000000000000000000000000" and
    8 <= len(r["password"]) <= 32))
EOF
t_check "HA1 matches hashlib" py "$TESTTMP/plain.json" "$TESTTMP/out" <<'EOF'
import base64, hashlib, json, sys
p = json.load(open(sys.argv[1]))
h = json.load(open(sys.argv[2]))
want = base64.b64encode(hashlib.md5(("%s:%s:%s" % (p["username"],
    p["digest_realm"], p["password"])).encode()).digest()).decode()
sys.exit(not (h["ha1"] == want and "password" not in h))
EOF
t_exit "sccm's user name is its console name" 0 c --json credential show \
	d2.corp.example --console sccm
t_grep "username sccm" '"username": "sccm"' "$TESTTMP/out"
t_exit "text output is the value only" 0 c credential show \
	d1.corp.example --console pwr
t_check "same password" py "$TESTTMP/plain.json" "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["password"] + "\n" !=
    open(sys.argv[2]).read())
EOF
t_exit "out of pwr's scope: not found" 4 c credential show \
	d2.corp.example --console pwr
t_exit "console is required locally" 2 c credential show d1.corp.example
t_exit "no realm, no HA1" 1 c credential show i2.corp.example \
	--console sccm --ha1
t_check "four shows audited, with their format" py "$S" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1] + "/custody.db")
rows = db.execute("SELECT object, detail FROM audit WHERE action = "
    "'credential.show' AND result = 'ok' ORDER BY seq").fetchall()
sys.exit(rows != [("d1.corp.example", "console:pwr v1 format=plain"),
    ("d1.corp.example", "console:pwr v1 format=ha1"),
    ("d2.corp.example", "console:sccm v1 format=plain"),
    ("d1.corp.example", "console:pwr v1 format=plain")])
EOF

# The owner applies it and confirms it like an admin password.
t_exit "password confirm --kind console:pwr" 0 c password confirm \
	d1.corp.example --kind console:pwr --version 1
t_exit "show after confirm" 0 c --json credential show d1.corp.example \
	--console pwr
t_grep "now current" '"state": "current"' "$TESTTMP/out"
t_exit "password show refuses console kinds" 2 c password show \
	d1.corp.example --kind console:pwr

# A new policy: pwr gone, sccm renamed -> retired, and sccm made again.
sed -e '/^  pwr:/,$d' -e 's/duties: \[setup, power, inventory, redirection\]/&\n    username: sccm2/' \
	"$TESTTMP/p1.yaml" >"$TESTTMP/p2.yaml"
t_exit "policy reload" 0 c --json policy load "$TESTTMP/p2.yaml"
t_check "reload: 6 withdrawn (pwr x2, sccm x4), 4 granted" py \
	"$TESTTMP/out" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["credentials"]
sys.exit(not (c["withdrawn"] == 6 and c["granted"] == 4))
EOF
t_exit "pwr's credential is gone" 4 c credential show d1.corp.example \
	--console pwr
t_exit "pwr lists nothing" 0 c --json credential list --console pwr
t_check "empty" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(len(json.load(open(sys.argv[1]))["items"]) != 0)
EOF
t_exit "sccm2 v2" 0 c --json credential show d1.corp.example --console sccm
t_check "renamed user, version 2" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["username"] == "sccm2" and r["version"] == 2))
EOF
t_exit "device remove" 0 c device remove d2.corp.example
t_check "d2's credentials retired, history kept" py "$S" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1] + "/custody.db")
rows = db.execute("SELECT s.kind, s.version, s.state FROM secret s JOIN "
    "device d ON d.id = s.device_id WHERE d.fqdn = 'd2.corp.example' AND "
    "s.kind GLOB 'console:*' ORDER BY version").fetchall()
sys.exit(rows != [("console:sccm", 1, "retired"),
    ("console:sccm", 2, "retired")])
EOF
t_exit "credential sync: nothing left to do" 0 c --json credential sync
t_check "sync: 0 granted, 0 withdrawn" py "$TESTTMP/out" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
sys.exit(not (c["granted"] == 0 and c["withdrawn"] == 0))
EOF
# A policy loaded while a device add runs (after it read the policy
# before, CUSTODY_TEST_STOP_AT=device-add-planned): the add starts again
# with the new one, whose own sync may have passed the device's place.
CUSTODY_TEST_STOP_AT=device-add-planned "$CUSTODYCTL" --state-dir "$S" \
	device add late.corp.example --tag branch >"$TESTTMP/late" 2>&1 &
pid=$!
t_wait_stopped "$pid"
t_exit "policy loaded during the add" 0 c policy load "$TESTTMP/p1.yaml"
kill -CONT "$pid" 2>/dev/null
wait "$pid"
t_check "the add succeeds" test $? -eq 0
t_exit "late device: pwr's credential (the new policy)" 0 c --json \
	credential show late.corp.example --console pwr
t_grep "pwruser" '"username": "pwruser"' "$TESTTMP/out"

t_exit "audit verify" 0 c audit verify
t_done
