#!/bin/sh
# scripts/demo.sh BUILD DIR - what `make demo` does: custody end to end on
# loopback against 50 simulated AMT devices (build/amtsim), narrated.
#
# DIR (`make demo`: ./var/demo) is made afresh: the custody state in
# DIR/state, the console's certificate in DIR/console, logs in DIR/log. A
# DIR left by an earlier demo (it holds DIR/.custody-demo) is replaced; any
# other existing DIR is refused. Steps:
#  1. amtsim with 50 devices on 127.0.0.1 (HTTP port P, TLS P+1);
#  2. custodyctl init, then custodyd on 127.0.0.1 (a free port);
#  3. device import of the 50, with their factory admin password (the
#     simulator's documented default, piped in: never on disk or argv);
#  4. password rotate --all --push: a unique password on every device;
#  5. cert provision of 3 devices: TLS with custody's CA;
#  6. policy load of policy/examples/ok-digest-fleet.yaml and policy apply;
#  7. console add provisioning: that console's client certificate;
#  8. the console, over custody's HTTPS API with its own certificate
#     (custodyctl --server), fetches its credential for a TLS-provisioned
#     device and logs in with curl --digest over TLS verified against the
#     bundle; it is refused another console's credential;
#  9. policy drift --all and audit verify.
# custodyd and amtsim are stopped by their PIDs when it ends, however it
# ends. Exit 0 when every step worked, 1 otherwise. No secret is printed:
# the one credential the console fetched is shown as its length and the
# start of its SHA-256, and used from memory (curl reads it on stdin).
set -eu
BUILD=$1
DIR=$2
N=${CUSTODY_DEMO_DEVICES:-50}
C="$BUILD/custodyctl"
POLICY=policy/examples/ok-digest-fleet.yaml
CONSOLE=provisioning
TLSDEVS="dev00000.amtsim.test dev00001.amtsim.test dev00002.amtsim.test"
DEV=dev00001.amtsim.test	# a TLS-provisioned device the console uses

for t in "$C" "$BUILD/custodyd" "$BUILD/amtsim"; do
	[ -x "$t" ] || { echo "demo: $t is not built (make all)" >&2; exit 1; }
done
for t in curl python3; do
	command -v $t >/dev/null 2>&1 ||
	    { echo "demo: $t is needed (make deps)" >&2; exit 1; }
done
if [ -e "$DIR" ] && [ ! -e "$DIR/.custody-demo" ]; then
	echo "demo: $DIR exists and is not a custody demo directory: not" \
	    "touching it (remove it, or give another)" >&2
	exit 1
fi
umask 077
rm -rf "$DIR"
mkdir -p "$DIR/log" "$DIR/console"
: >"$DIR/.custody-demo"
S="$DIR/state"
LOG="$DIR/log"

SIMPID= DPID=
stop() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null &&
	    wait "$SIMPID" 2>/dev/null
	DPID= SIMPID=
}
finish() {
	rc=$?
	stop
	if [ "$rc" -eq 0 ]; then
		echo "custodyd and amtsim stopped; the state stays in $S."
	else
		echo "demo FAILED (exit $rc); custodyd and amtsim stopped;" \
		    "logs in $LOG" >&2
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

step=0
steps=9
say() {	# say TEXT: a step's title
	step=$((step + 1))
	printf '\n[%d/%d] %s\n' "$step" "$steps" "$*"
}
cmd() {	# cmd TEXT: the command as a user would type it
	printf '      $ %s\n' "$*"
}
more() { printf '          %s\n' "$*"; }	# its continuation line
ok() { printf '      %s\n' "$*"; }
fail() {
	echo "      FAILED: $*" >&2
	exit 1
}
# run NAME CMD...: CMD's output into $LOG/NAME.out; on failure its tail
run() {
	_n=$1
	shift
	if ! "$@" >"$LOG/$_n.out" 2>&1; then
		sed 's/^/      | /' "$LOG/$_n.out" | tail -15 >&2
		fail "$*"
	fi
}
last() { tail -1 "$LOG/$1.out"; }
c() { "$C" --state-dir "$S" "$@"; }

echo "custody demo: $N simulated Intel AMT devices on loopback, state in $S"

say "Starting amtsim, $N simulated AMT devices (loopback only)"
"$BUILD/amtsim" --host 127.0.0.1 --port 0 --control-port 0 --count "$N" \
    --ready-file "$DIR/amtsim.ready" >"$LOG/amtsim.log" 2>&1 &
SIMPID=$!
i=0
while [ ! -s "$DIR/amtsim.ready" ]; do
	i=$((i + 1))
	[ $i -le 200 ] && kill -0 "$SIMPID" 2>/dev/null ||
	    fail "amtsim did not start (see $LOG/amtsim.log)"
	sleep 0.05
done
. "$DIR/amtsim.ready"
ok "amtsim (pid $SIMPID): dev00000.amtsim.test ... $(printf \
    'dev%05d' $((N - 1))).amtsim.test on 127.0.0.1:$port, TLS :$tls_port"

say "Initialising custody (CA, sealed store, audit log) and starting custodyd"
cmd "custodyctl --state-dir $S init"
run init c init
"$BUILD/custodyd" --state-dir "$S" --listen 127.0.0.1:0 \
    2>"$LOG/custodyd.log" &
DPID=$!
i=0
while ! grep -qs ' ready: ' "$LOG/custodyd.log"; do
	i=$((i + 1))
	[ $i -le 100 ] && kill -0 "$DPID" 2>/dev/null ||
	    fail "custodyd did not start (see $LOG/custodyd.log)"
	sleep 0.1
done
API=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' \
    "$LOG/custodyd.log" | head -1)
[ -n "$API" ] || fail "custodyd's address is not in its log"
ok "custodyd (pid $DPID) serves https://$API; the root CA is in" \
    "$S/ca/bundle.pem"

say "Registering the $N devices (realm, address, tags; the factory admin" \
    "password adopted and sealed)"
cmd "custodyctl device import -   # CSV on stdin"
curl -sf "http://127.0.0.1:$control_port/state" | python3 -c '
import json, sys
print("fqdn,digest_realm,address,tags,admin_password")
for i, d in enumerate(json.load(sys.stdin)["devices"]):
    # the simulator factory default (tests/amtsim/README.md)
    print("%s,%s,127.0.0.1:%s,%s,P@ssw0rd" % (d["fqdn"], d["realm"],
        sys.argv[1], "lab" if i < 10 else "branch"))
' "$port" | c device import - >"$LOG/import.out" 2>&1 ||
    fail "device import (see $LOG/import.out)"
ok "$(last import); 10 are tagged lab"

say "Rotating every admin password and pushing it to the devices"
cmd "custodyctl password rotate --all --push"
run rotate c password rotate --all --push
ok "$(last rotate)"
ok "(each proven by a fresh digest login before it counts)"

say "Provisioning TLS on 3 devices with custody's CA"
for d in $TLSDEVS; do
	cmd "custodyctl cert provision $d"
	run "provision-$d" c cert provision "$d"
	ok "$(last "provision-$d")"
done

say "Loading the example policy and applying it to every device"
cmd "custodyctl policy load $POLICY"
run load c policy load "$POLICY"
ok "$(last load | sed 's/, sha256.*//')"
cmd "custodyctl policy apply --all"
run apply c policy apply --all
ok "$(last apply | sed 's/ (job.*//'): each console's digest user on" \
    "each device it may reach"
ok "(a job: custodyctl job show $(last apply | sed -n \
    's/.*(job \([0-9]*\)).*/\1/p') lists each device's outcome)"

say "Issuing the console \"$CONSOLE\" its client certificate"
cmd "custodyctl console add $CONSOLE -o $DIR/console"
run console c console add "$CONSOLE" -o "$DIR/console"
ok "$(head -1 "$LOG/console.out")"

say "The $CONSOLE console fetches its own credential for $DEV over" \
    "HTTPS, and uses it"
R() {
	"$C" --server "https://$API" --cacert "$S/ca/bundle.pem" \
	    --cert "$DIR/console/$CONSOLE.crt" \
	    --key "$DIR/console/$CONSOLE.key" "$@"
}
cmd "custodyctl --server https://$API --cacert $S/ca/bundle.pem \\"
more "--cert $DIR/console/$CONSOLE.crt --key ... credential show $DEV"
# Kept in memory only: never on disk, in argv, or printed.
CRED=$(R --json credential show "$DEV" 2>"$LOG/credential.err") ||
    fail "credential show: $(cat "$LOG/credential.err")"
printf '%s' "$CRED" | python3 -c '
import hashlib, json, sys
c = json.load(sys.stdin)
pw = c["password"].encode()
print("      got user %s on %s (%s, %s): password of %d characters, sha256 %s..."
      % (c["username"], c["device"], c["state"], c["access"], len(pw),
         hashlib.sha256(pw).hexdigest()[:12]))
print("      realms: %s" % ", ".join(c["realms"]))
'
cmd "curl --digest --cacert $S/ca/bundle.pem \\"
more "--connect-to $DEV:16993:127.0.0.1:$tls_port https://$DEV:16993/wsman"
cat >"$DIR/get.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>1</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo></Header><Body></Body></Envelope>
EOF
# curl reads the user and password as its config on stdin (-K -).
code=$(printf '%s' "$CRED" | python3 -c '
import json, sys
c = json.load(sys.stdin)
q = lambda s: s.replace("\\", "\\\\").replace("\"", "\\\"")
print("user = \"%s:%s\"" % (q(c["username"]), q(c["password"])))
' | curl -sS -K - --digest --max-time 20 --cacert "$S/ca/bundle.pem" \
    --connect-to "$DEV:16993:127.0.0.1:$tls_port" \
    -H 'Content-Type: application/soap+xml; charset=utf-8' \
    --data-binary "@$DIR/get.xml" -o "$LOG/get.out" -w '%{http_code}' \
    "https://$DEV:16993/wsman" 2>"$LOG/curl.err") ||
    fail "curl: $(cat "$LOG/curl.err")"
CRED=
[ "$code" = 200 ] || fail "the device answered HTTP $code, not 200"
realm=$(sed -n 's/.*<[a-z]*:DigestRealm>\([^<]*\)<.*/\1/p' "$LOG/get.out")
ok "HTTP 200 over TLS (the device's certificate verified against" \
    "custody's bundle): AMT_GeneralSettings, DigestRealm $realm"
if R credential show "$DEV" --console secsuite >"$LOG/other.out" 2>&1; then
	fail "the console read another console's credential"
fi
ok "asking for the secsuite console's credential instead: refused" \
    "($(sed 's/^custodyctl: //' "$LOG/other.out" | head -1))"

say "Checking the fleet against the plan, and the audit log"
cmd "custodyctl policy drift --all"
run drift c policy drift --all
ok "$(last drift)"
cmd "custodyctl audit verify"
run audit c audit verify
ok "$(last audit)"

stop
printf '\nDone. Look around with: %s --state-dir %s job list | device list |' \
    "$C" "$S"
printf ' audit list\n'
