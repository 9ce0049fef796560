#!/bin/sh
# tests/run.sh BUILD - run every unit test binary and integration script.
#
# Unit tests are cmocka binaries under BUILD/tests/; integration tests are
# tests/integration/*.sh, run with CUSTODYCTL (absolute path of the binary),
# BUILD and TESTTMP (a fresh directory) in the environment; they report
# "ok - name" / "not ok - name" lines (tests/integration/lib.sh) and exit
# non-zero on failure; "skip - name: why" lines are tests that did not run
# (a missing tool, not root), and a script that exits 77 is skipped whole.
# Skips are shown and counted, never as passes. Ends with "N passed, N
# failed, N skipped".
set -u
BUILD=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
export BUILD CUSTODYCTL="$BUILD/custodyctl"
# Leaks inside Debian's libraries that custody cannot free (each one
# named and explained in the file); used only by sanitizer builds.
LSAN_OPTIONS="suppressions=$top/tests/sanitizer/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
pass=0 fail=0 skip=0 failed=""
tmpbase=$(mktemp -d /tmp/custody-test.XXXXXX)
# Interrupted: stop (the remaining tests would only fail on the removed
# directory), with the shell's status for the signal.
trap 'rm -rf "$tmpbase"' EXIT
trap 'rm -rf "$tmpbase"; trap - EXIT; exit 130' INT
trap 'rm -rf "$tmpbase"; trap - EXIT; exit 143' TERM

count() {	# log name rc
	p=$(grep -c '^ok ' "$1" || true)
	f=$(grep -c '^not ok ' "$1" || true)
	s=$(grep -c '^skip - ' "$1" || true)
	skip=$((skip + s))
	grep '^skip - ' "$1" | sed "s|^skip - |    SKIP $2: |"
	cp=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
	cf=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
	cs=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
	skip=$((skip + cs))
	p=$((p + cp)); f=$((f + cf))
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	pass=$((pass + p)); fail=$((fail + f))
	if [ "$f" -ne 0 ]; then
		failed="$failed $2"
		cat "$1"
	fi
}

for t in $(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
	name=${t#"$BUILD/tests/"}
	log="$tmpbase/$(echo "$name" | tr / _).log"
	TESTTMP=$(mktemp -d "$tmpbase/u.XXXXXX") "$t" >"$log" 2>&1
	rc=$?
	printf '%-50s %s\n' "unit/$name" "$([ $rc -eq 0 ] && echo ok || echo FAIL)"
	count "$log" "unit/$name" $rc
done

for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	case "$t" in */lib.sh|*/lib_*.sh) continue ;; esac
	name=${t#tests/}
	log="$tmpbase/$(basename "$t").log"
	TESTTMP=$(mktemp -d "$tmpbase/i.XXXXXX") sh "$t" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 77 ]; then
		printf '%-50s %s\n' "$name" "SKIPPED"
		grep '^skip - ' "$log" | sed "s|^skip - |    SKIP $name: |"
		skip=$((skip + 1))
		continue
	fi
	printf '%-50s %s\n' "$name" "$([ $rc -eq 0 ] && echo ok || echo FAIL)"
	count "$log" "$name" $rc
done

echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
