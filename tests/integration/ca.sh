#!/bin/sh
# tests/integration/ca.sh - the CA end to end: init creates it, device
# certificates from CSRs (verified by OpenSSL and GnuTLS, extensions
# parsed), server-side issue with PKCS#12, consoles, renewal, revocation
# and CRLs, and every bad input refused, audited and issuing nothing.
# Keys and CSRs are made here, at test time.
. "$(dirname "$0")/lib.sh"
t_need_or_skip openssl
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
F1=amt1.corp.example
F2=amt2.corp.example

# verify NAME BUNDLE CHAIN: OpenSSL and GnuTLS both accept the chain's
# first certificate against the bundle.
verify() {
	t_check "$1: openssl verify" sh -c "openssl verify -CAfile '$2' \
	    -untrusted '$3' '$3' >/dev/null 2>&1"
	t_gnutls "$1: certtool --verify" sh -c "certtool --verify \
	    --load-ca-certificate '$2' --infile '$3' 2>&1 | \
	    grep -q 'Chain verification output: Verified'"
}
# text of a certificate (first in file)
text() { openssl x509 -in "$1" -noout -text; }
ncerts() { c cert list --all | awk 'NR > 1' | wc -l; }
nrefused() { c audit list | grep -c " refused " || true; }

t_exit "init creates the CA" 0 c init
t_grep "init reports the CA" "CA generation 1 \(rsa3072, SHA384" "$TESTTMP/out"
for f in ca/bundle.pem ca/root-g1.pem ca/issuing-g1.pem ca/chain.pem \
    tls/server.crt admin/admin.crt; do
	t_check "init wrote $f" test -s "$S/$f"
done
t_check "service key is 0600" test "$(stat -c %a "$S/tls/server.key")" = 600
t_check "admin key is 0600" test "$(stat -c %a "$S/admin/admin.key")" = 600
t_check "no private key in the store in clear" sh -c \
    "! grep -a -q 'PRIVATE KEY' '$S/custody.db' '$S/custody.db-wal' 2>/dev/null"
B="$S/ca/bundle.pem"

# The hierarchy itself
text "$S/ca/root-g1.pem" > "$W/root.txt"
text "$S/ca/issuing-g1.pem" > "$W/iss.txt"
t_grep "root is RSA-3072" "Public-Key: \(3072 bit\)" "$W/root.txt"
t_grep "root signs with SHA-384" "sha384WithRSAEncryption" "$W/root.txt"
t_grep "root basicConstraints critical CA" "Basic Constraints: critical" "$W/root.txt"
t_grep "root keyUsage critical certSign" "Key Usage: critical" "$W/root.txt"
t_grep "root has SKI" "Subject Key Identifier" "$W/root.txt"
t_grep "issuing CA pathlen 0" "CA:TRUE, pathlen:0" "$W/iss.txt"
t_grep "issuing CA has AKI" "Authority Key Identifier" "$W/iss.txt"
t_check "root valid ~20 years" sh -c "openssl x509 -in '$S/ca/root-g1.pem' \
    -checkend $((7290 * 86400)) >/dev/null && ! openssl x509 -in \
    '$S/ca/root-g1.pem' -checkend $((7310 * 86400)) >/dev/null"
t_check "issuing CA valid ~10 years" sh -c "openssl x509 -in \
    '$S/ca/issuing-g1.pem' -checkend $((3640 * 86400)) >/dev/null && ! \
    openssl x509 -in '$S/ca/issuing-g1.pem' -checkend $((3660 * 86400)) \
    >/dev/null"
verify "service certificate" "$B" "$S/tls/server.crt"
verify "admin certificate" "$B" "$S/admin/admin.crt"
text "$S/tls/server.crt" > "$W/srv.txt"
t_grep "service cert: serverAuth" "TLS Web Server Authentication" "$W/srv.txt"
t_grep "service cert: localhost SAN" "DNS:localhost" "$W/srv.txt"
text "$S/admin/admin.crt" > "$W/adm.txt"
t_grep "admin cert: clientAuth" "TLS Web Client Authentication" "$W/adm.txt"

# Device certificate from an RSA-2048 CSR (PEM)
c device add $F1 >/dev/null
c device add $F2 >/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$W/k1.pem" \
    -subj "/CN=$F1" -out "$W/csr1.pem" 2>/dev/null
t_exit "cert sign (PEM CSR)" 0 c cert sign $F1 --csr "$W/csr1.pem" -o "$W/chain1.pem"
t_check "chain = leaf + issuing CA" test "$(grep -c 'BEGIN CERTIFICATE' "$W/chain1.pem")" -eq 2
verify "device chain" "$B" "$W/chain1.pem"
cat "$W/chain1.pem" "$S/ca/root-g1.pem" > "$W/full1.pem"
t_gnutls "certtool --verify-chain (leaf..root)" sh -c "certtool \
    --verify-chain --infile '$W/full1.pem' 2>&1 | \
    grep -q 'Chain verification output: Verified'"
text "$W/chain1.pem" > "$W/leaf1.txt"
t_grep "leaf: CN = registered FQDN" "Subject: CN ?= ?$F1" "$W/leaf1.txt"
t_grep "leaf: SAN = registered FQDN" "^ *DNS:$F1\$" "$W/leaf1.txt"
t_grep "leaf: EKU serverAuth" "TLS Web Server Authentication" "$W/leaf1.txt"
t_check "leaf: EKU has nothing else" sh -c "! grep -A1 'Extended Key Usage' \
    '$W/leaf1.txt' | grep -q 'Client'"
t_grep "leaf: keyUsage critical" "Key Usage: critical" "$W/leaf1.txt"
t_grep "leaf: RSA keyUsage" "Digital Signature, Key Encipherment" "$W/leaf1.txt"
t_grep "leaf: not a CA" "CA:FALSE" "$W/leaf1.txt"
t_grep "leaf: SKI" "Subject Key Identifier" "$W/leaf1.txt"
ski=$(grep -A1 'Subject Key Identifier' "$W/iss.txt" | tail -1 | tr -d ' ')
aki=$(grep -A1 'Authority Key Identifier' "$W/leaf1.txt" | tail -1 | tr -d ' ' | sed 's/^keyid://')
t_check "leaf: AKI = issuing CA SKI" test -n "$ski" -a "$ski" = "$aki"
t_grep "leaf: SHA-384 signature" "sha384WithRSAEncryption" "$W/leaf1.txt"
t_check "leaf: valid 2 years" sh -c "openssl x509 -in '$W/chain1.pem' \
    -checkend $((729 * 86400)) >/dev/null && ! openssl x509 -in \
    '$W/chain1.pem' -checkend $((731 * 86400)) >/dev/null"
serial1=$(openssl x509 -in "$W/chain1.pem" -noout -serial | cut -d= -f2)
t_check "serial has >= 64 random bits" test "${#serial1}" -ge 16
t_grep "issuance audited" "cert.sign $F1 ok serial=$serial1" "$(c audit list > "$W/audit" && echo "$W/audit")"

# DER CSR with an ECDSA P-384 key; CSR CN absent (names come from the record)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes \
    -keyout "$W/k2.pem" -subj "/O=whatever" -outform DER -out "$W/csr2.der" 2>/dev/null
t_exit "cert sign (DER CSR, P-384)" 0 c cert sign $F2 --csr "$W/csr2.der" -o "$W/chain2.pem"
verify "P-384 device chain" "$B" "$W/chain2.pem"
text "$W/chain2.pem" > "$W/leaf2.txt"
t_grep "EC leaf: keyUsage digitalSignature only" "^ *Digital Signature\$" "$W/leaf2.txt"
t_grep "EC leaf: SAN from the record" "DNS:$F2" "$W/leaf2.txt"
c cert sign $F2 --csr "$W/csr2.der" > "$W/stdout.pem"
t_check "cert sign without -o prints the chain" test "$(grep -c 'BEGIN CERTIFICATE' "$W/stdout.pem")" -eq 2

# Bad input: each refused with a clear error, nothing issued, audited
before=$(ncerts)
ref0=$(nrefused)
head -c 300 "$W/csr1.pem" > "$W/trunc.pem"
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nZ2FyYmFnZSBnYXJiYWdl\n-----END CERTIFICATE REQUEST-----\n' > "$W/garbage.pem"
openssl req -in "$W/csr1.pem" -outform DER -out "$W/csr1.der"
head -c 200 "$W/csr1.der" > "$W/trunc.der"
head -c 600 /dev/urandom > "$W/garbage.der"
# flip the last byte (inside the signature) of a good DER CSR
cp "$W/csr1.der" "$W/badsig.der"
n=$(($(wc -c < "$W/csr1.der") - 1))
last=$(od -An -tu1 -j $n -N1 "$W/csr1.der" | tr -d ' ')
printf "\\$(printf %o $(( (last + 1) % 256 )))" | \
    dd of="$W/badsig.der" bs=1 seek=$n conv=notrunc 2>/dev/null
openssl req -new -newkey rsa:1024 -nodes -keyout "$W/k1024.pem" \
    -subj "/CN=$F1" -out "$W/rsa1024.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:secp256k1 -nodes \
    -keyout "$W/kk1.pem" -subj "/CN=$F1" -out "$W/k1curve.pem" 2>/dev/null
openssl req -new -key "$W/k1.pem" -subj "/CN=evil.corp.example" \
    -out "$W/othercn.pem" 2>/dev/null
openssl req -new -key "$W/k1.pem" -subj "/CN=$F1" \
    -addext "subjectAltName=DNS:$F1,DNS:evil.corp.example" \
    -out "$W/othersan.pem" 2>/dev/null
{ echo '-----BEGIN CERTIFICATE REQUEST-----'
  head -c 90000 /dev/zero | tr '\0' 'A' | fold -w 64
  echo; echo '-----END CERTIFICATE REQUEST-----'; } > "$W/big.pem"
# Far over the bound (the CLI once refused these itself, unaudited).
{ echo '-----BEGIN CERTIFICATE REQUEST-----'
  head -c 2000000 /dev/zero | tr '\0' 'A' | fold -w 64
  echo; echo '-----END CERTIFICATE REQUEST-----'; } > "$W/huge.pem"
head -c 2000000 /dev/urandom > "$W/huge.der"

bad() {	# name want-exit message-regex file [fqdn]
	t_exit "refused: $1" "$2" c cert sign "${5:-$F1}" --csr "$4"
	t_grep "refused: $1: says why" "$3" "$TESTTMP/err"
}
bad "truncated PEM" 2 "not a PEM certificate request" "$W/trunc.pem"
bad "garbage PEM" 2 "not a PEM certificate request" "$W/garbage.pem"
bad "truncated DER" 2 "not a certificate request" "$W/trunc.der"
bad "garbage DER" 2 "not a certificate request" "$W/garbage.der"
bad "broken CSR signature" 2 "signature does not verify" "$W/badsig.der"
bad "RSA-1024" 2 "RSA key of 1024 bits, below the minimum of 2048" "$W/rsa1024.pem"
bad "unsupported curve" 2 "curve secp256k1; accepted curves are P-256 and P-384" "$W/k1curve.pem"
bad "CSR for another FQDN (CN)" 2 "asks for CN \"evil.corp.example\" but the device is $F1" "$W/othercn.pem"
bad "CSR for another FQDN (SAN)" 2 "asks for DNS name \"evil.corp.example\"" "$W/othersan.pem"
bad "unregistered device" 4 "not registered" "$W/csr1.pem" nope.corp.example
bad "oversized file" 2 "over the limit of 65536" "$W/big.pem"
bad "oversized file (2 MB PEM)" 2 "over the limit of 65536" "$W/huge.pem"
bad "oversized file (2 MB DER)" 2 "over the limit of 65536" "$W/huge.der"
t_exit "refused: oversized on stdin" 2 sh -c "$CUSTODYCTL --state-dir '$S' cert sign $F1 --csr - < '$W/huge.der'"
t_exit "refused: empty file" 2 c cert sign $F1 --csr /dev/null
t_check "nothing issued by bad input" test "$(ncerts)" -eq "$before"
t_check "every refusal audited" test "$(nrefused)" -eq $((ref0 + 15))
c audit list > "$W/audit"
t_grep "refusal entry names device and reason" \
    "cert.sign $F1 refused the CSR has an RSA key of 1024 bits" "$W/audit"
t_grep "unregistered refusal audited" "cert.sign nope.corp.example refused device nope.corp.example is not registered" "$W/audit"

# Server-side key generation: key + chain PEM and PKCS#12
mkdir -p "$W/issue"
t_exit "cert issue" 0 c cert issue $F2 -o "$W/issue"
pw=$(sed -n 's/^PKCS#12 password (shown once): //p' "$TESTTMP/out")
t_check "PKCS#12 password shown" test "${#pw}" -eq 24
t_check "issue: key file 0600" test "$(stat -c %a "$W/issue/$F2.key")" = 600
t_check "issue: p12 file 0600" test "$(stat -c %a "$W/issue/$F2.p12")" = 600
verify "issued chain" "$B" "$W/issue/$F2.crt"
t_check "issue: key matches certificate" test \
    "$(openssl pkey -in "$W/issue/$F2.key" -pubout 2>/dev/null)" = \
    "$(openssl x509 -in "$W/issue/$F2.crt" -noout -pubkey)"
t_check "PKCS#12 opens with the password (OpenSSL)" sh -c "openssl pkcs12 \
    -in '$W/issue/$F2.p12' -passin 'pass:$pw' -nodes 2>/dev/null | \
    grep -q 'PRIVATE KEY'"
t_gnutls "PKCS#12 opens with the password (GnuTLS)" sh -c "certtool \
    --p12-info --inder --infile '$W/issue/$F2.p12' --password '$pw' \
    >/dev/null 2>&1"
t_check "PKCS#12 refuses a wrong password" sh -c "! openssl pkcs12 \
    -in '$W/issue/$F2.p12' -passin pass:wrong -nodes >/dev/null 2>&1"
t_exit "issue refuses to overwrite files" 1 c cert issue $F2 -o "$W/issue"
t_exit "issue: unregistered device" 4 c cert issue nope.corp.example -o "$W/issue"
t_check "issue: key not kept in the store" sh -c "! grep -a -q \
    \"\$(sed -n 2p '$W/issue/$F2.key')\" '$S/custody.db' \
    '$S/custody.db-wal' 2>/dev/null"

# Listing
t_exit "cert list" 0 c cert list
t_grep "list shows the device" "$serial1 +device +1 " "$TESTTMP/out"
t_exit "cert list --device" 0 c cert list --device $F1
t_check "--device lists only that device" test "$(awk 'NR > 1' "$TESTTMP/out" | wc -l)" -eq 1
t_exit "cert list --expiring 800" 0 c cert list --expiring 800
t_grep "expiring within 800 days" "$serial1" "$TESTTMP/out"
t_exit "cert list --expiring 30" 0 c cert list --expiring 30
t_check "nothing expires within 30 days" test "$(awk 'NR > 1' "$TESTTMP/out" | wc -l)" -eq 0
t_exit "cert show" 0 c cert show "$serial1"
t_grep "cert show has the PEM" "BEGIN CERTIFICATE" "$TESTTMP/out"
t_exit "cert list --json" 0 c --json cert list --kind device
t_check "--json parses" python3 -c "import json,sys; d=json.load(open('$TESTTMP/out')); assert all(i['kind']=='device' for i in d['items'])"

# Renewal
t_exit "renew outside the window refused" 1 c cert renew $F1
t_grep "renew says why" "outside the renewal window of 30 days" "$TESTTMP/err"
t_exit "renew --force re-signs the last CSR" 0 c cert renew $F1 --force -o "$W/renew1.pem"
verify "renewed chain" "$B" "$W/renew1.pem"
t_check "renewed: same key, new serial" sh -c "test \"\$(openssl x509 -in \
    '$W/renew1.pem' -noout -pubkey)\" = \"\$(openssl x509 -in \
    '$W/chain1.pem' -noout -pubkey)\" && test \"\$(openssl x509 -in \
    '$W/renew1.pem' -noout -serial)\" != \"serial=$serial1\""
openssl req -new -newkey rsa:3072 -nodes -keyout "$W/k1b.pem" \
    -subj "/CN=$F1" -out "$W/csr1b.pem" 2>/dev/null
t_exit "renew --csr (rekey) --supersede" 0 c cert renew $F1 --csr "$W/csr1b.pem" --supersede -o "$W/renew2.pem"
t_grep "supersede revoked the old certificates" "revoked $serial1 \(superseded\)" "$TESTTMP/err"
t_exit "renew: device without a CSR on file" 4 c cert renew amt9.corp.example
c device add amt3.corp.example >/dev/null
t_exit "renew: registered but no CSR" 4 c cert renew amt3.corp.example
t_grep "renew: says no CSR" "no CSR on file" "$TESTTMP/err"

# Revocation and CRL
serial2=$(openssl x509 -in "$W/chain2.pem" -noout -serial | cut -d= -f2)
colons=$(echo "$serial2" | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//')
t_exit "revoke (lower case, colons)" 0 c cert revoke "$colons" --reason keyCompromise
t_grep "revoke shows status" "status +revoked" "$TESTTMP/out"
t_exit "revoke again: conflict" 1 c cert revoke "$serial2" --reason keyCompromise
t_exit "revoke: unknown reason" 2 c cert revoke "$serial2" --reason oops
t_exit "revoke: certificateHold not accepted" 2 c cert revoke "$serial1" --reason certificateHold
t_exit "revoke: unknown serial" 4 c cert revoke 0123456789ABCDEF
t_exit "revoke: not hex" 2 c cert revoke xyz
t_exit "ca crl (DER)" 0 c ca crl -o "$W/crl.der"
t_check "CRL parses (DER)" sh -c "openssl crl -inform DER -in '$W/crl.der' \
    -noout -text > '$W/crl.txt'"
t_grep "CRL lists the revoked serial" "Serial Number: $serial2" "$W/crl.txt"
t_grep "CRL carries the reason" "Key Compromise" "$W/crl.txt"
t_grep "CRL lists the superseded serial" "Serial Number: $serial1" "$W/crl.txt"
t_grep "CRL has a number" "X509v3 CRL Number" "$W/crl.txt"
t_grep "CRL has an AKI" "Authority Key Identifier" "$W/crl.txt"
t_check "CRL signed by the issuing CA" sh -c "openssl crl -inform DER \
    -in '$W/crl.der' -CAfile '$S/ca/issuing-g1.pem' -noout 2>&1 | \
    grep -q 'verify OK'"
t_exit "ca crl --all --pem" 0 c ca crl --all --pem -o "$W/crls.pem"
t_exit "ca crl --refresh (nothing due)" 0 c ca crl --refresh --pem -o "$W/crl-r.pem"
t_check "root and issuing CRLs" test "$(grep -c 'BEGIN X509 CRL' "$W/crls.pem")" -eq 2
t_check "revoked chain fails CRL check" sh -c "! openssl verify -crl_check_all \
    -CAfile '$B' -CRLfile '$W/crls.pem' -untrusted '$W/chain2.pem' \
    '$W/chain2.pem' >/dev/null 2>&1"
t_check "valid chain passes CRL check" sh -c "openssl verify -crl_check_all \
    -CAfile '$B' -CRLfile '$W/crls.pem' -untrusted '$W/renew2.pem' \
    '$W/renew2.pem' >/dev/null 2>&1"
t_gnutls "GnuTLS sees the revocation" sh -c "certtool --verify \
    --load-ca-certificate '$B' --load-crl '$W/crls.pem' \
    --infile '$W/chain2.pem' 2>&1 | grep -q 'revoked'"
c audit list > "$W/audit"
t_grep "revocation audited" "cert.revoke $F2 ok serial=$serial2 reason=keyCompromise" "$W/audit"

# Consoles
mkdir -p "$W/con"
t_exit "console add" 0 c console add sccm.corp.example -o "$W/con"
t_check "console key 0600" test "$(stat -c %a "$W/con/sccm.corp.example.key")" = 600
cat "$W/con/sccm.corp.example.crt" "$W/con/sccm.corp.example-chain.pem" > "$W/con/full.pem"
verify "console chain" "$B" "$W/con/full.pem"
text "$W/con/sccm.corp.example.crt" > "$W/con.txt"
t_grep "console EKU: clientAuth" "TLS Web Client Authentication" "$W/con.txt"
t_grep "console EKU: AMT remote console" "2.16.840.1.113741.1.2.1" "$W/con.txt"
t_grep "console CN" "Subject: CN ?= ?sccm.corp.example" "$W/con.txt"
mkdir -p "$W/con2"
t_exit "console add: duplicate refused" 1 c console add sccm.corp.example -o "$W/con2"
t_grep "duplicate: says why" "console sccm.corp.example exists" "$TESTTMP/err"
t_exit "console add: bad name" 2 c console add "bad name" -o "$W/con"
t_exit "console list" 0 c console list
t_grep "console listed active" "sccm.corp.example +active" "$TESTTMP/out"
cserial=$(openssl x509 -in "$W/con/sccm.corp.example.crt" -noout -serial | cut -d= -f2)
t_exit "console revoke" 0 c console revoke sccm.corp.example
t_exit "console revoke again: not found" 4 c console revoke sccm.corp.example
c ca crl --pem -o "$W/crl2.pem"
t_check "console serial in the CRL" sh -c "openssl crl -in '$W/crl2.pem' \
    -noout -text | grep -q 'Serial Number: $cserial'"
# A missing -o DIR is made (cli_habits.sh); one that cannot be (below a
# file) is refused before anything is issued.
t_exit "console add: an -o dir that cannot be made refused first" 4 c console add other -o "$W/crl2.pem/nodir"
c console list > "$W/consoles"
t_check "nothing issued for a dir that cannot be made" sh -c "! grep -q '^other ' '$W/consoles'"
mkdir -p "$W/con3"
t_exit "console add after revoke" 0 c console add sccm.corp.example -o "$W/con3"
# Console names are case-insensitive, kept and issued in lower case.
t_exit "console add Ops1" 0 c console add Ops1 -o "$W/con3"
t_check "files named in lower case" test -s "$W/con3/ops1.crt" -a -s "$W/con3/ops1.key"
t_grep "CN in lower case" "Subject: CN ?= ?ops1" "$(text "$W/con3/ops1.crt" > "$W/ops1.txt" && echo "$W/ops1.txt")"
mkdir -p "$W/con4"
t_exit "console add OPS1: the same console" 1 c console add OPS1 -o "$W/con4"
t_exit "console revoke oPs1" 0 c console revoke oPs1
# console list pages like the other lists: one page with --limit (and the
# cursor to go on), every page followed without it.
t_exit "console list --limit 1" 0 c console list --limit 1
t_check "one console on the page" test "$(sed -n '2p' "$TESTTMP/out" | wc -l)" -eq 1 -a "$(wc -l < "$TESTTMP/out")" -eq 3
t_grep "the cursor to go on" "more: --after [0-9]+" "$TESTTMP/out"
after=$(sed -n 's/.*--after \([0-9]*\).*/\1/p' "$TESTTMP/out")
sed -n 2p "$TESTTMP/out" > "$W/page1"
t_exit "console list --limit 1 --after" 0 c console list --limit 1 --after "$after"
t_check "the next page is the next console" test "$(sed -n 2p "$TESTTMP/out")" = "$(c console list | sed -n 3p)" -a "$(cat "$W/page1")" = "$(c console list | sed -n 2p)"
t_exit "console list --limit 0 refused" 2 c console list --limit 0
t_check "--json console list follows every page" test "$(c --json console list | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["items"]), d["next"])')" = "$(c console list | tail -n +2 | wc -l) None"

# Bundle: stable version
v1=$(c --json ca bundle | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
v2=$(c --json ca bundle | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
t_check "bundle version stable" test -n "$v1" -a "$v1" = "$v2"
t_check "bundle version is its SHA-256" test "$v1" = "$(c ca bundle | sha256sum | cut -d' ' -f1)"
t_check "audit chain intact" c audit verify

# Profiles and key types
L="$TESTTMP/legacy"
t_exit "init --profile legacy-amt" 0 cc --state-dir "$L" init --profile legacy-amt
text "$L/ca/root-g1.pem" > "$W/lroot.txt"
t_grep "legacy: RSA-2048 root" "Public-Key: \(2048 bit\)" "$W/lroot.txt"
t_grep "legacy: SHA-256" "sha256WithRSAEncryption" "$W/lroot.txt"
t_check "legacy: service cert RSA-2048/SHA-256" sh -c "openssl x509 -in \
    '$L/tls/server.crt' -noout -text | grep -q 'sha256WithRSAEncryption'"
verify "legacy service chain" "$L/ca/bundle.pem" "$L/tls/server.crt"
t_exit "legacy + rsa4096 refused" 2 cc --state-dir "$TESTTMP/x" init --profile legacy-amt --key-type rsa4096
t_exit "unknown key type refused" 2 cc --state-dir "$TESTTMP/y" init --key-type rsa1024
E="$TESTTMP/ec"
t_exit "init --key-type ecdsa-p384 --leaf-days 90" 0 cc --state-dir "$E" init --key-type ecdsa-p384 --leaf-days 90 --org "Example Corp" --root-cn "Example Root"
t_grep "EC root" "ecdsa-with-SHA384" "$(text "$E/ca/root-g1.pem" > "$W/eroot.txt" && echo "$W/eroot.txt")"
t_grep "configured names" "O ?= ?Example Corp, CN ?= ?Example Root G1" "$W/eroot.txt"
cc --state-dir "$E" device add $F1 >/dev/null
t_exit "EC CA signs an RSA CSR" 0 cc --state-dir "$E" cert sign $F1 --csr "$W/csr1.pem" -o "$W/ec1.pem"
verify "EC CA device chain" "$E/ca/bundle.pem" "$W/ec1.pem"
t_check "configured leaf validity (90 days)" sh -c "openssl x509 -in \
    '$W/ec1.pem' -checkend $((89 * 86400)) >/dev/null && ! openssl x509 \
    -in '$W/ec1.pem' -checkend $((91 * 86400)) >/dev/null"

# A long state directory path (public files once went to a truncated path)
D="$TESTTMP/a-rather-long-directory-name-for-the-state/and-another-level/state"
mkdir -p "$(dirname "$D")"
t_exit "init in a long path" 0 cc --state-dir "$D" init --key-type ecdsa-p256
for f in ca/bundle.pem ca/chain.pem ca/root-g1.pem ca/issuing-g1.pem; do
	t_check "long path: $f" test -s "$D/$f"
done

t_done
