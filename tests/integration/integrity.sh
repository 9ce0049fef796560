#!/bin/sh
# tests/integration/integrity.sh - someone who can write custody.db but has
# no master key: every row custody trusts is MAC'd (a changed row is exit 5
# naming the row), and an older copy of the store (or of its audit tail and
# head) is refused until 'store accept-restore' (exit 5, then 0).
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null && command -v openssl >/dev/null || exit 77
S="$TESTTMP/state"
O="$TESTTMP/other"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
db() { sqlite3 "$S/custody.db" "$@"; }
F1=amt1.corp.example
# snap NAME: copy the store (the WAL folded in first, so one file is the
# whole store) and the rollback counter out. back_db NAME puts the store
# back alone (what an attacker or a careless restore does); back NAME the
# store and the counter together (the test undoing its own tampering).
snap() {
	db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	cp "$S/custody.db" "$W/$1.db"
	cp "$S/seal/counter" "$W/$1.counter"
}
back_db() {
	db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	rm -f "$S/custody.db-wal" "$S/custody.db-shm"
	cp "$W/$1.db" "$S/custody.db"
}
back() { back_db "$1"; cp "$W/$1.counter" "$S/seal/counter"; }

t_exit "init" 0 c init --key-type ecdsa-p256
t_exit "init another CA" 0 cc --state-dir "$O" init --key-type ecdsa-p256
t_exit "device add" 0 c device add $F1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/k1.pem" -subj "/CN=$F1" -out "$W/csr1.pem" 2>/dev/null
t_exit "cert sign" 0 c cert sign $F1 --csr "$W/csr1.pem" -o "$W/chain1.pem"
t_exit "console add" 0 c console add sccm -o "$W"
t_exit "rotate" 0 c password rotate $F1
t_exit "confirm" 0 c password confirm $F1 --version 2
t_check "every protected row has a MAC" test "$(db "SELECT
    (SELECT count(*) FROM secret WHERE mac IS NULL) +
    (SELECT count(*) FROM ca_gen WHERE mac IS NULL) +
    (SELECT count(*) FROM ca_key WHERE mac IS NULL) +
    (SELECT count(*) FROM cert WHERE mac IS NULL) +
    (SELECT count(*) FROM console WHERE mac IS NULL)")" -eq 0
snap clean

# --- Row MACs -------------------------------------------------------------

# The published root swapped for another CA's: the bundle refuses.
db "ATTACH '$O/custody.db' AS o; UPDATE ca_gen SET root_cert =
    (SELECT root_cert FROM o.ca_gen WHERE gen = 1) WHERE gen = 1"
t_exit "swapped root: ca bundle exit 5" 5 c ca bundle
t_grep "swapped root: names the row" "row ca_gen\(gen=1\) was altered" "$TESTTMP/err"
back clean

# The issuing certificate swapped: nothing is signed under it.
db "ATTACH '$O/custody.db' AS o; UPDATE ca_gen SET issuing_cert =
    (SELECT issuing_cert FROM o.ca_gen WHERE gen = 1) WHERE gen = 1"
t_exit "swapped issuing CA: cert sign exit 5" 5 c cert sign $F1 --csr "$W/csr1.pem" -o "$W/x.pem"
t_grep "swapped issuing CA: names the row" "row ca_gen\(gen=1\)" "$TESTTMP/err"
db "SELECT action, result, detail FROM audit ORDER BY seq DESC LIMIT 1" > "$W/last.txt"
t_grep "swapped issuing CA: audited" "cert.sign\|failed\|.*row ca_gen\(gen=1\)" "$W/last.txt"
back clean

# The row's MAC copied along (another store's row, its own MAC): the key
# differs, so it still fails.
db "ATTACH '$O/custody.db' AS o; UPDATE ca_gen SET root_cert =
    (SELECT root_cert FROM o.ca_gen WHERE gen = 1), mac =
    (SELECT mac FROM o.ca_gen WHERE gen = 1) WHERE gen = 1"
t_exit "swapped root and MAC: ca bundle exit 5" 5 c ca bundle
back clean

# A revoked certificate set back to valid.
serial=$(db "SELECT serial FROM cert WHERE kind = 'device'")
t_exit "cert revoke" 0 c cert revoke "$serial" --reason keyCompromise
snap revoked
db "UPDATE cert SET status = 'valid', revoked = NULL, reason = NULL WHERE serial = '$serial'"
id=$(db "SELECT id FROM cert WHERE serial = '$serial'")
t_exit "un-revoked: cert list exit 5" 5 c cert list --all
t_grep "un-revoked: names the row" "row cert\(id=$id\) was altered" "$TESTTMP/err"
t_exit "un-revoked: cert show exit 5" 5 c cert show "$serial"
# A CRL made a week later (custody's clock moved, no row edited: the CRL
# is due, reads every unexpired certificate, and trips on this one)
t_exit "un-revoked: ca crl --refresh a week later exit 5" 5 env CUSTODY_TEST_NOW=+604800 "$CUSTODYCTL" --state-dir "$S" ca crl --refresh
t_grep "un-revoked: the CRL names the row" "row cert\(id=$id\) was altered" "$TESTTMP/err"
back revoked
t_exit "restored: cert list" 0 c cert list --all
t_exit "restored: ca crl" 0 c ca crl --pem -o "$W/crl.pem"
t_check "restored: the serial is on the CRL" sh -c "openssl crl -in '$W/crl.pem' -noout -text | grep -q '$serial'"

# A secret's state flipped: the old password made current again.
db "UPDATE secret SET state = 'retired' WHERE kind = 'admin' AND version = 2;
    UPDATE secret SET state = 'current' WHERE kind = 'admin' AND version = 1"
t_exit "flipped secret: password show exit 5" 5 c password show $F1
t_grep "flipped secret: names the row" "row secret\(device_id=1, kind=admin, version=1\) was altered" "$TESTTMP/err"
t_exit "flipped secret: password history exit 5" 5 c password history $F1
t_exit "flipped secret: confirm exit 5" 5 c password confirm $F1 --version 1
db "SELECT action, result, detail FROM audit ORDER BY seq DESC LIMIT 1" > "$W/last.txt"
t_grep "flipped secret: confirm audited" "password.confirm\|failed\|a secret row was altered" "$W/last.txt"
t_exit "flipped secret: password verify finds it" 1 c password verify
t_grep "flipped secret: verify names the row" "amt1.corp.example.*admin.*1.*altered in the store" "$TESTTMP/out"
db "SELECT actor, action, object, result, detail FROM audit" > "$W/audit.txt"
t_grep "flipped secret: the refusal was audited" "password.show\|$F1\|failed\|the secret row was altered" "$W/audit.txt"
back revoked
t_exit "restored: password show" 0 c password show $F1

# A console row changed (its name taken over).
db "UPDATE console SET name = 'evil' WHERE name = 'sccm'"
t_exit "console renamed: console list exit 5" 5 c console list
t_grep "console renamed: names the row" "row console\(id=1\) was altered" "$TESTTMP/err"
t_exit "console renamed: console revoke exit 5" 5 c console revoke evil
back revoked

# A CA key row swapped between roles: never signs.
db "UPDATE ca_key SET gen = 9 WHERE role = 'root';
    UPDATE ca_key SET role = 'root' WHERE role = 'issuing';
    UPDATE ca_key SET gen = 1, role = 'issuing' WHERE gen = 9"
t_exit "swapped CA keys: cert sign exit 5" 5 c cert sign $F1 --csr "$W/csr1.pem" -o "$W/x.pem"
t_grep "swapped CA keys: names the row" "row ca_key\(gen=1, role=issuing\)" "$TESTTMP/err"
db "SELECT action, result, detail FROM audit ORDER BY seq DESC LIMIT 1" > "$W/last.txt"
t_grep "swapped CA keys: audited" "cert.sign\|failed\|.*row ca_key" "$W/last.txt"
back revoked

# A loaded policy changed (the owner console renamed in its body).
t_exit "policy load" 0 c policy load "$(dirname "$0")/../../policy/example.yaml"
t_exit "policy plan" 0 c policy plan --all
db "UPDATE policy SET body = replace(body, 'owner: sccm', 'owner: evil')"
t_exit "changed policy: policy plan exit 5" 5 c policy plan --all
t_grep "changed policy: names the row" "row policy\(id=1\) was altered" "$TESTTMP/err"
back revoked

# --- Rollback ---------------------------------------------------------------

back revoked
t_exit "state back to normal" 0 c status
snap old
t_exit "later change" 0 c password rotate $F1
back_db old
t_exit "older store: refused" 5 c status
t_grep "older store: says so" "the store is older than expected" "$TESTTMP/err"
t_grep "older store: names the recovery" "store accept-restore" "$TESTTMP/err"
t_exit "older store: password show refused" 5 c password show $F1
# Another process still using the state (custodyd, a cron custodyctl)
# holds the shared lock: accepting the restore beside it would let its
# commits move the counter on another copy of the store. Refused, nothing
# changed (the store is still refused), until the state is free.
( exec 9>>"$S/lock"; flock -s 9; exec sleep 30 ) &
holder=$!
n=0
while flock -n -x "$S/lock" true 2>/dev/null && [ $n -lt 200 ]; do
	n=$((n + 1)); sleep 0.05
done
t_exit "accept-restore while the state is in use: exit 5" 5 c store accept-restore
t_grep "... says why" "in use by another custody process" "$TESTTMP/err"
kill $holder; wait $holder 2>/dev/null
t_exit "... the store is still refused" 5 c status
t_exit "accept-restore" 0 c store accept-restore
t_grep "accept-restore reports" "accepted" "$TESTTMP/out"
t_check "accept-restore: no warning when the service certificates are the store's" \
    sh -c "! grep -q warning '$TESTTMP/err'"
t_exit "after accept-restore: status" 0 c status
t_exit "after accept-restore: audit verify" 0 c audit verify
c audit list > "$W/audit.txt"
t_grep "accept-restore audited" "store.accept-restore $S ok" "$W/audit.txt"

# The audit tail cut and an older, validly MAC'd head put back.
snap before_cut
head_old=$(db "SELECT hex(value) FROM meta WHERE key = 'audit.head'")
seq_old=$(db "SELECT max(seq) FROM audit")
t_exit "show (audited)" 0 c password show $F1
t_exit "rotate (audited)" 0 c password rotate $F1
db "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq > $seq_old;
    UPDATE meta SET value = X'$head_old' WHERE key = 'audit.head'"
t_exit "cut audit tail: refused" 5 c status
t_grep "cut audit tail: says so" "older than expected" "$TESTTMP/err"
t_exit "cut audit tail: audit list refused" 5 c audit list

# Another history (a store forked from an old copy): same length, or
# longer but not passing through the entry the counter recorded.
back_db before_cut
t_exit "fork: accept the copy" 0 c store accept-restore
snap fork_base
t_exit "fork: one change" 0 c device add fork1.corp.example
snap fork_a1
t_exit "fork: two changes" 0 c device add fork2.corp.example
snap fork_a2
back_db fork_base
t_exit "fork: refused at first (older)" 5 c status
t_exit "fork: accept the base" 0 c store accept-restore
back_db fork_a1
t_exit "fork: same length, other history: refused" 5 c status
t_grep "fork: says the store was replaced" "does not contain entry" "$TESTTMP/err"
back_db fork_a2
t_exit "fork: longer, other history: refused" 5 c status
t_grep "fork (longer): says the store was replaced" "does not contain entry" "$TESTTMP/err"
t_exit "fork: accept-restore" 0 c store accept-restore

# A crash between the commit and the counter update: the counter lags,
# nothing is refused and it catches up.
cp "$S/seal/counter" "$W/counter.old"
t_exit "crash: a change" 0 c device add crash1.corp.example
cp "$W/counter.old" "$S/seal/counter"
t_exit "crash: counter behind the store is fine" 0 c status
t_check "crash: counter caught up" sh -c "! cmp -s '$W/counter.old' '$S/seal/counter'"
snap lag
t_exit "crash: another change" 0 c device add crash2.corp.example
back_db lag
t_exit "crash: older than the caught-up counter is refused" 5 c status

# The counter removed or damaged: refused, with the recovery named.
t_exit "counter: recover" 0 c store accept-restore
mv "$S/seal/counter" "$W/counter.saved"
t_exit "counter missing: refused" 5 c status
t_grep "counter missing: says so" "rollback counter .* is missing" "$TESTTMP/err"
printf 'garbage' > "$S/seal/counter"
t_exit "counter damaged: refused" 5 c status
t_grep "counter damaged: says so" "damaged or belongs to another store" "$TESTTMP/err"
t_exit "counter: accept-restore" 0 c store accept-restore
t_exit "counter: usable again" 0 c status

# accept-restore refuses a store whose audit chain is broken.
snap ok
db "DROP TRIGGER audit_no_update; UPDATE audit SET detail = 'forged' WHERE seq = 2"
t_exit "accept-restore: broken chain refused" 5 c store accept-restore
back ok
t_exit "accept-restore: usage" 2 c store accept-restore extra

# A store from before a CA rotation put back: accept-restore rewrites the
# public CA files from it and names the service certificates of the newer
# generation (their keys are not in the store).
snap before_rot
t_exit "restore after rotation: rotate" 0 c ca rotate
t_exit "restore after rotation: activate" 0 c ca rotate --activate
cp "$S/ca/bundle.pem" "$W/bundle.new"
back_db before_rot
t_exit "restore after rotation: accept-restore" 0 c store accept-restore
t_grep "restore after rotation: says the CA files are rewritten" \
    "CA files rewritten" "$TESTTMP/out"
c ca bundle > "$W/bundle.store"
t_check "restore after rotation: bundle.pem is the store's" \
    cmp -s "$W/bundle.store" "$S/ca/bundle.pem"
t_check "restore after rotation: not the newer one" \
    sh -c "! cmp -s '$W/bundle.new' '$S/ca/bundle.pem'"
t_check "restore after rotation: no file of the newer generation" \
    test ! -e "$S/ca/root-g2.pem" -a ! -e "$S/ca/issuing-g2.pem"
t_grep "restore after rotation: warns of tls/server.crt" \
    "warning: .*/tls/server.crt is not a valid certificate" "$TESTTMP/err"
t_grep "restore after rotation: warns of admin/admin.crt" \
    "warning: .*/admin/admin.crt is not a valid certificate" "$TESTTMP/err"
t_grep "restore after rotation: names the re-issue" "ca rotate --activate" \
    "$TESTTMP/err"
t_exit "restore after rotation: usable" 0 c password show $F1

# A store from before row MACs: its rows get their MACs on first open,
# audited; after that a row without a MAC is tampering.
pre_mac() {	# make the state's store one from before row MACs
	for t in secret ca_gen ca_key cert console policy; do
		db "ALTER TABLE $t DROP COLUMN mac"
	done
	db "DELETE FROM schema_version WHERE module = 'rowmac';
	    DELETE FROM meta WHERE key = 'rowmac.ready'"
}
snap pre
pre_mac
rm -f "$S/seal/counter"
t_exit "upgrade: opens" 0 c password show $F1
c audit list > "$W/audit.txt"
t_grep "upgrade: audited" "store.upgrade .* ok row MACs added to [0-9]+ rows" "$W/audit.txt"
t_check "upgrade: every row has a MAC" test "$(db "SELECT count(*) FROM cert WHERE mac IS NULL")" -eq 0
t_check "upgrade: counter made" test -s "$S/seal/counter"
db "UPDATE secret SET mac = NULL WHERE version = 1 AND kind = 'mebx'"
t_exit "no MAC after upgrade: refused" 5 c password show $F1 --kind mebx
t_grep "no MAC: names the row" "row secret\(device_id=1, kind=mebx, version=1\) was altered outside custody \(it has no MAC\)" "$TESTTMP/err"
# An old store put back under a state that already has row MACs.
back_db pre
pre_mac
t_exit "pre-MAC store put back: refused" 5 c status
t_grep "pre-MAC store put back: says so" "has no row MACs" "$TESTTMP/err"
t_exit "pre-MAC store put back: accept-restore" 0 c store accept-restore
t_exit "pre-MAC store put back: usable" 0 c password show $F1

# A process that holds the rollback counter's lock and never lets go (a
# custodyd or custodyctl stopped with SIGSTOP) does not hang the others:
# after a bounded wait the command completes and warns that the counter
# lags (the next commit or open brings it up to date).
flock "$S/seal/counter" sleep 30 &
HOLD=$!
sleep 0.3
t_exit "counter locked by a stopped process: the command completes" 0 \
    timeout 20 "$CUSTODYCTL" --state-dir "$S" device add held.corp.example
t_grep "... and says the counter was not updated" \
    "rollback counter was not updated.*locked by another process" \
    "$TESTTMP/err"
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
t_exit "... and the next command brings it up to date" 0 c status

t_done
