#!/bin/sh
# tests/integration/realm_conflict.sh - a wrong address at first contact
# (issue 9): a registered device whose --address leads to another device
# (amtsim --alias: a port forwarding to the wrong machine) logs in there
# with a DigestRealm custody already recorded for that other device. Push,
# policy apply and drift, and cert provision refuse it per device
# (realm-conflict, naming the other device, no secret), record nothing
# for it and send nothing after the Get: the device's state is unchanged.
# Two first contacts at once (two custodyctl processes) reaching one
# device: exactly one records the realm.
. tests/integration/lib.sh
t_need_or_skip curl python3

S="$TESTTMP/realm-conflict-state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
D=dev00000.amtsim.test T=twin.corp.example
E=dev00001.amtsim.test U1=u1.corp.example U2=u2.corp.example
t_amtsim 2 "$TESTTMP" --alias $T=$D --alias $U1=$E --alias $U2=$E
dump() { curl -s "http://127.0.0.1:$control_port/state?device=$1"; }
# what custody could have changed on a device (not its counters)
fixed() {
	dump "$1" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(json.dumps([d[k] for k in ("realm", "admin", "users", "keys",
    "certificates", "tls", "acl_epoch", "mebx")], sort_keys=True))'
}
# item FILE KEY: "RESULT|DETAIL" of the first item of list KEY in FILE
item() {
	python3 -c 'import json, sys
i = json.load(open(sys.argv[1]))[sys.argv[2]][0]
print(i["result"] + "|" + i["detail"])' "$1" "$2"
}
# conflict WHAT "RESULT|DETAIL": realm-conflict naming $D, no password
conflict() {
	case $2 in
	"realm-conflict|"*"recorded for $D"*) ;;
	*) echo "    $1: $2"; return 1 ;;
	esac
	case $2 in *P@ssw0rd*) return 1 ;; esac
}

t_exit "init" 0 c init
{
	echo "fqdn,admin_password,address,tags"
	# No realm registered for any: each is learnt at first contact.
	for d in $D $T $U1 $U2; do
		echo "$d,P@ssw0rd,127.0.0.1:$port,$([ $d = $T ] && echo twin)"
	done
} >"$TESTTMP/fleet.csv"
t_exit "import: $T's address leads to $D" 0 c device import \
	"$TESTTMP/fleet.csv"
t_exit "policy load" 0 c policy load tests/integration/acl_policy.yaml

t_exit "policy apply $D: its first contact" 0 c --json policy apply \
	--device $D
t_exit "device show $D" 0 c --json device show $D
t_check "$D's realm is recorded" py "$TESTTMP/out" "$(sim_state $D \
    'd["realm"]')" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["digest_realm"] != sys.argv[2])
EOF
fixed $D >"$TESTTMP/before"

t_exit "policy drift $T (exit 1)" 1 c --json policy drift --device $T
t_check "drift: realm-conflict naming $D" conflict drift \
	"$(item "$TESTTMP/out" items)"
t_exit "policy apply $T (exit 1)" 1 c --json policy apply --device $T
cp "$TESTTMP/out" "$TESTTMP/apply.json"
t_check "apply: realm-conflict naming $D" conflict apply \
	"$(item "$TESTTMP/out" items)"
job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"])' \
	"$TESTTMP/apply.json")
t_exit "job show $job" 0 c --json job show "$job"
t_check "the apply job counts a realm-conflict" py "$TESTTMP/out" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(not (j["job"]["results"].get("realm-conflict") == 1 and
    j["items"][0]["result"] == "realm-conflict"))
EOF
t_exit "password rotate $T --push (exit 1)" 1 c --json password rotate $T \
	--push
t_check "push: realm-conflict naming $D" conflict push \
	"$(item "$TESTTMP/out" pushes)"
t_exit "device push $T, text (exit 1)" 1 c device push $T
t_grep "text: the outcome and the other device" \
	"realm-conflict.*recorded for $D" "$TESTTMP/out"
t_exit "cert provision $T (exit 1)" 1 c --json cert provision $T
t_check "provision: failed at realm-check, naming $D" py "$TESTTMP/out" \
	"$D" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "failed" and r["step"] == "realm-check" and
    "recorded for " + sys.argv[2] in r["detail"] and
    [s["step"] for s in r["steps"]][-1] == "realm-check"))
EOF
t_exit "cert provision --tag twin: a job (exit 1)" 1 c --json cert \
	provision --tag twin
t_check "provision job: realm-conflict naming $D" conflict provision \
	"$(item "$TESTTMP/out" items)"

fixed $D >"$TESTTMP/after"
t_check "$D unchanged by all of it (users, admin, keys, certificates, TLS)" \
	cmp -s "$TESTTMP/before" "$TESTTMP/after"
t_exit "device show $T" 0 c --json device show $T
t_check "no realm recorded for $T" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["digest_realm"] is not None)
EOF
t_exit "audit list" 0 c --json audit list --object $T
t_check "no device.set ok for $T" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(any(e["action"] == "device.set" and e["result"] != "refused"
    for e in json.load(open(sys.argv[1]))["entries"]))
EOF
# Each refused first contact that would have recorded (apply, both
# pushes, both provisions; not the drift, a check only) is audited,
# naming $D and the realm, though its check's transaction records
# nothing.
t_check "5 device.set refused for $T, naming $D and the realm" py \
    "$TESTTMP/out" "$D" "$(sim_state $D 'd["realm"]')" <<'EOF'
import json, sys
es = [e for e in json.load(open(sys.argv[1]))["entries"]
    if e["action"] == "device.set" and e["result"] == "refused"]
print("    refused: %d" % len(es))
sys.exit(not (len(es) == 5 and all(sys.argv[2] in e["detail"] and
    sys.argv[3].lower() in e["detail"].lower() for e in es)))
EOF
t_exit "$D itself still pushes" 0 c --json password rotate $D --push
t_check "ok" [ "$(item "$TESTTMP/out" pushes | cut -d'|' -f1)" = ok ]

# Two first contacts at once reaching $E: one records its realm. Each
# process waits 700 ms between its check and its write: a check outside
# the write's transaction would let both pass.
export CUSTODY_TEST_DELAY_AT=first-realm CUSTODY_TEST_DELAY_MS=700
"$CUSTODYCTL" --state-dir "$S" --json policy apply --device $U1 \
	>"$TESTTMP/u1.json" 2>"$TESTTMP/u1.err" &
p1=$!
"$CUSTODYCTL" --state-dir "$S" --json policy apply --device $U2 \
	>"$TESTTMP/u2.json" 2>"$TESTTMP/u2.err" &
p2=$!
unset CUSTODY_TEST_DELAY_AT CUSTODY_TEST_DELAY_MS
wait $p1
wait $p2
r1=$(item "$TESTTMP/u1.json" items | cut -d'|' -f1)
r2=$(item "$TESTTMP/u2.json" items | cut -d'|' -f1)
echo "    concurrent: $U1 $r1, $U2 $r2"
t_check "one ok, one realm-conflict" [ "$(printf '%s\n' "$r1" "$r2" | sort |
	tr '\n' ' ')" = "ok realm-conflict " ]
t_exit "audit list --json" 0 c --json audit list
t_check "6 device.set refused in all (5 for $T, the loser of the race)" py \
    "$TESTTMP/out" <<'EOF'
import json, sys
es = [e for e in json.load(open(sys.argv[1]))["entries"]
    if e["action"] == "device.set" and e["result"] == "refused"]
sys.exit(len(es) != 6)
EOF
t_exit "device list --json" 0 c --json device list
t_check "the realm recorded once" py "$TESTTMP/out" "$(sim_state $E \
    'd["realm"]')" <<'EOF'
import json, sys
ds = json.load(open(sys.argv[1]))["devices"]
sys.exit([d["digest_realm"] for d in ds].count(sys.argv[2]) != 1)
EOF
t_done
