#!/bin/sh
# tests/integration/acl_reconcile.sh - policy apply reconciles a console
# user's push whose outcome is unknown, as the admin push does, instead
# of sending it again blindly: the connection dropped after the device
# applied the change (amtsim drop-after-apply) -> a digest login as the
# user with the new version works -> "reconciled", now current; a custody
# killed after the device applied it -> the next apply logs in with it
# first -> "reconciled", nothing sent again; a change the device did not
# apply (HTTP 500) -> the current password still logs in -> the version
# fails, "kept-current".
. tests/integration/lib.sh
t_need_or_skip curl python3

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
t_amtsim 1
D0=dev00000.amtsim.test
dump() { curl -s "http://127.0.0.1:$control_port/state?device=$1"; }
fault() {	# fault FQDN KIND [COUNT]
	curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	    -d "{\"device\":\"$1\",\"fault\":\"$2\",\"count\":${3:-1}}"
}
t_exit "init" 0 c init
r=$(dump $D0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["realm"])')
printf 'fqdn,digest_realm,admin_password,address\n%s,%s,P@ssw0rd,127.0.0.1:%s\n' \
    "$D0" "$r" "$port" >"$TESTTMP/fleet.csv"
t_exit "import the simulated device" 0 c device import "$TESTTMP/fleet.csv"
cat >"$TESTTMP/p.yaml" <<'EOF'
version: 1
owner: prov
consoles:
  prov:
    identity: { certificate: "CN=prov.corp.example" }
    duties: [setup, power, inventory, redirection]
    username: prov
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"

# holds: prov's HA1 on the device is that of custody's current
# credential, and no version of it is in flight.
holds() {
	dump $D0 >"$TESTTMP/dev.json"
	c --json credential show $D0 --console prov >"$TESTTMP/cred.json" || return 1
	c --json password history $D0 >"$TESTTMP/hist.json" || return 1
	py "$TESTTMP/dev.json" "$TESTTMP/cred.json" "$TESTTMP/hist.json" <<'EOF'
import hashlib, json, sys
dev = json.load(open(sys.argv[1]))
cr = json.load(open(sys.argv[2]))
hist = json.load(open(sys.argv[3]))["versions"]
u = [u for u in dev["users"] if u.get("username") == "prov"][0]
ha1 = hashlib.md5(("prov:%s:%s" % (dev["realm"], cr["password"])).encode()).hexdigest()
busy = [v for v in hist if v["kind"] == "console:prov" and v["state"] in ("pending", "pushed")]
sys.exit(bool(u["ha1"] != ha1 or cr["state"] != "current" or busy))
EOF
}
# action: prov's action as "ACTION RESULT" in the apply's JSON ($TESTTMP/out)
action() {
	python3 -c '
import json, sys
a = [a for i in json.load(open(sys.argv[1]))["items"] for a in i["actions"] if a["user"] == "prov"]
print(" ".join("%s %s" % (x["action"], x["result"]) for x in a))
' "$TESTTMP/out"
}
state_of() {	# state_of VERSION: of console:prov
	c --json password history $D0 | python3 -c '
import json, sys
print([v["state"] for v in json.load(sys.stdin)["versions"] if v["kind"] == "console:prov" and v["version"] == int(sys.argv[1])][0])' "$1"
}

# 1. The connection drops after the device added the user.
CUSTODY_TEST_STOP_AT=acl-begun "$CUSTODYCTL" --state-dir "$S" --json \
    policy apply --device $D0 >"$TESTTMP/out" 2>"$TESTTMP/err" &
pid=$!
t_wait_stopped $pid
fault $D0 drop-after-apply 1
kill -CONT $pid
wait $pid
t_check "drop after apply: prov's push is reconciled ($(action))" \
    [ "$(action)" = "push reconciled" ]
t_grep "... by a digest login as the user" "a digest login as prov with v1 works" "$TESTTMP/out"
t_check "... the version is current and on the device" holds

# 2. custody killed once the device applied the change (its answer
# arrived): the next apply finds it 'pushed', logs in with it, and
# commits it without sending it again.
t_exit "rotate prov's credential" 0 c password rotate $D0 --kind console:prov
CUSTODY_TEST_CRASH_AT=acl-sent "$CUSTODYCTL" --state-dir "$S" policy apply \
    --device $D0 >/dev/null 2>&1
t_check "the apply died with the change applied" [ $? -eq 99 ]
t_check "... the version is left pushed" [ "$(state_of 2)" = pushed ]
t_exit "policy apply again" 0 c --json policy apply --device $D0
t_check "it reconciles instead of sending again ($(action))" \
    [ "$(action)" = "push reconciled" ]
t_grep "... saying why" "its push by an earlier apply had an unknown outcome" "$TESTTMP/out"
t_check "... the version is current and on the device" holds

# 3. The device did not apply it (HTTP 500): the current password still
# logs in, the version fails and the device keeps the current one.
t_exit "rotate prov's credential" 0 c password rotate $D0 --kind console:prov
CUSTODY_TEST_STOP_AT=acl-begun "$CUSTODYCTL" --state-dir "$S" --json \
    policy apply --device $D0 >"$TESTTMP/out" 2>"$TESTTMP/err" &
pid=$!
t_wait_stopped $pid
fault $D0 http500 1
kill -CONT $pid
wait $pid
t_check "a change not applied: kept-current ($(action))" \
    [ "$(action)" = "push kept-current" ]
t_check "... the version failed" [ "$(state_of 3)" = failed ]
t_check "... v2 is still current and on the device" holds
t_done
