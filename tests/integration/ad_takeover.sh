#!/bin/sh
# tests/integration/ad_takeover.sh - a directory object custody began and
# did not finish (its row left 'creating': the process died after
# committing the row, before or while adding the object) is finished by
# the next account sync only when the object at its DN is the one custody
# added: custody writes a mark (a MAC of the row under a key derived from
# its data key) into the object's info attribute when it adds it, and an
# object someone else made at the DN meanwhile lacks it; one carrying a
# copy of the mark is told by what the DC sets, its owner and its
# whenCreated. Against a real Samba AD DC (lib_ad.sh): such an object (a
# user with a password of its maker's, a group; a user a delegated
# non-administrator made with the mark copied from custody's; an object
# older than the row) is refused, audited, left as it was (its password,
# its enabled state, its members), and the row stays for the operator;
# once the foreign object is deleted, custody makes its own. A genuine
# crash before and after the add is still finished (custody bound as
# Administrator: the DC makes Domain Admins the owner).
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba samba-tool ldapsearch openssl python3 sqlite3
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
uac() { ad_search -b "CN=$1,$AD_OU" -s base userAccountControl 2>/dev/null |
	    sed -n 's/^userAccountControl: //p'; }
members() { ad_search -b "CN=$1,$AD_OU" -s base member 2>/dev/null |
	    sed -n 's/^member: CN=\([^,]*\),.*/\1/p' | sort | tr '\n' ' '; }
# owner NAME: the owner SID of CN=NAME's nTSecurityDescriptor (asked for
# alone: the SD flags control, OWNER_SECURITY_INFORMATION)
owner() {
	ad_search -b "CN=$1,$AD_OU" -s base \
	    -E '!1.2.840.113556.1.4.801=::MAMCAQE=' nTSecurityDescriptor |
	    python3 -c '
import base64, struct, sys
sd = [l for l in sys.stdin if l.startswith("nTSecurityDescriptor::")]
b = base64.b64decode(sd[0].split("::")[1].strip())
o = struct.unpack_from("<I", b, 4)[0]
print("S-1-%d" % int.from_bytes(b[o + 2:o + 8], "big") + "".join(
    "-%d" % struct.unpack_from("<I", b, o + 8 + 4 * i)[0]
    for i in range(b[o + 1])))'
}
rowstate() { sqlite3 "$S/custody.db" "SELECT state FROM dir_object WHERE \
	    name = '$1'"; }
# someone else, with the DC's own tool, straight into its database
tool() { samba-tool "$@" -s "$AD_DIR/etc/smb.conf" \
	    -H "$AD_DIR/private/sam.ldb" >/dev/null 2>&1; }
# half_made [VAR=VALUE]...: a sync killed while stopped after an add
half_made() {
	env "$@" CUSTODY_TEST_STOP_AT=ad-account-added "$CUSTODYCTL" \
	    --state-dir "$S" account sync >"$TESTTMP/half.out" 2>&1 &
	cpid=$!
	t_wait_stopped $cpid
	kill -KILL $cpid
	wait $cpid 2>/dev/null
}
policy() {	# policy CONSOLE:DUTY[,DUTY]... : load a policy of those
	ad_policy "$TESTTMP/p.yaml" "$@" && c policy load "$TESTTMP/p.yaml" \
	    >/dev/null
}

t_exit "init" 0 c init
ad_config "$S"
policy a:power b:power

# 1. An account: custody dies after committing its row, before the add;
# someone makes a user at its DN with a password of their own.
CUSTODY_TEST_CRASH_AT=ad-account-begun "$CUSTODYCTL" --state-dir "$S" \
	account sync >"$TESTTMP/crash.out" 2>&1
t_check "crashed after the row, before the add (99)" test $? = 99
t_check "svc-a's row is creating" test "$(rowstate svc-a)" = creating
t_check "nothing at its DN yet" test -z "$(uac svc-a)"
t_check "someone else makes CN=svc-a (samba-tool)" tool user add svc-a \
	'Their-Pass.w0rd' --userou=OU=AMT
printf '%s' 'Their-Pass.w0rd' >"$TESTTMP/their.pw"
uac0=$(uac svc-a)
t_exit "the next sync refuses it (exit 1)" 1 c account sync
t_grep "... saying why" \
	"account 'svc-a': custody began an object at CN=svc-a,$AD_OU and stopped before finishing it, and the object there now is not the one custody added" \
	"$TESTTMP/err"
t_check "... its maker's password still works (custody set none)" sh -c '
	LDAPTLS_CACERT="$1" ldapsearch -LLL -H "$2" -x -D "svc-a@custody.test" \
	    -y "$3" -s base -b "" dn >/dev/null 2>&1' _ "$AD_CA" "$AD_URI" \
	"$TESTTMP/their.pw"
t_check "... its userAccountControl unchanged ($uac0)" test "$(uac svc-a)" = "$uac0"
t_check "... not in custody's group" sh -c \
	'! echo "$1" | grep -q "svc-a "' _ "$(members AMT-power)"
t_check "... the row left creating for the operator" \
	test "$(rowstate svc-a)" = creating
t_exit "... no password handed out" 4 c account password svc-a
c audit list >"$TESTTMP/audit" 2>&1
t_grep "... audited as refused" \
	'directory\.sync +svc-a +refused .*not the one custody added' "$TESTTMP/audit"
t_check "the other console synced" test "$(uac svc-b)" = 66048
t_exit "a second sync refuses it again" 1 c account sync
t_check "... still their password" sh -c '
	LDAPTLS_CACERT="$1" ldapsearch -LLL -H "$2" -x -D "svc-a@custody.test" \
	    -y "$3" -s base -b "" dn >/dev/null 2>&1' _ "$AD_CA" "$AD_URI" \
	"$TESTTMP/their.pw"

# 2. A group: the same for a new duty's group (inventory); it gets no members.
policy a:power b:power,inventory
CUSTODY_TEST_CRASH_AT=ad-group-begun "$CUSTODYCTL" --state-dir "$S" \
	account sync >"$TESTTMP/crash.out" 2>&1
t_check "crashed after AMT-inventory's row, before the add (99)" test $? = 99
t_check "AMT-inventory's row is creating" test "$(rowstate AMT-inventory)" = creating
t_check "someone else makes CN=AMT-inventory (samba-tool)" tool group add \
	AMT-inventory --groupou=OU=AMT
t_exit "the next sync refuses it (exit 1)" 1 c account sync
t_grep "... saying why" \
	"group 'AMT-inventory': custody began an object at CN=AMT-inventory,$AD_OU and stopped before finishing it" \
	"$TESTTMP/err"
t_check "... svc-b not added to it" test -z "$(members AMT-inventory)"
t_check "... the row left creating" test "$(rowstate AMT-inventory)" = creating

# 3. Genuine crashes are still finished: after the add (the process
# killed while stopped there) and before it.
policy a:power b:power,inventory c:power d:power
half_made
t_check "svc-c added, disabled, row creating" test \
	"$(uac svc-c) $(rowstate svc-c)" = "514 creating"
ad_search -b "CN=svc-c,$AD_OU" -s base info >"$TESTTMP/c.ldif"
t_grep "... carrying custody's mark" '^info: custody-mark:v1:[0-9a-f]{32}$' \
	"$TESTTMP/c.ldif"
t_check "... its owner Domain Admins (custody binds as Administrator)" sh -c \
	'echo "$1" | grep -Eq "^S-1-5-21-[0-9]+-[0-9]+-[0-9]+-512$"' _ \
	"$(owner svc-c)"
CUSTODY_TEST_CRASH_AT=ad-account-begun "$CUSTODYCTL" --state-dir "$S" \
	account sync >"$TESTTMP/crash.out" 2>&1
t_check "svc-c finished by the next sync, which dies at svc-d's add (99)" \
	test $? = 99
t_check "svc-c: enabled, active" test "$(uac svc-c) $(rowstate svc-c)" = \
	"66048 active"
t_check "svc-d: row creating, nothing in AD" test \
	"$(rowstate svc-d):$(uac svc-d)" = "creating:"
t_exit "the next sync (svc-a and AMT-inventory still refused): exit 1" 1 \
	c account sync
t_check "svc-d made: enabled, active" test "$(uac svc-d) $(rowstate svc-d)" = \
	"66048 active"
t_check "svc-c and svc-d in AMT-power" sh -c \
	'echo "$1" | grep -q "svc-c svc-d "' _ "$(members AMT-power)"
t_exit "account password svc-c" 0 c account password svc-c

# 4. The mark copied. custody dies after adding svc-e (the object carries
# the mark, the row is creating). mallory, a domain user who is no
# administrator but was delegated reading, creating and deleting OU=AMT's
# children (samba-tool dsacl), reads the mark, deletes custody's object
# and makes her own at the DN with the same info: the DC makes her its
# owner, which she cannot change. custody refuses it: nothing changed on
# it (its uSNChanged), no password, not a member, the row left.
policy a:power b:power,inventory c:power d:power e:power
t_check "a domain user mallory (not an administrator)" tool user add \
	mallory 'Mall0ry-Pass.w0rd'
msid=$(samba-tool user show mallory --attributes=objectSid \
	-s "$AD_DIR/etc/smb.conf" -H "$AD_DIR/private/sam.ldb" 2>/dev/null |
	sed -n 's/^objectSid: //p')
t_check "... delegated read, create and delete child on OU=AMT ($msid)" \
	tool dsacl set --objectdn="$AD_OU" --sddl="(A;CI;RPCCDCLC;;;$msid)"
(umask 077; printf '%s' 'Mall0ry-Pass.w0rd' >"$TESTTMP/mallory.pw")
mal() { LDAPTLS_CACERT="$AD_CA" LDAPTLS_REQCERT=demand "$@" -H "$AD_URI" -x \
	    -D "mallory@custody.test" -y "$TESTTMP/mallory.pw" \
	    >"$TESTTMP/mal.out" 2>&1; }
attr() { ad_search -b "CN=$1,$AD_OU" -s base "$2" 2>/dev/null |
	    sed -n "s/^$2: //p"; }
half_made
t_check "svc-e added, disabled, row creating" test \
	"$(uac svc-e) $(rowstate svc-e)" = "514 creating"
mal ldapsearch -LLL -o ldif-wrap=no -b "CN=svc-e,$AD_OU" -s base info
cp "$TESTTMP/mal.out" "$TESTTMP/e.ldif"
t_grep "mallory reads its mark" '^info: custody-mark:v1:[0-9a-f]{32}$' \
	"$TESTTMP/e.ldif"
emark=$(sed -n 's/^info: //p' "$TESTTMP/e.ldif")
t_check "mallory deletes custody's svc-e" mal ldapdelete "CN=svc-e,$AD_OU"
printf 'dn: CN=svc-e,%s\nobjectClass: user\nsAMAccountName: svc-e\ninfo: %s\n' \
	"$AD_OU" "$emark" >"$TESTTMP/e-mal.ldif"
t_check "mallory makes her own svc-e carrying the mark" \
	mal ldapadd -f "$TESTTMP/e-mal.ldif"
t_check "... the DC made her its owner" test "$(owner svc-e)" = "$msid"
usn0=$(attr svc-e uSNChanged)
t_exit "the next sync refuses it (exit 1)" 1 c account sync
t_grep "... saying why (its owner is mallory)" \
	"account 'svc-e': custody began an object at CN=svc-e,$AD_OU and stopped before finishing it; the object there now carries custody's mark but its owner is $msid, not the account custody binds as" \
	"$TESTTMP/err"
t_check "... nothing changed on it (uSNChanged $usn0, info, no password)" \
	test "$(attr svc-e uSNChanged) $(attr svc-e info) $(attr svc-e pwdLastSet)" \
	= "$usn0 $emark 0"
t_check "... not in custody's group" sh -c \
	'! echo "$1" | grep -q "svc-e "' _ "$(members AMT-power)"
t_check "... the row left creating" test "$(rowstate svc-e)" = creating
t_exit "... no password handed out" 4 c account password svc-e
c audit list >"$TESTTMP/audit" 2>&1
t_grep "... audited as refused" \
	'directory\.sync +svc-e +refused .*carries custody.s mark but its owner is' \
	"$TESTTMP/audit"

# 5. An object made before custody began its row is not custody's either
# (whenCreated): the row of svc-f is made an hour ahead (CUSTODY_TEST_NOW),
# so the object custody adds then carries a whenCreated an hour before it.
policy a:power b:power,inventory c:power d:power e:power f:power
half_made CUSTODY_TEST_NOW=+3600
t_check "svc-f added, disabled, row creating" test \
	"$(uac svc-f) $(rowstate svc-f)" = "514 creating"
usn0=$(attr svc-f uSNChanged)
t_exit "the next sync refuses it (exit 1)" 1 c account sync
t_grep "... saying why (created before the row)" \
	"account 'svc-f': .*carries custody's mark but it was created at .*, before custody began it at " \
	"$TESTTMP/err"
t_check "... nothing changed on it" test "$(uac svc-f) $(attr svc-f uSNChanged)" \
	= "514 $usn0"
t_check "... the row left creating" test "$(rowstate svc-f)" = creating

# 5b. A computer added through the machine account quota: any domain
# user may add computers (ms-DS-MachineAccountQuota, 10 by default) where
# she may not create children, and the DC then makes Domain Admins the
# owner and records her in mS-DS-CreatorSID. Custody bound as
# Administrator takes Domain Admins for its own owner, so the creator
# decides. Samba 4.17 has no quota path: emulated by making the object
# as Administrator (owner Domain Admins) and writing its creator straight
# into the DC's database. mallory deleted custody's half-made svc-h and
# made that computer with the mark copied.
policy a:power b:power,inventory c:power d:power e:power f:power h:power
half_made
t_check "svc-h added, disabled, row creating" test \
	"$(uac svc-h) $(rowstate svc-h)" = "514 creating"
hmark=$(attr svc-h info)
t_check "custody's svc-h deleted" tool user delete svc-h
printf 'dn: CN=svc-h,%s\nobjectClass: computer\nsAMAccountName: svc-h$\ninfo: %s\n' \
	"$AD_OU" "$hmark" >"$TESTTMP/h-mal.ldif"
t_check "a computer CN=svc-h carrying the mark, owner Domain Admins" sh -c '
	LDAPTLS_CACERT="$1" LDAPTLS_REQCERT=demand ldapadd -H "$2" -x -D "$3" \
	    -y "$4" -f "$5" >/dev/null' _ "$AD_CA" "$AD_URI" "$AD_BIND" \
	"$AD_PWFILE" "$TESTTMP/h-mal.ldif"
t_check "... its owner Domain Admins" sh -c \
	'echo "$1" | grep -Eq "^S-1-5-21-[0-9]+-[0-9]+-[0-9]+-512$"' _ \
	"$(owner svc-h)"
t_check "... its mS-DS-CreatorSID mallory's" /usr/bin/python3 -c '
import sys, ldb
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
from samba.dcerpc import security
from samba.ndr import ndr_pack
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)
m = ldb.Message()
m.dn = ldb.Dn(db, sys.argv[3])
m["c"] = ldb.MessageElement(ndr_pack(security.dom_sid(sys.argv[4])),
    ldb.FLAG_MOD_REPLACE, "mS-DS-CreatorSID")
db.modify(m, controls=["relax:0"])' "$AD_DIR/etc/smb.conf" \
	"$AD_DIR/private/sam.ldb" "CN=svc-h,$AD_OU" "$msid"
usn0=$(attr svc-h uSNChanged)
t_exit "the next sync refuses it (exit 1)" 1 c account sync
t_grep "... saying why (made by mallory)" \
	"account 'svc-h': .*carries custody's mark but it was made by $msid \\(mS-DS-CreatorSID" \
	"$TESTTMP/err"
t_check "... nothing changed on it (uSNChanged $usn0, no password)" test \
	"$(attr svc-h uSNChanged) $(attr svc-h pwdLastSet)" = "$usn0 0"
t_check "... the row left creating" test "$(rowstate svc-h)" = creating

# 6. The operator deletes the foreign objects: custody makes its own.
t_check "the foreign svc-a deleted" tool user delete svc-a
t_check "the foreign AMT-inventory deleted" tool group delete AMT-inventory
t_check "mallory's svc-e deleted" tool user delete svc-e
t_check "the early svc-f deleted" tool user delete svc-f
t_check "the quota computer svc-h deleted" tool computer delete svc-h
t_exit "the next sync makes custody's own: exit 0" 0 c account sync
t_check "svc-a: enabled, active" test "$(uac svc-a) $(rowstate svc-a)" = \
	"66048 active"
t_check "svc-e, svc-f and svc-h: enabled, active" test \
	"$(uac svc-e) $(rowstate svc-e) $(uac svc-f) $(rowstate svc-f) $(uac svc-h) $(rowstate svc-h)" = \
	"66048 active 66048 active 66048 active"
t_check "AMT-inventory active, svc-b in it" test \
	"$(rowstate AMT-inventory) $(members AMT-inventory)" = "active svc-b "
t_check "their password does not work any more" sh -c '
	! LDAPTLS_CACERT="$1" ldapsearch -LLL -H "$2" -x -D "svc-a@custody.test" \
	    -y "$3" -s base -b "" dn >/dev/null 2>&1' _ "$AD_CA" "$AD_URI" \
	"$TESTTMP/their.pw"
t_exit "re-sync: no-op" 0 c --json account sync
t_check "no changes" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	"$TESTTMP/out"

# 7. custody bound as a delegated account that is no administrator: the
# DC makes that account (not Domain Admins) the owner of what it adds,
# and a genuine crash after the add is still finished.
S2="$TESTTMP/state2"
c2() { cc --state-dir "$S2" "$@"; }
t_check "a delegated account custody-svc" tool user add custody-svc \
	'Cust0dy-Svc.pass'
csid=$(samba-tool user show custody-svc --attributes=objectSid \
	-s "$AD_DIR/etc/smb.conf" -H "$AD_DIR/private/sam.ldb" 2>/dev/null |
	sed -n 's/^objectSid: //p')
t_check "... given OU=AMT's children (dsacl)" tool dsacl set \
	--objectdn="$AD_OU" --sddl="(A;CI;RPWPCRCCDCLCLORCSDSW;;;$csid)"
(umask 077; printf '%s' 'Cust0dy-Svc.pass' >"$TESTTMP/svc.pw")
t_exit "init a second state" 0 c2 init
ad_config "$S2" "    group_prefix: B-"
sed -i "s|bind: .*|bind: custody-svc@custody.test|; s|bind_password_file: .*|bind_password_file: $TESTTMP/svc.pw|" \
	"$S2/custody.yaml"
ad_policy "$TESTTMP/p2.yaml" g:power && c2 policy load "$TESTTMP/p2.yaml" \
	>/dev/null
CUSTODY_TEST_STOP_AT=ad-account-added "$CUSTODYCTL" --state-dir "$S2" \
	account sync >"$TESTTMP/half.out" 2>&1 &
cpid=$!
t_wait_stopped $cpid
kill -KILL $cpid
wait $cpid 2>/dev/null
t_check "svc-g added by custody-svc, disabled, its owner custody-svc" \
	test "$(uac svc-g) $(owner svc-g)" = "514 $csid"
t_exit "the next sync finishes it: exit 0" 0 c2 account sync
t_check "svc-g: enabled, in B-power" test "$(uac svc-g) $(members B-power)" = \
	"66048 svc-g "
t_done
