#!/bin/sh
# tests/integration/ad_device.sh - AMT device objects in a real Samba AD DC
# (tests/integration/lib_ad.sh): each device the policy gives Kerberos ACL
# entries gets an AD object with the six SPNs of reference/amt.md section 5
# and a password custody sealed; a service ticket a console gets for the
# device's SPN decrypts with keys derived from that password (AD's salt
# rule); a device out of Kerberos scope gets none; an SPN another object
# holds is refused; a re-sync is a no-op; removing the device deletes its
# object.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba ldapsearch ldapadd python3
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
spns() {	# spns FQDN: the SPNs of the object CN=FQDN, sorted
	ad_search -b "CN=$1,$AD_OU" -s base servicePrincipalName 2>/dev/null |
	    sed -n 's/^servicePrincipalName: //p' | sort | tr '\n' ' '
}
want_spns() {
	printf 'HTTP/%s:16992 HTTP/%s:16993 HTTP/%s:16994 HTTP/%s:16995 HTTP/%s:623 HTTP/%s:664\n' \
	    "$1" "$1" "$1" "$1" "$1" "$1" | tr ' ' '\n' | sort | tr '\n' ' '
}

t_exit "init" 0 c init
ad_config "$S"
for d in d1 d2; do
	t_exit "device add $d (tag krb)" 0 c device add $d.corp.test --tag krb
done
t_exit "device add d9 (no tag)" 0 c device add d9.corp.test
# FQDNs with LDAP's special characters never become devices, so never
# reach a DN, a filter or an SPN (the DN is escaped all the same).
for f in 'a,b.corp.test' 'a*.corp.test' 'a(b).corp.test' '#a.corp.test' \
    'a\5c.corp.test' 'a=b.corp.test' 'a+b.corp.test' 'a b.corp.test'; do
	t_exit "device add '$f' refused" 2 c device add "$f" --tag krb
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

t_exit "account sync --dry-run" 0 c account sync --dry-run
t_grep "dry run: the device object" \
	'^would add CN=d1\.corp\.test,OU=AMT,DC=custody,DC=test \(user amt-[0-9a-f]{11}, 6 SPNs of d1\.corp\.test' \
	"$TESTTMP/out"
t_check "dry run: nothing made" test "$(spns d1.corp.test)" = ""

t_exit "account sync" 0 c --json account sync
cp "$TESTTMP/out" "$TESTTMP/sync.json"
t_check "d1: the six SPNs" test "$(spns d1.corp.test)" = \
	"$(want_spns d1.corp.test)"
t_check "d2: the six SPNs" test "$(spns d2.corp.test)" = \
	"$(want_spns d2.corp.test)"
t_check "d9 (no Kerberos console in scope): no object" \
	test "$(spns d9.corp.test)" = ""
ad_search -b "CN=d1.corp.test,$AD_OU" -s base sAMAccountName \
	userAccountControl msDS-KeyVersionNumber >"$TESTTMP/d1.ldif"
t_grep "d1: enabled, password never expires" '^userAccountControl: 66048$' \
	"$TESTTMP/d1.ldif"
name=$(sed -n 's/^sAMAccountName: //p' "$TESTTMP/d1.ldif")
kvno=$(sed -n 's/^msDS-KeyVersionNumber: //p' "$TESTTMP/d1.ldif")
t_check "d1: its sAMAccountName is custody's (amt- and a hash)" python3 -c '
import hashlib, sys
want = "amt-" + hashlib.sha256(b"d1.corp.test").hexdigest()[:11]
sys.exit(sys.argv[1] != want)' "$name"
t_check "the devices are in the reply, not in any group" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
d = sorted(x["device"] for x in r["devices"])
sys.exit(not (d == ["d1.corp.test", "d2.corp.test"] and
              all(x["sid"].startswith("S-1-5-21-") for x in r["devices"])))' \
	"$TESTTMP/sync.json"
t_check "no device object is a group member" sh -c '
	! LDAPTLS_CACERT="$1" ldapsearch -LLL -o ldif-wrap=no -H "$2" -x -D "$3" \
	    -y "$4" -b "$5" "(objectClass=group)" member | grep -q "CN=d[0-9]"' \
	_ "$AD_CA" "$AD_URI" "$AD_BIND" "$AD_PWFILE" "$AD_OU"

# The device's password is the key AD issues its tickets with: a ticket
# the console gets for HTTP/d1.corp.test:16992 decrypts with the keys
# derived from it (salt REALM + sAMAccountName, MS-KILE 3.1.1.2).
ad_krb5_conf "$TESTTMP/krb5.conf"
keytab() {	# keytab PASSWORD FILE: d1's SPN key from PASSWORD into FILE
	rm -f "$2"
	printf 'addent -password -p HTTP/d1.corp.test:16992@CUSTODY.TEST -k %s -e aes256-cts-hmac-sha1-96 -s CUSTODY.TEST%s\n%s\nwkt %s\n' \
	    "$kvno" "$name" "$1" "$2" | ktutil >/dev/null 2>&1
}
if t_need kinit kvno ktutil; then
	export KRB5_CONFIG="$TESTTMP/krb5.conf" KRB5CCNAME="FILE:$TESTTMP/cc"
	c account password svc-sccm | tr -d '\n' >"$TESTTMP/svc.pw"
	t_check "kinit as the console" sh -c 'kinit svc-sccm@CUSTODY.TEST \
	    <"$1" >/dev/null 2>&1' _ "$TESTTMP/svc.pw"
	t_exit "account password d1.corp.test" 0 c account password d1.corp.test
	keytab "$(cat "$TESTTMP/out")" "$TESTTMP/d1.kt"
	t_check "the device ticket decrypts with custody's password" \
	    kvno -q -k "$TESTTMP/d1.kt" 'HTTP/d1.corp.test:16992@CUSTODY.TEST'
	keytab "Not-The-Pass.w0rd" "$TESTTMP/bad.kt"
	t_check "and not with another (the check can fail)" sh -c \
	    '! kvno -q -k "$1" "HTTP/d1.corp.test:16992@CUSTODY.TEST" 2>/dev/null' \
	    _ "$TESTTMP/bad.kt"
	unset KRB5_CONFIG KRB5CCNAME
else
	t_skip "device ticket" "kinit, kvno or ktutil missing (krb5-user)"
fi

t_exit "re-sync" 0 c --json account sync
t_check "re-sync is a no-op" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	"$TESTTMP/out"

# An SPN of d3 already on an object custody did not make: d3 is refused
# (duplicate SPNs break AMT Kerberos); the rest is synced.
LDAPTLS_CACERT="$AD_CA" ldapadd -H "$AD_URI" -x -D "$AD_BIND" \
	-y "$AD_PWFILE" >/dev/null 2>&1 <<EOF
dn: CN=squatter,$AD_OU
objectClass: user
sAMAccountName: squatter
servicePrincipalName: HTTP/d3.corp.test:16993
EOF
t_check "the squatter holds d3's SPN" test "$(spns squatter)" = \
	"HTTP/d3.corp.test:16993 "
t_exit "device add d3 (tag krb)" 0 c device add d3.corp.test --tag krb
t_exit "sync: d3 refused, exit 1" 1 c account sync
t_grep "the refusal names the SPN and the holder" \
	"device 'd3\.corp\.test': SPN HTTP/d3\.corp\.test:16993 is already on CN=squatter,OU=AMT" \
	"$TESTTMP/err"
t_check "no object for d3" sh -c '! grep -q "CN=d3" "$1"' _ "$TESTTMP/out"
t_check "d1 untouched" test "$(spns d1.corp.test)" = \
	"$(want_spns d1.corp.test)"

# Removing a device deletes its object then and there; the others stay.
t_exit "device remove d2" 0 c device remove d2.corp.test
t_grep "the removal says the object is deleted" \
	'^its AD object CN=d2\.corp\.test,OU=AMT,DC=custody,DC=test deleted$' \
	"$TESTTMP/out"
gone() {	# gone FQDN: no object holds FQDN's SPN
	! LDAPTLS_CACERT="$AD_CA" ldapsearch -LLL -H "$AD_URI" -x -D "$AD_BIND" \
	    -y "$AD_PWFILE" -b "$AD_OU" "(servicePrincipalName=HTTP/$1:16992)" \
	    dn | grep -q "^dn:"
}
t_check "d2's object is gone before any sync" gone d2.corp.test
t_exit "account list" 0 c account list
t_grep "d2's row kept as removed" '^device amt-[0-9a-f]+ removed .*\(d2\.corp\.test\)$' \
	"$TESTTMP/out"
t_exit "no password for a removed device" 4 c account password d2.corp.test
t_exit "sync after the removal (d3 still refused)" 1 c account sync
t_check "the sync has nothing left to delete" sh -c \
	'! grep -q "^delete " "$1"' _ "$TESTTMP/out"
t_check "d1 kept" test "$(spns d1.corp.test)" = "$(want_spns d1.corp.test)"
c audit list >"$TESTTMP/audit" 2>&1
t_grep "the deletion is audited" 'directory\.delete.*amt-' "$TESTTMP/audit"
t_exit "device remove d9 (no object): nothing said of AD" 0 \
	c --json device remove d9.corp.test
t_check "no directory part in the reply" sh -c \
	'! grep -q "directory" "$1"' _ "$TESTTMP/out"

# The DC down at the removal: the device is removed all the same, the
# reply says the object is not deleted, and the next sync deletes it.
ad_stop
t_exit "device remove d1 with the DC down" 0 c device remove d1.corp.test
t_grep "the warning names the object and the next sync" \
	'warning: the AD object CN=d1\.corp\.test,OU=AMT,DC=custody,DC=test of d1\.corp\.test was not deleted \(.*\); the next account sync does it' \
	"$TESTTMP/err"
t_exit "d1 is removed from custody" 4 c device show d1.corp.test
c audit list >"$TESTTMP/audit" 2>&1
t_grep "the failed deletion is audited" 'directory\.delete.*failed' \
	"$TESTTMP/audit"
ad_start
t_check "d1's object is still there" test "$(spns d1.corp.test)" = \
	"$(want_spns d1.corp.test)"
t_exit "the next sync (d3 still refused)" 1 c account sync
t_grep "the sync deletes d1's object" '^delete CN=d1\.corp\.test,OU=AMT' \
	"$TESTTMP/out"
t_check "d1's object is gone" gone d1.corp.test

# d4's object deleted and another made at its DN by someone else: not
# custody's to delete, at device remove or at a sync (the objectSid
# custody read back tells).
t_exit "device add d4 (tag krb)" 0 c device add d4.corp.test --tag krb
c account sync >/dev/null 2>&1
t_check "d4 has its object" test "$(spns d4.corp.test)" = \
	"$(want_spns d4.corp.test)"
ldm() { LDAPTLS_CACERT="$AD_CA" ldapmodify -H "$AD_URI" -x -D "$AD_BIND" \
	-y "$AD_PWFILE" >/dev/null; }
t_check "d4's object deleted by someone, theirs made at its DN" ldm <<EOF
dn: CN=d4.corp.test,$AD_OU
changetype: delete

dn: CN=d4.corp.test,$AD_OU
changetype: add
objectClass: user
sAMAccountName: theirs-d4

EOF
t_exit "device remove d4" 0 c device remove d4.corp.test
t_grep "the warning says the object is not custody's" \
	"the AD object CN=d4\\.corp\\.test,$AD_OU of d4\\.corp\\.test was not deleted \\(device 'amt-[0-9a-f]+': the object at CN=d4\\.corp\\.test,$AD_OU is not the one custody made" \
	"$TESTTMP/err"
theirs() { ad_search -b "CN=d4.corp.test,$AD_OU" -s base sAMAccountName |
	grep -q '^sAMAccountName: theirs-d4$'; }
t_check "their object is still there" theirs
t_exit "account sync refuses it too (exit 1)" 1 c account sync
t_grep "  ... naming it" "is not the one custody made" "$TESTTMP/err"
t_check "  ... and leaves it" theirs
t_done
