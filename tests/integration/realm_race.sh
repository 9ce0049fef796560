#!/bin/sh
# tests/integration/realm_race.sh - two first contacts of one run reaching
# one machine (amtsim --alias: $A answers as $D, the same simulated
# device), both with no realm registered and the same admin password. A
# run that learnt the realm from whichever answered first sent that one
# its change: the machine took $A's new password, and $D was then
# refused blaming $A. Every first contact's realm is read before any
# change is sent (src/api/ops_realm.c): a realm reported twice in a run
# is recorded for neither, both end realm-conflict naming the other, and
# the machine keeps its password. Both orders, several times, by the push
# (password rotate --push), by policy apply and by a provisioning job
# (cert provision --tag). And a realm registered in
# another case (its digits are hex) is the device's: the push and the
# apply go, as the registry's check already compared them.
. tests/integration/lib.sh
t_need_or_skip curl python3

D=dev00000.amtsim.test A=aaa.corp.example
E=dev00001.amtsim.test
t_amtsim 2 "$TESTTMP" --alias $A=$D
admin() { sim_state $D 'd["admin"]'; }
py() { python3 - "$@"; }
before=$(admin)
[ -n "$before" ] || { t_fail "amtsim state dump"; t_done; }

# fresh K [TAG DEVICE...]: a new state with the devices (default $A and
# $D, tag race) imported, no realm for any.
fresh() {
	fk=$1 ftag=${2:-race}
	shift; [ $# -gt 0 ] && shift
	[ $# -gt 0 ] || set -- $A $D
	S="$TESTTMP/state-$fk"
	rm -rf "$S"
	t_exit "init ($fk)" 0 cc --state-dir "$S" init
	{
		echo "fqdn,admin_password,address,tags"
		for d in "$@"; do echo "$d,P@ssw0rd,127.0.0.1:$port,$ftag"; done
	} >"$TESTTMP/fleet.csv"
	t_exit "import $* at one address ($fk)" 0 cc --state-dir "$S" \
	    device import "$TESTTMP/fleet.csv"
}
# both WHAT LIST: each of $A and $D in LIST (a JSON file's array) is
# realm-conflict naming the other, no password in it.
both() {
	py "$TESTTMP/out" "$2" "$A" "$D" <<'EOF'
import json, sys
items = json.load(open(sys.argv[1]))[sys.argv[2]]
a, d = sys.argv[3], sys.argv[4]
got = {i["fqdn"]: (i["result"], i["detail"]) for i in items}
ok = True
for me, other in ((a, d), (d, a)):
    res, det = got.get(me, ("absent", ""))
    print("    %s: %s: %s" % (me, res, det))
    if res != "realm-conflict" or other not in det or "P@ssw0rd" in det:
        ok = False
sys.exit(not ok)
EOF
}
# neither K: no realm recorded for either, the machine's password as it
# was, and each refusal audited (device.set refused, naming the other).
neither() {
	for d in $A $D; do
		t_exit "device show $d ($1)" 0 cc --state-dir "$S" --json \
		    device show $d
		t_check "no realm recorded for $d ($1)" py "$TESTTMP/out" \
		    <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["digest_realm"] is not None)
EOF
	done
	t_check "$D's admin password unchanged ($1)" [ "$(admin)" = "$before" ]
	t_exit "audit list ($1)" 0 cc --state-dir "$S" --json audit list
	t_check "one device.set refused each, naming the other ($1)" py \
	    "$TESTTMP/out" "$A" "$D" <<'EOF'
import json, sys
es = json.load(open(sys.argv[1]))["entries"]
a, d = sys.argv[2], sys.argv[3]
ref = [e for e in es if e["action"] == "device.set"]
sys.exit(not (len(ref) == 2 and all(e["result"] == "refused" for e in ref)
    and sorted(e["object"] for e in ref) == sorted([a, d]) and
    all((d if e["object"] == a else a) in e["detail"] for e in ref)))
EOF
}

k=0
for order in "$A $D" "$D $A" "$A $D" "$D $A"; do
	k=$((k + 1))
	fresh push$k
	t_exit "password rotate $order --push (push$k, exit 1)" 1 \
	    cc --state-dir "$S" --json password rotate $order --push
	t_check "both realm-conflict, naming the other (push$k)" both \
	    push$k pushes
	neither push$k
done

# One of the two reads fails once (a 500 to the authenticated Get): the
# other's realm then looked unique, and that name was recorded and sent
# its change. The failed read is made again before anything is decided.
fresh fault
curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
    -d "{\"device\":\"$D\",\"fault\":\"http500\",\"count\":1,\"skip\":1}"
t_exit "password rotate $A $D --push, one read failing once (exit 1)" 1 \
    cc --state-dir "$S" --json password rotate $A $D --push
t_check "both realm-conflict, naming the other (fault)" both fault pushes
neither fault

# again K: $A removed and imported again, so that it comes after $D in a
# job (a job's devices go by id).
again() {
	t_exit "device remove $A, import it again ($1)" 0 \
	    cc --state-dir "$S" device remove $A
	echo "fqdn,admin_password,address,tags" >"$TESTTMP/one.csv"
	echo "$A,P@ssw0rd,127.0.0.1:$port,race" >>"$TESTTMP/one.csv"
	t_exit "import $A after $D ($1)" 0 cc --state-dir "$S" \
	    device import "$TESTTMP/one.csv"
}

k=0
for order in first last; do
	k=$((k + 1))
	fresh apply$k
	t_exit "policy load (apply$k)" 0 cc --state-dir "$S" policy load \
	    tests/integration/acl_policy.yaml
	# Device order is the job's (by id): import $A first or last.
	[ $order = last ] && again apply$k
	t_exit "policy apply --tag race (apply$k, exit 1)" 1 \
	    cc --state-dir "$S" --json policy apply --tag race
	t_check "both realm-conflict, naming the other (apply$k)" both \
	    apply$k items
	neither apply$k
done

# A provisioning job (cert provision --tag): the machine must not take
# the first name's certificate and key pair.
certs() { sim_state $D 'len(d["keys"]), len(d["certificates"]), d["tls"]'; }
certs0=$(certs)
k=0
for order in first last; do
	k=$((k + 1))
	fresh prov$k
	[ $order = last ] && again prov$k
	t_exit "cert provision --tag race (prov$k, exit 1)" 1 \
	    cc --state-dir "$S" --json cert provision --tag race
	t_check "both realm-conflict, naming the other (prov$k)" both \
	    prov$k items
	neither prov$k
	t_check "$D's key pairs, certificates and TLS unchanged (prov$k)" \
	    [ "$(certs)" = "$certs0" ]
done

# A provisioning job's first contacts, one of them a peer that takes any
# login: the job's realm reads only refuse shared realms; a unique one is
# recorded by the device's own realm-check, after login-check has found
# the peer refusing a wrong password. So the impostor gets no realm
# recorded for the device (it would be realm-mismatch for good then).
fresh anylogin two $D $E
sim_fault $E accept-any -1
t_exit "cert provision --tag two, $E taking any login (exit 1)" 1 \
    cc --state-dir "$S" --json cert provision --tag two
t_check "$E failed at login-check" py "$TESTTMP/out" "$E" <<'EOF'
import json, sys
it = [i for i in json.load(open(sys.argv[1]))["items"]
      if i["fqdn"] == sys.argv[2]][0]
print("    %s: %s" % (it["result"], it["detail"]))
sys.exit(not (it["result"] == "auth-failed" and
    it["detail"].startswith("login-check: ") and
    "takes any login" in it["detail"]))
EOF
t_exit "device show $E (anylogin)" 0 cc --state-dir "$S" --json device show $E
t_check "no realm recorded for $E" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["digest_realm"] is not None)
EOF
sim_fault $E clear

# $E imported with its realm in lower case: registered as AMT spells it
# (upper case digits), since the DigestPasswords and the HA1s consoles
# fetch are made with the registered spelling and the conversations take
# a device for it only as spelled; the push and the apply go.
S="$TESTTMP/state-case"
t_exit "init (case)" 0 cc --state-dir "$S" init
upper=$(sim_state $E 'd["realm"]')
lower=$(sim_state $E 'd["realm"][:7] + d["realm"][7:].lower()')
printf 'fqdn,digest_realm,admin_password,address\n%s,%s,P@ssw0rd,127.0.0.1:%s\n' \
	$E "$lower" $port >"$TESTTMP/e.csv"
t_exit "import $E, its realm in lower case" 0 cc --state-dir "$S" device \
    import "$TESTTMP/e.csv"
t_exit "device show $E" 0 cc --state-dir "$S" --json device show $E
t_check "registered in upper case, as the device spells it" py \
    "$TESTTMP/out" "$upper" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["digest_realm"] != sys.argv[2])
EOF
t_exit "password rotate $E --push" 0 cc --state-dir "$S" --json password \
    rotate $E --push
t_check "ok" py "$TESTTMP/out" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))["pushes"][0]
print("    " + p["result"] + ": " + p["detail"])
sys.exit(p["result"] != "ok")
EOF
t_exit "policy load (case)" 0 cc --state-dir "$S" policy load \
    tests/integration/acl_policy.yaml
t_exit "policy apply $E" 0 cc --state-dir "$S" --json policy apply \
    --device $E

# The alias gone (its record removed): the device's own first contact
# then records the realm and takes its change.
S="$TESTTMP/state-apply2"
t_exit "device remove $A" 0 cc --state-dir "$S" device remove $A
t_exit "password rotate $D --push alone" 0 cc --state-dir "$S" --json \
    password rotate $D --push
t_check "ok, and the realm recorded" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["pushes"][0]["result"] != "ok")
EOF
t_check "$D's admin password changed" [ "$(admin)" != "$before" ]
t_done
