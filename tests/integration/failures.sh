#!/bin/sh
# tests/integration/failures.sh - fail closed: a corrupted or truncated
# store, a missing or wrong master key, a loose key file, a read-only state
# directory and a full disk each give exit 5 and a clear message, never a
# crash or a silently empty answer. Mounts small tmpfs file systems (root).
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }

fresh() {
	rm -rf "$S"
	c init >/dev/null
	awk 'BEGIN { print "fqdn"; for (i = 0; i < 300; i++) printf "h%03d.corp.example\n", i }' > "$TESTTMP/d.csv"
	c device import "$TESTTMP/d.csv" >/dev/null
	sqlite3 "$S/custody.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
}
# exit 5, a message, and no partial answer on stdout
t_unavail() {
	_n=$1; _pat=$2; shift 2
	t_exit "$_n: exit 5" 5 "$@"
	t_grep "$_n: message" "$_pat" "$TESTTMP/err"
	t_check "$_n: nothing on stdout" test ! -s "$TESTTMP/out"
}

fresh
cp "$S/custody.db" "$TESTTMP/good.db"
printf 'garbage!garbage!' | dd of="$S/custody.db" bs=1 seek=0 conv=notrunc 2>/dev/null
t_unavail "corrupted header" "not a custody database|damaged" c device list
cp "$TESTTMP/good.db" "$S/custody.db"
# damage the pages in the middle (b-tree pages of the device table)
size=$(stat -c %s "$S/custody.db")
dd if=/dev/urandom of="$S/custody.db" bs=4096 seek=3 count=$(( size / 4096 - 4 )) conv=notrunc 2>/dev/null
t_unavail "corrupted pages" "damaged|malformed|not a database" c device list
cp "$TESTTMP/good.db" "$S/custody.db"
truncate -s $(( size / 2 )) "$S/custody.db"
t_unavail "truncated store" "truncated" c device list
cp "$TESTTMP/good.db" "$S/custody.db"
rm -f "$S/custody.db"
t_unavail "missing store" "missing" c device list
cp "$TESTTMP/good.db" "$S/custody.db"
t_exit "restored store works" 0 c device show h001.corp.example

mv "$S/seal/master.key" "$TESTTMP/key"
t_unavail "missing master key" "master key .* is missing" c password show h001.corp.example
head -c 32 /dev/urandom > "$S/seal/master.key"; chmod 600 "$S/seal/master.key"
t_unavail "wrong master key" "does not unseal" c password show h001.corp.example
t_unavail "wrong master key, listing" "does not unseal" c device list
mv "$TESTTMP/key" "$S/seal/master.key"
chmod 644 "$S/seal/master.key"
t_unavail "world-readable key refused" "chmod 600" c device list
chmod 600 "$S/seal/master.key"
chown 4321 "$S/seal/master.key"
t_unavail "foreign-owned key refused" "owned by uid 4321" c device list
chown 0 "$S/seal/master.key"
t_exit "key restored works" 0 c password show h001.corp.example
rm -rf "$S"
t_unavail "no state directory" "no custody state directory" c device list

if [ "$(id -u)" -ne 0 ]; then
	t_skip "read-only and disk-full state directories" \
	    "not root: they need tmpfs mounts"
	t_done
fi
M="$TESTTMP/mnt"
mkdir -p "$M"
# Leave no mount behind, whatever ends the script (dash runs EXIT traps
# only on a normal exit, hence the signals).
cleanup() {
	n=0
	while mountpoint -q "$M" && [ $n -lt 5 ]; do
		umount "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
		n=$((n + 1))
	done
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM HUP

# Read-only state directory
mount -t tmpfs -o size=16m tmpfs "$M" || { t_fail "mount tmpfs"; t_done; }
S="$M/state"
fresh
mount -o remount,ro "$M"
t_unavail "read-only state" "read-only" c device list
t_unavail "read-only state, password show" "read-only" c password show h001.corp.example
t_unavail "read-only state, rotate" "read-only" c password rotate --all
mount -o remount,rw "$M"
t_exit "writable again" 0 c password show h001.corp.example
cleanup

# Full disk: fill the file system, then change things
mount -t tmpfs -o size=4m tmpfs "$M" || { t_fail "mount tmpfs"; t_done; }
S="$M/state"
fresh
before=$(c password show h001.corp.example)
dd if=/dev/zero of="$M/filler" bs=4096 2>/dev/null
t_unavail "disk full: rotate" "disk is full" c password rotate --all --kind all
t_unavail "disk full: add" "disk is full" c device add new.corp.example
t_unavail "disk full: import" "disk is full" c device import "$TESTTMP/d.csv"
rm -f "$M/filler"
t_check "nothing half-done after disk full" test "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM secret WHERE state = 'pending'")" -eq 0
t_exit "verify after disk full" 0 c password verify
t_check "password unchanged" test "$(c password show h001.corp.example)" = "$before"
t_exit "audit intact after disk full" 0 c audit verify
t_exit "works after space is freed" 0 c password rotate --all
cleanup
trap - EXIT
t_done
