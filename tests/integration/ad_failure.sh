#!/bin/sh
# tests/integration/ad_failure.sh - account sync when things go wrong,
# against a real Samba AD DC (tests/integration/lib_ad.sh): the DC stopped
# right after an account was added leaves it disabled (never enabled
# without custody's password), and the next sync finishes it with the
# password custody sealed before; plain LDAP is refused by the
# configuration; StartTLS works; a CA that did not sign the DC's
# certificate, a name the certificate does not carry, a loose bind
# password file and a wrong bind password are refused with clear errors
# that hold no password.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba samba-tool ldapsearch openssl python3
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
uac() { ad_search -b "CN=$1,$AD_OU" -s base userAccountControl |
	    sed -n 's/^userAccountControl: //p'; }

t_exit "init" 0 c init
ad_config "$S"
cat >"$TESTTMP/p.yaml" <<EOF
version: 1
owner: prov
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  prov:
    identity: {kerberos: "svc-prov@CUSTODY.TEST"}
    duties: [setup]
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"

# Stopped right after the account is added (disabled, no password yet);
# the DC goes down; the sync goes on and fails.
CUSTODY_TEST_STOP_AT=ad-account-added "$CUSTODYCTL" --state-dir "$S" \
	account sync >"$TESTTMP/half.out" 2>"$TESTTMP/half.err" &
cpid=$!
t_wait_stopped $cpid
# One change of AD at a time: a second sync meanwhile is refused (exit 5)
# and changes nothing; a dry run reads beside it.
t_exit "a second sync while one runs: refused (exit 5)" 5 c account sync
t_grep "  ... saying another sync is running" 'another account sync .* is running' \
	"$TESTTMP/err"
t_exit "  ... a dry run goes on beside it" 0 c account sync --dry-run
t_exit "  ... and so is a rotation (exit 5)" 5 c account rotate --all
ad_stop
kill -CONT $cpid
wait $cpid
rc=$?
t_check "the sync fails with the DC down (exit 5, got $rc)" test $rc -eq 5
t_grep "it says the DC cannot be reached" "Can't contact LDAP server" \
	"$TESTTMP/half.err"
ad_start
t_check "the half-made account is disabled (514)" \
	test "$(uac svc-prov)" = 514
t_exit "account list: still being made" 0 c account list
t_grep "recorded as creating" '^account svc-prov creating ' "$TESTTMP/out"
t_exit "no password handed out before AD took it" 4 \
	c account password svc-prov
c audit list >"$TESTTMP/audit" 2>&1
t_grep "the failure is audited" 'directory\.sync.*failed' "$TESTTMP/audit"
t_exit "the next sync finishes it" 0 c account sync
t_check "no second add" sh -c '! grep -q "^add CN=svc-prov" "$1"' _ \
	"$TESTTMP/out"
t_grep "the password is set" '^modify CN=svc-prov,.*unicodePwd \(password version 1' \
	"$TESTTMP/out"
t_check "enabled now" test "$(uac svc-prov)" = 66048
t_exit "account password" 0 c account password svc-prov
(umask 077; printf '%s' "$(cat "$TESTTMP/out")" >"$TESTTMP/prov.pw")
t_check "the password sealed before the add works" sh -c '
	LDAPTLS_CACERT="$1" ldapsearch -LLL -H "$2" -x -D "svc-prov@custody.test" \
	    -y "$3" -s base -b "" dn >/dev/null' _ "$AD_CA" "$AD_URI" \
	"$TESTTMP/prov.pw"
t_exit "re-sync: no-op" 0 c --json account sync
t_check "no changes" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["changes"] != 0)' \
	"$TESTTMP/out"

# The DC down from the start: exit 5, nothing recorded as done.
ad_stop
t_exit "DC down: exit 5" 5 c account sync
ad_start

# StartTLS on ldap://389 works; plain LDAP never gets as far as a bind.
AD_URI0=$AD_URI
AD_URI=$AD_STARTTLS_URI
ad_config "$S" "    starttls: true"
t_exit "StartTLS: sync works" 0 c --json account sync
ad_config "$S"
t_exit "plain ldap:// without starttls: refused" 2 c config check
t_grep "plain LDAP is refused" 'plain LDAP is refused' "$TESTTMP/err"
t_exit "the sync refuses it too" 2 c account sync
AD_URI=$AD_URI0

# A list of URIs: libldap falls back from one to the next, whatever its
# scheme, so an ldap:// one after an ldaps:// DC that is down would get
# the simple bind, password and all, in clear. A list is refused; the
# plain listener here never hears from custody.
python3 tests/integration/fake_ldap.py plain "$TESTTMP/plain.ready" \
	"$TESTTMP/plain.bytes" &
plain_pid=$!
t_wait_line "$TESTTMP/plain.ready" '^[0-9]'
AD_URI="ldaps://127.0.0.1:1 ldap://127.0.0.1:$(cat "$TESTTMP/plain.ready")"
ad_config "$S"
t_exit "a URI list: config check refuses it" 2 c config check
t_grep "it says one URI" 'uri must be one URI, not a list' "$TESTTMP/err"
t_exit "a URI list: the sync refuses it" 2 c account sync
kill "$plain_pid" 2>/dev/null
wait "$plain_pid" 2>/dev/null
t_check "nothing was sent to the plain ldap:// URI" \
	test ! -s "$TESTTMP/plain.bytes"
AD_URI=$AD_URI0
ad_config "$S"

# A CA that did not sign the DC's certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$TESTTMP/other.key" -out "$TESTTMP/other-ca.pem" -days 1 \
	-subj "/CN=another CA" 2>/dev/null
AD_CA0=$AD_CA
AD_CA="$TESTTMP/other-ca.pem"
ad_config "$S"
AD_CA=$AD_CA0
t_exit "a wrong CA: refused (exit 5)" 5 c account sync
t_grep "it says what to check" 'certificate verify against ca_file' \
	"$TESTTMP/err"
# LDAPTLS_REQCERT=never in the environment changes nothing.
t_exit "LDAPTLS_REQCERT=never does not weaken it" 5 \
	env LDAPTLS_REQCERT=never LDAPTLS_CACERT="$AD_CA" \
	"$CUSTODYCTL" --state-dir "$S" account sync
# The certificate names dc1.custody.test, localhost, 127.0.0.1 and ::1.
# The same DC reached as 127.0.0.2 (through a forwarder: Samba listens
# on 127.0.0.1 only) is refused: the name is checked, not only the CA.
python3 - "$TESTTMP/fwd.ready" <<'EOF' &
import socket, sys, threading
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.2", 6360))
ls.listen(5)
open(sys.argv[1], "w").write("ready\n")
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", 636))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
EOF
fwd=$!
t_wait_line "$TESTTMP/fwd.ready" ready
AD_URI=ldaps://127.0.0.2:6360
t_check "the forwarder reaches the DC (certificate not checked)" sh -c '
	LDAPTLS_REQCERT=never ldapsearch -LLL -H "$1" -x -D "$2" -y "$3" \
	    -s base -b "" dn >/dev/null 2>&1' _ "$AD_URI" "$AD_BIND" "$AD_PWFILE"
ad_config "$S"
t_exit "a name the certificate does not carry: refused (exit 5)" 5 \
	c account sync
AD_URI="ldaps://[::1]:636"
ad_config "$S"
t_exit "a name it carries ([::1]): works" 0 c account sync
kill $fwd 2>/dev/null
AD_URI=$AD_URI0

# The bind password file: 0644 refused unread; a wrong password refused.
ad_config "$S"
chmod 0644 "$AD_PWFILE"
t_exit "a loose bind password file: refused (exit 5)" 5 c account sync
t_grep "it names the file" "ad-bind.pw" "$TESTTMP/err"
chmod 0600 "$AD_PWFILE"
(umask 077; printf 'Wrong-Pass.w0rd' >"$TESTTMP/wrong.pw")
sed -i "s|bind_password_file: .*|bind_password_file: $TESTTMP/wrong.pw|" \
	"$S/custody.yaml"
t_exit "a wrong bind password: refused (exit 1)" 1 c account sync
t_grep "the DC's answer, with the LDAP code" 'Invalid credentials \(LDAP 49\)' \
	"$TESTTMP/err"
t_check "no password in the messages" sh -c \
	'! grep -qe "Wrong-Pass" -e "$1" "$2" "$3"' _ "$AD_PW" "$TESTTMP/err" \
	"$TESTTMP/out"
ad_config "$S"

# The DC refusing one object (a userPrincipalName someone else's object
# holds already) refuses that console; the others are synced all the
# same, and the one refused is begun again at every sync.
LDAPTLS_CACERT="$AD_CA" ldapadd -H "$AD_URI" -x -D "$AD_BIND" \
	-y "$AD_PWFILE" >/dev/null 2>&1 <<EOF
dn: CN=upn-holder,$AD_OU
objectClass: user
sAMAccountName: upn-holder
userPrincipalName: svc-aaa@CUSTODY.TEST
EOF
cat >"$TESTTMP/p2.yaml" <<EOF
version: 1
owner: aaa
directory: {type: ad, realm: CUSTODY.TEST}
consoles:
  aaa:
    identity: {kerberos: "svc-aaa@CUSTODY.TEST"}
    duties: [setup]
  zzz:
    identity: {kerberos: "svc-zzz@CUSTODY.TEST"}
    duties: [power]
EOF
t_exit "policy load (a UPN taken)" 0 c policy load "$TESTTMP/p2.yaml"
for run in 1 2; do
	t_exit "sync $run: aaa refused, exit 1" 1 c account sync
	t_grep "  ... with the DC's answer" \
	    "console 'aaa': the directory refused: .*\\(LDAP [0-9]+\\)" \
	    "$TESTTMP/err"
	t_check "  ... zzz made all the same" test "$(uac svc-zzz)" = 66048
done
t_done
