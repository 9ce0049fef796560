#!/bin/sh
# tests/integration/ca_crash.sh - a kill in the two windows where custody
# has signed a certificate whose key is not where its owner expects it:
#  1. ca rotate --activate killed after staging the new service
#     certificates and keys, before its commit: the next CA change removes
#     the staged files (only those of dead processes), records their
#     reserved serials as revoked certificates (on the CRL), audit intact;
#  2. cert issue / console add killed after the commit, before the key
#     file is written: the certificate is shown undelivered, and the next
#     issuance of that kind revokes it (a console's name is freed).
# The kills come from test hooks at exact steps (CUSTODY_TEST_CRASH_AT).
. "$(dirname "$0")/lib.sh"
t_need_or_skip openssl sqlite3
S="$TESTTMP/state"
W="$TESTTMP/files"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
key_matches() {
	a=$(openssl x509 -in "$1.crt" -noout -pubkey 2>/dev/null | sha256sum)
	b=$(openssl pkey -in "$1.key" -pubout 2>/dev/null | sha256sum)
	[ -n "$a" ] && [ "$a" = "$b" ]
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
staged() { ls "$S/tls" "$S/admin" "$S/ca" | grep '\.new\.'; }
unrecorded() {
	c --json ca show | sed -n 's/.*"unrecorded_serials": *\([0-9]*\).*/\1/p'
}
on_crl() {	# on_crl GEN SERIAL
	c ca crl --generation "$1" --pem |
	    openssl crl -noout -text | grep -q "Serial Number: $2"
}

c init >/dev/null
c ca rotate >/dev/null
old=$(serial_of "$S/tls/server.crt")

# -- 1. ca rotate --activate killed before its commit -----------------------
CUSTODY_TEST_CRASH_AT=ca-staged c ca rotate --activate >/dev/null 2>&1
t_check "activate killed between staging and commit (test hook)" test $? -eq 99
t_check "killed: new service keys left staged" test -n "$(ls "$S/tls" | grep '^server\.key\.new\.')"
srv=$(serial_of "$(ls "$S"/tls/server.crt.new.* | head -1)")
adm=$(serial_of "$(ls "$S"/admin/admin.crt.new.* | head -1)")
t_check "killed: nothing committed (server.crt unchanged)" test "$(serial_of "$S/tls/server.crt")" = "$old"
t_check "killed: server.crt still matches server.key" key_matches "$S/tls/server"
t_check "killed: the staged serials are reservations of a dead process" test "$(unrecorded)" = 2
t_exit "killed: cert show explains the staged serial" 4 c cert show "$srv"
t_grep "killed: ... as reserved, never recorded" "reserved at" "$TESTTMP/err"
# Staged files of a live process (this shell) are never touched; those of
# a dead one are.
st=$(sed 's/^.*) //' /proc/$$/stat | cut -d' ' -f20)
live="server.crt.new.$$-$st-0123456789abcdef"
echo live > "$S/tls/$live"
sh -c 'exit 0' & dead=$!
wait $dead
echo dead > "$S/ca/bundle.pem.new.$dead-1-0123456789abcdef"
t_exit "the next activation runs" 0 c ca rotate --activate
t_check "stale staged files removed" test -z "$(staged | grep -v "^$live\$")"
t_check "a live process's staged file is kept" test -f "$S/tls/$live"
rm -f "$S/tls/$live"
new_server() { key_matches "$S/tls/server" && test "$(serial_of "$S/tls/server.crt")" != "$old"; }
t_check "server.crt is the new one and matches its key" new_server
t_check "admin.crt matches admin.key" key_matches "$S/admin/admin"
for s in "$srv" "$adm"; do
	t_exit "staged certificate $s is recorded" 0 c cert show "$s"
	t_grep "... revoked (cessationOfOperation)" "revoked .*cessationOfOperation" "$TESTTMP/out"
	t_check "... and on generation 2's CRL" on_crl 2 "$s"
done
t_check "no unrecorded serial left" test "$(unrecorded)" = 0
t_grep "the recovery is audited" "ca.recover service:custodyd ok serial=$srv" \
    "$(c audit list --limit 100 > "$TESTTMP/audit"; echo "$TESTTMP/audit")"
t_exit "audit intact" 0 c audit verify

# -- 2. cert issue / console add killed before writing the key ---------------
c device add one.corp.example >/dev/null
c device add two.corp.example >/dev/null
CUSTODY_TEST_CRASH_AT=issued-unwritten c cert issue one.corp.example -o "$W" >/dev/null 2>&1
t_check "cert issue killed after its commit (test hook)" test $? -eq 99
t_check "killed: no key written" test ! -e "$W/one.corp.example.key"
lost=$(c cert list --device one.corp.example | awk 'NR == 2 { print $1 }')
t_check "killed: the certificate is valid in the store" sh -c \
    "'$CUSTODYCTL' --state-dir '$S' cert list --device one.corp.example | grep -q '$lost .*valid .*(undelivered)'"
t_exit "cert show says it is undelivered" 0 c cert show "$lost"
t_grep "... delivery pending" "delivery +pending" "$TESTTMP/out"
t_exit "the next cert issue runs" 0 c cert issue two.corp.example -o "$W"
t_check "its files are written" test -s "$W/two.corp.example.key"
t_exit "the lost certificate is revoked" 0 c cert show "$lost"
t_grep "... cessationOfOperation" "revoked .*cessationOfOperation" "$TESTTMP/out"
t_check "... and on the CRL" on_crl 2 "$lost"
t_check "a delivered certificate is not marked" sh -c \
    "! '$CUSTODYCTL' --state-dir '$S' cert list --device two.corp.example | grep -q undelivered"
t_check "no delivery left waiting" test "$(sqlite3 "$S/custody.db" 'SELECT count(*) FROM ca_delivery')" = 0

CUSTODY_TEST_CRASH_AT=issued-unwritten c console add ops1 -o "$W" >/dev/null 2>&1
t_check "console add killed after its commit (test hook)" test $? -eq 99
t_check "killed: no console key written" test ! -e "$W/ops1.key"
t_exit "console add of the same name again: the lost one is revoked first" 0 c console add ops1 -o "$W"
t_check "its files are written" test -s "$W/ops1.key"
t_check "two console certificates: one revoked, one valid" test \
    "$(c cert list --kind console | awk 'NR > 1 { print $5 }' | sort | tr '\n' ' ')" = "revoked valid "
t_exit "audit intact" 0 c audit verify
t_done
