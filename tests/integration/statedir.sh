#!/bin/sh
# tests/integration/statedir.sh - one owner of the state directory: the
# lock (init --force beside a process using the state, two inits racing),
# the owner, mode and symlink checks, an init on a full disk, and the file
# renames that a kill after a commit left pending. Cases that need root
# (chown, mounts) say SKIPPED when not run as root.
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
root=0
[ "$(id -u)" -eq 0 ] && root=1
skip() { echo "SKIPPED - $* (needs root)"; }

# Wait (up to 10 s) until someone holds the lock on $1 (flock -n fails).
wait_locked() {
	n=0
	while flock -n -x "$1" true 2>/dev/null; do
		n=$((n + 1))
		[ $n -gt 200 ] && return 1
		sleep 0.05
	done
}
# The service certificate on disk belongs to the service key on disk.
key_matches() {
	a=$(openssl x509 -in "$1.crt" -noout -pubkey 2>/dev/null | sha256sum)
	b=$(openssl pkey -in "$1.key" -pubout 2>/dev/null | sha256sum)
	[ -n "$a" ] && [ "$a" = "$b" ]
}

# -- the lock ----------------------------------------------------------
c init >/dev/null
awk 'BEGIN { print "fqdn"; for (i = 0; i < 200; i++) printf "h%03d.corp.example\n", i }' > "$TESTTMP/d.csv"
c device import "$TESTTMP/d.csv" >/dev/null
# Another process using the state: it holds the shared lock.
# (exec: $! is the process that holds the lock, so kill releases it)
( exec 9>>"$S/lock"; flock -s 9; exec sleep 30 ) &
holder=$!
wait_locked "$S/lock" || t_fail "the helper took no lock"
t_exit "init --force while the state is in use: exit 5" 5 c init --force
t_grep "init --force: message" "in use by another custody process" "$TESTTMP/err"
t_check "the devices survive the refused init" test "$(c --json device list | grep -c '"fqdn"')" -eq 200
t_exit "other shared users go on" 0 c password show h001.corp.example
kill $holder; wait $holder 2>/dev/null
# An init in progress: it holds the exclusive lock; others wait, then fail.
( exec 9>>"$S/lock"; flock -x 9; exec sleep 30 ) &
holder=$!
wait_locked "$S/lock" || t_fail "the helper took no lock"
t_exit "a command during an init: exit 5" 5 c status
t_grep "during an init: message" "locked by another process" "$TESTTMP/err"
t_exit "a second init during an init: exit 5" 5 c init --force
kill $holder; wait $holder 2>/dev/null
t_exit "status once the lock is free" 0 c status
t_exit "init --force once the lock is free" 0 c init --force
t_check "the forced init started over" test "$(c --json device list | grep -c '"fqdn"')" -eq 0

# -- two inits racing on a new directory ---------------------------------
bad=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	R="$TESTTMP/race$i"
	( cc --state-dir "$R" init >/dev/null 2>"$TESTTMP/race.e1"; echo $? >"$TESTTMP/race.rc1" ) &
	p1=$!
	( cc --state-dir "$R" init >/dev/null 2>"$TESTTMP/race.e2"; echo $? >"$TESTTMP/race.rc2" ) &
	p2=$!
	wait $p1 $p2
	rcs="$(cat "$TESTTMP/race.rc1") $(cat "$TESTTMP/race.rc2")"
	case "$rcs" in
	"0 5"|"5 0"|"0 1"|"1 0") ;;
	*) echo "# round $i: exit codes $rcs"; cat "$TESTTMP/race.e1" "$TESTTMP/race.e2"; bad=$((bad + 1)); continue ;;
	esac
	if ! cc --state-dir "$R" status >/dev/null 2>&1 ||
	    ! cc --state-dir "$R" audit verify >/dev/null 2>&1 ||
	    ! key_matches "$R/tls/server" || ! key_matches "$R/admin/admin"; then
		echo "# round $i: the winner's state is damaged"
		bad=$((bad + 1))
	fi
	rm -rf "$R"
done
t_check "10 rounds of two racing inits: one wins, its state intact" test $bad -eq 0

# -- owner, mode and symlinks -------------------------------------------
c device add one.corp.example >/dev/null
chmod 770 "$S"
t_exit "group-writable state directory: exit 5" 5 c device list
t_grep "group-writable: message" "writable by group or others" "$TESTTMP/err"
chmod 700 "$S"
chmod 777 "$S/ca"
t_exit "world-writable ca/: exit 5" 5 c ca bundle
t_grep "world-writable ca/: message" "$S/ca has mode 0777" "$TESTTMP/err"
chmod 755 "$S/ca"
t_exit "modes restored" 0 c device show one.corp.example
# Files others could write: the store (a backup restored with loose
# modes), and the rollback counter (put back with an older store, it would
# let that store through).
chmod 666 "$S/custody.db"
t_exit "world-writable custody.db: exit 5" 5 c device list
t_grep "world-writable custody.db: message" "custody.db has mode 0666" "$TESTTMP/err"
chmod 600 "$S/custody.db"
chmod 620 "$S/seal/counter"
t_exit "group-writable rollback counter: exit 5" 5 c device list
t_grep "group-writable counter: message" "counter has mode 0620" "$TESTTMP/err"
t_check "group-writable counter: no restore advice" sh -c "! grep -q accept-restore '$TESTTMP/err'"
chmod 600 "$S/seal/counter"
t_exit "file modes restored" 0 c device show one.corp.example
# A subdirectory replaced by a link to elsewhere is refused, never followed:
# not written (ca rotate), chmod'ed or wiped (init --force).
O="$TESTTMP/elsewhere"
mv "$S/tls" "$O"
ln -s "$O" "$S/tls"
chmod 755 "$O"
ls -l "$O" >"$TESTTMP/before"
t_exit "symlinked tls/: exit 5" 5 c ca rotate
t_grep "symlinked tls/: message" "tls is a symbolic link" "$TESTTMP/err"
t_exit "symlinked tls/: init --force refused" 5 c init --force
t_check "symlinked tls/: its target is untouched" sh -c "ls -l '$O' | cmp -s - '$TESTTMP/before'"
t_check "symlinked tls/: mode of the target unchanged" test "$(stat -c %a "$O")" = 755
mv "$S/ca" "$TESTTMP/ca.real"
ln -s "$TESTTMP/ca.real" "$S/ca"
t_exit "symlinked ca/: init --force refused" 5 c init --force
t_check "symlinked ca/: the files behind it survive" test -s "$TESTTMP/ca.real/bundle.pem"
rm "$S/tls" "$S/ca"
mv "$O" "$S/tls"
mv "$TESTTMP/ca.real" "$S/ca"
chmod 700 "$S/tls"
# A link as the lock file is refused too.
mv "$S/lock" "$TESTTMP/lock"
ln -s "$TESTTMP/lock" "$S/lock"
t_exit "symlinked lock: exit 5" 5 c status
rm "$S/lock"
t_exit "restored" 0 c device show one.corp.example
if [ $root -eq 1 ]; then
	chown nobody "$S"
	t_exit "foreign-owned state directory: exit 5" 5 c device list
	t_grep "foreign-owned: message" "owned by uid $(id -u nobody)" "$TESTTMP/err"
	t_exit "foreign-owned state directory: init --force refused" 5 c init --force
	chown 0 "$S"
	chown nobody "$S/admin"
	t_exit "foreign-owned admin/: exit 5" 5 c device list
	chown 0 "$S/admin"
	t_exit "owner restored" 0 c device show one.corp.example
else
	skip "foreign-owned state directory"
fi

# -- a kill after the commit of ca rotate --activate -----------------------
c ca rotate >/dev/null
CUSTODY_TEST_CRASH_AT=files-install c ca rotate --activate >/dev/null 2>&1
t_check "killed between the renames (test hook)" test $? -eq 99
t_check "killed: files left under staged names" test -n "$(ls "$S/tls" "$S/admin" "$S/ca" | grep '\.new\.')"
if key_matches "$S/tls/server"; then
	t_fail "killed: server.crt should no longer match server.key"
else
	t_ok "killed: server.crt no longer matches server.key"
fi
t_exit "the next command runs" 0 c status
t_check "the next command finished the renames" test -z "$(ls "$S/tls" "$S/admin" "$S/ca" | grep '\.new\.')"
t_check "server.crt matches server.key again" key_matches "$S/tls/server"
t_check "admin.crt matches admin.key" key_matches "$S/admin/admin"
t_check "the bundle on disk is the store's" sh -c "c() { '$CUSTODYCTL' --state-dir '$S' \"\$@\"; }; c ca bundle | cmp -s - '$S/ca/bundle.pem'"
t_exit "audit intact" 0 c audit verify

# -- an init killed before it finished ---------------------------------------
# Killed after its store and CA were made, before its last step: the state
# is not a working one. Every command says so (exit 5, not "ok" or "no
# CA"), and a plain init (no --force: nothing of value is there) replaces
# it.
K="$TESTTMP/killed"
CUSTODY_TEST_CRASH_AT=init-unfinished cc --state-dir "$K" init >/dev/null 2>&1
t_check "init killed before its last step (test hook)" test $? -eq 99
t_exit "killed init: status refuses the state" 5 cc --state-dir "$K" status
t_grep "killed init: says the init did not finish" "did not finish" "$TESTTMP/err"
t_exit "killed init: device add refused" 5 cc --state-dir "$K" device add k.corp.example
t_exit "killed init: init again, without --force" 0 cc --state-dir "$K" init
t_exit "then: status" 0 cc --state-dir "$K" status
t_exit "then: ca show" 0 cc --state-dir "$K" ca show
t_exit "then: audit verify" 0 cc --state-dir "$K" audit verify
t_exit "then: a finished state is not replaced without --force" 1 cc --state-dir "$K" init
rm -rf "$K"

# -- init on a full disk ----------------------------------------------------
if [ $root -eq 0 ]; then
	skip "init on a full disk"
	t_done
fi
M="$TESTTMP/mnt"
t_tmpfs "$M" 1m || { t_fail "mount tmpfs"; t_done; }
dd if=/dev/zero of="$M/filler" bs=4096 2>/dev/null
F="$M/state"
t_exit "init on a full disk: exit 5" 5 cc --state-dir "$F" init
t_check "init on a full disk leaves no directory behind" test ! -e "$F"
t_exit "then: no state (exit 5)" 5 cc --state-dir "$F" status
t_grep "then: 'no custody state', not damaged" "no custody state" "$TESTTMP/err"
# The same in a directory that was there before: it stays, empty.
rm -f "$M/filler"
mkdir -m 700 "$F"
touch "$F/mine"
dd if=/dev/zero of="$M/filler" bs=4096 2>/dev/null
t_exit "init in an existing directory on a full disk: exit 5" 5 cc --state-dir "$F" init
t_check "only what was there before is left" test "$(ls "$F" | grep -v '^lock$' | tr '\n' ' ')" = "mine "
t_exit "then: no state (exit 5)" 5 cc --state-dir "$F" status
t_grep "then: 'no custody state'" "no custody state in" "$TESTTMP/err"
rm -f "$M/filler"
t_exit "init once space is freed" 0 cc --state-dir "$F" init
t_exit "and the state works" 0 cc --state-dir "$F" audit verify
t_untmpfs
t_done
