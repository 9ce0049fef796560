#!/bin/sh
# tests/integration/config.sh - custody.yaml from the command line: the
# file init writes, `custodyctl config check` (the check custodyd
# --check-config runs) on valid, absent, broken and unsafe files with its
# exit status, and the example of custody.yaml(5) parsing as printed.
. tests/integration/lib.sh

D="$TESTTMP/state"
F="$D/custody.yaml"

t_exit "init" 0 cc --state-dir "$D" init
t_check "init writes custody.yaml" test -f "$F"
t_check "custody.yaml is 0600" \
	sh -c "[ \"\$(stat -c %a '$F')\" = 600 ]"
t_exit "the default file is valid" 0 cc config check --state-dir "$D"
t_grep "says valid" ": valid$" "$TESTTMP/out"
t_exit "-v: effective configuration" 0 cc config check --state-dir "$D" -v
t_grep "-v: listen default" '^  - "127\.0\.0\.1:8443"$' "$TESTTMP/out"
t_grep "-v: max_age default" '^    mebx: 180d$' "$TESTTMP/out"
# --state-dir before the command works the same
t_exit "global --state-dir" 0 cc --state-dir "$D" config check

# init --force keeps an operator's file
echo 'log: {level: debug}' > "$F"
t_exit "init --force" 0 cc --state-dir "$D" init --force
t_grep "init --force keeps custody.yaml" '^log: \{level: debug\}$' "$F"

# broken: every problem at file:line:col, exit 2
printf 'log: {level: loud}\nlimits:\n  workers: many\n  bogus: 1\n' > "$F"
t_exit "broken file: exit 2" 2 cc config check --state-dir "$D"
t_grep "problem 1 at 1:14" "custody.yaml:1:14: 'level' of log must be" \
	"$TESTTMP/err"
t_grep "problem 2 at 3:12" "custody.yaml:3:12: 'workers' of limits must be an integer" \
	"$TESTTMP/err"
t_grep "problem 3 at 4:3" "custody.yaml:4:3: unknown key 'bogus' in limits" \
	"$TESTTMP/err"
t_check "three problems" sh -c "[ \$(wc -l < '$TESTTMP/err') -eq 3 ]"
t_exit "-q: exit status only" 2 cc -q config check --state-dir "$D"

# unsafe: writable by others; a directory; absent
echo 'log: {level: info}' > "$F"
chmod 0666 "$F"
t_exit "group/other-writable: exit 2" 2 cc config check --state-dir "$D"
t_grep "says why" "mode 0666; it must not be writable" "$TESTTMP/err"
chmod 0600 "$F"
rm -f "$F"
t_exit "absent: defaults, exit 0" 0 cc config check --state-dir "$D"
t_grep "says absent" "custody.yaml: absent, the defaults apply" "$TESTTMP/out"
t_exit "--file" 2 cc config check --file "$D"
t_exit "bad option: exit 2" 2 cc config check --nope
t_exit "stray argument: exit 2" 2 cc config check extra

# The man page's example is a valid file, and its problem is reported as
# the man page prints it.
sed -n '/^\.Sh EXAMPLES/,/^\.Ed/p' man/custody.yaml.5 | sed '1,2d;$d' > "$F"
t_grep "example extracted" '^    admin_password_file: /etc/custody/kadmin.pw$' "$F"
t_exit "custody.yaml(5) example is valid" 0 cc config check --state-dir "$D"
sed -i 's/^  jitter: 12h$/  jitter: 45d/' "$F"
t_exit "custody.yaml(5) example problem" 2 cc config check --state-dir "$D"
want=$(sed -n 's|^/var/lib/custody/custody.yaml:\(.*\)|\1|p' man/custody.yaml.5)
t_grep "reported as the man page says" "custody.yaml:$want\$" "$TESTTMP/err"

# custody.yaml cannot be written after an otherwise complete init (a
# tmpfs with too few inodes; the count init needs is found by trying):
# init succeeds with a warning, and the state works without the file.
M="$TESTTMP/mnt"
seen=0
for n in 16 17 18 19 20 21 22 23 24 25 26 27 28; do
	t_tmpfs "$M" "64m,nr_inodes=$n" || break
	cc --state-dir "$M/s" init -q > "$TESTTMP/out" 2> "$TESTTMP/err"
	rc=$?
	if [ $rc -eq 0 ] && [ ! -e "$M/s/custody.yaml" ]; then
		seen=1
		t_grep "init without custody.yaml: a warning" \
		    "could not write custody.yaml" "$TESTTMP/err"
		t_exit "... and the state works" 0 cc --state-dir "$M/s" status
	fi
	t_untmpfs
	[ $seen -eq 1 ] && break
done
t_check "init succeeded once with custody.yaml unwritable (exit 0)" \
    test $seen -eq 1

t_done
