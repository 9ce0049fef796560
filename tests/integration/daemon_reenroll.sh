#!/bin/sh
# tests/integration/daemon_reenroll.sh - POST /v1/clients/self/certificate
# (client.reenroll over HTTPS): a console renews its own certificate with
# a CSR, as JSON {"csr": PEM} and as an application/pkcs10 body (PEM, DER,
# base64 DER as EST clients send it); the new certificate keeps the
# identity whatever subject the CSR asks for, works at once, and the old
# one is refused from its first use on (revoked as superseded); a reply
# that is lost (the new certificate never used) leaves the old one working
# and able to re-enrol again, with never more than two valid; a revoked
# certificate gets no new certificate; a renewal not used within its grace
# period revokes the old one anyway (the test clock).
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl
t_need_or_skip openssl
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_reenroll.sh "custodyd is not built"; exit 77; }
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W/sccm" "$W/power"
c() { cc --state-dir "$S" "$@"; }
DPID=
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null' EXIT
c init >/dev/null
cat > "$W/policy.yaml" <<'P'
version: 1
owner: sccm
consoles:
  sccm:
    identity: {certificate: "CN=sccm,O=Corp"}
    duties: [setup, power, inventory, redirection]
  power:
    identity: {certificate: "CN=power"}
    duties: [power]
  spare:
    identity: {certificate: "CN=spare"}
    duties: [power]
P
c policy load "$W/policy.yaml" >/dev/null || t_fail "policy load"
c console add sccm -o "$W/sccm" >/dev/null
c console add power -o "$W/power" >/dev/null
c console add spare -o "$W" >/dev/null
c device add dev1.corp.example >/dev/null
t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    { t_fail "custodyd starts"; t_done; }
DPID=$T_DPID PORT=$T_PORT
U="https://127.0.0.1:$PORT"

# post CERT KEY OUT [CURL ARGS...]: POST to the route; the status (000
# when the handshake is refused), the reply in OUT.
post() {
	_crt=$1 _key=$2 _out=$3
	shift 3
	curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" --cert "$_crt" \
	    --key "$_key" -o "$_out" -w '%{http_code}' "$@" \
	    "$U/v1/clients/self/certificate" 2>/dev/null || true
}
# get CERT KEY: the status of a console-only route with that certificate.
get() {
	curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" --cert "$1" \
	    --key "$2" -o /dev/null -w '%{http_code}' \
	    "$U/v1/devices/dev1.corp.example/admin-password" 2>/dev/null || true
}
# pem FIELD FILE: a PEM member of a JSON reply, as text.
pem() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[2]))[sys.argv[1]], end="")' "$1" "$2"
}
# refused STATUS: the handshake refused, or 401/403.
refused() { case $1 in 000|401|403) return 0 ;; *) return 1 ;; esac; }

old="$W/sccm/sccm.crt" oldkey="$W/sccm/sccm.key"
t_check "the console's certificate works" test "$(get "$old" "$oldkey")" = 200

# valid HOLDER: the serials of the holder's valid certificates (cert list).
valid() {
	cc --state-dir "$S" --json cert list >"$W/certs" &&
	python3 -c 'import json,sys; print(" ".join(sorted(x["serial"] for x in json.load(open(sys.argv[1]))["items"] if x["holder"] == sys.argv[2] and x["status"] == "valid")))' "$W/certs" "$1"
}
# serial FILE: the serial of a PEM certificate, as custody prints it.
serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }
s_orig=$(serial "$old")

# 0. The reply is lost: re-enrol, never use the new certificate. The old
# one keeps working (and may re-enrol again: the reply was lost); the
# holder never has more than two valid certificates.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k0.pem" -subj "/CN=sccm" -out "$W/r0.pem" 2>/dev/null
st=$(post "$old" "$oldkey" "$W/o0" -H 'Content-Type: application/pkcs10' \
    --data-binary @"$W/r0.pem")
t_check "re-enrol, the reply dropped: 200" test "$st" = 200
pem certificate "$W/o0" > "$W/c0.pem"
s0=$(serial "$W/c0.pem")
t_check "the old certificate still works" test "$(get "$old" "$oldkey")" = 200
t_check "two valid: the old and the unused new one" \
    test "$(valid sccm)" = "$(printf '%s\n%s\n' "$s_orig" "$s0" | sort | tr '\n' ' ' | sed 's/ $//')"
c cert list > "$W/list0"
t_grep "cert list: the old one is superseded once $s0 is used" \
    "^$s_orig .* superseded once $s0 is used, at the latest" "$W/list0"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k0b.pem" -subj "/CN=sccm" -out "$W/r0b.pem" 2>/dev/null
st=$(post "$old" "$oldkey" "$W/o0b" -H 'Content-Type: application/pkcs10' \
    --data-binary @"$W/r0b.pem")
t_check "re-enrol again with the old certificate (reply lost): 200" \
    test "$st" = 200
pem certificate "$W/o0b" > "$W/c0b.pem"
s0b=$(serial "$W/c0b.pem")
t_check "... still two valid: the old one and the newest" \
    test "$(valid sccm)" = "$(printf '%s\n%s\n' "$s_orig" "$s0b" | sort | tr '\n' ' ' | sed 's/ $//')"
st=$(get "$W/c0.pem" "$W/k0.pem")
t_check "... the lost one is revoked: $st" refused "$st"
t_check "... the old certificate still works" \
    test "$(get "$old" "$oldkey")" = 200
c console list > "$W/clist"
t_grep "console list: the newest supersedes the old once used" \
    "^sccm .* $s0b .* supersedes $s_orig once used" "$W/clist"

# 1. JSON {"csr": PEM}; the CSR asks for another subject (CN=admin): the
# certificate keeps the console's identity.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k1.pem" -subj "/CN=admin" -out "$W/r1.pem" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read()}))' \
    "$W/r1.pem" > "$W/r1.json"
st=$(post "$old" "$oldkey" "$W/o1" -H 'Content-Type: application/json' \
    --data-binary @"$W/r1.json")
t_check "re-enrol with the current certificate (JSON CSR): 200" test "$st" = 200
pem certificate "$W/o1" > "$W/c1.pem"
t_check "... the reply holds a certificate for the CSR's key" sh -c \
    "[ \"\$(openssl x509 -in '$W/c1.pem' -noout -pubkey)\" = \
    \"\$(openssl pkey -in '$W/k1.pem' -pubout)\" ]"
t_check "... and no private key" sh -c "! grep -q '\"key\"' '$W/o1'"
s_old=$(openssl x509 -in "$old" -noout -subject -nameopt RFC2253)
s_new=$(openssl x509 -in "$W/c1.pem" -noout -subject -nameopt RFC2253)
t_check "... with the same subject ($s_new), not the CSR's" \
    test "$s_old" = "$s_new"
t_check "the new certificate works at once" \
    test "$(get "$W/c1.pem" "$W/k1.pem")" = 200
st=$(get "$old" "$oldkey")
t_check "the old certificate is refused (superseded): $st" refused "$st"
st=$(get "$W/c0b.pem" "$W/k0b.pem")
t_check "... so is the renewal before, never used: $st" refused "$st"
t_check "... one valid certificate: the new one" \
    test "$(valid sccm)" = "$(serial "$W/c1.pem")"
c audit list > "$W/audit"
t_grep "... revoked as superseded on the new one's first use, audited as the console" \
    "console:sccm +cert.revoke .*serial=$s_orig reason=superseded.*it authenticated a client" "$W/audit"
st=$(post "$old" "$oldkey" "$W/o1b" -H 'Content-Type: application/json' \
    --data-binary @"$W/r1.json")
t_check "the superseded certificate cannot re-enrol: $st" refused "$st"
t_check "... and gets no certificate" sh -c \
    "! grep -q 'BEGIN CERTIFICATE' '$W/o1b' 2>/dev/null"

# 2. application/pkcs10, base64 DER with line breaks (EST simplereenroll).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k2.pem" -subj "/CN=sccm" -outform DER -out "$W/r2.der" \
    2>/dev/null
base64 -w 64 "$W/r2.der" > "$W/r2.b64"
st=$(post "$W/c1.pem" "$W/k1.pem" "$W/o2" \
    -H 'Content-Type: application/pkcs10' --data-binary @"$W/r2.b64")
t_check "re-enrol with application/pkcs10 base64 DER (EST): 200" test "$st" = 200
pem certificate "$W/o2" > "$W/c2.pem"
t_check "... the new certificate works" \
    test "$(get "$W/c2.pem" "$W/k2.pem")" = 200
st=$(get "$W/c1.pem" "$W/k1.pem")
t_check "... the one before is refused: $st" refused "$st"

# 3. application/pkcs10, raw DER, and PEM.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k3.pem" -subj "/CN=x" -outform DER -out "$W/r3.der" 2>/dev/null
st=$(post "$W/c2.pem" "$W/k2.pem" "$W/o3" \
    -H 'Content-Type: application/pkcs10' --data-binary @"$W/r3.der")
t_check "re-enrol with application/pkcs10 DER: 200" test "$st" = 200
pem certificate "$W/o3" > "$W/c3.pem"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k4.pem" -subj "/CN=x" -out "$W/r4.pem" 2>/dev/null
st=$(post "$W/c3.pem" "$W/k3.pem" "$W/o4" \
    -H 'Content-Type: application/pkcs10' --data-binary @"$W/r4.pem")
t_check "re-enrol with application/pkcs10 PEM: 200" test "$st" = 200
pem certificate "$W/o4" > "$W/c4.pem"
t_check "... it works" test "$(get "$W/c4.pem" "$W/k4.pem")" = 200

# 4. Bad requests: a body that is no CSR, another content type, a CSR
# whose signature does not verify; nothing changes.
st=$(post "$W/c4.pem" "$W/k4.pem" "$W/o5" \
    -H 'Content-Type: application/pkcs10' --data-binary 'not a CSR at all')
t_check "garbage as application/pkcs10: 400 ($st)" test "$st" = 400
st=$(post "$W/c4.pem" "$W/k4.pem" "$W/o5" \
    -H 'Content-Type: text/plain' --data-binary @"$W/r4.pem")
t_check "a CSR as text/plain: 415 ($st)" test "$st" = 415
t_check "... the certificate still works" \
    test "$(get "$W/c4.pem" "$W/k4.pem")" = 200
st=$(curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" -o "$W/o6" \
    -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
    --data-binary @"$W/r4.pem" "$U/v1/clients/self/certificate")
t_check "anonymous: 401 ($st)" test "$st" = 401

# 5. A console whose certificate is revoked: no new certificate.
c console revoke power >/dev/null
sleep 1.2
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k7.pem" -subj "/CN=power" -out "$W/r7.pem" 2>/dev/null
st=$(post "$W/power/power.crt" "$W/power/power.key" "$W/o7" \
    -H 'Content-Type: application/pkcs10' --data-binary @"$W/r7.pem")
t_check "a revoked certificate cannot re-enrol: $st" refused "$st"
t_check "... and gets no certificate" sh -c \
    "! grep -q 'BEGIN CERTIFICATE' '$W/o7' 2>/dev/null"

# 6. A renewal never used: the old certificate goes when the grace period
# ends (ca.h CA_SUPERSEDE_GRACE, 7 days), swept by the next renewal (or
# the scheduler's tick): the test clock a little past it, after the
# service stopped (its CRLs would be from the future).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k8.pem" -subj "/CN=sccm" -out "$W/r8.pem" 2>/dev/null
st=$(post "$W/c4.pem" "$W/k4.pem" "$W/o8" \
    -H 'Content-Type: application/pkcs10' --data-binary @"$W/r8.pem")
t_check "re-enrol, the reply dropped: 200" test "$st" = 200
pem certificate "$W/o8" > "$W/c8.pem"
t_check "... the current certificate still works" \
    test "$(get "$W/c4.pem" "$W/k4.pem")" = 200
c audit list > "$W/audit"
t_grep "re-enrolments are audited as the console" \
    'console:sccm +console.renew' "$W/audit"
kill -TERM "$DPID"
wait "$DPID"
DPID=
CUSTODY_TEST_NOW=+518400 cc --state-dir "$S" console renew spare -o "$W" \
    --force >/dev/null
t_check "six days later: both still valid" \
    test "$(valid sccm)" = "$(printf '%s\n%s\n' "$(serial "$W/c4.pem")" "$(serial "$W/c8.pem")" | sort | tr '\n' ' ' | sed 's/ $//')"
CUSTODY_TEST_NOW=+605000 cc --state-dir "$S" console renew spare -o "$W" \
    --force >/dev/null
t_check "past seven days: the old one revoked, the renewal valid" \
    test "$(valid sccm)" = "$(serial "$W/c8.pem")"
c audit list > "$W/audit"
t_grep "... audited: superseded when the grace period ended" \
    "cert.revoke .*serial=$(serial "$W/c4.pem") reason=superseded.*grace period" "$W/audit"
t_done
