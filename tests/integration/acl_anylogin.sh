#!/bin/sh
# tests/integration/acl_anylogin.sh - a console user's password is proven
# by a digest login as the user only where a wrong password is refused on
# the same digest session: against a device that takes any login
# (amtsim's accept-any fault: an impostor with the device's realm) the
# login proves nothing, and the version stays pushed; once the device
# checks logins again, the next apply reconciles it (the user's login
# works, a wrong one is refused) and it becomes current. A device that
# checks logins is unaffected.
. tests/integration/lib.sh
t_need_or_skip curl python3

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
t_amtsim 2
D0=$(sim_dev 0) D1=$(sim_dev 1)
state_of() {	# FQDN KIND: the state of the newest version of KIND
	c --json password history "$1" >"$TESTTMP/hist" || return 1
	python3 -c '
import json, sys
v = [x for x in json.load(open(sys.argv[1]))["versions"] if x["kind"] == sys.argv[2]]
print(max(v, key=lambda x: x["version"])["state"] if v else "-")
' "$TESTTMP/hist" "$2"
}

t_exit "init" 0 c init
printf 'fqdn,admin_password,address\n%s,P@ssw0rd,127.0.0.1:%s\n%s,P@ssw0rd,127.0.0.1:%s\n' \
	"$D0" "$port" "$D1" "$port" >"$TESTTMP/fleet.csv"
t_exit "import" 0 c device import "$TESTTMP/fleet.csv"
t_exit "policy load" 0 c policy load tests/integration/acl_policy.yaml

sim_fault "$D0" accept-any -1
t_exit "policy apply to a device taking any login" 1 c --json policy apply \
	--device "$D0"
t_check "prov's push not proven: the peer takes any login" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
a = [x for i in r["items"] for x in i["actions"] if x["user"] == "prov"]
sys.exit(not (a and a[-1]["result"] == "failed" and
    "takes any login" in a[-1]["detail"]))
' "$TESTTMP/out"
t_check "prov's version stays pushed" test "$(state_of "$D0" console:prov)" \
	= pushed
t_check "secsuite (proven by reading its entry back) is current" test \
	"$(state_of "$D0" console:secsuite)" = current

sim_fault "$D0" clear
t_exit "the device checks logins again: policy apply" 0 c --json policy \
	apply --device "$D0"
t_check "prov reconciled" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
a = [x for i in r["items"] for x in i["actions"] if x["user"] == "prov"]
sys.exit(not (a and a[-1]["result"] == "reconciled"))
' "$TESTTMP/out"
t_check "prov's version is current" test "$(state_of "$D0" console:prov)" \
	= current

t_exit "policy apply to a device that checks logins" 0 c policy apply \
	--device "$D1"
t_check "prov current there" test "$(state_of "$D1" console:prov)" = current
t_done
