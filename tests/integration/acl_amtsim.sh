#!/bin/sh
# tests/integration/acl_amtsim.sh - policy apply and policy drift against
# the AMT simulator (tests/amtsim): the loaded policy's digest users land
# on the devices with the plan's realms and access and the password
# custody holds (the simulator's HA1, and curl --digest as that user); a
# policy change removes and updates them; drift finds a user added behind
# custody's back and a realm changed by hand, and nothing after an apply;
# a device that is down is a per-device failure.
. tests/integration/lib.sh
t_need_or_skip curl python3

S="$TESTTMP/acl-sim-state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
t_amtsim 5
D0=dev00000.amtsim.test D1=dev00001.amtsim.test D2=dev00002.amtsim.test
dump() { curl -s "http://127.0.0.1:$control_port/state?device=$1"; }
# soap FQDN USER PASS METHOD PARAMS: an AMT_AuthorizationService method
# sent by hand (curl --digest), the reply in $TESTTMP/resp
AS=http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService
soap() {
	printf '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>%s/%s</a:Action><a:To>/wsman</a:To><w:ResourceURI>%s</w:ResourceURI><a:MessageID>77</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo></Header><Body><h:%s_INPUT xmlns:h="%s">%s</h:%s_INPUT></Body></Envelope>' \
	    "$AS" "$4" "$AS" "$4" "$AS" "$5" "$4" >"$TESTTMP/req.xml"
	curl -s --digest -u "$2:$3" -o "$TESTTMP/resp" -w '%{http_code}' \
	    -H 'Content-Type: application/soap+xml; charset=utf-8' \
	    --connect-to "$1:16992:127.0.0.1:$port" \
	    --data-binary "@$TESTTMP/req.xml" "http://$1:16992/wsman"
}
# get_as FQDN USER PASS: HTTP code of a Get of AMT_GeneralSettings
get_as() {
	printf '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>78</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo></Header><Body></Body></Envelope>' >"$TESTTMP/get.xml"
	curl -s --digest -u "$2:$3" -o /dev/null -w '%{http_code}' \
	    -H 'Content-Type: application/soap+xml; charset=utf-8' \
	    --connect-to "$1:16992:127.0.0.1:$port" \
	    --data-binary "@$TESTTMP/get.xml" "http://$1:16992/wsman"
}

t_exit "init" 0 c init
{
	echo "fqdn,digest_realm,admin_password,address,tags"
	for d in $D0 $D1 $D2; do
		r=$(dump $d | python3 -c 'import json,sys; print(json.load(sys.stdin)["realm"])')
		echo "$d,$r,P@ssw0rd,127.0.0.1:$port,$([ $d = $D0 ] && echo lab)"
	done
} >"$TESTTMP/fleet.csv"
t_exit "import the simulated fleet" 0 c device import "$TESTTMP/fleet.csv"

cat >"$TESTTMP/p1.yaml" <<'EOF'
version: 1
owner: prov
consoles:
  prov:
    identity: { certificate: "CN=prov.corp.example" }
    duties: [setup, power, inventory, redirection]
    username: prov
  secsuite:
    identity: { certificate: "CN=secsuite.corp.example" }
    duties: [system-defense, events]
    access: network
  lab-agent:
    identity: { certificate: "CN=lab-agent.corp.example" }
    duties: [agent-presence, time]
    access: local
    username: labagent
    scope: { tags: [lab] }
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p1.yaml"

# matches FQDN: the device's users are exactly the plan's digest users,
# with its realms and access, each HA1 that of custody's current
# credential of the console (checked against credential show).
matches() {
	c --json policy plan --device "$1" >"$TESTTMP/plan.json" || return 1
	dump "$1" >"$TESTTMP/dev.json"
	rm -f "$TESTTMP"/cred.*.json
	for con in $(python3 -c 'import json,sys; print(" ".join(e["console"] for e in json.load(open(sys.argv[1]))["devices"][0]["entries"]))' "$TESTTMP/plan.json"); do
		c --json credential show "$1" --console "$con" \
		    >"$TESTTMP/cred.$con.json" || return 1
	done
	py "$TESTTMP/plan.json" "$TESTTMP/dev.json" "$TESTTMP"/cred.*.json <<'EOF'
import hashlib, json, sys
plan = json.load(open(sys.argv[1]))["devices"][0]["entries"]
dev = json.load(open(sys.argv[2]))
creds = [json.load(open(f)) for f in sys.argv[3:]]
users = {u["username"]: u for u in dev["users"] if "username" in u}
want = {e["username"]: e for e in plan}
if sorted(users) != sorted(want):
    sys.exit("users %s, plan %s" % (sorted(users), sorted(want)))
for cr in creds:
    u = users[cr["username"]]
    e = want[cr["username"]]
    ha1 = hashlib.md5(("%s:%s:%s" % (cr["username"], dev["realm"],
        cr["password"])).encode()).hexdigest()
    if sorted(u["realms"]) != sorted(e["realms"]) or u["access"] != e["access"]:
        sys.exit("%s: realms/access %s %s, plan %s %s" % (cr["username"],
            u["realms"], u["access"], e["realms"], e["access"]))
    if u["ha1"] != ha1 or cr["state"] != "current":
        sys.exit("%s: ha1 or state %s" % (cr["username"], cr["state"]))
EOF
}

t_exit "drift before any apply: users missing (exit 1)" 1 c --json policy \
	drift --all
t_check "every plan user missing on every device" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
f = {i["fqdn"]: sorted((x["finding"], x["user"]) for x in i["findings"])
    for i in r["items"]}
sys.exit(not (r["drifted"] == 3 and
    f["dev00000.amtsim.test"] == [("missing-user", "labagent"),
        ("missing-user", "prov"), ("missing-user", "secsuite")] and
    f["dev00001.amtsim.test"] == [("missing-user", "prov"),
        ("missing-user", "secsuite")]))
EOF

t_exit "policy apply --dry-run" 0 c --json policy apply --dry-run \
	--device $D0
t_check "dry run: reads, then one AddUserAclEntryEx per console, hashes only" \
	py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
it = r["items"][0]
steps = [s["step"] for s in it["steps"]]
env = "".join(s["envelope"] for s in it["steps"])
sys.exit(not (r["dry_run"] and steps == ["realm-check", "enumerate-users",
    "add-user prov", "add-user secsuite", "add-user labagent"] and
    env.count("<h:DigestPassword>") == 3 and "***" not in env))
EOF
t_check "dry run: MessageIDs go up, as they are sent" py "$TESTTMP/out" <<'EOF'
import json, re, sys
it = json.load(open(sys.argv[1]))["items"][0]
ids = [int(re.search(r"<a:MessageID>(\d+)<", s["envelope"]).group(1))
       for s in it["steps"]]
sys.exit(ids != sorted(set(ids)))
EOF
for con in prov secsuite lab-agent; do
	c --json credential show $D0 --console $con --ha1 >"$TESTTMP/h.$con"
done
c policy apply --dry-run --device $D0 >"$TESTTMP/dry.txt"
t_check "dry run text: each DigestPassword as custody computes it" py \
	"$TESTTMP/dry.txt" "$TESTTMP"/h.* <<'EOF'
import json, sys
t = open(sys.argv[1]).read()
sys.exit(not ("nothing was sent" in t and all(
    "<h:DigestPassword>%s</h:DigestPassword>" % json.load(open(f))["ha1"] in t
    for f in sys.argv[2:])))
EOF
t_check "dry run sent nothing" py "$(dump $D0)" <<'EOF'
import json, sys
sys.exit(json.loads(sys.argv[1])["users"] != [])
EOF
t_exit "policy apply --all" 0 c --json policy apply --all
t_check "every device ok, every console pushed" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
n = {i["fqdn"]: [(a["action"], a["user"], a["result"]) for a in i["actions"]]
    for i in r["items"]}
sys.exit(not (r["failed"] == 0 and all(i["result"] == "ok" for i in r["items"])
    and sorted(n["dev00000.amtsim.test"]) == [("push", "labagent", "ok"),
        ("push", "prov", "ok"), ("push", "secsuite", "ok")]
    and len(n["dev00002.amtsim.test"]) == 2))
EOF
for d in $D0 $D1 $D2; do
	t_check "$d: users, realms, access and HA1 of the plan" matches $d
done
t_grep "a local-only user is proven by reading the entry back" \
	'reading the entry back' "$TESTTMP/out"
PROV=$(c credential show $D1 --console prov)
t_check "curl --digest as prov works on the device" \
	[ "$(get_as $D1 prov "$PROV")" = 200 ]
t_check "a wrong password as prov does not" \
	[ "$(get_as $D1 prov "x$PROV")" = 401 ]
t_exit "drift after apply is empty" 0 c --json policy drift --all
t_check "no findings" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["drifted"] == 0 and all(not i["findings"] and
    i["result"] == "ok" for i in r["items"])))
EOF
t_exit "apply again changes nothing" 0 c --json policy apply --all
t_check "no actions" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(any(i["actions"] for i in json.load(open(sys.argv[1]))["items"]))
EOF

# Behind custody's back: a user added as admin, and prov's realms cut.
t_check "add user 'intruder' by hand" [ "$(soap $D1 admin P@ssw0rd \
	AddUserAclEntryEx '<h:DigestUsername>intruder</h:DigestUsername><h:DigestPassword>ABEiM0RVZneImaq7zN3u/w==</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>3</h:Realms>')" = 200 ]
ADMIN1=$(c password show $D1)
PH=$(dump $D1 | python3 -c 'import json,sys; print([u["handle"] for u in json.load(sys.stdin)["users"] if u.get("username") == "prov"][0])')
t_check "change prov's realms by hand" [ "$(soap $D1 admin "$ADMIN1" \
	UpdateUserAclEntryEx "<h:Handle>$PH</h:Handle><h:DigestUsername>prov</h:DigestUsername><h:DigestPassword>ABEiM0RVZneImaq7zN3u/w==</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>4</h:Realms><h:Realms>20</h:Realms>")" = 200 ]
t_exit "drift finds both (exit 1)" 1 c --json policy drift --device $D1
t_check "unknown-user intruder; prov: extra and missing realms, access" py \
	"$TESTTMP/out" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))["items"][0]["findings"]
k = sorted((x["finding"], x["user"]) for x in f)
sys.exit(k != [("extra-realm", "prov"), ("missing-realm", "prov"),
    ("unknown-user", "intruder"), ("wrong-access", "prov")])
EOF
t_exit "drift as SARIF" 1 c policy drift --device $D1 --format sarif
t_check "SARIF: four results on the device" py "$TESTTMP/out" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
res = s["runs"][0]["results"]
sys.exit(not (s["version"] == "2.1.0" and len(res) == 4 and all(
    r["locations"][0]["logicalLocations"][0]["name"] ==
    "dev00001.amtsim.test" for r in res)))
EOF
t_exit "drift in text" 1 c policy drift --device $D1
t_grep "text names the finding" 'unknown-user intruder' "$TESTTMP/out"
t_exit "apply repairs prov, leaves the intruder (not custody's)" 0 c \
	--json policy apply --device $D1
t_check "repair ok, intruder kept" py "$TESTTMP/out" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))["items"][0]["actions"]
k = sorted((x["action"], x["user"], x["result"]) for x in a)
sys.exit(k != [("keep", "intruder", "ok"), ("repair", "prov", "ok")])
EOF
t_exit "drift: only the intruder left" 1 c --json policy drift --device $D1
t_check "one finding" py "$TESTTMP/out" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))["items"][0]["findings"]
sys.exit([(x["finding"], x["user"]) for x in f] != [("unknown-user", "intruder")])
EOF
t_check "prov still logs in with custody's password" \
	[ "$(get_as $D1 prov "$PROV")" = 200 ]

IH=$(dump $D1 | python3 -c 'import json,sys; print([u["handle"] for u in json.load(sys.stdin)["users"] if u.get("username") == "intruder"][0])')
t_check "people remove the intruder by hand" [ "$(soap $D1 admin "$ADMIN1" \
	RemoveUserAclEntry "<h:Handle>$IH</h:Handle>")" = 200 ]

# A policy change: secsuite is dropped, prov loses redirection.
sed -e '/^  secsuite:/,/^    access: network/d' \
    -e 's/duties: \[setup, power, inventory, redirection\]/duties: [setup, power, inventory]/' \
    "$TESTTMP/p1.yaml" >"$TESTTMP/p2.yaml"
t_exit "policy load p2" 0 c policy load "$TESTTMP/p2.yaml"
t_exit "policy apply --tag lab" 0 c --json policy apply --tag lab
t_check "secsuite removed, prov updated on $D0" py "$TESTTMP/out" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))["items"][0]["actions"]
k = sorted((x["action"], x["user"], x["result"]) for x in a)
sys.exit(not (("remove", "secsuite", "ok") in k and
    [x for x in k if x[1] == "prov"] in ([("push", "prov", "ok")],
        [("repair", "prov", "ok")])))
EOF
t_check "$D0 matches the new plan" matches $D0
t_exit "$D1 drifts from the new plan" 1 c policy drift --device $D1

# A device that is down: a per-device failure, the others go on.
sim_fault $D2 down -1
t_exit "apply with $D2 down (exit 1)" 1 c --json policy apply --all
t_check "$D2 unreachable, the others ok" py "$TESTTMP/out" <<'EOF'
import json, sys
r = {i["fqdn"]: i["result"] for i in json.load(open(sys.argv[1]))["items"]}
sys.exit(r != {"dev00000.amtsim.test": "ok", "dev00001.amtsim.test": "ok",
    "dev00002.amtsim.test": "unreachable"})
EOF
t_check "$D1 matches the new plan" matches $D1
t_exit "drift with $D2 down: exit 1" 1 c --json policy drift --all
sim_fault $D2 up
t_exit "apply once it is back" 0 c policy apply --device $D2
t_check "$D2 matches the new plan" matches $D2

# A refusal (PT_STATUS): the device's 7 digest users are taken when a
# new console's user is added; its version fails, the others go on.
for u in x1 x2 x3 x4 x5 x6; do
	soap $D2 admin "$(c password show $D2)" AddUserAclEntryEx \
	    "<h:DigestUsername>$u</h:DigestUsername><h:DigestPassword>ABEiM0RVZneImaq7zN3u/w==</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>3</h:Realms>" >/dev/null
done
cat "$TESTTMP/p2.yaml" - >"$TESTTMP/p3.yaml" <<'EOF'
  late:
    identity: { certificate: "CN=late.corp.example" }
    duties: [power]
    username: late
EOF
t_exit "policy load p3 (a new console)" 0 c policy load "$TESTTMP/p3.yaml"
t_exit "apply on a full device (exit 1)" 1 c --json policy apply --device $D2
t_check "late refused with PT_STATUS_MAX_LIMIT_REACHED" py "$TESTTMP/out" <<'EOF'
import json, sys
it = json.load(open(sys.argv[1]))["items"][0]
a = {x["user"]: x for x in it["actions"]}
sys.exit(not (it["result"] == "refused" and a["late"]["result"] == "refused"
    and "MAX_LIMIT" in a["late"]["detail"]))
EOF
t_exit "password history $D2" 0 c --json password history $D2
t_check "console:late v1 failed" py "$TESTTMP/out" <<'EOF'
import json, sys
v = [x["state"] for x in json.load(open(sys.argv[1]))["versions"]
    if x["kind"] == "console:late"]
sys.exit(v != ["failed"])
EOF
# Another device behind the name (its registered DigestRealm is not the
# one it answers with): the challenge is refused before any login, and the
# item says realm-mismatch.
D3=$(sim_dev 3)
t_exit "device add $D3 with another realm" 0 c device add $D3 \
	--digest-realm "Digest:0000000000000000000000000000FFFF" \
	--address "127.0.0.1:$port"
t_exit "policy drift on it (exit 1)" 1 c --json policy drift --device $D3
t_check "realm-mismatch, no login sent" py "$TESTTMP/out" \
	"$(sim_state $D3 'd["stats"]["requests"] - d["stats"]["challenges"]')" <<'EOF'
import json, sys
it = json.load(open(sys.argv[1]))["items"][0]
sys.exit(not (it["result"] == "realm-mismatch" and
    "not the registered" in it["detail"] and sys.argv[2] == "0"))
EOF

# First contact (no realm registered) with a reply whose DigestRealm was
# rewritten on the way (plain HTTP protects only the login): the realm
# the device logs in with wins. Nothing is recorded, nothing sent: the
# console users' DigestPasswords would be made with a realm the device
# does not have, and the recorded realm would then refuse the device.
D4=$(sim_dev 4)
printf 'fqdn,digest_realm,admin_password,address\n%s,,P@ssw0rd,127.0.0.1:%s\n' \
	$D4 $port >"$TESTTMP/d4.csv"
t_exit "import $D4 with no realm" 0 c device import "$TESTTMP/d4.csv"
sim_fault $D4 body-realm
t_exit "apply with a rewritten DigestRealm (exit 1)" 1 c --json policy \
	apply --device $D4
t_check "realm-mismatch: not the realm it logs in with" py "$TESTTMP/out" <<'EOF'
import json, sys
it = json.load(open(sys.argv[1]))["items"][0]
sys.exit(not (it["result"] == "realm-mismatch" and
    "not the realm it logs in with" in it["detail"]))
EOF
t_check "the fault was used" test "$(sim_state $D4 'd["stats"]["faults"]')" = 1
t_check "nothing sent: no user on $D4" test "$(sim_state $D4 \
	'len([u for u in d["users"] if not u.get("username", "").startswith("$$")])')" = 0
realm_of() {
	c --json device show $D4 |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)["digest_realm"])'
}
t_check "no realm recorded" test "$(realm_of)" = None
t_exit "apply once the path is clean" 0 c policy apply --device $D4
t_check "the device's own realm recorded" test "$(realm_of)" = \
	"$(sim_state $D4 'd["realm"]')"
t_exit "no selection is a usage error" 2 c policy apply
t_amtsim_stop
t_done
