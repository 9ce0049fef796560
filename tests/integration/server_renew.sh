#!/bin/sh
# tests/integration/server_renew.sh - custodyctl ca renew-server: not due
# outside --before, renewed inside it (clock pushed with CUSTODY_TEST_NOW)
# and once; the new tls/server.crt matches tls/server.key and verifies
# against the bundle; the old one is revoked (superseded) on the CRL.
. "$(dirname "$0")/lib.sh"
t_need_or_skip openssl
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
pub() { openssl pkey -in "$1" -pubout 2>/dev/null; }
certpub() { openssl x509 -in "$1" -noout -pubkey; }
verify_at() { openssl verify -attime "$1" -CAfile "$S/ca/bundle.pem" \
    -untrusted "$S/tls/server.crt" "$2" >/dev/null; }

t_exit "init" 0 c init
cp "$S/tls/server.crt" "$W/old.crt"
old=$(openssl x509 -in "$W/old.crt" -noout -serial | cut -d= -f2)
end=$(date -d "$(openssl x509 -in "$W/old.crt" -noout -enddate |
    cut -d= -f2)" +%s)
now=$((end - 31 * 86400))
export CUSTODY_TEST_NOW=@$now
t_exit "31 days before expiry: not due" 0 c ca renew-server --before 30d
t_grep "says not due" "not due" "$TESTTMP/out"
t_check "file unchanged" cmp -s "$S/tls/server.crt" "$W/old.crt"
now=$((end - 29 * 86400))
export CUSTODY_TEST_NOW=@$now
t_exit "29 days before expiry: renewed" 0 c ca renew-server --before 30d
t_grep "says renewed" "renewed under generation 1" "$TESTTMP/out"
t_exit "again: not due" 0 c ca renew-server --before 30d
t_grep "once" "not due" "$TESTTMP/out"
t_check "new certificate" test "$(openssl x509 -in "$S/tls/server.crt" \
    -noout -serial | cut -d= -f2)" != "$old"
t_check "key matches" test "$(pub "$S/tls/server.key")" = \
    "$(certpub "$S/tls/server.crt")"
openssl x509 -in "$S/tls/server.crt" > "$W/leaf.pem"
t_check "verifies against the bundle" verify_at "$now" "$W/leaf.pem"
t_check "old one on the CRL" sh -c "\"$CUSTODYCTL\" --state-dir '$S' ca \
    crl --pem | openssl crl -noout -text | grep -q 'Serial Number: $old'"
t_check "nothing staged left" test -z "$(ls "$S/tls" | grep '\.new\.')"
t_exit "bad duration" 2 c ca renew-server --before soon
t_done
