#!/bin/sh
# tests/integration/realm_prepass_names.sh - the first-contact pre-pass
# (src/api/ops_realm.c) reads each device at its own name. A device left
# out of it (its record unusable: no current admin password) shifted the
# ones after it, and a target then kept the name of the device copied
# over its slot: dev00001's read went to dev00002's host name with
# dev00001's password, both read dev00002's realm and were refused as
# realm-conflict naming each other (audited device.set refused).
. tests/integration/lib.sh
t_need_or_skip curl python3 sqlite3

t_amtsim 3 "$TESTTMP" -v
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
t_exit "init" 0 c init
{
	echo "fqdn,admin_password,address,tags"
	for i in 0 1 2; do echo "$(sim_dev $i),P@ssw0rd,127.0.0.1:$port,x"; done
} >"$TESTTMP/fleet.csv"
t_exit "import three devices, no realm registered" 0 c device import \
    "$TESTTMP/fleet.csv"
t_exit "password rotate --tag x" 0 c password rotate --tag x
# dev00000's current admin password gone: the pre-pass leaves it out.
sqlite3 "$S/custody.db" "DELETE FROM secret WHERE kind = 'admin' AND \
    state = 'current' AND device_id = (SELECT id FROM device WHERE \
    fqdn = '$(sim_dev 0)')"
t_exit "device push of the three (exit 1: dev00000)" 1 c --json device push \
    "$(sim_dev 0)" "$(sim_dev 1)" "$(sim_dev 2)"
t_check "dev00001 and dev00002 ok, each read at its own name" python3 - \
    "$TESTTMP/out" "$(sim_dev 1)" "$(sim_dev 2)" <<'EOF'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
got = {i["fqdn"]: i["result"] for i in items}
for i in items:
    print("    %s: %s: %s" % (i["fqdn"], i["result"], i["detail"]))
sys.exit(not all(got.get(d) == "ok" for d in sys.argv[2:]))
EOF
t_check "a Get as dev00001 reached the simulator" grep -q \
    "^amtsim: $(sim_dev 1) admin" "$TESTTMP/sim.log"
t_exit "audit list" 0 c --json audit list
t_check "no device.set refused" python3 - "$TESTTMP/out" <<'EOF'
import json, sys
es = json.load(open(sys.argv[1]))["entries"]
sys.exit(any(e["action"] == "device.set" and e["result"] == "refused"
    for e in es))
EOF
t_done
