#!/bin/sh
# tests/integration/kerberos_acl_sid.sh - which SID the devices' Kerberos
# ACL entries name (directory.ad acl_sid), against a real Samba AD DC
# (lib_ad.sh) and the AMT simulator.
#
# auto: a duty every holder of which is granted it on a
# device gets one entry there with the objectSid of the duty's group
# (account sync makes AMT-<duty> and reads its SID back) when the group's
# members account sync recorded are the duty's holders; a duty some
# holder of which is scoped to other devices stays in the holders' own
# account entries, on their devices only. account: one entry per console,
# its account's SID. Switching converts the entries; drift compares by
# SID and reports a group entry the plan does not want. A duty whose
# group is not made yet, or whose recorded members are not the policy's
# holders (a console dropped from the duty before account sync, a sync
# stopped half-way), stays in account entries until account sync.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba ldapsearch python3 curl openssl
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
D0=$(sim_dev 0) D1=$(sim_dev 1) D2=$(sim_dev 2)
t_amtsim 3 "$TESTTMP"
trap '[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null; ad_stop' EXIT
trap '[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null; ad_stop; exit 1' \
	INT TERM HUP

t_exit "init" 0 c init
ad_config "$S" "    acl_sid: auto"
{
	echo "fqdn,admin_password,address,tags"
	echo "$D0,P@ssw0rd,127.0.0.1:$port,site-a"
	echo "$D1,P@ssw0rd,127.0.0.1:$port,site-a"
	echo "$D2,P@ssw0rd,127.0.0.1:$port,site-b"
} >"$TESTTMP/fleet.csv"
t_exit "import" 0 c device import "$TESTTMP/fleet.csv"
for d in $D0 $D1 $D2; do
	t_exit "cert provision $d" 0 c cert provision $d
done
# power: prov, pa and pb, every device (pa and pb hold nothing else: one
# group entry replaces their two account entries). redirection: lab on
# site-a, rem on site-b, so never every holder on one device.
cat >"$TESTTMP/p.yaml" <<EOF
version: 1
owner: prov
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  prov:
    identity: {kerberos: "svc-prov@CUSTODY.TEST"}
    duties: [setup, power]
  pa:
    identity: {kerberos: "svc-pa@CUSTODY.TEST"}
    duties: [power]
  pb:
    identity: {kerberos: "svc-pb@CUSTODY.TEST"}
    duties: [power]
  lab:
    identity: {kerberos: "svc-lab@CUSTODY.TEST"}
    duties: [redirection]
    scope: {tags: [site-a]}
  rem:
    identity: {kerberos: "svc-rem@CUSTODY.TEST"}
    duties: [redirection]
    scope: {tags: [site-b]}
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"
t_exit "account sync" 0 c account sync
t_exit "device kerberos --all" 0 c device kerberos --all

sid() {	# sid CN: the objectSid ldapsearch reads (base64 of the binary SID)
	ad_search -b "CN=$1,$AD_OU" -s base objectSid |
	    sed -n 's/^objectSid:: //p'
}
g_power=$(sid AMT-power) g_redir=$(sid AMT-redirection)
s_prov=$(sid svc-prov) s_pa=$(sid svc-pa) s_pb=$(sid svc-pb)
s_lab=$(sid svc-lab) s_rem=$(sid svc-rem)
t_check "the SIDs read from the DC" test -n "$g_power" -a -n "$g_redir" \
	-a -n "$s_prov" -a -n "$s_pa" -a -n "$s_lab" -a -n "$s_rem"
t_exit "account list" 0 c --json account list
t_check "account sync recorded the groups' SIDs" python3 - "$TESTTMP/out" \
	"$g_power" "$g_redir" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
items = d.get("items", d.get("objects", []))
g = {o["name"]: o["sid_b64"] for o in items if o.get("kind") == "group"}
sys.exit(not (g.get("AMT-power") == sys.argv[2] and
              g.get("AMT-redirection") == sys.argv[3]))
EOF

# holds FQDN SID:REALMS ...: the device's Kerberos entries are exactly
# these (SID, realms), each with access 1 (network).
holds() {
	_d=$1; shift
	curl -s "http://127.0.0.1:$control_port/state?device=$_d" \
	    >"$TESTTMP/st.json"
	python3 - "$TESTTMP/st.json" "$@" <<'EOF'
import json, sys
u = [x for x in json.load(open(sys.argv[1]))["users"] if "kerberos_sid" in x]
have = sorted((x["kerberos_sid"], tuple(x["realms"]), x["access"]) for x in u)
want = []
for a in sys.argv[2:]:
    s, r = a.rsplit(":", 1)
    want.append((s, tuple(int(i) for i in r.split(",")), 1))
want.sort()
if have != want:
    print("have", have, "\nwant", want, file=sys.stderr)
sys.exit(have != want)
EOF
}

t_exit "policy apply --all (auto)" 0 c --json policy apply --all
cp "$TESTTMP/out" "$TESTTMP/apply.json"
for d in $D0 $D1; do
	t_check "$d (site-a): power's group, prov for setup, lab's own entry" \
	    holds $d "$g_power:5" "$s_prov:3" "$s_lab:2"
done
t_check "$D2 (site-b): power's group, prov for setup, rem's own entry" \
	holds $D2 "$g_power:5" "$s_prov:3" "$s_rem:2"
t_check "apply named the group" python3 -c '
import json, sys
it = json.load(open(sys.argv[1]))["items"][0]
sys.exit(not any(a["user"] == "AMT-power" and a["action"] == "add" and
                 a["result"] == "ok" for a in it["actions"]))' \
	"$TESTTMP/apply.json"
t_exit "policy plan --device $D0" 0 c --json policy plan --device $D0
t_check "plan: the SID kind of each entry" python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["devices"][0]
k = sorted((e.get("group") or e["console"], e["sid_kind"]) for e in p["entries"])
sys.exit(not (p["acl_sid"] == "auto" and p["group_entries"] == 1 and
              k == [("lab", "account"), ("power", "group"),
                    ("prov", "account")]))' "$TESTTMP/out"
t_exit "policy plan --device $D0 (text)" 0 c policy plan --device $D0
t_grep "plan text: the group entry" \
	"^  group:power +kerberos +members prov,pa,pb +network +5  \(group SID\)$" \
	"$TESTTMP/out"
t_exit "policy drift --all: clean" 0 c policy drift --all
t_exit "apply again: nothing to send" 0 c --json policy apply --all
t_check "no action" python3 -c '
import json, sys
sys.exit(any(i["actions"] for i in json.load(open(sys.argv[1]))["items"]))' \
	"$TESTTMP/out"

# account: the group entry is not the plan's any more: drift says so
# (custody's group: apply removes it), apply converts the entries.
ad_config "$S" "    acl_sid: account"
t_exit "config check" 0 c config check
t_exit "policy drift $D0 (account): drift" 1 c --json policy drift \
	--device $D0
t_check "drift: the stray group entry, the missing accounts" python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))["items"][0]["findings"]
k = {(x["finding"], x["user"]) for x in f}
stray = [x for x in f if x["user"] == "AMT-power"]
sys.exit(not (("unknown-user", "AMT-power") in k and
              "policy apply removes it" in stray[0]["detail"] and
              ("missing-user", "svc-pa@CUSTODY.TEST") in k and
              ("missing-user", "svc-pb@CUSTODY.TEST") in k and
              ("missing-realm", "svc-prov@CUSTODY.TEST") in k))' \
	"$TESTTMP/out"
t_exit "policy plan --device $D0 (account)" 0 c --json policy plan \
	--device $D0
t_check "plan (account): account SIDs only" python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["devices"][0]
sys.exit(not (p["acl_sid"] == "account" and p["group_entries"] == 0 and
              all(e["sid_kind"] == "account" for e in p["entries"])))' \
	"$TESTTMP/out"
t_exit "policy apply --all (account)" 0 c --json policy apply --all
for d in $D0 $D1; do
	t_check "$d (account): one entry per console, its own SID" \
	    holds $d "$s_prov:3,5" "$s_pa:5" "$s_pb:5" "$s_lab:2"
done
t_check "$D2 (account): one entry per console, its own SID" \
	holds $D2 "$s_prov:3,5" "$s_pa:5" "$s_pb:5" "$s_rem:2"
t_exit "policy drift --all (account): clean" 0 c policy drift --all

# Back to auto: the accounts' entries give way to the group's again.
ad_config "$S" "    acl_sid: auto"
t_exit "policy drift $D2 (auto): drift" 1 c --json policy drift --device $D2
t_check "drift: pa and pb not in the plan, the group missing" python3 -c '
import json, sys
k = {(x["finding"], x["user"]) for x in
     json.load(open(sys.argv[1]))["items"][0]["findings"]}
sys.exit(not (("unknown-user", "svc-pa") in k and
              ("missing-user", "AMT-power") in k))' "$TESTTMP/out"
t_exit "policy apply --all (auto again)" 0 c --json policy apply --all
t_check "$D2 (auto again): power's group" holds $D2 "$g_power:5" \
	"$s_prov:3" "$s_rem:2"
t_exit "policy drift --all (auto again): clean" 0 c policy drift --all

# unsynced DUTY: the plan of $D0 gives DUTY no group entry because its
# group's members, as account sync last recorded them, are not (known to
# be) the policy's holders of DUTY.
unsynced() {
	c --json policy plan --device $D0 >"$TESTTMP/plan.json" &&
	python3 - "$TESTTMP/plan.json" "$1" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))["devices"][0]
sys.exit(not (sys.argv[2] in p.get("groups_unsynced", []) and
              not any(e.get("group") == sys.argv[2] for e in p["entries"])))
EOF
}

# A duty new to the policy, held fleet-wide: its group does not exist
# until account sync makes it, and no members are recorded for it, so
# its realms go in the holders' account entries (nothing fails); after
# the sync the group's entry carries the SID account sync read back.
sed 's/duties: \[power\]$/duties: [power, events]/' "$TESTTMP/p.yaml" \
	>"$TESTTMP/p2.yaml"
t_exit "policy load p2 (pa, pb: events)" 0 c policy load "$TESTTMP/p2.yaml"
t_check "plan: AMT-events not made yet" unsynced events
t_exit "policy drift $D0: pa and pb lack events" 1 c --json policy drift \
	--device $D0
t_check "drift: pa's and pb's entries missing" python3 -c '
import json, sys
k = {(x["finding"], x["user"]) for x in
     json.load(open(sys.argv[1]))["items"][0]["findings"]}
sys.exit(not (("missing-user", "svc-pa@CUSTODY.TEST") in k and
              ("missing-user", "svc-pb@CUSTODY.TEST") in k and
              not any(f == "unresolved-sid" for f, u in k)))' "$TESTTMP/out"
t_exit "policy apply $D0 (events by account entries)" 0 c --json policy \
	apply --device $D0
# (power's group then saves nothing: pa and pb need their entries)
t_check "$D0: events in pa's and pb's account entries" holds $D0 \
	"$s_prov:3,5" "$s_pa:5,7" "$s_pb:5,7" "$s_lab:2"
t_exit "account sync (makes AMT-events)" 0 c account sync
g_events=$(sid AMT-events)
t_check "AMT-events made" test -n "$g_events"
t_exit "policy apply --all" 0 c --json policy apply --all
t_check "$D0: power's and events' groups" holds $D0 "$g_power:5" \
	"$g_events:7" "$s_prov:3" "$s_lab:2"
t_exit "policy drift --all: clean" 0 c policy drift --all

# A group entry custody did not make (Domain Users, added by hand): drift
# reports it as not custody's, apply leaves it.
du=$(ad_search -b "CN=Domain Users,CN=Users,$AD_BASE" -s base objectSid |
	sed -n 's/^objectSid:: //p')
AMT=http://intel.com/wbem/wscim/1/amt-schema/1
pw=$(c password show "$D1")
t_check "Domain Users' entry added to $D1 by hand" [ "$(sim_wsman "$D1" \
	admin "$pw" "$AMT/AMT_AuthorizationService/AddUserAclEntryEx" \
	"$AMT/AMT_AuthorizationService" "" "<h:AddUserAclEntryEx_INPUT \
xmlns:h=\"$AMT/AMT_AuthorizationService\"><h:KerberosUserSid>$du\
</h:KerberosUserSid><h:AccessPermission>1</h:AccessPermission>\
<h:Realms>5</h:Realms></h:AddUserAclEntryEx_INPUT>")" = 200 ]
t_check "$D1 holds it" holds $D1 "$g_power:5" "$g_events:7" "$s_prov:3" \
	"$s_lab:2" "$du:5"
t_exit "policy drift $D1: the foreign entry" 1 c --json policy drift \
	--device $D1
t_check "drift: not custody's, apply leaves it" python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))["items"][0]["findings"]
sys.exit(not (len(f) == 1 and f[0]["finding"] == "unknown-user" and
              "not custody" in f[0]["detail"]))' "$TESTTMP/out"
t_exit "policy apply $D1: kept" 0 c --json policy apply --device $D1
t_check "$D1 still holds it" holds $D1 "$g_power:5" "$g_events:7" \
	"$s_prov:3" "$s_lab:2" "$du:5"


# members GROUP: the group's members in AD, by CN, sorted.
members() {
	ad_search -b "CN=$1,$AD_OU" -s base member |
	    sed -n 's/^member: CN=\([^,]*\),.*/\1/p' | sort | tr '\n' ' '
}

# A console dropped from a fleet-wide grouped duty stays in the duty's
# group until account sync, and the group's entry on the devices would
# keep admitting it. pc joins power (p3); then pa leaves power (p4),
# where power still saves entries (pb and pc hold it). custody recorded
# AMT-power's members at the last sync ({pa, pb, pc, prov}): not the
# policy's any more, so policy apply alone moves power to account
# entries on every device and removes the group's entry (events follows:
# without power's group, it saves only pa's entry).
sed 's/^consoles:$/consoles:\n  pc:\n    identity: {kerberos: "svc-pc@CUSTODY.TEST"}\n    duties: [power]/' \
	"$TESTTMP/p2.yaml" >"$TESTTMP/p3.yaml"
awk '/^  pa:/ { p = 1 } p && /duties:/ { sub(/\[power, events\]/,
	"[events]"); p = 0 } { print }' "$TESTTMP/p3.yaml" >"$TESTTMP/p4.yaml"
t_check "p4: pa holds events only" sh -c "grep -A2 '^  pa:' \
'$TESTTMP/p4.yaml' | grep -q 'duties: \[events\]$'"
t_exit "policy load p3 (pc: power)" 0 c policy load "$TESTTMP/p3.yaml"
t_exit "account sync (svc-pc, in AMT-power)" 0 c account sync
s_pc=$(sid svc-pc)
t_check "svc-pc made" test -n "$s_pc"
t_exit "account list (recorded members)" 0 c --json account list
t_check "account sync recorded the groups' members" python3 - \
	"$TESTTMP/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
items = d.get("items", d.get("objects", []))
g = {o["name"]: o.get("members") for o in items if o.get("kind") == "group"}
sys.exit(not (g.get("AMT-power") == ["pa", "pb", "pc", "prov"] and
              g.get("AMT-events") == ["pa", "pb"]))
EOF
t_exit "policy apply --all (p3)" 0 c --json policy apply --all
t_check "$D0 (p3): power's and events' groups" holds $D0 "$g_power:5" \
	"$g_events:7" "$s_prov:3" "$s_lab:2"
t_exit "policy load p4 (pa leaves power)" 0 c policy load "$TESTTMP/p4.yaml"
t_check "pa is still in AMT-power (no sync yet)" \
	[ "$(members AMT-power)" = "svc-pa svc-pb svc-pc svc-prov " ]
t_check "plan: AMT-power's members not the policy's" unsynced power
t_exit "policy drift $D0: the group entry is stale" 1 c --json policy drift \
	--device $D0
t_check "drift: AMT-power not wanted, pc's power missing" python3 -c '
import json, sys
k = {(x["finding"], x["user"]) for x in
     json.load(open(sys.argv[1]))["items"][0]["findings"]}
sys.exit(not (("unknown-user", "AMT-power") in k and
              ("missing-user", "svc-pc@CUSTODY.TEST") in k))' "$TESTTMP/out"
t_exit "policy apply --all (pa dropped)" 0 c --json policy apply --all
t_check "$D0: no group; every holder by its account" holds $D0 \
	"$s_prov:3,5" "$s_pa:7" "$s_pb:5,7" "$s_pc:5" "$s_lab:2"
t_check "$D1: the same (and the foreign entry)" holds $D1 "$s_prov:3,5" \
	"$s_pa:7" "$s_pb:5,7" "$s_pc:5" "$s_lab:2" "$du:5"
t_check "$D2: the same" holds $D2 "$s_prov:3,5" "$s_pa:7" "$s_pb:5,7" \
	"$s_pc:5" "$s_rem:2"
t_exit "policy drift $D0 (pa dropped): clean" 0 c policy drift --device $D0
t_exit "policy drift $D2 (pa dropped): clean" 0 c policy drift --device $D2
t_exit "account sync (pa leaves AMT-power)" 0 c account sync
t_check "AMT-power: pb, pc and prov" \
	[ "$(members AMT-power)" = "svc-pb svc-pc svc-prov " ]
t_exit "policy apply --all (synced)" 0 c --json policy apply --all
t_check "$D0: the groups back" holds $D0 "$g_power:5" "$g_events:7" \
	"$s_prov:3" "$s_lab:2"
t_check "$D2: the groups back" holds $D2 "$g_power:5" "$g_events:7" \
	"$s_prov:3" "$s_rem:2"
t_exit "policy drift $D0 (synced): clean" 0 c policy drift --device $D0
t_exit "policy drift $D2 (synced): clean" 0 c policy drift --device $D2

# A sync that stops after changing a group's members and before
# recording them leaves them not known: pa is put back in power (p3) and
# the sync dies right after adding it to AMT-power; the policy goes back
# to p4. The members recorded before ({pb, pc, prov}) are p4's holders,
# but AD's group holds pa: had they been kept, apply would put the
# group's entry back and admit pa.
t_exit "policy load p3 (pa in power again)" 0 c policy load "$TESTTMP/p3.yaml"
t_exit "account sync dies after the member change" 99 env \
	CUSTODY_TEST_CRASH_AT=ad-members-changed "$CUSTODYCTL" --state-dir "$S" \
	account sync
t_check "AMT-power: pa added" \
	[ "$(members AMT-power)" = "svc-pa svc-pb svc-pc svc-prov " ]
t_exit "policy load p4 (pa out of power again)" 0 c policy load \
	"$TESTTMP/p4.yaml"
t_check "plan: AMT-power's members not known" unsynced power
t_exit "policy apply --all (members not known)" 0 c --json policy apply --all
t_check "$D0: no group" holds $D0 "$s_prov:3,5" "$s_pa:7" "$s_pb:5,7" \
	"$s_pc:5" "$s_lab:2"
t_exit "account sync (finishes)" 0 c account sync
t_check "AMT-power: pb, pc and prov again" \
	[ "$(members AMT-power)" = "svc-pb svc-pc svc-prov " ]
t_exit "policy apply --all (synced again)" 0 c --json policy apply --all
t_check "$D0: the groups back again" holds $D0 "$g_power:5" \
	"$g_events:7" "$s_prov:3" "$s_lab:2"
t_exit "policy drift $D0 (synced again): clean" 0 c policy drift --device $D0

# The growing window: a console added to a grouped duty whose scope does
# not cover every device holding the group's entry. pd gets power on
# site-a only (p5); AMT-power's entry is on all three devices (apply
# recorded each before it sent it), and the plan does not grant pd power
# on $D2 (site-b). Had account sync put svc-pd in AMT-power at once, $D2
# would admit pd through the group's entry until policy apply reached
# it. The sync makes svc-pd but leaves it out of AMT-power, named (exit
# 1), with the members recorded as not known: apply then moves power to
# account entries everywhere and removes the group's entry, the next sync
# adds svc-pd, and the apply after it puts the group's entry back where
# pd is granted power (site-a) only.
awk '/^consoles:$/ { print; print "  pd:"
	print "    identity: {kerberos: \"svc-pd@CUSTODY.TEST\"}"
	print "    duties: [power]"; print "    scope: {tags: [site-a]}"; next }
	{ print }' "$TESTTMP/p4.yaml" >"$TESTTMP/p5.yaml"
t_exit "policy load p5 (pd: power on site-a)" 0 c policy load \
	"$TESTTMP/p5.yaml"
t_exit "account sync: svc-pd waits for apply" 1 c --json account sync
t_check "the sync names pd, AMT-power and $D2" python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["errors"]
sys.exit(not any("console '"'"'pd'"'"' not added yet" in x and
                 "AMT-power" in x and sys.argv[2] in x and
                 "run policy apply first" in x for x in e))' \
	"$TESTTMP/out" "$D2"
s_pd=$(sid svc-pd)
t_check "svc-pd made" test -n "$s_pd"
t_check "AMT-power: svc-pd not in it" \
	[ "$(members AMT-power)" = "svc-pb svc-pc svc-prov " ]
t_check "$D2 holds AMT-power's entry (it does not admit pd)" holds $D2 \
	"$g_power:5" "$g_events:7" "$s_prov:3" "$s_rem:2"
t_exit "account sync again: still waits" 1 c account sync
t_check "AMT-power: svc-pd still not in it" \
	[ "$(members AMT-power)" = "svc-pb svc-pc svc-prov " ]
t_check "plan: AMT-power's members not the policy's" unsynced power
t_exit "policy apply --all (p5)" 0 c --json policy apply --all
t_check "$D0 (p5): no group; pd by its account" holds $D0 "$s_prov:3,5" \
	"$s_pa:7" "$s_pb:5,7" "$s_pc:5" "$s_pd:5" "$s_lab:2"
t_check "$D2 (p5): no group, no pd" holds $D2 "$s_prov:3,5" "$s_pa:7" \
	"$s_pb:5,7" "$s_pc:5" "$s_rem:2"
t_exit "account sync (adds svc-pd)" 0 c account sync
t_check "AMT-power: svc-pd in it" \
	[ "$(members AMT-power)" = "svc-pb svc-pc svc-pd svc-prov " ]
t_exit "policy apply --all (pd synced)" 0 c --json policy apply --all
t_check "$D0: the groups back, pd through AMT-power" holds $D0 \
	"$g_power:5" "$g_events:7" "$s_prov:3" "$s_lab:2"
t_check "$D2: power by accounts, no pd" holds $D2 "$s_prov:3,5" \
	"$s_pa:7" "$s_pb:5,7" "$s_pc:5" "$s_rem:2"
t_exit "policy drift $D0 (pd synced): clean" 0 c policy drift --device $D0
t_exit "policy drift $D2 (pd synced): clean" 0 c policy drift --device $D2
t_exit "account sync: nothing waits" 0 c account sync

# An account sync that runs while policy apply is between its plan and
# a group entry's record: the apply planned with AMT-power's members as
# recorded ({pb, pc, pd, prov}, p5's holders); the sync of p6 adds pe,
# scoped to site-b, and reads which devices may hold AMT-power's entry
# before that apply recorded $D0 (none: an account-mode apply removed
# them all), so it adds svc-pe. The apply then finds the members changed
# and sends nothing: without that check $D0 (site-a) would get
# AMT-power's entry with svc-pe in the group.
awk '/^consoles:$/ { print; print "  pe:"
	print "    identity: {kerberos: \"svc-pe@CUSTODY.TEST\"}"
	print "    duties: [power]"; print "    scope: {tags: [site-b]}"; next }
	{ print }' "$TESTTMP/p5.yaml" >"$TESTTMP/p6.yaml"
ad_config "$S" "    acl_sid: account"
t_exit "policy apply --all (account: no group entry left)" 0 c policy \
	apply --all
ad_config "$S" "    acl_sid: auto"
CUSTODY_TEST_DELAY_AT=acl-group-hold CUSTODY_TEST_DELAY_MS=6000 \
	"$CUSTODYCTL" --state-dir "$S" --json policy apply --device $D0 \
	>"$TESTTMP/race.json" 2>"$TESTTMP/race.err" &
race=$!
sleep 1
t_exit "policy load p6 (pe: power on site-b)" 0 c policy load \
	"$TESTTMP/p6.yaml"
t_exit "account sync during the apply (adds svc-pe)" 0 c account sync
wait $race
t_check "AMT-power: svc-pe in it" \
	[ "$(members AMT-power)" = "svc-pb svc-pc svc-pd svc-pe svc-prov " ]
t_check "the apply sent no AMT-power entry, naming the change" python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))["items"][0]["actions"]
sys.exit(not any(x["user"] == "AMT-power" and x["result"] == "failed" and
                 "changed since this apply read them" in x["detail"]
                 for x in a))' "$TESTTMP/race.json"
t_check "$D0 holds no AMT-power entry" sh -c "! $(command -v curl) -s \
'http://127.0.0.1:$control_port/state?device=$D0' | grep -q '$g_power'"
t_exit "policy apply $D0 again" 0 c policy apply --device $D0
t_check "$D0 still holds no AMT-power entry (pe is not granted power)" \
	sh -c "! $(command -v curl) -s \
'http://127.0.0.1:$control_port/state?device=$D0' | grep -q '$g_power'"
t_exit "policy drift $D0 (pe): clean" 0 c policy drift --device $D0

t_done
