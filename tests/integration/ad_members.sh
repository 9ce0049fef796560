#!/bin/sh
# tests/integration/ad_members.sh - the members of custody's duty groups
# are exactly the policy's, counting the members AD does not list in
# `member`: a user whose primaryGroupID is the group's RID is a member
# (its tickets carry the group's SID, so a group entry on the devices
# admits it), and AD takes it out of `member` when that is set.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba samba-tool ldapsearch ldapmodify openssl python3
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
ldm() { LDAPTLS_CACERT="$AD_CA" ldapmodify -H "$AD_URI" -x -D "$AD_BIND" \
	-y "$AD_PWFILE" >/dev/null; }
members() {	# members() GROUP: its members' CNs, sorted
	ad_search -b "CN=$1,$AD_OU" -s base member |
	    sed -n 's/^member: CN=\([^,]*\),.*/\1/p' | sort | tr '\n' ' '
}
rid() {	# rid() GROUP: the last component of its objectSid
	ad_search -b "CN=$1,$AD_OU" -s base objectSid |
	    sed -n 's/^objectSid:: //p' | python3 -c '
import base64, struct, sys
b = base64.b64decode(sys.stdin.read().strip())
print(struct.unpack("<I", b[-4:])[0])'
}

# the members account sync recorded for AMT-power (what policy apply
# trusts the group to hold), "null" when not known
recorded() {
	c --json account list 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
g = [o.get("members") for o in d.get("items", d.get("objects", []))
     if o.get("kind") == "group" and o["name"] == "AMT-power"]
print(json.dumps(g[0]) if g else "missing")'
}
t_exit "init" 0 c init
ad_config "$S"
ad_policy "$TESTTMP/p1.yaml" sccm:setup,power
t_exit "policy load" 0 c policy load "$TESTTMP/p1.yaml"
t_exit "account sync" 0 c account sync
t_check "AMT-power: svc-sccm" test "$(members AMT-power)" = "svc-sccm "
t_check "  ... its members recorded" test "$(recorded)" = '["sccm"]'

# Someone with rights on the OU makes a user a member of AMT-power and
# then its primary group: AD drops it from `member`.
t_check "a user of someone else's" ldm <<EOF
dn: CN=mallory,$AD_OU
changetype: add
objectClass: user
sAMAccountName: mallory
EOF
t_check "  ... made a member of AMT-power" ldm <<EOF
dn: CN=AMT-power,$AD_OU
changetype: modify
add: member
member: CN=mallory,$AD_OU
EOF
R=$(rid AMT-power)
t_check "  ... and given it as primary group (RID $R)" ldm <<EOF
dn: CN=mallory,$AD_OU
changetype: modify
replace: primaryGroupID
primaryGroupID: $R
EOF
t_check "  ... AD no longer lists it in member" \
	test "$(members AMT-power)" = "svc-sccm "
ad_search -b "CN=mallory,$AD_OU" -s base primaryGroupID > "$TESTTMP/pg"
t_grep "  ... its primaryGroupID is AMT-power's" "^primaryGroupID: $R\$" \
	"$TESTTMP/pg"
gsid=$(ad_search -b "CN=AMT-power,$AD_OU" -s base objectSid |
    sed -n 's/^objectSid:: //p')
ad_search -b "CN=mallory,$AD_OU" -s base tokenGroups > "$TESTTMP/tg"
t_check "  ... and it still holds the group's SID (tokenGroups)" \
	grep -qF "tokenGroups:: $gsid" "$TESTTMP/tg"

for run in 1 2; do
	t_exit "account sync $run: refused (exit 1)" 1 c account sync
	t_grep "  ... naming the hidden member" \
	    "group 'AMT-power': CN=mallory,$AD_OU is a member through its primaryGroupID" \
	    "$TESTTMP/err"
done
t_check "  ... the recorded members are not known while it is there" \
	test "$(recorded)" = null
c audit list > "$TESTTMP/audit"
t_grep "audited" "directory.sync .*refused.*primaryGroupID" "$TESTTMP/audit"
t_exit "account sync --dry-run: says so too" 1 c account sync --dry-run
t_grep "  ... (dry run)" "CN=mallory,$AD_OU is a member through its primaryGroupID" \
	"$TESTTMP/err"

# Once its primary group is Domain Users again, the group is clean.
t_check "mallory's primary group back to Domain Users" ldm <<EOF
dn: CN=mallory,$AD_OU
changetype: modify
replace: primaryGroupID
primaryGroupID: 513
EOF
t_exit "account sync removes the member it lists now" 0 c account sync
t_check "  ... AMT-power: svc-sccm alone" \
	test "$(members AMT-power)" = "svc-sccm "
t_exit "  ... a re-sync is clean" 0 c account sync
t_check "  ... the members recorded again" test "$(recorded)" = '["sccm"]'
t_done
