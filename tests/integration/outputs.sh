#!/bin/sh
# tests/integration/outputs.sh - output files: -o never writes inside the
# state directory (through links too) and never replaces a file without
# --force; cert issue and console add check their destination before
# issuing, and revoke (audited) a certificate whose files could not be
# written. The write failures use a full tmpfs (root; SKIPPED otherwise).
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
O="$TESTTMP/files"
c() { cc --state-dir "$S" "$@"; }
mkdir -p "$O"
c init >/dev/null
c device add d1.corp.example >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$O/d1.k" -subj /CN=d1.corp.example -out "$O/d1.csr" 2>/dev/null
sums() { sha256sum "$S/seal/master.key" "$S/custody.db" "$S/tls/server.crt" "$S/ca/bundle.pem"; }
certs() { c --json cert list --all | grep -c '"serial"'; }
sums >"$TESTTMP/sums"
n0=$(certs)

# -- never inside the state directory ------------------------------------
t_exit "ca bundle -o the master key: exit 2" 2 c ca bundle -o "$S/seal/master.key"
t_grep "ca bundle -o in the state: message" "in the state directory" "$TESTTMP/err"
t_exit "ca bundle -o the store, with --force: exit 2" 2 c ca bundle -o "$S/custody.db" --force
t_exit "ca crl -o a new file in ca/: exit 2" 2 c ca crl -o "$S/ca/crl.der"
t_check "ca crl: nothing written in ca/" test ! -e "$S/ca/crl.der"
t_exit "ca crl -o through ..: exit 2" 2 c ca crl -o "$O/../state/tls/crl.pem" --pem
ln -s "$S" "$O/link"
t_exit "ca bundle -o through a symlinked directory: exit 2" 2 c ca bundle -o "$O/link/tls/server.crt" --force
t_exit "cert sign -o the service certificate: exit 2" 2 c cert sign d1.corp.example --csr "$O/d1.csr" -o "$S/tls/server.crt" --force
t_exit "cert renew -o in the state: exit 2" 2 c cert renew d1.corp.example --csr "$O/d1.csr" -o "$S/admin/x.pem"
t_exit "cert issue -o the state's tls/: exit 2" 2 c cert issue d1.corp.example -o "$S/tls"
t_exit "console add -o the state directory: exit 2" 2 c console add ops -o "$S"
t_exit "console add -o a link to the state: exit 2" 2 c console add ops -o "$O/link/admin"
t_check "the state's files are unchanged" sh -c "sha256sum -c '$TESTTMP/sums' >/dev/null 2>&1"
t_check "nothing was issued by the refused commands" test "$(certs)" -eq "$n0"
t_exit "the state still opens" 0 c audit verify

# -- never over an existing file without --force --------------------------
echo precious >"$O/keep.pem"
t_exit "ca bundle -o an existing file: exit 1" 1 c ca bundle -o "$O/keep.pem"
t_grep "existing file: message" "exists; not overwriting it" "$TESTTMP/err"
t_exit "ca crl -o an existing file: exit 1" 1 c ca crl -o "$O/keep.pem"
t_exit "cert sign -o an existing file: exit 1" 1 c cert sign d1.corp.example --csr "$O/d1.csr" -o "$O/keep.pem"
t_check "the refused sign issued nothing" test "$(certs)" -eq "$n0"
t_check "the existing file is unchanged" test "$(cat "$O/keep.pem")" = precious
ln -s "$O/keep.pem" "$O/keep.link"
t_exit "ca bundle -o an existing link: exit 1" 1 c ca bundle -o "$O/keep.link"
t_exit "ca bundle -o a directory, even with --force: exit 2" 2 c ca bundle -o "$O" --force
t_exit "ca bundle --force replaces it" 0 c ca bundle -o "$O/keep.pem" --force
t_grep "replaced with the bundle" "BEGIN CERTIFICATE" "$O/keep.pem"
t_exit "ca bundle --force replaces a link, not its target" 0 c ca bundle -o "$O/keep.link" --force
t_check "the link itself was replaced" test ! -L "$O/keep.link"
t_exit "ca crl --force" 0 c ca crl -o "$O/keep.pem" --force
t_exit "cert sign --force" 0 c cert sign d1.corp.example --csr "$O/d1.csr" -o "$O/keep.pem" --force
t_exit "cert sign to a new file" 0 c cert sign d1.corp.example --csr "$O/d1.csr" -o "$O/new.pem"
mkdir "$O/i"
t_exit "cert issue" 0 c cert issue d1.corp.example -o "$O/i"
t_exit "cert issue again: exit 1" 1 c cert issue d1.corp.example -o "$O/i"
t_exit "cert issue --force replaces its files" 0 c cert issue d1.corp.example -o "$O/i" --force
t_exit "console add --force over files of its name" 0 sh -c "touch '$O/i/ops.crt' && '$CUSTODYCTL' --state-dir '$S' console add ops -o '$O/i' --force"

# -- the destination swapped for a link after its check ---------------------
# CUSTODY_TEST_STOP_AT=output-checked stops the command (SIGSTOP) right
# after its destination directory passed the check; the directory is then
# moved aside and replaced by a link to the state directory, and the
# command continued. It must write into the directory it checked, never
# into the state directory.
D="$TESTTMP/shared"
swapped() {	# swapped CMD...: run c CMD with the swap; exit status in $rc
	rm -rf "$D" "$D.old"
	mkdir "$D"
	CUSTODY_TEST_STOP_AT=output-checked "$CUSTODYCTL" --state-dir "$S" \
	    "$@" >"$TESTTMP/out" 2>"$TESTTMP/err" &
	pid=$!
	t_wait_stopped "$pid"
	mv "$D" "$D.old" && ln -s "$S" "$D"
	kill -CONT "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
}
db_ino=$(stat -c %i "$S/custody.db")
swapped ca bundle -o "$D/bundle.pem"
t_check "swapped: ca bundle succeeds" test "$rc" -eq 0
t_check "swapped: nothing new in the state directory" test ! -e "$S/bundle.pem"
t_grep "swapped: the bundle is in the directory checked" "BEGIN CERTIFICATE" "$D.old/bundle.pem"
swapped ca bundle -o "$D/custody.db" --force
t_check "swapped, --force: ca bundle succeeds" test "$rc" -eq 0
t_grep "swapped, --force: written in the directory checked" "BEGIN CERTIFICATE" "$D.old/custody.db"
swapped ca crl -o "$D/custody.db" --force
t_check "swapped, --force: ca crl succeeds" test "$rc" -eq 0
swapped cert sign d1.corp.example --csr "$O/d1.csr" -o "$D/custody.db" --force
t_check "swapped, --force: cert sign succeeds" test "$rc" -eq 0
t_check "swapped, --force: the store was not replaced" test "$(stat -c %i "$S/custody.db")" = "$db_ino"
t_check "swapped, --force: the store is still SQLite" test "$(head -c 15 "$S/custody.db")" = "SQLite format 3"
swapped cert issue d1.corp.example -o "$D"
t_check "swapped: cert issue succeeds" test "$rc" -eq 0
t_check "swapped: cert issue wrote no key in the state" test ! -e "$S/d1.corp.example.key"
t_check "swapped: cert issue wrote in the directory checked" test -s "$D.old/d1.corp.example.key"
swapped console add swap -o "$D"
t_check "swapped: console add succeeds" test "$rc" -eq 0
t_check "swapped: console add wrote nothing in the state" test ! -e "$S/swap.key" -a ! -e "$S/swap.crt"
t_check "swapped: console add wrote in the directory checked" test -s "$D.old/swap-chain.pem"
grep -v custody.db "$TESTTMP/sums" >"$TESTTMP/sums.files"
t_check "swapped: the state's keys and certificates are unchanged" sh -c "sha256sum -c '$TESTTMP/sums.files' >/dev/null 2>&1"
t_exit "swapped: the store still opens and verifies" 0 c audit verify
rm -f "$D"

# -- files that cannot be written after the certificate is issued -----------
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIPPED - cert issue / console add on a full disk (needs root)"
	t_done
fi
M="$TESTTMP/mnt"
t_tmpfs "$M" 64k || { t_fail "mount tmpfs"; t_done; }
mkdir "$M/out"
# Full: the destination check passes (an empty file can be made), writing
# the key fails.
dd if=/dev/zero of="$M/filler" bs=4096 2>/dev/null
c device add d2.corp.example >/dev/null
t_exit "cert issue on a full disk: exit 5" 5 c cert issue d2.corp.example -o "$M/out"
t_grep "cert issue, full: message" "has been revoked" "$TESTTMP/err"
t_check "cert issue, full: no file left" test -z "$(ls -A "$M/out")"
t_check "cert issue, full: the certificate is revoked" test "$(c cert list --device d2.corp.example | grep -c ' valid ')" -eq 0
t_check "cert issue, full: revoked, not only absent" test "$(c cert list --device d2.corp.example | grep -c ' revoked ')" -eq 1
t_check "cert issue, full: the revocation is audited" sh -c "'$CUSTODYCTL' --state-dir '$S' audit list | grep -q 'cert.revoke d2.corp.example ok.*cessationOfOperation'"
t_exit "console add on a full disk: exit 5" 5 c console add sec -o "$M/out"
t_grep "console add, full: message" "has been revoked" "$TESTTMP/err"
t_check "console add, full: the console is revoked" sh -c "'$CUSTODYCTL' --state-dir '$S' console list | grep -q '^sec  *revoked'"
t_check "console add, full: no file left" test -z "$(ls -A "$M/out")"
# One page free: the key is written, the certificate is not; the key goes.
rm -f "$M/filler"
dd if=/dev/zero of="$M/reserve" bs=4096 count=1 2>/dev/null
dd if=/dev/zero of="$M/filler" bs=4096 2>/dev/null
rm -f "$M/reserve"
t_exit "cert issue with room for the key only: exit 5" 5 c cert issue d2.corp.example -o "$M/out"
t_grep "room for the key only: the .crt failed" "d2.corp.example.crt" "$TESTTMP/err"
t_check "room for the key only: the key written is removed" test -z "$(ls -A "$M/out")"
t_check "room for the key only: revoked" test "$(c cert list --device d2.corp.example | grep -c ' valid ')" -eq 0
rm -f "$M/filler"
t_exit "console add once space is freed: the name is free again" 0 c console add sec -o "$M/out"
t_exit "cert issue once space is freed" 0 c cert issue d2.corp.example -o "$M/out"
t_exit "audit intact" 0 c audit verify
t_untmpfs
t_done
