#!/bin/sh
# tests/integration/ad_sync.sh - account sync against a real Samba AD DC
# (tests/integration/lib_ad.sh): the policy's Kerberos consoles become AD
# service accounts, one group per duty, memberships exactly as the policy
# says, SIDs read back; the password custody sealed works for an LDAP bind
# and kinit against Samba's KDC; a dry run changes nothing; a re-sync is a
# no-op; a policy change removes memberships and disables the account of
# a console that left; objects custody did not create are refused; names
# with LDAP's special characters are escaped or refused.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba samba-tool ldapsearch openssl python3
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
users() {	# the sAMAccountNames of the users in the OU, sorted
	ad_search -b "$AD_OU" "(objectClass=user)" sAMAccountName |
	    sed -n 's/^sAMAccountName: //p' | sort | tr '\n' ' '
}
members() {	# members() GROUP: its members' CNs, sorted
	ad_search -b "CN=$1,$AD_OU" -s base member |
	    sed -n 's/^member: CN=\([^,]*\),.*/\1/p' | sort | tr '\n' ' '
}
uac() { ad_search -b "CN=$1,$AD_OU" -s base userAccountControl |
	    sed -n 's/^userAccountControl: //p'; }

t_exit "init" 0 c init
ad_config "$S"
cat >"$TESTTMP/p1.yaml" <<EOF
version: 1
owner: sccm
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  sccm:
    identity: {kerberos: "svc-sccm@CUSTODY.TEST"}
    duties: [setup, power, inventory]
  secsuite:
    identity: {kerberos: "svc-sec@CUSTODY.TEST"}
    duties: [system-defense, power]
  other-realm:
    identity: {kerberos: "svc-mit@MIT.CUSTODY.TEST"}
    duties: [audit]
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p1.yaml"

# A dry run reads AD and says what it would do; nothing is made.
t_exit "account sync --dry-run" 0 c account sync --dry-run
t_grep "dry run: would add the account" \
	'^would add CN=svc-sccm,OU=AMT,DC=custody,DC=test \(user svc-sccm' \
	"$TESTTMP/out"
t_grep "dry run: would add a member" \
	'^would modify CN=AMT-power,.*: add member CN=svc-sec,' "$TESTTMP/out"
t_check "dry run: no secret in its output" \
	sh -c '! grep -qi "unicodePwd:" "$1"' _ "$TESTTMP/out"
t_check "dry run: nothing made in AD" test "$(users)" = ""

t_exit "account sync" 0 c --json account sync
cp "$TESTTMP/out" "$TESTTMP/sync1.json"
t_check "accounts made: the realm's consoles only" \
	test "$(users)" = "svc-sccm svc-sec "
t_check "one group per duty held" sh -c '
	n=$(LDAPTLS_CACERT="$1" ldapsearch -LLL -H "$2" -x -D "$3" -y "$4" \
	    -b "$5" "(objectClass=group)" cn | grep -c "^cn: AMT-")
	[ "$n" -eq 4 ]' _ "$AD_CA" "$AD_URI" "$AD_BIND" "$AD_PWFILE" "$AD_OU"
t_check "AMT-power: both consoles" test "$(members AMT-power)" = \
	"svc-sccm svc-sec "
t_check "AMT-setup: sccm only" test "$(members AMT-setup)" = "svc-sccm "
t_check "AMT-system-defense: secsuite only" \
	test "$(members AMT-system-defense)" = "svc-sec "
t_check "accounts enabled, password never expires" \
	test "$(uac svc-sccm)" = 66048
ad_search -b "CN=svc-sccm,$AD_OU" -s base userPrincipalName \
	'msDS-SupportedEncryptionTypes' objectSid >"$TESTTMP/sccm.ldif"
t_grep "userPrincipalName" '^userPrincipalName: svc-sccm@CUSTODY.TEST$' \
	"$TESTTMP/sccm.ldif"
t_grep "AES only" '^msDS-SupportedEncryptionTypes: 24$' "$TESTTMP/sccm.ldif"
t_check "the SID custody read back is AD's" python3 - "$TESTTMP/sync1.json" \
	"$TESTTMP/sccm.ldif" <<'EOF'
import json, sys
acc = [a for a in json.load(open(sys.argv[1]))["accounts"]
       if a["name"] == "svc-sccm"][0]
ldif = [l.split(":: ", 1)[1].strip() for l in open(sys.argv[2])
        if l.startswith("objectSid:: ")]
sys.exit(not (ldif and acc["sid_b64"] == ldif[0] and
              acc["sid"].startswith("S-1-5-21-")))
EOF
t_exit "account list" 0 c account list
t_grep "account list shows the SIDs" \
	'^account svc-sec active S-1-5-21-[0-9-]+ CN=svc-sec,OU=AMT' \
	"$TESTTMP/out"

# The password custody sealed is the account's: an LDAP bind and a
# Kerberos ticket from Samba's KDC with it (never on a command line).
t_exit "account password" 0 c account password svc-sccm
pw=$(cat "$TESTTMP/out")
printf '%s' "$pw" >"$TESTTMP/svc.pw"
chmod 600 "$TESTTMP/svc.pw"
t_check "the password is 32 characters" test ${#pw} -eq 32
t_check "LDAP bind as the service account" sh -c '
	LDAPTLS_CACERT="$1" ldapsearch -LLL -H "$2" -x -D "svc-sccm@custody.test" \
	    -y "$3" -s base -b "" dn >/dev/null' _ "$AD_CA" "$AD_URI" "$TESTTMP/svc.pw"
ad_krb5_conf "$TESTTMP/krb5.conf"
if t_need kinit; then
	t_check "kinit with the sealed password" sh -c '
	    KRB5_CONFIG="$1" KRB5CCNAME="FILE:$2" kinit svc-sccm@CUSTODY.TEST \
	        <"$3" >/dev/null 2>&1' _ "$TESTTMP/krb5.conf" "$TESTTMP/cc" \
	    "$TESTTMP/svc.pw"
else
	t_skip "kinit with the sealed password" "kinit is not installed (krb5-user)"
fi
t_grep "the password read is audited" 'directory\.password' \
	"$(c audit list >"$TESTTMP/audit" 2>&1; echo "$TESTTMP/audit")"
t_check "no password in the audit log" sh -c '! grep -qF "$1" "$2"' _ \
	"$pw" "$TESTTMP/audit"

# Again: nothing to do.
t_exit "re-sync" 0 c --json account sync
t_check "re-sync is a no-op" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["changes"] == 0 and r["operations"] == [] and r["ok"]))' \
	"$TESTTMP/out"
t_check "re-sync kept the password" sh -c '
	LDAPTLS_CACERT="$1" ldapsearch -LLL -H "$2" -x -D "svc-sccm@custody.test" \
	    -y "$3" -s base -b "" dn >/dev/null' _ "$AD_CA" "$AD_URI" "$TESTTMP/svc.pw"

# Someone who writes custody.db without the master key: every dir_object
# and dir_secret row is MAC'd; a changed or forged row stops the sync and
# the reads with the row named (exit 5), and nothing is done in AD.
if t_need sqlite3; then
	db() { sqlite3 "$S/custody.db" "$@"; }
	snap() {	# the store and its rollback counter, to undo a tampering
		db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
		cp "$S/custody.db" "$TESTTMP/clean.db"
		cp "$S/seal/counter" "$TESTTMP/clean.counter"
	}
	back() {
		db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
		rm -f "$S/custody.db-wal" "$S/custody.db-shm"
		cp "$TESTTMP/clean.db" "$S/custody.db"
		cp "$TESTTMP/clean.counter" "$S/seal/counter"
	}
	present() { ad_search -b "$1" -s base dn | grep -q '^dn: '; }
	admin_dn="CN=Administrator,CN=Users,$AD_BASE"
	t_check "every directory row has a MAC" test "$(db "SELECT
	    (SELECT count(*) FROM dir_object WHERE mac IS NULL) +
	    (SELECT count(*) FROM dir_secret WHERE mac IS NULL)")" -eq 0
	snap
	# AMT-power's SID set to AMT-setup's: a device ACL would admit the
	# wrong group
	gid=$(db "SELECT id FROM dir_object WHERE name = 'AMT-power'")
	db "UPDATE dir_object SET sid = (SELECT sid FROM dir_object WHERE
	    name = 'AMT-setup') WHERE id = $gid"
	t_exit "a group's SID swapped: account sync exit 5" 5 c account sync
	t_grep "the altered row is named" \
	    "row dir_object\(id=$gid\) was altered outside custody" \
	    "$TESTTMP/err"
	t_exit "a group's SID swapped: account list exit 5" 5 c account list
	back
	# a forged device row would make the sync delete the object its DN
	# names (the domain's Administrator here)
	db "INSERT INTO dir_object(kind, name, dn, owner, state, created,
	    changed) VALUES ('device', 'amt-00000000000', '$admin_dn',
	    'gone.example', 'active', 1, 1)"
	t_exit "a forged device row: account sync exit 5" 5 c account sync
	t_grep "the forged row is named" \
	    "row dir_object\(id=[0-9]+\) was altered outside custody" \
	    "$TESTTMP/err"
	t_check "the Administrator was not deleted" present "$admin_dn"
	back
	# a password row changed: the password is not handed out
	oid=$(db "SELECT id FROM dir_object WHERE name = 'svc-sccm'")
	db "UPDATE dir_secret SET created = created - 1 WHERE object_id = $oid
	    AND state = 'current'"
	t_exit "an altered password row: account password exit 5" 5 \
	    c account password svc-sccm
	t_grep "the altered password row is named" \
	    "row dir_secret\(object_id=$oid, version=[0-9]+\) was altered" \
	    "$TESTTMP/err"
	back
	t_exit "the store put back: account sync" 0 c --json account sync
	t_check "nothing to do" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	    "$TESTTMP/out"
else
	t_skip "directory row MACs" "sqlite3 is not installed"
fi

# A DC that gives a group's members a range at a time (AD's MaxValRange:
# "member;range=0-1499", then the rest on request; the test hook makes
# custody ask Samba for one value at a time): every member is read, so a
# re-sync changes nothing, and the removals below see every member.
export CUSTODY_TEST_LDAP_RANGE=1
t_exit "re-sync, members read one at a time" 0 c --json account sync
t_check "members read one at a time: no change" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	"$TESTTMP/out"

# group_prefix changed: the new groups get the members, custody's old
# groups of the same duties are emptied (no stale way to a device's ACL);
# changed back, the other way round.
ad_config "$S" "    group_prefix: X-"
t_exit "sync with group_prefix X-" 0 c account sync
t_check "X-setup has sccm" test "$(members X-setup)" = "svc-sccm "
t_check "AMT-setup is emptied" test "$(members AMT-setup)" = ""
ad_config "$S"
t_exit "sync with the prefix back" 0 c account sync
t_check "AMT-setup has sccm again" test "$(members AMT-setup)" = "svc-sccm "
t_check "X-setup is emptied" test "$(members X-setup)" = ""

# The policy changes: secsuite loses power, sccm leaves.
cat >"$TESTTMP/p2.yaml" <<EOF
version: 1
owner: secsuite
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  secsuite:
    identity: {kerberos: "svc-sec@CUSTODY.TEST"}
    duties: [system-defense]
EOF
t_exit "policy load (changed)" 0 c policy load "$TESTTMP/p2.yaml"
t_exit "sync after the change" 0 c account sync
t_grep "the membership removal is said" \
	'^modify CN=AMT-power,.*: delete member CN=svc-sec,' "$TESTTMP/out"
t_check "AMT-power is empty" test "$(members AMT-power)" = ""
t_check "AMT-setup lost sccm" test "$(members AMT-setup)" = ""
t_check "AMT-system-defense kept secsuite" \
	test "$(members AMT-system-defense)" = "svc-sec "
t_check "sccm's account disabled, not deleted" test "$(uac svc-sccm)" = 66050
t_check "secsuite's account still enabled" test "$(uac svc-sec)" = 66048
t_exit "re-sync after the change: no-op" 0 c --json account sync
t_check "no changes" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	"$TESTTMP/out"
unset CUSTODY_TEST_LDAP_RANGE
t_exit "the first policy again" 0 c policy load "$TESTTMP/p1.yaml"
t_exit "sync: sccm back" 0 c account sync
t_check "sccm's account enabled again" test "$(uac svc-sccm)" = 66048
t_check "AMT-power: both again" test "$(members AMT-power)" = \
	"svc-sccm svc-sec "

# An object custody did not make is refused, not adopted; the others
# are synced.
samba-tool user add svc-taken 'Taken-Pass.w0rd' -s "$AD_DIR/etc/smb.conf" \
	-H "ldaps://127.0.0.1" -U "Administrator%$AD_PW" \
	--userou=OU=AMT >/dev/null 2>&1 ||
	LDAPTLS_CACERT="$AD_CA" ldapadd -H "$AD_URI" -x -D "$AD_BIND" \
	    -y "$AD_PWFILE" >/dev/null <<EOF
dn: CN=svc-taken,$AD_OU
objectClass: user
sAMAccountName: svc-taken
EOF
# Names with LDAP's special characters: '#' and parentheses are valid in
# AD and escaped; '*', '=', ',' and the like are refused before anything
# is sent.
cat >"$TESTTMP/p3.yaml" <<EOF
version: 1
owner: sccm
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  sccm:
    identity: {kerberos: "svc-sccm@CUSTODY.TEST"}
    duties: [setup, power, inventory]
  taken:
    identity: {kerberos: "svc-taken@CUSTODY.TEST"}
    duties: [power]
  hash:
    identity: {kerberos: "#inj(a)@CUSTODY.TEST"}
    duties: [power]
  star:
    identity: {kerberos: "x)(sn*@CUSTODY.TEST"}
    duties: [power]
  comma:
    identity: {kerberos: "a,OU=evil@CUSTODY.TEST"}
    duties: [power]
  backslash:
    identity: {kerberos: "a\\\\5c@CUSTODY.TEST"}
    duties: [power]
EOF
t_exit "policy load (hostile names)" 0 c policy load "$TESTTMP/p3.yaml"
t_exit "sync refuses some, exit 1" 1 c account sync
t_grep "the foreign object is refused" \
	"account 'svc-taken' exists in AD .*custody did not create it" \
	"$TESTTMP/err"
t_grep "'*' refused" "console 'star': .* cannot hold '\\*'" "$TESTTMP/err"
t_grep "',' refused" "console 'comma': .* cannot hold ','" "$TESTTMP/err"
t_grep "'\\\\' refused" "console 'backslash': .* cannot hold" "$TESTTMP/err"
t_grep "'#' and parentheses escaped in the DN" \
	'^add CN=\\#inj\(a\),OU=AMT,DC=custody,DC=test \(user #inj\(a\)' \
	"$TESTTMP/out"
t_check "the escaped name is exactly the account's" sh -c '
	LDAPTLS_CACERT="$1" ldapsearch -LLL -o ldif-wrap=no -H "$2" -x -D "$3" \
	    -y "$4" -b "$5" "(sAMAccountName=#inj\\28a\\29)" sAMAccountName |
	    grep -qx "sAMAccountName: #inj(a)"' _ "$AD_CA" "$AD_URI" "$AD_BIND" \
	"$AD_PWFILE" "$AD_OU"
t_check "nothing else was made" test "$(users)" = \
	"#inj(a) svc-sccm svc-sec svc-taken "
t_check "the foreign account was left alone" test "$(uac svc-taken)" != 66048
c audit list >"$TESTTMP/audit" 2>&1
t_grep "refusals are audited" 'directory\.sync.*refused' "$TESTTMP/audit"
t_exit "re-sync with the refusals: still exit 1, no change" 1 c --json account sync
t_check "no change" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	"$TESTTMP/out"

# The same through custodyd (remote mode, the bootstrap admin): the
# service reads directory.ad and syncs in a worker.
if [ -x "$BUILD/custodyd" ] && t_custodyd "$S" "$TESTTMP/d.log" \
    --listen 127.0.0.1:0; then
	r() { cc --server "https://127.0.0.1:$T_PORT" --cacert \
	    "$S/ca/bundle.pem" --cert "$S/admin/admin.crt" --key \
	    "$S/admin/admin.key" "$@"; }
	t_exit "remote account sync: the same refusals, exit 1" 1 \
	    r --json account sync
	t_check "remote: no change" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["changes"] == 0 and len(r["errors"]) == 4))' "$TESTTMP/out"
	t_exit "remote account list" 0 r account list
	t_grep "remote: the accounts" '^account svc-sccm active S-1-5-21-' \
	    "$TESTTMP/out"
	kill "$T_DPID" 2>/dev/null
	wait "$T_DPID" 2>/dev/null
else
	t_fail "custodyd starts"
fi

# A revoked console keeps no directory access: console revoke disables
# its account and takes it out of custody's groups at once, and the
# sync does not bring it back (the revoked console is not wanted).
t_check "sccm is enabled and in AMT-power" sh -c '[ "$1" = 66048 ] &&
	echo "$2" | grep -q svc-sccm' _ "$(uac svc-sccm)" "$(members AMT-power)"
disables() { c audit list 2>/dev/null | grep -c 'directory\.disable svc-sccm ok'; }
n0=$(disables)
t_exit "console add sccm" 0 c console add sccm -o "$TESTTMP/sccm-cert"
t_exit "console revoke sccm" 0 c console revoke sccm
t_grep "the revocation says the account is disabled" \
	'^its AD object CN=svc-sccm,OU=AMT,DC=custody,DC=test disabled$' \
	"$TESTTMP/out"
t_check "sccm's account disabled at once" test "$(uac svc-sccm)" = 66050
t_check "sccm is in no group of custody's" sh -c '! echo "$1$2$3" |
	grep -q svc-sccm' _ "$(members AMT-power)" "$(members AMT-setup)" \
	"$(members AMT-inventory)"
t_check "the disabling is audited" test "$(disables)" -eq $((n0 + 1))
t_exit "account sync after the revocation (the refusals: exit 1)" 1 \
	c account sync
t_check "the sync leaves sccm disabled" test "$(uac svc-sccm)" = 66050
t_check "and out of the groups" sh -c '! echo "$1$2$3" | grep -q svc-sccm' \
	_ "$(members AMT-power)" "$(members AMT-setup)" \
	"$(members AMT-inventory)"
# The DC down at the revocation: the revocation stands, a warning says
# what was not done, and the next sync does it.
t_exit "console add secsuite" 0 c console add secsuite -o "$TESTTMP/sec-cert"
c policy load "$TESTTMP/p1.yaml" >/dev/null 2>&1
c account sync >/dev/null 2>&1
t_check "secsuite enabled" test "$(uac svc-sec)" = 66048
ad_stop
t_exit "console revoke secsuite, the DC down" 0 c console revoke secsuite
t_grep "the warning names the account" \
	'warning: the AD object CN=svc-sec,OU=AMT,DC=custody,DC=test of secsuite was not disabled' \
	"$TESTTMP/err"
ad_start
t_exit "the next sync" 0 c account sync
t_check "secsuite's account disabled by it" test "$(uac svc-sec)" = 66050
t_check "and out of AMT-power" sh -c '! echo "$1" | grep -q svc-sec' _ \
	"$(members AMT-power)"

# custody's group deleted and made again at the same DN by someone else
# (who then decides its members): not custody's object any more, so it
# is neither emptied nor used; the objectSid custody read back tells.
ldm() { LDAPTLS_CACERT="$AD_CA" ldapmodify -H "$AD_URI" -x -D "$AD_BIND" \
	-y "$AD_PWFILE" >/dev/null; }
t_check "AMT-power deleted by someone" ldm <<EOF
dn: CN=AMT-power,$AD_OU
changetype: delete
EOF
t_check "and a group of theirs made at its DN" ldm <<EOF
dn: CN=AMT-power,$AD_OU
changetype: add
objectClass: group
sAMAccountName: AMT-power
member: CN=Administrator,CN=Users,$AD_BASE

EOF
t_exit "account sync: the impostor refused, exit 1" 1 c account sync
t_grep "the refusal names the object and both SIDs" \
	"group 'AMT-power': the object at CN=AMT-power,$AD_OU is not the one custody made \\(objectSid S-1-5-21-[0-9-]+, custody made S-1-5-21-[0-9-]+\\)" \
	"$TESTTMP/err"
t_check "its member was left alone" test "$(members AMT-power)" = \
	"Administrator "

# An object of someone else's at the DN custody would give a new account
# (under another sAMAccountName, so the name check does not see it): the
# add is refused by AD, and custody refuses too, now and at the next
# sync, rather than set that object's password and enable it.
t_check "someone's user at CN=svc-new" ldm <<EOF
dn: CN=svc-new,$AD_OU
changetype: add
objectClass: user
sAMAccountName: theirs-new

EOF
uac0=$(uac svc-new)
cat >"$TESTTMP/p4.yaml" <<EOF
version: 1
owner: newc
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  newc:
    identity: {kerberos: "svc-new@CUSTODY.TEST"}
    duties: [setup]
EOF
t_exit "policy load (a console named like their object)" 0 \
	c policy load "$TESTTMP/p4.yaml"
for run in 1 2; do
	t_exit "sync $run: refused (exit 1)" 1 c account sync
	t_grep "  ... saying the object is not custody's" \
	    "console 'newc': an object is at CN=svc-new,$AD_OU already and custody did not create it" \
	    "$TESTTMP/err"
	t_check "  ... their object untouched" test "$(uac svc-new)" = "$uac0"
done
t_exit "account list" 0 c account list
t_check "  ... no row for it" sh -c '! grep -q svc-new "$1"' _ "$TESTTMP/out"
t_done
