# tests/integration/lib.sh - shared helpers for integration scripts (sourced).
#
# Environment from tests/run.sh: CUSTODYCTL, BUILD, TESTTMP.
# t_ok NAME / t_fail NAME print one result line each; t_check NAME CMD...
# runs CMD and reports; t_exit NAME WANT CMD... expects exit code WANT.
# t_skip NAME WHY says a test did not run ("skip - NAME: WHY"); tests/run.sh
# counts those lines as skipped, never as passed. t_need TOOL... is true
# when every TOOL is installed. At the end call t_done, which exits 1 when
# anything failed.
set -u
: "${CUSTODYCTL:?}" "${TESTTMP:?}"
T_FAILED=0
cc() { "$CUSTODYCTL" "$@"; }
# The tests' own reads of a store custody may be writing: wait for its
# lock as custody does (the CLI's default is to fail at once with
# "database is locked", which a loaded machine made a test's result).
# A later ".timeout N" among the arguments still wins.
sqlite3() { command sqlite3 -cmd ".timeout 10000" "$@"; }
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
t_skip() { echo "skip - $1: $2"; }
t_need() {
	for _t; do command -v "$_t" >/dev/null 2>&1 || return 1; done
	return 0
}
# t_gnutls NAME CMD...: t_check of a GnuTLS (certtool) cross-check, or a
# skip when certtool is not installed.
t_gnutls() {
	if t_need certtool; then
		t_check "$@"
	else
		t_skip "$1" "certtool is not installed (gnutls-bin; make deps)"
	fi
}
# t_need_or_skip TOOL...: skip the whole script (exit 77) when a TOOL is
# missing, saying which.
t_need_or_skip() {
	t_need "$@" && return 0
	t_skip "${0##*/}" "needs $* (make deps)"
	exit 77
}
t_done() { exit $T_FAILED; }
# t_wait_line FILE PATTERN: wait (10 s at most) until FILE has a line
# matching PATTERN (a helper says it is ready)
t_wait_line() {
	_i=0
	while ! grep -q "$2" "$1" 2>/dev/null && [ "$_i" -lt 100 ]; do
		_i=$((_i + 1))
		sleep 0.1
	done
}
# t_wait_stopped PID: wait (10 s at most) until process PID has stopped
# itself (CUSTODY_TEST_STOP_AT, util_test_stop()).
t_wait_stopped() {
	_i=0
	while [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != T ] &&
	    [ "$_i" -lt 1000 ]; do
		_i=$((_i + 1))
		sleep 0.01
	done
}
# t_tmpfs DIR SIZE: mount a tmpfs of SIZE on DIR (root), unmounted by
# t_untmpfs or whenever the script ends; returns non-zero if it cannot.
t_untmpfs() {
	_n=0
	while mountpoint -q "$T_MNT" && [ $_n -lt 5 ]; do
		umount "$T_MNT" 2>/dev/null || umount -l "$T_MNT" 2>/dev/null
		_n=$((_n + 1))
	done
}
t_tmpfs() {
	T_MNT=$1
	mkdir -p "$T_MNT"
	# dash runs EXIT traps only on a normal exit, hence the signals.
	trap t_untmpfs EXIT
	trap 't_untmpfs; exit 1' INT TERM HUP
	mount -t tmpfs -o "size=$2" tmpfs "$T_MNT"
}
# t_custodyd STATE LOG [OPTION...]: start $BUILD/custodyd on STATE in the
# background (stderr to LOG, emptied first) and wait until it is ready;
# sets T_DPID and T_PORT (its first 127.0.0.1 port, as it logs it). Returns
# 1, showing the log, when it exits or is not ready within 10 s.
t_custodyd() {
	_s=$1 _log=$2
	shift 2
	: > "$_log"
	"$BUILD/custodyd" --state-dir "$_s" "$@" 2>>"$_log" &
	T_DPID=$!
	_n=0
	while ! grep -q ' ready: ' "$_log" 2>/dev/null; do
		_n=$((_n + 1))
		if [ $_n -gt 100 ] || ! kill -0 "$T_DPID" 2>/dev/null; then
			sed 's/^/    custodyd: /' "$_log" | head -20
			return 1
		fi
		sleep 0.1
	done
	T_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
	    "$_log" | head -1)
}
# t_amtsim N [DIR [OPTION...]]: the AMT simulator (BUILD/amtsim) with N
# devices on loopback (and amtsim OPTIONs, e.g. --verbose), in the
# background, killed when the script ends (or by t_amtsim_stop); sets
# SIMPID and, from its ready file (DIR, default TESTTMP; its output in
# DIR/sim.log), port, tls_port and control_port. A simulator that does not
# start fails the script.
t_amtsim() {
	_sn=$1 _sd=${2:-$TESTTMP}
	shift
	[ $# -gt 0 ] && shift
	[ -x "$BUILD/amtsim" ] || { t_fail "amtsim built ($BUILD/amtsim)"; t_done; }
	rm -f "$_sd/ready"
	"$BUILD/amtsim" --port 0 --control-port 0 --count "$_sn" \
	    --ready-file "$_sd/ready" "$@" >"$_sd/sim.log" 2>&1 &
	SIMPID=$!
	trap '[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null' EXIT INT TERM
	_si=0
	while [ ! -s "$_sd/ready" ] && [ $_si -lt 200 ]; do
		sleep 0.05; _si=$((_si + 1))
	done
	if [ ! -s "$_sd/ready" ]; then
		t_fail "amtsim starts"
		sed 's/^/    amtsim: /' "$_sd/sim.log" | head -20
		t_done
	fi
	. "$_sd/ready"
}
# t_amtsim_stop: stop the simulator t_amtsim started.
t_amtsim_stop() {
	[ -n "${SIMPID:-}" ] && kill "$SIMPID" 2>/dev/null &&
	    wait "$SIMPID" 2>/dev/null
	SIMPID=""
}
# sim_dev I: the FQDN of simulated device number I (dev00000.amtsim.test).
sim_dev() { printf 'dev%05d.amtsim.test' "$1"; }
# sim_state FQDN PYEXPR: PYEXPR on d, the device's state dump (control API).
sim_state() {
	curl -s "http://127.0.0.1:$control_port/state?device=$1" |
	    python3 -c 'import json,sys; d=json.load(sys.stdin); print('"$2"')'
}
# sim_wsman FQDN USER PASS ACTION RESOURCE SELECTORS BODY: a WS-Man
# request written by hand, sent with curl --digest over plain HTTP to a
# simulated device; prints the HTTP status, the reply in TESTTMP/resp.
sim_wsman() {
	printf '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>%s</a:Action><a:To>/wsman</a:To><w:ResourceURI>%s</w:ResourceURI><a:MessageID>99</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>%s</Header><Body>%s</Body></Envelope>' \
	    "$4" "$5" "$6" "$7" >"$TESTTMP/wsman.xml"
	curl -s --digest -u "$2:$3" -o "$TESTTMP/resp" -w '%{http_code}' \
	    -H 'Content-Type: application/soap+xml; charset=utf-8' \
	    --connect-to "$1:16992:127.0.0.1:$port" \
	    --data-binary "@$TESTTMP/wsman.xml" "http://$1:16992/wsman"
}
# tls_resumed PORT CA A B: a TLS session made with device A on the TLS
# port PORT (verified against CA) is resumed by a connection to device B
# (Python's ssl; the TLS 1.3 ticket arrives with the reply).
tls_resumed() {
	python3 - "$@" <<'EOF'
import socket, ssl, sys
port, ca, a, b = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
def conn(name, sess):
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                        server_hostname=name, session=sess)
    t.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
              % name.encode())
    while t.recv(4096):
        pass
    r, s = t.session_reused, t.session
    t.close()
    return r, s
sys.exit(0 if conn(b, conn(a, None)[1])[0] else 1)
EOF
}
tls_not_resumed() { ! tls_resumed "$@"; }
# sim_fault FQDN KIND [COUNT [MS]]: arm a fault on a simulated device
# (COUNT requests, default 1; MS for delay).
sim_fault() {
	curl -s -o /dev/null -X POST "http://127.0.0.1:$control_port/fault" \
	    -d "{\"device\":\"$1\",\"fault\":\"$2\",\"count\":${3:-1}${4:+,\"ms\":$4}}"
}
