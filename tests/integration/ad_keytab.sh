#!/bin/sh
# tests/integration/ad_keytab.sh - the keytabs of AD service accounts,
# derived by custody from the passwords it sets (AD's salt rule, krb5
# string-to-key), against a real Samba AD DC (tests/integration/lib_ad.sh):
# the keytab `keytab get` hands out gets a ticket from the DC with
# `kinit -kt`, holds AES256 and AES128 at AD's kvno (RC4 only when
# directory.ad rc4 is on), is sealed at rest; `account rotate` gives a new
# password and kvno, the previous kvno kept for keytab_grace, a keytab
# get during a rotation hands the new keys and leaves the rotation's file
# alone, and a rotation stopped either side of the LDAP modify is
# reconciled by the next sync.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba ldapsearch python3 kinit klist kvno ktutil
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
ad_krb5_conf "$TESTTMP/krb5.conf"
export KRB5_CONFIG="$TESTTMP/krb5.conf" KRB5CCNAME="FILE:$TESTTMP/cc"
P=svc-sccm@CUSTODY.TEST
adkvno() {	# AD's msDS-KeyVersionNumber of svc-sccm
	ad_search -b "CN=svc-sccm,$AD_OU" -s base msDS-KeyVersionNumber |
	    sed -n 's/^msDS-KeyVersionNumber: //p'
}
ktkvnos() {	# the kvnos of keytab $1, sorted, unique
	klist -k "$1" | awk 'NR > 3 { print $1 }' | sort -un | tr '\n' ' '
}
ktenc() {	# the enctypes at kvno $2 of keytab $1, sorted
	klist -ke "$1" | awk -v k="$2" 'NR > 3 && $1 == k { print $3 }' |
	    tr -d '()' | sed 's/^DEPRECATED://' | sort | tr '\n' ' '
}
kinit_kt() { kinit -kt "$1" "$P" >"$TESTTMP/kinit.out" 2>&1; }

t_exit "init" 0 c init
ad_config "$S"
printf '%s\n' 'version: 1' 'owner: sccm' \
	'directory: {type: ad, realm: CUSTODY.TEST}' 'consoles:' '  sccm:' \
	"    identity: {kerberos: \"$P\"}" '    duties: [setup, power]' \
	'  other:' '    identity: {kerberos: "svc-other@ELSEWHERE.TEST"}' \
	'    duties: [power]' >"$TESTTMP/p.yaml"
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"
t_exit "account sync --dry-run" 0 c account sync --dry-run
t_grep "dry run: the keytab would be written" \
	'^would write keytabs/ad/sccm\.keytab' "$TESTTMP/out"
t_check "dry run: no keytab" test ! -e "$S/keytabs/ad/sccm.keytab"
t_exit "account sync" 0 c account sync
t_check "the keytab is kept 0600 in a 0700 directory" sh -c '
	[ "$(stat -c %a "$1/keytabs/ad/sccm.keytab")" = 600 ] &&
	[ "$(stat -c %a "$1/keytabs/ad")" = 700 ]' _ "$S"
t_check "sealed at rest: no principal name in the clear" sh -c \
	'! grep -q svc-sccm "$1/keytabs/ad/sccm.keytab"' _ "$S"

t_exit "keytab get sccm" 0 c keytab get sccm -o "$TESTTMP/kt1"
k1=$(adkvno)
t_check "the keytab is at AD's kvno ($k1)" test "$(ktkvnos "$TESTTMP/kt1")" = "$k1 "
t_check "AES256 and AES128, no RC4" test "$(ktenc "$TESTTMP/kt1" "$k1")" = \
	"aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha1-96 "
t_check "kinit -kt with custody's keytab gets a ticket from the DC" \
	kinit_kt "$TESTTMP/kt1"
t_check "the ticket is the console's" sh -c \
	'klist | grep -q "Default principal: $1"' _ "$P"
# The check can fail: keys from another password get no ticket.
printf 'addent -password -p %s -k %s -e aes256-cts-hmac-sha1-96\nNot-The-Pass.w0rd\nwkt %s\n' \
	"$P" "$k1" "$TESTTMP/bad.kt" | ktutil >/dev/null 2>&1
t_check "and a keytab of another password does not" sh -c \
	'! kinit -kt "$1" "$2" 2>/dev/null' _ "$TESTTMP/bad.kt" "$P"
c audit list >"$TESTTMP/audit" 2>&1
t_grep "keytab get is audited" 'keytab\.get' "$TESTTMP/audit"
t_exit "re-sync" 0 c --json account sync
t_check "re-sync is a no-op" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	"$TESTTMP/out"

# A missing keytab is derived again from the sealed password.
rm -f "$S/keytabs/ad/sccm.keytab"
t_exit "keytab get without the file: not found" 4 c keytab get sccm \
	-o "$TESTTMP/x"
t_exit "sync writes it again" 0 c account sync
t_grep "said" "^write keytabs/ad/sccm\.keytab \(kvno $k1" "$TESTTMP/out"
t_exit "keytab get" 0 c keytab get sccm -o "$TESTTMP/kt1b"
t_check "same keys again (kinit)" kinit_kt "$TESTTMP/kt1b"

# RC4 only when custody.yaml says so.
ad_config "$S" "    rc4: true"
t_exit "sync with rc4: true" 0 c account sync
t_grep "the account's enctypes follow" \
	'msDS-SupportedEncryptionTypes 28' "$TESTTMP/out"
t_exit "keytab get (rc4)" 0 c keytab get sccm -o "$TESTTMP/kt-rc4"
t_check "RC4 is added at the same kvno" \
	test "$(ktenc "$TESTTMP/kt-rc4" "$k1")" = \
	"aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha1-96 arcfour-hmac "
pwfile() {	# pwfile FILE: svc-sccm's current password into FILE, no newline
	(umask 077; c account password svc-sccm | tr -d '\n' >"$1")
}
pwfile "$TESTTMP/pw"
t_check "the RC4 key is the NT hash of the password" python3 \
	tests/integration/nthash.py "$TESTTMP/kt-rc4" "$TESTTMP/pw"
t_check "kinit -kt with the RC4 keytab" kinit_kt "$TESTTMP/kt-rc4"
ad_config "$S"
t_exit "sync with rc4 off again" 0 c account sync
t_exit "keytab get" 0 c keytab get sccm -o "$TESTTMP/kt1"
t_check "RC4 dropped" test "$(ktenc "$TESTTMP/kt1" "$k1")" = \
	"aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha1-96 "
# Rotation: a new password and kvno. AD keeps only the new keys (a console
# holding only the old keytab gets no ticket any more); the previous
# kvno's keys stay in custody's keytab for keytab_grace, for what was
# issued under them, and go after it. (A console account has no SPN, so
# the DC issues no service ticket to it: the kept keys are compared with
# the ones handed out before.)
ktkeys() {	# the enctypes and keys at kvno $2 of keytab $1
	klist -keK "$1" | awk -v k="$2" 'NR > 3 && $1 == k { print $3, $4 }' |
	    sort
}
t_exit "account rotate sccm" 0 c account rotate sccm
k2=$(adkvno)
t_check "AD's kvno went up ($k1 -> $k2)" test "$k2" -gt "$k1"
t_grep "the rotation says both kvnos" \
	"kvno $k2 \(kvno $k1 stays in the keytab until" "$TESTTMP/out"
# (A simple bind with the old password still works on Samba for its
# "old password allowed period", 60 minutes: the reconciliation below
# binds with the pending password first for that reason.)
t_check "kinit -kt with only the old keys fails now" sh -c \
	'! kinit -kt "$1" "$2" >/dev/null 2>&1' _ "$TESTTMP/kt1" "$P"
t_exit "keytab get after the rotation" 0 c keytab get sccm -o "$TESTTMP/kt2"
t_check "the keytab holds both kvnos" test "$(ktkvnos "$TESTTMP/kt2")" = \
	"$k1 $k2 "
t_check "kinit -kt with the rotated keytab (new key)" kinit_kt "$TESTTMP/kt2"
t_check "the kept kvno $k1 keys are the ones handed out before" test \
	"$(ktkeys "$TESTTMP/kt2" "$k1")" = "$(ktkeys "$TESTTMP/kt1" "$k1")"
t_check "and are keys (the comparison can fail)" test -n \
	"$(ktkeys "$TESTTMP/kt1" "$k1")"
t_exit "keytab get after the grace" 0 env CUSTODY_TEST_NOW=+691200 \
	"$CUSTODYCTL" --state-dir "$S" keytab get sccm -o "$TESTTMP/kt3"
t_check "the previous kvno is gone" test "$(ktkvnos "$TESTTMP/kt3")" = "$k2 "
t_check "kinit -kt with it" kinit_kt "$TESTTMP/kt3"
c audit list >"$TESTTMP/audit" 2>&1
t_grep "the expiry is audited" 'keytab\.expire' "$TESTTMP/audit"

# keytab get while a rotation runs (stopped after AD took the password
# and the new keytab was written, before it turns current): no wait, the
# keytab with the new key, and nothing dropped (even past a grace) nor
# written back over the rotation's.
CUSTODY_TEST_STOP_AT=ad-rotate-keytab "$CUSTODYCTL" --state-dir "$S" \
	account rotate sccm >"$TESTTMP/rot.out" 2>"$TESTTMP/rot.err" &
rpid=$!
t_wait_stopped $rpid
kr=$(adkvno)
t_exit "keytab get during a rotation" 0 env CUSTODY_TEST_NOW=+1382400 \
	"$CUSTODYCTL" --state-dir "$S" keytab get sccm -o "$TESTTMP/ktr"
t_check "  ... kinit -kt with it (AD's new key, kvno $kr)" kinit_kt "$TESTTMP/ktr"
kill -CONT $rpid
wait $rpid
rc=$?
t_check "the rotation finishes (exit 0, got $rc)" test $rc -eq 0
t_exit "keytab get after it" 0 c keytab get sccm -o "$TESTTMP/ktr2"
t_check "  ... the rotation's keytab: both kvnos ($k2 $kr)" \
	test "$(ktkvnos "$TESTTMP/ktr2")" = "$k2 $kr "
t_check "  ... kinit -kt with it" kinit_kt "$TESTTMP/ktr2"
k2=$kr
t_exit "account rotate of a console without an account" 4 c account rotate nosuch
t_exit "account rotate takes a console or --all" 2 c account rotate

# A rotation stopped after AD took the password: the next sync finds the
# pending password works (a bind as the account) and finishes it.
t_exit "rotation stopped after the LDAP modify" 99 env \
	CUSTODY_TEST_CRASH_AT=ad-rotate-set "$CUSTODYCTL" --state-dir "$S" \
	account rotate sccm
k3=$(adkvno)
t_check "AD took the new password ($k3)" test "$k3" -gt "$k2"
t_exit "account sync reconciles" 0 c account sync
t_grep "the sync says so" 'AD holds password version [0-9]+ \(an interrupted rotation, finished\)' \
	"$TESTTMP/out"
t_exit "keytab get" 0 c keytab get sccm -o "$TESTTMP/kt4"
t_check "the keytab is at the new kvno" sh -c \
	'klist -k "$1" | awk "NR > 3 { print \$1 }" | grep -qx "$2"' _ \
	"$TESTTMP/kt4" "$k3"
t_check "kinit -kt with it" kinit_kt "$TESTTMP/kt4"
pwfile "$TESTTMP/pw3"
t_check "LDAP bind with the password custody holds" sh -c '
	LDAPTLS_CACERT="$1" ldapsearch -LLL -H "$2" -x -D "$3" -y "$4" \
	    -s base -b "" dn >/dev/null' _ "$AD_CA" "$AD_URI" "$P" "$TESTTMP/pw3"
t_exit "re-sync" 0 c --json account sync
t_check "re-sync is a no-op" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	"$TESTTMP/out"

# A rotation stopped before the LDAP modify: AD still holds the current
# password; the pending one is dropped.
t_exit "rotation stopped before the LDAP modify" 99 env \
	CUSTODY_TEST_CRASH_AT=ad-rotate-pending "$CUSTODYCTL" --state-dir "$S" \
	account rotate sccm
t_check "AD's kvno unchanged" test "$(adkvno)" = "$k3"
t_exit "account sync reconciles" 0 c account sync
t_grep "the pending password never reached AD" \
	'\(version [0-9]+ never reached it\)' "$TESTTMP/out"
pwfile "$TESTTMP/pw4"
t_check "the current password stays" cmp -s "$TESTTMP/pw3" "$TESTTMP/pw4"
t_exit "keytab get" 0 c keytab get sccm -o "$TESTTMP/kt5"
t_check "kinit -kt with it" kinit_kt "$TESTTMP/kt5"
t_exit "account rotate --all" 0 c account rotate --all
t_grep "every account" '^svc-sccm \(console sccm\): password version' \
	"$TESTTMP/out"
c audit list >"$TESTTMP/audit" 2>&1
t_grep "rotations are audited" 'directory\.rotate' "$TESTTMP/audit"
t_check "no password in the audit log" sh -c '! grep -qF "$(cat "$1")" "$2"' \
	_ "$TESTTMP/pw3" "$TESTTMP/audit"
# Someone sets the password outside custody: AD's kvno moves, the keytab
# custody holds is stale; the sync says so (exit 1) rather than hand out
# dead keys as good, and account rotate repairs it.
setpw() {	# setpw PASSWORD: svc-sccm's password set as Administrator
	python3 -c 'import base64, sys
print("dn: CN=svc-sccm," + sys.argv[2])
print("changetype: modify\nreplace: unicodePwd")
print("unicodePwd:: " + base64.b64encode(("\"%s\"" % sys.argv[1])
      .encode("utf-16-le")).decode())
print("-")' "$1" "$AD_OU" | LDAPTLS_CACERT="$AD_CA" ldapmodify -H "$AD_URI" \
	    -x -D "$AD_BIND" -y "$AD_PWFILE" >/dev/null 2>&1
}
t_check "the password set outside custody" setpw 'Outside-Pa55.word'
t_exit "sync: refused, exit 1" 1 c account sync
t_grep "it says the password was set outside custody" \
	"account 'svc-sccm': AD's key version is [0-9]+, its keytab's [0-9]+: the password was set outside custody" \
	"$TESTTMP/err"
t_exit "account rotate repairs it" 0 c account rotate sccm
t_exit "sync after the repair" 0 c account sync
t_exit "keytab get" 0 c keytab get sccm -o "$TESTTMP/kt6"
t_check "kinit -kt with it" kinit_kt "$TESTTMP/kt6"
# The same while a rotation is pending: the pending password does not
# open the account, so it never reached AD and is dropped (Samba still
# takes the previous password for simple binds for an hour, so the
# current one still opens it); the stale keytab is refused as above.
t_exit "rotation stopped before the LDAP modify" 99 env \
	CUSTODY_TEST_CRASH_AT=ad-rotate-pending "$CUSTODYCTL" --state-dir "$S" \
	account rotate sccm
pwfile "$TESTTMP/pw6"
t_check "then the password set outside custody" setpw 'Outside-Pa55.word2'
t_exit "sync: refused, exit 1" 1 c account sync
t_grep "the pending password is dropped" '\(version [0-9]+ never reached it\)' \
	"$TESTTMP/out"
t_grep "the stale keytab is refused" 'the password was set outside custody' \
	"$TESTTMP/err"
pwfile "$TESTTMP/pw7"
t_check "the current password custody holds is unchanged" \
	cmp -s "$TESTTMP/pw6" "$TESTTMP/pw7"
t_exit "account rotate repairs it" 0 c account rotate sccm
t_exit "sync after the repair" 0 c account sync

# Console names differing only in case (the policy allows them): each
# gets its own account's keytab (before, Sccm got sccm's: the rows were
# matched without case).
cp "$TESTTMP/p.yaml" "$TESTTMP/p-twin.yaml"
printf '%s\n' '  Sccm:' '    identity: {kerberos: "svc-twin@CUSTODY.TEST"}' \
	'    duties: [power]' >>"$TESTTMP/p-twin.yaml"
t_exit "policy load with consoles sccm and Sccm" 0 \
	c policy load "$TESTTMP/p-twin.yaml"
t_exit "account sync makes Sccm's account" 0 c account sync
t_exit "keytab get Sccm" 0 c keytab get Sccm -o "$TESTTMP/kt-twin"
t_check "  ... is svc-twin's, not sccm's" sh -c \
	'klist -k "$1" | grep -q "svc-twin@" && ! klist -k "$1" | grep -q "svc-sccm@"' \
	_ "$TESTTMP/kt-twin"
t_exit "keytab get sccm" 0 c keytab get sccm -o "$TESTTMP/kt-sccm"
t_check "  ... still svc-sccm's" sh -c 'klist -k "$1" | grep -q "svc-sccm@"' \
	_ "$TESTTMP/kt-sccm"
t_exit "the first policy again" 0 c policy load "$TESTTMP/p.yaml"
t_exit "account sync retires Sccm's account" 0 c account sync

# Through custodyd: GET /v1/consoles/NAME/keytab answers the AD console its
# own keytab, and not another console; rotation is the admin's.
W="$TESTTMP/w"
mkdir -p "$W"
c console add sccm -o "$W/sccm" >/dev/null 2>&1
c console add other -o "$W/other" >/dev/null 2>&1
DPID=
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; ad_stop' EXIT
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; ad_stop; exit 1' INT TERM HUP
if ! t_need curl; then
	t_skip "keytab through custodyd" "curl is not installed"
elif t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2; then
	DPID=$T_DPID
	get() {	# get WHO CONSOLE: the status; the body in $W/body
		curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" \
		    --cert "$W/$1/$1.crt" --key "$W/$1/$1.key" -o "$W/body" \
		    -w '%{http_code}' \
		    "https://127.0.0.1:$T_PORT/v1/consoles/$2/keytab"
	}
	rc() {	# rc WHO ARGS...: custodyctl remote as WHO (a console, or admin)
		_w=$1; shift
		if [ "$_w" = admin ]; then _d="$S/admin"; else _d="$W/$_w"; fi
		"$CUSTODYCTL" --server "https://127.0.0.1:$T_PORT" \
		    --cacert "$S/ca/bundle.pem" --cert "$_d/$_w.crt" \
		    --key "$_d/$_w.key" "$@"
	}
	t_check "GET the keytab of sccm as sccm: 200" test "$(get sccm sccm)" = 200
	t_check "kinit -kt with what the API answered" kinit_kt "$W/body"
	t_check "GET the keytab of sccm as another console: 403" \
	    test "$(get other sccm)" = 403
	t_exit "remote account rotate as a console: not authorized" 3 \
	    rc sccm account rotate sccm
	t_exit "remote account rotate as the admin" 0 rc admin account rotate sccm
	t_exit "remote keytab get as sccm" 0 rc sccm keytab get sccm \
	    -o "$W/r.kt"
	t_check "kinit -kt with it (the rotated keys)" kinit_kt "$W/r.kt"
	kill "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
else
	t_fail "custodyd starts"
fi
t_done
