#!/bin/sh
# tests/integration/ca_rollover.sh - root rollover: issue under generation
# 1, rotate, issue under 2 after activate, revoke one of each, check both
# CRLs, retire-old refused while a gen-1 certificate is valid unless
# --force; and at every step every unexpired, unrevoked certificate
# verifies against the published bundle with OpenSSL and GnuTLS; and once
# the old generation is retired, nothing of it chains to the new root any
# more (both cross-certificates revoked, on published CRLs) and what it
# revoked stays listed on its final CRL.
. "$(dirname "$0")/lib.sh"
t_need_or_skip openssl
W="$TESTTMP/work"
mkdir -p "$W"

# all_verify STEP: every valid end-entity certificate of state $S verifies against
# $S/ca/bundle.pem, with the published issuing CAs as intermediates.
all_verify() {
	cat "$S"/ca/issuing-g*.pem > "$W/inter.pem"
	[ -f "$W/cross.pem" ] && cat "$W/cross.pem" >> "$W/inter.pem"
	n=0 bad=""
	for s in $(cc --state-dir "$S" cert list --limit 100000 |
	    awk 'NR > 1 && $5 == "valid" { print $1 }'); do
		cc --state-dir "$S" cert show "$s" |
		    sed -n '/BEGIN CERT/,/END CERT/p' > "$W/one.pem"
		cat "$W/one.pem" "$W/inter.pem" > "$W/onechain.pem"
		if ! openssl verify -CAfile "$S/ca/bundle.pem" \
		    -untrusted "$W/inter.pem" "$W/one.pem" >/dev/null 2>&1; then
			bad="$bad openssl:$s"
		elif t_need certtool && ! certtool --verify \
		    --load-ca-certificate "$S/ca/bundle.pem" \
		    --infile "$W/onechain.pem" 2>&1 |
		    grep -q 'Chain verification output: Verified'; then
			bad="$bad gnutls:$s"
		fi
		n=$((n + 1))
	done
	t_need certtool || t_skip "$1: the GnuTLS half of the check" \
	    "certtool is not installed (gnutls-bin; make deps)"
	if [ -z "$bad" ] && [ "$n" -gt 0 ]; then
		t_ok "$1: all $n valid certificates verify against the bundle"
	else
		t_fail "$1: do not verify:$bad (of $n)"
	fi
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
roots() { grep -c 'BEGIN CERTIFICATE' "$S/ca/bundle.pem"; }
crl_has() {	# generation serial [--root]
	cc --state-dir "$S" ca crl --generation "$1" --pem ${3:-} |
	    openssl crl -noout -text | grep -q "Serial Number: $2"
}
# gen_cert GEN MEMBER: the serial of a CA certificate of ca show
gen_cert() {
	cc --state-dir "$S" --json ca show | python3 -c "import json,sys; \
	    print(json.load(sys.stdin)['generations'][$1 - 1]['$2']['serial'])"
}

for kt in rsa3072 ecdsa-p256; do
S="$TESTTMP/state-$kt"
rm -f "$W"/*.pem	# -o never replaces a file of the previous round
c() { cc --state-dir "$S" "$@"; }
t_exit "$kt: init" 0 c init --key-type $kt
for d in a b c; do c device add $d.corp.example >/dev/null; done
for d in a b c; do
	openssl req -new -newkey rsa:2048 -nodes -keyout "$W/$d.key" \
	    -subj "/CN=$d.corp.example" -out "$W/$d.csr" 2>/dev/null
done
# Generation 1
t_exit "$kt: sign a under gen 1" 0 c cert sign a.corp.example --csr "$W/a.csr" -o "$W/a1.pem"
t_exit "$kt: sign b under gen 1" 0 c cert sign b.corp.example --csr "$W/b.csr" -o "$W/b1.pem"
cp "$S/ca/bundle.pem" "$W/bundle1.pem"
all_verify "$kt: gen 1"
t_check "$kt: one root" test "$(roots)" -eq 1

# Rotate: both roots published, still issuing from gen 1
t_exit "$kt: ca rotate" 0 c ca rotate
t_grep "$kt: rotate says what next" "ca rotate --activate" "$TESTTMP/out"
t_check "$kt: bundle has both roots" test "$(roots)" -eq 2
t_check "$kt: bundle version changed" test "$(sha256sum < "$W/bundle1.pem")" != "$(sha256sum < "$S/ca/bundle.pem")"
t_exit "$kt: ca show" 0 c ca show
t_grep "$kt: gen 2 is next" "generation 2 +next" "$TESTTMP/out"
t_grep "$kt: gen 1 is active" "generation 1 +active" "$TESTTMP/out"
t_exit "$kt: rotate twice refused" 1 c ca rotate
t_exit "$kt: retire before activate refused" 1 c ca rotate --retire-old
t_exit "$kt: sign c before activate" 0 c cert sign c.corp.example --csr "$W/c.csr" -o "$W/c1.pem"
t_grep "$kt: still issued by gen 1" "Issuing CA G1" "$(openssl x509 -in "$W/c1.pem" -noout -issuer > "$W/iss" && echo "$W/iss")"
all_verify "$kt: after rotate"

# Activate: issue under gen 2
t_exit "$kt: ca rotate --activate" 0 c ca rotate --activate
t_exit "$kt: activate again refused" 1 c ca rotate --activate
t_exit "$kt: sign a under gen 2" 0 c cert renew a.corp.example --force --supersede -o "$W/a2.pem"
t_grep "$kt: issued by gen 2" "Issuing CA G2" "$(openssl x509 -in "$W/a2.pem" -noout -issuer > "$W/iss" && echo "$W/iss")"
t_check "$kt: gen-2 chain carries the cross-certificate" test "$(grep -c 'BEGIN CERTIFICATE' "$W/a2.pem")" -eq 3
sed -n '/BEGIN CERT/,/END CERT/p' "$W/a2.pem" | awk '/BEGIN CERT/ { n++ } n == 3' > "$W/cross.pem"
t_check "$kt: gen-2 leaf verifies against the old root alone (cross path)" sh -c \
    "openssl verify -CAfile '$W/bundle1.pem' -untrusted '$W/a2.pem' '$W/a2.pem' >/dev/null 2>&1"
t_gnutls "$kt: ... also with GnuTLS" sh -c "certtool --verify \
    --load-ca-certificate '$W/bundle1.pem' --infile '$W/a2.pem' 2>&1 | \
    grep -q 'Chain verification output: Verified'"
t_check "$kt: service certificate moved to gen 2" sh -c "openssl x509 \
    -in '$S/tls/server.crt' -noout -issuer | grep -q 'Issuing CA G2'"
all_verify "$kt: after activate"

# Revoke one of each generation; each CRL lists its own
b1=$(serial "$W/b1.pem")
a2=$(serial "$W/a2.pem")
t_exit "$kt: revoke gen-1 b" 0 c cert revoke "$b1" --reason superseded
t_exit "$kt: revoke gen-2 a" 0 c cert revoke "$a2" --reason keyCompromise
t_check "$kt: gen-1 CRL lists b" crl_has 1 "$b1"
t_check "$kt: gen-1 CRL does not list a (gen 2)" sh -c "! { $CUSTODYCTL --state-dir '$S' ca crl --generation 1 --pem | openssl crl -noout -text | grep -q 'Serial Number: $a2'; }"
t_check "$kt: gen-2 CRL lists a" crl_has 2 "$a2"
t_check "$kt: gen-2 CRL does not list b (gen 1)" sh -c "! { $CUSTODYCTL --state-dir '$S' ca crl --generation 2 --pem | openssl crl -noout -text | grep -q 'Serial Number: $b1'; }"
c ca crl --all -o "$W/crls.pem"
t_check "$kt: CRL check: gen-1 b revoked" sh -c "! openssl verify \
    -crl_check -CAfile '$S/ca/bundle.pem' -CRLfile '$W/crls.pem' \
    -untrusted '$W/b1.pem' '$W/b1.pem' >/dev/null 2>&1"
t_check "$kt: CRL check: gen-1 c still good" sh -c "openssl verify \
    -crl_check -CAfile '$S/ca/bundle.pem' -CRLfile '$W/crls.pem' \
    -untrusted '$W/c1.pem' '$W/c1.pem' >/dev/null 2>&1"
all_verify "$kt: after revocations"

# Retire: refused while a gen-1 certificate is valid, unless --force
down=$(gen_cert 2 cross_down)
up=$(gen_cert 2 cross_up)
c cert show "$down" | sed -n '/BEGIN CERT/,/END CERT/p' > "$W/crossdown.pem"
cp "$S/ca/issuing-g1.pem" "$W/issuing-g1.pem"
c1=$(serial "$W/c1.pem")
t_exit "$kt: retire-old refused (gen-1 c valid)" 1 c ca rotate --retire-old
t_grep "$kt: retire says which" "still valid \(e.g. .*c.corp.example" "$TESTTMP/err"
t_check "$kt: refusal audited" sh -c "$CUSTODYCTL --state-dir '$S' audit list | grep -q 'ca.retire ca refused'"
t_check "$kt: bundle still has both roots" test "$(roots)" -eq 2
if [ $kt = rsa3072 ]; then
	# renew what is left, then retire without force
	t_exit "$kt: renew c under gen 2 (supersede)" 0 c cert renew c.corp.example --force --supersede -o "$W/c2.pem"
	t_exit "$kt: retire-old" 0 c ca rotate --retire-old
	t_grep "$kt: nothing revoked by retire" "0 certificates revoked" "$TESTTMP/out"
else
	t_exit "$kt: retire-old --force" 0 c ca rotate --retire-old --force
	t_grep "$kt: force revoked c" "1 certificates revoked" "$TESTTMP/out"
	t_check "$kt: c now revoked" sh -c "$CUSTODYCTL --state-dir '$S' cert show \
	    $(serial "$W/c1.pem") | grep -q 'status *revoked'"
fi
t_check "$kt: bundle has the new root only" test "$(roots)" -eq 1
t_check "$kt: bundle root is G2" sh -c "openssl x509 -in '$S/ca/bundle.pem' -noout -subject | grep -q 'Root CA G2'"
t_exit "$kt: ca show" 0 c ca show
t_grep "$kt: gen 1 retired" "generation 1 +retired" "$TESTTMP/out"
t_check "$kt: retired files removed" test ! -e "$S/ca/issuing-g1.pem" -a ! -e "$S/ca/root-g1.pem"
# The retired generation: its final CRL is still served and lists c (and
# what --force revoked); the cross-certificate through which its leaves
# chained to the new root is revoked on the new root's CRL.
t_exit "$kt: retired generation's final CRL served" 0 c ca crl --generation 1
t_check "$kt: final gen-1 CRL lists c" crl_has 1 "$c1"
t_check "$kt: final gen-1 CRL lists b" crl_has 1 "$b1"
t_check "$kt: cross-down revoked on the gen-2 root CRL" crl_has 2 "$down" --root
t_check "$kt: cross-up revoked on the final gen-1 root CRL" crl_has 1 "$up" --root
t_check "$kt: cross-down shown revoked" sh -c "$CUSTODYCTL --state-dir '$S' \
    cert show '$down' | grep -q 'status *revoked'"
c ca crl --all -o "$W/crls-after.pem"
cat "$W/issuing-g1.pem" "$W/crossdown.pem" > "$W/old-path.pem"
t_check "$kt: a gen-1 leaf no longer verifies via the cross-certificate" sh -c \
    "! openssl verify -crl_check_all -CAfile '$S/ca/bundle.pem' -CRLfile \
    '$W/crls-after.pem' -untrusted '$W/old-path.pem' '$W/c1.pem' \
    >/dev/null 2>&1"
t_check "$kt: a gen-2 leaf still verifies with every CRL checked" sh -c \
    "openssl verify -crl_check_all -CAfile '$S/ca/bundle.pem' -CRLfile \
    '$W/crls-after.pem' -untrusted '$S/ca/chain.pem' '$S/tls/server.crt' \
    >/dev/null 2>&1"
t_exit "$kt: nothing of a retired generation can be revoked" 1 \
    c cert revoke "$(openssl x509 -in "$W/issuing-g1.pem" -noout -serial | cut -d= -f2)" --reason cACompromise
rm -f "$W/cross.pem"
all_verify "$kt: after retire"
t_exit "$kt: a rotation can start again" 0 c ca rotate
t_check "$kt: audit chain intact" c audit verify
done

t_done
