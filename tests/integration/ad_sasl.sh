#!/bin/sh
# tests/integration/ad_sasl.sh - directory.ad with sasl: gssapi against a
# real Samba AD DC (tests/integration/lib_ad.sh): custody binds with the
# keytab of the bind account (samba-tool domain exportkeytab) over LDAPS
# and over StartTLS, and `account sync` works (an account it was killed
# after adding included: its owner is checked against the token of the
# GSSAPI bind); plain LDAP stays refused;
# a keytab for a principal the DC does not know fails with a clear error
# and no key material; a keytab looser than 0600 is refused. The DC runs
# with "ldap server require strong auth = allow_sasl_over_tls", which is
# what AD does: SASL over TLS without signing or sealing (Samba's
# default refuses it).
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
# Under ASan: Cyrus's GSSAPI module leaks its credential (named in
# tests/sanitizer/lsan.supp); the suppression matches only on whole
# stacks, which the fast unwinder does not give through Debian's libraries.
ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS
ad_netns "$@"
t_need_or_skip samba samba-tool ldapsearch python3
ad_start
ad_stop
sed -i 's/^\[global\]$/[global]\n\tldap server require strong auth = allow_sasl_over_tls/' \
    "$AD_DIR/etc/smb.conf"
ad_start
# the DC is reached as 127.0.0.1: its service name for custody's tickets
samba-tool spn add ldap/127.0.0.1 'DC1$' -s "$AD_DIR/etc/smb.conf" \
    >/dev/null 2>&1
# custody's tickets come from its own krb5 context: no krb5.conf here
unset KRB5_CONFIG KRB5CCNAME

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
KT="$TESTTMP/bind.keytab"
(umask 077; samba-tool domain exportkeytab "$KT" \
    --principal=Administrator@CUSTODY.TEST -s "$AD_DIR/etc/smb.conf" \
    >/dev/null 2>&1)
sasl_config() {	# sasl_config URI KEYTAB [LINE...]
	_u=$1 _k=$2; shift 2
	{
		echo "directory:"
		echo "  ad:"
		echo "    uri: $_u"
		echo "    ca_file: $AD_CA"
		echo "    sasl: gssapi"
		echo "    keytab: $_k"
		echo "    base_dn: \"$AD_OU\""
		echo "    realm: $AD_REALM"
		for _l; do echo "$_l"; done
	} >"$S/custody.yaml"
	chmod 0600 "$S/custody.yaml"
}

t_exit "init" 0 c init
sasl_config "$AD_URI" "$KT"
cat >"$TESTTMP/p1.yaml" <<EOF
version: 1
owner: sccm
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  sccm:
    identity: {kerberos: "svc-sccm@CUSTODY.TEST"}
    duties: [setup, power]
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p1.yaml"
t_exit "account sync, GSSAPI bind over LDAPS" 0 c account sync
ad_search -b "$AD_OU" "(sAMAccountName=svc-sccm)" dn >"$TESTTMP/made"
t_grep "the account is made in AD" "^dn: CN=svc-sccm," "$TESTTMP/made"

# A device object: its SPNs are looked for in the forest too, over the
# Global Catalog (3269), bound the same way.
t_exit "device add d1 (tag krb)" 0 c device add d1.corp.test --tag krb
sed 's/    duties: \[setup, power\]/&\n    auth: kerberos\n    scope: {tags: [krb]}/' \
    "$TESTTMP/p1.yaml" >"$TESTTMP/p2.yaml"
t_exit "policy load (a Kerberos console of d1)" 0 c policy load "$TESTTMP/p2.yaml"
t_exit "account sync, GSSAPI bind to the DC and its Global Catalog" 0 \
    c account sync
ad_search -b "CN=d1.corp.test,$AD_OU" -s base servicePrincipalName \
    >"$TESTTMP/d1.ldif"
t_grep "d1's object is made with its SPNs" \
    "^servicePrincipalName: HTTP/d1.corp.test:16992" "$TESTTMP/d1.ldif"

sasl_config "$AD_STARTTLS_URI" "$KT" "    starttls: true"
t_exit "account sync, GSSAPI bind over StartTLS" 0 c account sync
t_exit "device add d2 (tag krb)" 0 c device add d2.corp.test --tag krb
t_exit "account sync over StartTLS: d2's SPNs checked on the GC (3268)" 0 \
    c account sync
ad_search -b "CN=d2.corp.test,$AD_OU" -s base servicePrincipalName \
    >"$TESTTMP/d2.ldif"
t_grep "d2's object is made with its SPNs" \
    "^servicePrincipalName: HTTP/d2.corp.test:16992" "$TESTTMP/d2.ldif"

# A sync killed after adding an account: the next one takes it up, its
# owner checked against custody's token as the DC sees a GSSAPI bind
# (rootDSE tokenGroups: Domain Admins, custody's keytab is
# Administrator's).
sed 's/^consoles:/&\n  inv:\n    identity: {kerberos: "svc-inv@CUSTODY.TEST"}\n    duties: [power]/' \
    "$TESTTMP/p2.yaml" >"$TESTTMP/p3.yaml"
t_exit "policy load (console inv)" 0 c policy load "$TESTTMP/p3.yaml"
CUSTODY_TEST_STOP_AT=ad-account-added "$CUSTODYCTL" --state-dir "$S" \
    account sync >"$TESTTMP/half.out" 2>&1 &
cpid=$!
t_wait_stopped $cpid
kill -KILL $cpid
wait $cpid 2>/dev/null
inv_uac() { ad_search -b "CN=svc-inv,$AD_OU" -s base userAccountControl |
    sed -n 's/^userAccountControl: //p'; }
t_check "svc-inv added, disabled (the sync killed)" test "$(inv_uac)" = 514
t_exit "the next sync finishes it (its owner custody's)" 0 c account sync
t_check "svc-inv enabled" test "$(inv_uac)" = 66048

sasl_config "$AD_STARTTLS_URI" "$KT"
t_exit "plain LDAP with sasl refused" 2 c account sync
t_grep "plain LDAP: says why" "plain LDAP is refused" "$TESTTMP/err"

# A keytab for a principal the DC does not know, its key random.
python3 - "$TESTTMP/wrong.keytab" <<'PY'
import os, struct, sys
def cs(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b
key = os.urandom(32)
e = (struct.pack(">H", 1) + cs("CUSTODY.TEST") + cs("nobody-here") +
     struct.pack(">IIB", 1, 0, 1) + struct.pack(">HH", 18, len(key)) + key)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, b"\x05\x02" + struct.pack(">i", len(e)) + e)
os.close(fd)
PY
sasl_config "$AD_URI" "$TESTTMP/wrong.keytab"
t_exit "a keytab for an unknown principal fails" 1 c account sync
t_grep "unknown principal: the error names it" \
    "nobody-here@CUSTODY.TEST.*gets no ticket" "$TESTTMP/err"
key=$(tail -c 32 "$TESTTMP/wrong.keytab" | od -An -tx1 | tr -d ' \n')
t_check "unknown principal: no key material in the output" sh -c \
    '! cat "$1" "$2" | od -An -tx1 | tr -d " \n" | grep -q "$3"' \
    _ "$TESTTMP/out" "$TESTTMP/err" "$key"

chmod 0640 "$KT"
sasl_config "$AD_URI" "$KT"
t_exit "a keytab looser than 0600 is refused" 5 c account sync
t_grep "loose keytab: names the file" "bind.keytab" "$TESTTMP/err"
t_done
