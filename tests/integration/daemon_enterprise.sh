#!/bin/sh
# tests/integration/daemon_enterprise.sh - the enterprise client CA
# (custody.yaml tls.client_ca_file + tls.client_crl_file): an enterprise
# root and issuing CA made here with the openssl CLI; custodyd trusts it
# beside custody's own CA. A certificate it issued maps only to the
# policy console whose certificate identity is its subject: that console
# gets its credential; an unmapped subject, a look-alike subject, a
# console identified by Kerberos only and a copy of a staff subject get
# the public routes only; a certificate the enterprise CRL revokes is
# refused, also after the CRL file is replaced while custodyd runs.
# --check-config validates the files.
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl
t_need_or_skip openssl
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_enterprise.sh "custodyd is not built"; exit 77; }
S="$TESTTMP/state"
W="$TESTTMP/work"
E="$TESTTMP/ent"
mkdir -p "$W/sccm" "$E"
c() { cc --state-dir "$S" "$@"; }
DPID=
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null' EXIT

# ---- the enterprise PKI (openssl CLI) ----
cat > "$E/ext.cnf" <<'X'
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
X
# ca.cnf for "openssl ca -gencrl": one database per CA.
ca_conf() {	# DIR
	mkdir -p "$1"
	: > "$1/index.txt"
	echo 01 > "$1/crlnumber"
	cat > "$1/ca.cnf" <<X
[ca]
default_ca = d
[d]
database = $1/index.txt
crlnumber = $1/crlnumber
certificate = $1/ca.crt
private_key = $1/ca.key
default_md = sha256
default_crl_days = 30
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
X
}
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$1" 2>/dev/null; }
ca_conf "$E/root"
ca_conf "$E/iss"
key "$E/root/ca.key"
openssl req -new -x509 -key "$E/root/ca.key" -subj "/O=Corp/CN=Corp Root CA" \
    -days 365 -config "$E/ext.cnf" -extensions ca_ext -out "$E/root/ca.crt"
key "$E/iss/ca.key"
openssl req -new -key "$E/iss/ca.key" -subj "/O=Corp/CN=Corp Issuing CA" \
    -out "$E/iss/ca.csr"
openssl x509 -req -in "$E/iss/ca.csr" -CA "$E/root/ca.crt" \
    -CAkey "$E/root/ca.key" -set_serial 2 -days 365 -extfile "$E/ext.cnf" \
    -extensions ca_ext -out "$E/iss/ca.crt" 2>/dev/null
# leaf NAME SUBJ [REQ OPTIONS]: a client certificate of the issuing CA.
n=10
leaf() {
	_name=$1 _subj=$2
	shift 2
	n=$((n + 1))
	key "$E/$_name.key"
	openssl req -new -key "$E/$_name.key" -subj "$_subj" "$@" \
	    -out "$E/$_name.csr"
	openssl x509 -req -in "$E/$_name.csr" -CA "$E/iss/ca.crt" \
	    -CAkey "$E/iss/ca.key" -set_serial $n -days 30 \
	    -extfile "$E/ext.cnf" -extensions leaf_ext \
	    -out "$E/$_name.crt" 2>/dev/null
}
leaf sccm "/O=Corp/CN=sccm"		# maps: policy identity CN=sccm,O=Corp
leaf nobody "/O=Corp/CN=nobody"	# no console has it
leaf gone "/O=Corp/CN=gone"		# console gone, revoked by the CRL
leaf comma "/CN=sccm,O=Corp"		# one CN "sccm,O=Corp"
leaf multi "/CN=sccm+O=Corp" -multivalue-rdn	# one RDN, two values
leaf krb "/O=Corp/CN=krb"		# console krb: Kerberos identity only
cat "$E/root/ca.crt" "$E/iss/ca.crt" > "$E/ca.pem"
# CRLs: the root's (the issuing CA is fine), the issuing CA's (gone).
crl() {	# CA OUT
	openssl ca -gencrl -config "$E/$1/ca.cnf" -out "$2" 2>/dev/null
}
crl root "$E/root.crl"
crl iss "$E/iss1.crl"
openssl ca -config "$E/iss/ca.cnf" -revoke "$E/gone.crt" \
    -crl_reason keyCompromise >/dev/null 2>&1
crl iss "$E/iss2.crl"
cat "$E/root.crl" "$E/iss2.crl" > "$E/crl.pem"

# ---- custody ----
c init >/dev/null
cat > "$W/policy.yaml" <<'P'
version: 1
owner: sccm
consoles:
  sccm:
    identity: {certificate: "CN=sccm,O=Corp"}
    duties: [setup, power, inventory, redirection]
  gone:
    identity: {certificate: "CN=gone,O=Corp"}
    duties: [power]
  krb:
    identity: {kerberos: "krb@CORP.EXAMPLE"}
    duties: [power]
P
c policy load "$W/policy.yaml" >/dev/null || t_fail "policy load"
c console add sccm -o "$W/sccm" >/dev/null
DEV=dev1.corp.example
c device add $DEV --digest-realm Digest:0123456789ABCDEF0123456789ABCDEF \
    >/dev/null
# An enterprise certificate with the bootstrap admin's exact subject.
key "$E/admin.key"
openssl x509 -x509toreq -in "$S/admin/admin.crt" -key "$E/admin.key" \
    -out "$E/admin.csr" 2>/dev/null
openssl x509 -req -in "$E/admin.csr" -CA "$E/iss/ca.crt" \
    -CAkey "$E/iss/ca.key" -set_serial 99 -days 30 -extfile "$E/ext.cnf" \
    -extensions leaf_ext -out "$E/admin.crt" 2>/dev/null
t_check "the look-alike admin has the admin's subject" test \
    "$(openssl x509 -in "$E/admin.crt" -noout -subject -nameopt RFC2253)" = \
    "$(openssl x509 -in "$S/admin/admin.crt" -noout -subject -nameopt RFC2253)"

conf() {	# YAML lines of tls:
	{ echo "tls:"; for l in "$@"; do echo "  $l"; done; } > "$S/custody.yaml"
	chmod 600 "$S/custody.yaml"
}
check() { "$D" --state-dir "$S" --check-config > "$W/check.out" 2>&1; }

# ---- --check-config ----
conf "client_ca_file: $E/ca.pem"
check; t_check "--check-config: a CA without client_crl_file: exit 2" test $? = 2
t_grep "... says why" 'client_ca_file needs client_crl_file' "$W/check.out"
conf "client_ca_file: $E/ca.pem" "client_crl_required: false"
check; t_check "client_crl_required: false: exit 0" test $? = 0
t_grep "... with a warning" 'revoke are still accepted' "$W/check.out"
conf "client_ca_file: $E/nope.pem" "client_crl_file: $E/crl.pem"
check; t_check "an unreadable client_ca_file: exit 2" test $? = 2
conf "client_ca_file: $E/sccm.crt" "client_crl_file: $E/crl.pem"
check; t_check "a client_ca_file that is not a CA: exit 2" test $? = 2
t_grep "... says why" 'not a CA' "$W/check.out"
conf "client_ca_file: $E/iss/ca.crt" "client_crl_file: $E/crl.pem"
check; t_check "a CRL not signed by a CA of the file: exit 2" test $? = 2
t_grep "... says why" 'not signed by a CA of tls.client_ca_file' "$W/check.out"
cat "$E/ca.pem" "$S/ca/bundle.pem" > "$E/mixed.pem"
conf "client_ca_file: $E/mixed.pem" "client_crl_file: $E/crl.pem"
check; t_check "custody's own CA in client_ca_file: exit 2" test $? = 2
t_grep "... says why" "CA certificate of custody's own" "$W/check.out"
echo garbage > "$E/bad.crl"
conf "client_ca_file: $E/ca.pem" "client_crl_file: $E/bad.crl"
check; t_check "a CRL file without a CRL: exit 2" test $? = 2
openssl crl -in "$E/iss2.crl" -outform DER -out "$E/iss2.der"
conf "client_ca_file: $E/ca.pem" "client_crl_file: $E/iss2.der"
check; t_check "a DER CRL: exit 0" test $? = 0
conf "client_ca_file: $E/ca.pem" "client_crl_file: $E/crl.pem"
check; t_check "the CA and its CRLs: exit 0" test $? = 0

# ---- the service ----
t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    { t_fail "custodyd starts"; t_done; }
DPID=$T_DPID PORT=$T_PORT
U="https://127.0.0.1:$PORT"
get() {	# CERT KEY PATH: the status (000: refused in the handshake)
	curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" --cert "$1" \
	    --key "$2" -o "$W/body" -w '%{http_code}' "$U$3" 2>/dev/null || true
}
ent() { get "$E/$1.crt" "$E/$1.key" "$2"; }
nopw() { ! grep -q '"password"' "$W/body" 2>/dev/null; }

st=$(ent sccm /v1/devices/$DEV/credential)
t_check "mapped enterprise console: its credential ($st)" test "$st" = 200
t_check "... with the password" grep -q '"password"' "$W/body"
st=$(ent sccm /v1/devices/$DEV/admin-password)
t_check "... its owner duties ($st)" test "$st" = 200
st=$(ent sccm /metrics)
t_check "... never an admin ($st)" test "$st" = 403
st=$(get "$W/sccm/sccm.crt" "$W/sccm/sccm.key" /v1/devices/$DEV/credential)
t_check "custody's own console certificate still works ($st)" test "$st" = 200
st=$(get "$S/admin/admin.crt" "$S/admin/admin.key" /v1/devices)
t_check "custody's admin still works ($st)" test "$st" = 200
for who in nobody comma multi krb admin; do
	st=$(ent $who /v1/trust/bundle)
	t_check "enterprise '$who': public routes ($st)" test "$st" = 200
	for p in /v1/devices/$DEV/credential /v1/devices/$DEV/admin-password \
	    /v1/devices /metrics; do
		st=$(ent $who "$p")
		t_check "enterprise '$who': $p is 401 ($st)" test "$st" = 401
		t_check "... no password" nopw
	done
done
st=$(ent gone /v1/devices/$DEV/credential)
t_check "revoked by the enterprise CRL: refused ($st)" \
    sh -c "[ '$st' = 000 ] || [ '$st' = 401 ]"
t_check "... no password" nopw
t_grep "unmapped enterprise certificates are logged" \
    'no console of the loaded policy has this certificate identity' "$W/d.log"
openssl req -new -key "$E/sccm.key" -subj "/CN=x" -out "$E/re.csr"
st=$(curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" --cert "$E/sccm.crt" \
    --key "$E/sccm.key" -o "$W/body" -w '%{http_code}' \
    -H 'Content-Type: application/pkcs10' --data-binary @"$E/re.csr" \
    "$U/v1/clients/self/certificate")
t_check "an enterprise certificate does not re-enrol at custody ($st)" \
    test "$st" = 403

# The enterprise CA revokes sccm; the CRL file is replaced: refused within
# a second or two (the trust is rebuilt when the file changes).
openssl ca -config "$E/iss/ca.cnf" -revoke "$E/sccm.crt" >/dev/null 2>&1
crl iss "$E/iss3.crl"
cat "$E/root.crl" "$E/iss3.crl" > "$E/crl.new"
mv "$E/crl.new" "$E/crl.pem"
sleep 2
st=$(ent sccm /v1/devices/$DEV/credential)
t_check "revoked after start, CRL file replaced: refused ($st)" \
    sh -c "[ '$st' = 000 ] || [ '$st' = 401 ]"
t_check "... no password" nopw
t_grep "... the trust was reloaded" 'TLS trust reloaded' "$W/d.log"

# SIGHUP with the enterprise CA removed from custody.yaml: the other
# consoles' certificates keep working.
conf "min_version: \"1.2\""
kill -HUP "$DPID"
sleep 1
st=$(ent nobody /v1/trust/bundle)
t_check "CA removed, SIGHUP: its certificates refused ($st)" test "$st" = 000
st=$(get "$W/sccm/sccm.crt" "$W/sccm/sccm.key" /v1/devices/$DEV/credential)
t_check "... custody's still work ($st)" test "$st" = 200
# Without CRLs (client_crl_required: false) enterprise chains verify, a
# missing CRL forgiven for them only: the revoked sccm is accepted again,
# which is why it is not the default.
conf "client_ca_file: $E/ca.pem" "client_crl_required: false"
kill -HUP "$DPID"
sleep 1
st=$(ent sccm /v1/devices/$DEV/credential)
t_check "client_crl_required: false, no CRL: enterprise chains verify ($st)" \
    test "$st" = 200
st=$(get "$W/sccm/sccm.crt" "$W/sccm/sccm.key" /v1/devices/$DEV/credential)
t_check "... custody's too ($st)" test "$st" = 200
t_grep "... warned about" 'revoke are still accepted' "$W/d.log"
kill -TERM "$DPID"
wait "$DPID"
DPID=
t_done
