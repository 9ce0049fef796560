#!/bin/sh
# tests/integration/remote_cli.sh - custodyctl in remote mode against the
# real custodyd: the service on a free loopback port with a temporary
# state directory, the same commands run in local mode (--state-dir) and
# in remote mode (--server, the bootstrap admin's certificate), with the
# same output and the same exit codes, successes and failures alike;
# changes made remotely seen locally; no client certificate (exit 3), a
# server certificate that does not verify and a server that is gone
# (exit 5, naming it); local-only commands refused.
#
# custodyd missing: when its sources are in this tree (src/daemon/) the
# binary must have been built, so that is a failure; a tree without them
# (custodyd not merged yet) skips the whole script, saying so.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
D="${CUSTODYD:-$BUILD/custodyd}"
if [ ! -x "$D" ]; then
	if [ -d "$top/src/daemon" ]; then
		t_fail "custodyd is in this tree but $D is not built"
		t_done
	fi
	t_skip remote_cli.sh "custodyd is not in this tree yet (no src/daemon)"
	exit 77
fi
t_need_or_skip openssl
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
c init >/dev/null || { t_fail "init"; t_done; }
CA="$S/ca/bundle.pem"
ACRT="$S/admin/admin.crt"
AKEY="$S/admin/admin.key"
DPID=
cleanup() { [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; }
trap cleanup EXIT

c device add d1.corp.example --tag lab >/dev/null
c device add d2.corp.example --tag lab >/dev/null
c device add d3.corp.example >/dev/null
c password rotate d2.corp.example >/dev/null
c policy load "$top/policy/example.yaml" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/d1.k" -subj /CN=d1.corp.example -out "$W/d1.csr" 2>/dev/null

# custodyd on a free port: it binds port 0 and logs the one it got.
"$D" --state-dir "$S" --listen 127.0.0.1:0 2>"$W/d.log" &
DPID=$!
n=0
while ! grep -q ' ready: ' "$W/d.log" 2>/dev/null; do
	n=$((n + 1))
	if [ $n -gt 100 ] || ! kill -0 "$DPID" 2>/dev/null; then
		sed 's/^/    custodyd: /' "$W/d.log"
		t_fail "custodyd starts"
		t_done
	fi
	sleep 0.1
done
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$W/d.log" | head -1)
U="https://127.0.0.1:$PORT"
t_ok "custodyd starts on $U"
r() { cc --server "$U" --cacert "$CA" --cert "$ACRT" --key "$AKEY" "$@"; }

# same NAME ARGS...: local and remote give the same stdout and exit code
# (but for the number of a job each run makes).
same() {
	_n=$1; shift
	c "$@" >"$W/l.raw" 2>"$W/l.err"; _lrc=$?
	r "$@" >"$W/r.raw" 2>"$W/r.err"; _rrc=$?
	sed 's/(job [0-9]*)/(job N)/' "$W/l.raw" >"$W/l.out"
	sed 's/(job [0-9]*)/(job N)/' "$W/r.raw" >"$W/r.out"
	if [ "$_lrc" -eq "$_rrc" ] && cmp -s "$W/l.out" "$W/r.out"; then
		t_ok "$_n: same output, exit $_lrc"
	else
		t_fail "$_n: local exit $_lrc, remote exit $_rrc"
		diff "$W/l.out" "$W/r.out" | head -10 | sed 's/^/    /'
		sed 's/^/    local stderr: /' "$W/l.err" | head -5
		sed 's/^/    remote stderr: /' "$W/r.err" | head -5
	fi
}

# -- reads: the same output ------------------------------------------------
same "status" status
same "device list" device list
same "device list --json" device list --json
same "device list --tag, one page" device list --tag lab --limit 1
same "device show" device show d1.corp.example
same "password history" password history d2.corp.example
same "password show (audited)" password show d1.corp.example
same "password show --pending --json" --json password show d2.corp.example --pending
same "cert list" cert list
same "ca show" ca show
same "ca bundle" ca bundle
same "console list" console list
same "job list --json" job list --json
same "job show" job show 1
same "policy plan --device" policy plan --device d1.corp.example
same "audit verify" audit verify
same "staff list" staff list
same "credential list --console" credential list --console sccm

# -- failures: the same exit codes -----------------------------------------
same "device show of a device that does not exist (4)" device show nosuch.corp.example
same "password show of a device that does not exist (4)" password show nosuch.corp.example
same "job show of a job that does not exist (4)" job show 999
same "device add of a name that is no FQDN (2)" device add not_a_name
same "device add of an existing device (1)" device add d1.corp.example
same "password confirm of a version that is not pending (1)" password confirm d1.corp.example --version 1
same "password rotate of a device with a pending version (1)" password rotate d2.corp.example
same "cert show of an unknown serial (4)" cert show 00
same "credential show for a console the policy does not have" credential show d1.corp.example --console nosuch
t_check "the failures print the same message" cmp -s "$W/l.err" "$W/r.err"

# -- changes made remotely are there locally -------------------------------
t_exit "remote device add" 0 r device add d9.corp.example --tag lab
t_exit "  ... local device show finds it" 0 c device show d9.corp.example
t_exit "remote password rotate --tag" 0 r password rotate --tag lab --replace-pending --wait
t_grep "  ... its summary" "devices selected \(job [0-9]+\)" "$TESTTMP/out"
t_grep "  ... --wait: the job's progress, followed remotely" '^progress: 3/3 devices \(100%\)' "$TESTTMP/err"
c --json password history d9.corp.example >"$W/h.json"
t_grep "  ... a pending version 2 locally" '"version": 2' "$W/h.json"
t_exit "remote cert sign (a local CSR file sent in the request)" 0 \
    r cert sign d1.corp.example --csr "$W/d1.csr" -o "$W/d1.pem"
t_check "  ... the chain written locally" openssl x509 -in "$W/d1.pem" -noout
t_exit "remote cert issue -o a missing directory" 0 r cert issue d3.corp.example -o "$W/issued/d3"
t_check "  ... files written locally, 0700 directory" test -s "$W/issued/d3/d3.corp.example.key" -a \
    "$(stat -c %a "$W/issued/d3")" = 700
printf 'fqdn,tags\nd10.corp.example,lab\n' >"$W/fleet.csv"
t_exit "remote device import (the CSV read locally)" 0 r device import "$W/fleet.csv"
t_exit "  ... local device show finds it" 0 c device show d10.corp.example
same "device import of a missing file (4, before any request)" device import "$W/none.csv"
t_exit "remote job show --wait" 0 r job show --wait 1

# -- identities and transport failures -------------------------------------
t_exit "no client certificate: exit 3" 3 cc --server "$U" --cacert "$CA" device list
t_exit "public ca bundle without a certificate" 0 cc --server "$U" --cacert "$CA" ca bundle
t_check "  ... the bundle" cmp -s "$TESTTMP/out" "$CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/other.key" -subj /CN=other -days 2 -out "$W/other.pem" 2>/dev/null
t_exit "a server certificate that does not verify: exit 5" 5 \
    cc --server "$U" --cacert "$W/other.pem" --cert "$ACRT" --key "$AKEY" status
t_grep "  ... says so, naming the server" "$U.*does not verify" "$TESTTMP/err"
t_exit "remote init: exit 2" 2 r init
t_exit "remote store accept-restore: exit 2" 2 r store accept-restore
t_exit "environment instead of options" 0 env CUSTODY_SERVER="$U" \
    CUSTODY_CACERT="$CA" CUSTODY_CERT="$ACRT" CUSTODY_KEY="$AKEY" \
    "$CUSTODYCTL" device show d9.corp.example
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null
DPID=
t_exit "custodyd gone: exit 5" 5 r status
t_grep "  ... naming the server" "cannot reach custodyd at $U" "$TESTTMP/err"
t_done
