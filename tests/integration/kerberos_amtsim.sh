#!/bin/sh
# tests/integration/kerberos_amtsim.sh - AMT Kerberos on devices
# (reference/amt.md 5, 7) against a real Samba AD DC (lib_ad.sh) and the
# AMT simulator: account sync makes the device objects, then device
# kerberos sets each device's clock and puts AMT_KerberosSettingData over
# TLS: the realm, KeyVersion = the object's msDS-KeyVersionNumber, the
# object password as Passphrase with the AD user salt and 4096
# iterations, so that the RC4 key the device derives is the NT hash of
# that password (computed here independently). The clock is set before
# the settings; a device whose clock cannot be set gets nothing Kerberos;
# a device without TLS gets nothing at all; a malformed answer to the Put
# is settled by reading the settings back; a DigestRealm rewritten in a
# reply (not the realm the device logs in with) stops the device.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba ldapsearch python3 curl openssl
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
D0=$(sim_dev 0) D1=$(sim_dev 1) D2=$(sim_dev 2) D3=$(sim_dev 3)
D4=$(sim_dev 4)
cat >"$TESTTMP/devs.json" <<EOF
[{"fqdn": "$D0", "clock_offset": 1000},
 {"fqdn": "$D1", "clock_offset": 3600, "time_sync": "refuse"},
 {"fqdn": "$D2", "clock_offset": -3600, "time_sync": "ignore"},
 {"fqdn": "$D3"}, {"fqdn": "$D4"}]
EOF
t_amtsim 5 "$TESTTMP" --devices "$TESTTMP/devs.json" --verbose
trap '[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null; ad_stop' EXIT
trap '[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null; ad_stop; exit 1' \
	INT TERM HUP

t_exit "init" 0 c init
# The ACL entries below are the consoles' own accounts' (acl_sid account);
# kerberos_acl_sid.sh tests the duty groups' (acl_sid auto).
ad_config "$S" "    acl_sid: account"
{
	echo "fqdn,admin_password,address,tags"
	for d in $D0 $D1 $D2 $D3 $D4; do
		echo "$d,P@ssw0rd,127.0.0.1:$port,krb"
	done
} >"$TESTTMP/fleet.csv"
t_exit "import" 0 c device import "$TESTTMP/fleet.csv"
for d in $D0 $D1 $D2; do
	t_exit "cert provision $d" 0 c cert provision $d
done
cat >"$TESTTMP/p.yaml" <<EOF
version: 1
owner: sccm
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  sccm:
    identity: {kerberos: "svc-sccm@CUSTODY.TEST"}
    duties: [setup, power]
    auth: kerberos
    scope: {tags: [krb]}
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"
t_exit "account sync" 0 c account sync

# Before anything: the dry run shows the Put with the key hidden.
t_exit "device kerberos --dry-run $D0" 0 c device kerberos --dry-run $D0
t_grep "dry run: the Put" '<h:RealmName>CUSTODY.TEST</h:RealmName>' \
	"$TESTTMP/out"
t_grep "dry run: the passphrase hidden" '<h:Passphrase>\*\*\*</h:Passphrase>' \
	"$TESTTMP/out"
t_check "dry run: nothing sent" test "$(sim_state $D0 \
	'd.get("kerberos", {}).get("enabled", False)')" = "False"

: >"$TESTTMP/sim.log"
t_exit "device kerberos --all: exit 1 (D1 to D4 not ok)" 1 \
	c --json device kerberos --all
cp "$TESTTMP/out" "$TESTTMP/krb.json"
t_check "results per device" python3 - "$TESTTMP/krb.json" $D0 $D1 $D2 $D3 $D4 <<'EOF'
import json, sys
r = {i["fqdn"]: i["result"] for i in json.load(open(sys.argv[1]))["items"]}
want = dict(zip(sys.argv[2:], ["ok", "clock-failed", "clock-failed",
                               "tls-required", "tls-required"]))
if r != want:
    print(r, file=sys.stderr)
sys.exit(r != want)
EOF

# What D0 holds, against the DC and the password custody sealed.
ad_search -b "CN=$D0,$AD_OU" -s base sAMAccountName msDS-KeyVersionNumber \
	>"$TESTTMP/d0.ldif"
name=$(sed -n 's/^sAMAccountName: //p' "$TESTTMP/d0.ldif")
kvno=$(sed -n 's/^msDS-KeyVersionNumber: //p' "$TESTTMP/d0.ldif")
t_exit "account password $D0" 0 c account password $D0
pw=$(cat "$TESTTMP/out")
nt=$(printf '%s' "$pw" | iconv -f ASCII -t UTF-16LE |
	openssl dgst -md4 -binary -provider legacy -provider default |
	base64)
t_check "the NT hash was computed here" test -n "$nt"
curl -s "http://127.0.0.1:$control_port/state?device=$D0" >"$TESTTMP/d0.json"
t_check "$D0: realm, KeyVersion, enabled, the key of the object password" \
	python3 - "$TESTTMP/d0.json" "$kvno" "$nt" "$pw" "CUSTODY.TEST$name" <<'EOF'
import json, sys
k = json.load(open(sys.argv[1]))["kerberos"]
ok = (k["realm_name"] == "CUSTODY.TEST" and k["enabled"] and
      k["key_version"] == int(sys.argv[2]) and
      k["master_key"] == sys.argv[3] and k["key_from"] == "Passphrase" and
      k["passphrase"] == sys.argv[4] and k["salt"] == sys.argv[5] and
      k["iteration_count"] == 4096 and
      k["configured_algorithms"] == [0, 1, 2])
if not ok:
    print(k, file=sys.stderr)
sys.exit(not ok)
EOF
t_check "$D0: the clock was set before the settings, and right then" \
	python3 - "$TESTTMP/d0.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
k = d["kerberos"]
sys.exit(not (0 < d["time_set_seq"] < k["put_seq"] and
              abs(k["put_clock_skew"]) <= 60 and abs(d["clock_offset"]) <= 60))
EOF
t_grep "$D0: the Put went over TLS" \
	"amtsim: $D0 tls admin .*transfer/Put -> 200" "$TESTTMP/sim.log"
t_check "$D1: clock set refused: no Kerberos" test "$(sim_state $D1 \
	'd.get("kerberos", {}).get("enabled", False)')" = "False"
detail() {	# detail FQDN: its item's detail in krb.json
	python3 -c 'import json, sys
for i in json.load(open(sys.argv[1]))["items"]:
    if i["fqdn"] == sys.argv[2]: print(i["detail"])' "$TESTTMP/krb.json" "$1"
}
detail $D1 >"$TESTTMP/d1.txt"
t_grep "$D1: the refusal is said" \
	"^setting the device clock \((3599|3600|3601) s off\): .*PT_STATUS_NOT_PERMITTED.*nothing Kerberos sent" \
	"$TESTTMP/d1.txt"
t_check "$D2: clock not taken: no Kerberos" test "$(sim_state $D2 \
	'd.get("kerberos", {}).get("enabled", False)')" = "False"
detail $D2 >"$TESTTMP/d2.txt"
t_grep "$D2: the skew is said" \
	"^the device clock is -(3599|3600|3601) s off after SetHighAccuracyTimeSynch" \
	"$TESTTMP/d2.txt"
t_check "$D3 (no TLS): not contacted" sh -c \
	"! grep -q 'amtsim: $D3 ' '$TESTTMP/sim.log'"
t_check "the password never in the reply" sh -c \
	'! grep -qF "$1" "$2"' _ "$pw" "$TESTTMP/krb.json"
c audit list >"$TESTTMP/audit" 2>&1
t_grep "audited per device" "device\\.kerberos.*$D0.*ok" "$TESTTMP/audit"

# Malformed answers. On the first exchange (the realm check): an error,
# nothing sent. On the Put (after the realm check and the three clock
# calls): the settings are read back, and the device settled.
t_exit "cert provision $D4" 0 c cert provision $D4
fault() {	# fault FQDN KIND SKIP
	curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	    -d "{\"device\": \"$1\", \"fault\": \"$2\", \"count\": 1, \"skip\": $3}"
}
fault $D4 malformed-xml 0
t_exit "device kerberos $D4: malformed realm answer, exit 1" 1 \
	c --json device kerberos $D4
t_grep "$D4: an error" '"result": "error"' "$TESTTMP/out"
t_check "$D4: nothing Kerberos sent" test "$(sim_state $D4 \
	'd.get("kerberos", {}).get("enabled", False)')" = "False"
# A DigestRealm in the body that is not the one the device logs in with
# (a man in the middle on plain HTTP rewriting it; amtsim body-realm keeps
# the login's realm) while no realm is registered (the import had none):
# a per-device error, nothing sent, no realm recorded. cert provision
# recorded the realm $D4 logs in with (its first contact): cleared here,
# as on a device provisioned before it did, for device kerberos's own.
realm_of() {	# realm_of FQDN: its registered DigestRealm, or None
	c --json device show "$1" | python3 -c 'import json, sys
print(json.load(sys.stdin)["digest_realm"])'
}
t_check "$D4: cert provision recorded its realm" test "$(realm_of $D4)" = \
	"$(sim_state $D4 'd["realm"]')"
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE device SET digest_realm = NULL WHERE fqdn = ?", (sys.argv[2],))
db.commit()' "$S/custody.db" $D4
nf=$(sim_state $D4 'd["stats"]["faults"]')
fault $D4 body-realm 0
t_exit "device kerberos $D4: rewritten DigestRealm, exit 1" 1 \
	c --json device kerberos $D4
t_check "$D4: realm-mismatch, not the realm it logs in with" \
	python3 - "$TESTTMP/out" $D4 <<'EOF'
import json, sys
it = json.load(open(sys.argv[1]))["items"]
sys.exit(not (len(it) == 1 and it[0]["fqdn"] == sys.argv[2] and
    it[0]["result"] == "realm-mismatch" and it[0]["detail"].startswith(
    "the DigestRealm in the device's reply, ") and
    "not the realm it logs in with" in it[0]["detail"]))
EOF
t_check "$D4: the fault was used" test "$(sim_state $D4 \
	'd["stats"]["faults"]')" = $((nf + 1))
t_check "$D4: still nothing Kerberos sent" test "$(sim_state $D4 \
	'd.get("kerberos", {}).get("enabled", False)')" = "False"
t_check "$D4: no realm recorded" test "$(realm_of $D4)" = None
fault $D4 malformed-xml 4
: >"$TESTTMP/sim.log"
t_exit "device kerberos $D4: malformed Put answer, settled" 0 \
	c --json device kerberos $D4
t_grep "$D4: the malformed answer was the Put's" \
	"amtsim: $D4 tls admin .*transfer/Put -> 200 .*fault malformed-xml" \
	"$TESTTMP/sim.log"
t_grep "$D4: reconciled" '"result": "reconciled"' "$TESTTMP/out"
t_check "$D4: its first contact recorded the realm it logs in with" \
	test "$(realm_of $D4)" = "$(sim_state $D4 'd["realm"]')"
t_check "$D4: enabled with its KeyVersion" test "$(sim_state $D4 \
	'd["kerberos"]["enabled"] and d["kerberos"]["key_from"]')" = "Passphrase"

# Kerberos ACL entries (policy apply): the SID account sync read back for
# the console's account, the realms of the plan; only where Kerberos is
# on (D0, D4); elsewhere a failure naming device kerberos.
t_exit "policy apply --all: exit 1 (Kerberos off on D1 to D3)" 1 \
	c --json policy apply --all
cp "$TESTTMP/out" "$TESTTMP/apply.json"
sid=$(ad_search -b "CN=svc-sccm,$AD_OU" -s base objectSid |
	sed -n 's/^objectSid:: //p')
t_check "the console's SID read from the DC" test -n "$sid"
t_exit "policy plan --device $D0" 0 c --json policy plan --device $D0
cp "$TESTTMP/out" "$TESTTMP/plan.json"
for d in $D0 $D4; do
	curl -s "http://127.0.0.1:$control_port/state?device=$d" \
	    >"$TESTTMP/st.json"
	t_check "$d: one Kerberos entry, the console's SID, the plan's realms" \
	    python3 - "$TESTTMP/st.json" "$TESTTMP/plan.json" "$sid" <<'EOF'
import json, sys
u = [x for x in json.load(open(sys.argv[1]))["users"] if "kerberos_sid" in x]
e = json.load(open(sys.argv[2]))["devices"][0]["entries"][0]
ok = (len(u) == 1 and u[0]["kerberos_sid"] == sys.argv[3] and
      u[0]["realms"] == e["realms"] and u[0]["access"] == e["access"])
if not ok:
    print(u, e, file=sys.stderr)
sys.exit(not ok)
EOF
done
t_check "apply: ok where Kerberos is on, the others say device kerberos" \
	python3 - "$TESTTMP/apply.json" $D0 $D1 $D4 <<'EOF'
import json, sys
it = {i["fqdn"]: i for i in json.load(open(sys.argv[1]))["items"]}
d0, d1, d4 = it[sys.argv[2]], it[sys.argv[3]], it[sys.argv[4]]
a1 = d1["actions"][0]
sys.exit(not (d0["result"] == "ok" and d4["result"] == "ok" and
              d0["actions"][0]["user"] == "svc-sccm@CUSTODY.TEST" and
              d1["result"] == "failed" and a1["result"] == "failed" and
              "run device kerberos first" in a1["detail"]))
EOF
t_exit "policy drift $D0: none" 0 c policy drift --device $D0
t_exit "apply again: nothing to send to $D0" 0 c --json policy apply \
	--device $D0
t_check "no action" python3 -c '
import json, sys
sys.exit(json.load(open(sys.argv[1]))["items"][0]["actions"] != [])' \
	"$TESTTMP/out"

# The policy changes: sccm loses a duty (its entry is updated), and a
# console without an AD account yet (no SID: apply and drift say account
# sync).
cat >"$TESTTMP/p2.yaml" <<EOF
version: 1
owner: sccm
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  sccm:
    identity: {kerberos: "svc-sccm@CUSTODY.TEST"}
    duties: [power]
    auth: kerberos
    scope: {tags: [krb]}
  ops:
    identity: {kerberos: "svc-ops@CUSTODY.TEST"}
    duties: [power]
    auth: kerberos
    scope: {tags: [krb]}
EOF
t_exit "policy load p2" 0 c policy load "$TESTTMP/p2.yaml"
t_exit "policy drift $D0: drift" 1 c --json policy drift --device $D0
t_check "drift: sccm's extra realms, ops unresolved" python3 -c '
import json, sys
f = {(x["finding"], x["user"]) for x in
     json.load(open(sys.argv[1]))["items"][0]["findings"]}
sys.exit(not (("extra-realm", "svc-sccm@CUSTODY.TEST") in f and
              ("unresolved-sid", "svc-ops@CUSTODY.TEST") in f))' "$TESTTMP/out"
t_exit "policy apply $D0: exit 1 (ops has no SID)" 1 c --json policy apply \
	--device $D0
cp "$TESTTMP/out" "$TESTTMP/apply2.json"
t_check "sccm updated, ops failed naming account sync" python3 -c '
import json, sys
a = {x["user"]: x for x in
     json.load(open(sys.argv[1]))["items"][0]["actions"]}
s, o = a["svc-sccm@CUSTODY.TEST"], a["svc-ops@CUSTODY.TEST"]
sys.exit(not (s["action"] == "update" and s["result"] == "ok" and
              o["result"] == "failed" and "run account sync" in o["detail"]))' \
	"$TESTTMP/apply2.json"
t_exit "policy plan p2" 0 c --json policy plan --device $D0
t_check "$D0: the entry has the new plan's realms" python3 - \
	"$TESTTMP/out" "$sid" "$control_port" $D0 <<'EOF'
import json, sys, urllib.request
e = [x for x in json.load(open(sys.argv[1]))["devices"][0]["entries"]
     if x["console"] == "sccm"][0]
st = json.load(urllib.request.urlopen("http://127.0.0.1:%s/state?device=%s"
                                      % (sys.argv[3], sys.argv[4])))
u = [x for x in st["users"] if x.get("kerberos_sid") == sys.argv[2]]
sys.exit(not (len(u) == 1 and u[0]["realms"] == e["realms"]))
EOF
t_exit "account sync (makes svc-ops)" 0 c account sync
t_exit "policy apply $D0: now ok" 0 c --json policy apply --device $D0
ops_sid=$(ad_search -b "CN=svc-ops,$AD_OU" -s base objectSid |
	sed -n 's/^objectSid:: //p')
t_check "$D0: svc-ops's entry has its SID" test "$(sim_state $D0 \
	'sorted(x["kerberos_sid"] for x in d["users"] if "kerberos_sid" in x) == sorted(["'"$sid"'", "'"$ops_sid"'"])')" = True
# ops leaves the policy: its entry (an account of custody's) is removed.
t_exit "policy load p (sccm only)" 0 c policy load "$TESTTMP/p.yaml"
t_exit "policy apply $D0" 0 c --json policy apply --device $D0
t_check "$D0: only sccm's entry left" test "$(sim_state $D0 \
	'[x["kerberos_sid"] for x in d["users"] if "kerberos_sid" in x] == ["'"$sid"'"]')" = True

# Again on D0: the same settings, ok (a Put is harmless to repeat).
t_exit "device kerberos $D0 again" 0 c device kerberos $D0
t_grep "the line says ok" "^$D0: ok: realm CUSTODY.TEST, KeyVersion $kvno" \
	"$TESTTMP/out"
# A run killed mid-way is a resumable job: D0's answers come 4 s late,
# the run is killed once the others have their results, job resume
# finishes D0 alone.
curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	-d "{\"device\": \"$D0\", \"fault\": \"delay\", \"count\": -1, \"ms\": 4000}"
"$CUSTODYCTL" --state-dir "$S" --json device kerberos --all \
	>"$TESTTMP/killed.out" 2>&1 &
KPID=$!
n=0
while [ $n -lt 150 ]; do
	c --json job list --limit 1 >"$TESTTMP/jl" 2>/dev/null
	[ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["jobs"][0]["done"])' "$TESTTMP/jl" 2>/dev/null)" = 4 ] && break
	sleep 0.1; n=$((n + 1))
done
kill -9 "$KPID"; wait "$KPID" 2>/dev/null
t_exit "job list" 0 c --json job list --limit 1
kjob=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(j["id"] if j["kind"] == "device.kerberos" and j["state"] ==
      "interrupted" and j["resumable"] and j["done"] == 4 else 0)' \
	"$TESTTMP/out")
t_check "the killed run is an interrupted, resumable job, 4 of 5 done" \
	[ "$kjob" != 0 ]
curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	-d "{\"device\": \"$D0\", \"fault\": \"clear\"}"
t_exit "job resume $kjob: D0 alone, ok" 0 c --json job resume "$kjob"
t_check "resumed: one device, ok" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["devices"] == 1 and r["results"] == {"ok": 1} and
              r["items"][0]["fqdn"] == sys.argv[2]))' "$TESTTMP/out" $D0


# Rotation (device kerberos --rotate): a new object password, set in AD
# (msDS-KeyVersionNumber + 1), then on the device with that KeyVersion,
# then current: what account password shows is what the device holds,
# and AD takes it (a simple bind as the object).
kvno_of() { ad_kvno "$1"; }
# holds D KVNO: the device's KeyVersion is KVNO, its passphrase and RC4
# key those of the password account password shows, and AD binds with it.
holds() { ad_krb_holds "$S" "$1" "$2"; }
k0=$(kvno_of $D0)
t_exit "device kerberos --rotate --dry-run $D0" 0 \
	c device kerberos --rotate --dry-run $D0
t_grep "dry run: the KeyVersion AD will give" \
	"<h:KeyVersion>$((k0 + 1))</h:KeyVersion>" "$TESTTMP/out"
t_check "dry run: AD unchanged" test "$(kvno_of $D0)" = $k0
t_exit "account password $D0 before" 0 c account password $D0
cp "$TESTTMP/out" "$TESTTMP/pw.old"
t_exit "device kerberos --rotate $D0" 0 c device kerberos --rotate $D0
t_grep "rotated, the new version current" \
	"^$D0: ok: realm CUSTODY.TEST, KeyVersion $((k0 + 1)),.*rotated: password version" \
	"$TESTTMP/out"
t_check "AD's kvno + 1" test "$(kvno_of $D0)" = $((k0 + 1))
t_check "$D0 holds the new password at kvno + 1, AD takes it" holds $D0 $((k0 + 1))
t_check "a new password" sh -c '! cmp -s "$1" "$2"' sh "$TESTTMP/pw.old" \
	"$TESTTMP/pw.now"
cp "$TESTTMP/pw.now" "$TESTTMP/pw.v2"
t_exit "audit" 0 c audit list
t_grep "rotation audited" "directory\\.rotate.*rotated: password version" \
	"$TESTTMP/out"
t_check "the password never in a reply or the audit" sh -c \
	'! grep -rqF "$(cat "$1")" "$2/out" "$2/krb.json"' sh "$TESTTMP/pw.v2" \
	"$TESTTMP"

# Stopped between the AD change and the device Put: AD has a password
# the device does not (and custody keeps it pending, account password
# still shows the old one); the next run, rotate or not, sets it again
# and gives it to the device.
CUSTODY_TEST_CRASH_AT=krb-rotate-set "$CUSTODYCTL" --state-dir "$S" \
	device kerberos --rotate $D0 >"$TESTTMP/crash.out" 2>&1
t_check "crashed after the AD change (99)" test $? = 99
t_check "AD moved on (kvno + 2)" test "$(kvno_of $D0)" = $((k0 + 2))
t_check "the device not yet (kvno + 1), custody's current still v2" \
	holds $D0 $((k0 + 1))
t_check "account password unchanged while pending" cmp -s "$TESTTMP/pw.now" \
	"$TESTTMP/pw.v2"
t_exit "device kerberos $D0 (no --rotate): finishes it" 0 \
	c device kerberos $D0
t_grep "finished, current" "^$D0: ok: .*KeyVersion $((k0 + 3)),.*rotated" \
	"$TESTTMP/out"
t_check "$D0 holds the pending password at kvno + 3, AD takes it" \
	holds $D0 $((k0 + 3))
t_check "the new password, not v2" sh -c '! cmp -s "$1" "$2"' sh \
	"$TESTTMP/pw.v2" "$TESTTMP/pw.now"
cp "$TESTTMP/pw.now" "$TESTTMP/pw.v3"

# Stopped after the pending commit, before AD: the next --rotate sends
# that same pending password rather than making another.
CUSTODY_TEST_CRASH_AT=krb-rotate-pending "$CUSTODYCTL" --state-dir "$S" \
	device kerberos --rotate $D0 >"$TESTTMP/crash.out" 2>&1
t_check "crashed before the AD change (99)" test $? = 99
t_check "AD unchanged" test "$(kvno_of $D0)" = $((k0 + 3))
t_exit "device kerberos --rotate $D0 again" 0 c device kerberos --rotate $D0
t_check "one rotation: kvno + 4" holds $D0 $((k0 + 4))
t_exit "audit" 0 c audit list
t_grep "the pending one set again" "set in AD \\(again" "$TESTTMP/out"

# The device unreachable after the AD change: AD holds a key the device
# lacks until the next run, which completes it.
curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	-d "{\"device\": \"$D0\", \"fault\": \"http500\", \"count\": -1}"
t_exit "device kerberos --rotate $D0, the device failing: exit 1" 1 \
	c device kerberos --rotate $D0
t_grep "says pending" "AD holds the new password version .* \\(pending\\)" \
	"$TESTTMP/out"
curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	-d "{\"device\": \"$D0\", \"fault\": \"clear\"}"
t_exit "device kerberos $D0: completed" 0 c device kerberos $D0
t_check "kvno + 6 on both, the same password" holds $D0 $((k0 + 6))


# Rotation by age (device kerberos --rotate --due): only the objects whose
# current password is older than directory.ad object_max_age (default
# 90d) less 10 %, i.e. 81 days, are rotated. D3 gets TLS and its key now.
DAY=86400
t_exit "cert provision $D3" 0 c cert provision $D3
t_exit "device kerberos $D3" 0 c device kerberos $D3
k0=$(kvno_of $D0) k3=$(kvno_of $D3)
t_exit "--due without --rotate: usage" 2 c device kerberos --due $D0
t_exit "80 days on: --rotate --due $D0 $D3" 0 env \
	CUSTODY_TEST_NOW=+$((80 * DAY)) "$CUSTODYCTL" --state-dir "$S" \
	device kerberos --rotate --due $D0 $D3
t_grep "$D0 not due" "^$D0: not-due: .*80 days old; due at 81 days" \
	"$TESTTMP/out"
t_grep "$D3 not due" "^$D3: not-due: " "$TESTTMP/out"
t_check "80 days: AD unchanged, $D0" test "$(kvno_of $D0)" = $k0
t_check "80 days: AD unchanged, $D3" test "$(kvno_of $D3)" = $k3
t_check "80 days: $D0 unchanged" holds $D0 $k0
t_check "80 days: $D3 unchanged" holds $D3 $k3
t_exit "82 days on: both due, both rotated" 0 env \
	CUSTODY_TEST_NOW=+$((82 * DAY)) "$CUSTODYCTL" --state-dir "$S" \
	device kerberos --rotate --due $D0 $D3
t_check "82 days: $D0 at kvno + 1" holds $D0 $((k0 + 1))
t_check "82 days: $D3 at kvno + 1" holds $D3 $((k3 + 1))
# D0 rotated again at 120 days: at 170 days only D3 (88 days old) is due.
t_exit "120 days on: --rotate $D0" 0 env \
	CUSTODY_TEST_NOW=+$((120 * DAY)) "$CUSTODYCTL" --state-dir "$S" \
	device kerberos --rotate $D0
t_exit "170 days on: --rotate --due $D0 $D3" 0 env \
	CUSTODY_TEST_NOW=+$((170 * DAY)) "$CUSTODYCTL" --state-dir "$S" \
	device kerberos --rotate --due $D0 $D3
t_grep "$D0 (50 days) not due" "^$D0: not-due: .*50 days old" "$TESTTMP/out"
t_grep "$D3 (88 days) rotated" "^$D3: ok: .*KeyVersion $((k3 + 2)),.*rotated" \
	"$TESTTMP/out"
t_check "170 days: $D0 stays at kvno + 2" holds $D0 $((k0 + 2))
t_check "170 days: $D3 at kvno + 2" holds $D3 $((k3 + 2))

# Custody's object of D3 deleted and someone's made at its DN: neither a
# rotation (by hand or by age) nor a plain run sets its password or sends
# the device its kvno. Before, --rotate set a new password on their
# object and sent it to the device with their object's kvno.
ldm() { LDAPTLS_CACERT="$AD_CA" ldapmodify -H "$AD_URI" -x -D "$AD_BIND" \
	-y "$AD_PWFILE" >/dev/null; }
simkv() { curl -s "http://127.0.0.1:$control_port/state?device=$1" |
	python3 -c 'import json, sys
print(json.load(sys.stdin)["kerberos"]["key_version"])'; }
t_check "custody's object of $D3 deleted by someone" ldm <<EOF
dn: CN=$D3,$AD_OU
changetype: delete
EOF
t_check "  ... and theirs made at its DN" ldm <<EOF
dn: CN=$D3,$AD_OU
changetype: add
objectClass: user
sAMAccountName: theirs-d3
EOF
kf=$(kvno_of $D3) sk=$(simkv $D3)
t_exit "device kerberos --rotate $D3: refused" 1 c device kerberos --rotate $D3
t_grep "  ... saying the object is not custody's" \
	"^$D3: error: .*the object at CN=$D3,$AD_OU is not the one custody made" \
	"$TESTTMP/out"
t_check "  ... their object's kvno unchanged ($kf)" test "$(kvno_of $D3)" = "$kf"
t_check "  ... the device's KeyVersion unchanged ($sk)" test "$(simkv $D3)" = "$sk"
t_exit "device kerberos $D3 (no --rotate): refused too" 1 c device kerberos $D3
t_check "  ... the device's KeyVersion unchanged" test "$(simkv $D3)" = "$sk"

t_done
