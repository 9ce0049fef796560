# tests/integration/lib.sh - shared helpers for integration scripts (sourced).
#
# Environment from tests/run.sh: CUSTODYCTL, BUILD, TESTTMP.
# t_ok NAME / t_fail NAME print one result line each; t_check NAME CMD...
# runs CMD and reports; t_exit NAME WANT CMD... expects exit code WANT.
# At the end call t_done, which exits 1 when anything failed.
set -u
: "${CUSTODYCTL:?}" "${TESTTMP:?}"
T_FAILED=0
cc() { "$CUSTODYCTL" "$@"; }
t_ok() { echo "ok - $*"; }
t_fail() { echo "not ok - $*"; T_FAILED=1; }
t_check() {
	_n=$1; shift
	if "$@"; then t_ok "$_n"; else t_fail "$_n"; fi
}
t_exit() {
	_n=$1; _want=$2; shift 2
	"$@" >"$TESTTMP/out" 2>"$TESTTMP/err"
	_rc=$?
	if [ "$_rc" -eq "$_want" ]; then
		t_ok "$_n"
	else
		t_fail "$_n (exit $_rc, want $_want)"
		sed 's/^/    stdout: /' "$TESTTMP/out" | head -20
		sed 's/^/    stderr: /' "$TESTTMP/err" | head -20
	fi
}
# t_grep NAME PATTERN FILE: FILE contains PATTERN (extended regex)
t_grep() {
	if grep -Eq -- "$2" "$3"; then t_ok "$1"; else
		t_fail "$1 (no /$2/ in $3)"; sed 's/^/    /' "$3" | head -20; fi
}
t_done() { exit $T_FAILED; }
