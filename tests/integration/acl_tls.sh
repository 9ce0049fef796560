#!/bin/sh
# tests/integration/acl_tls.sh - policy apply and policy drift speak TLS
# to a device custody provisioned (cert provision), as pushes do: every
# WS-Man call of both to it goes to the TLS port (port + 1) with the
# device certificate verified against custody's bundle, none over plain
# HTTP; a device without TLS stays on HTTP digest; the dry run shows the
# https URL. A provisioned device whose certificate no longer verifies is
# a per-device failure, not a fallback to plain HTTP.
. tests/integration/lib.sh
t_need_or_skip curl python3

AMTSIM="$BUILD/amtsim"
[ -x "$AMTSIM" ] || { t_fail "amtsim built ($AMTSIM)"; t_done; }
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
SIMPID=""
trap '[ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null' EXIT INT TERM
"$AMTSIM" --port 0 --control-port 0 --count 2 --verbose \
	--ready-file "$TESTTMP/ready" >"$TESTTMP/sim.log" 2>&1 &
SIMPID=$!
i=0
while [ ! -s "$TESTTMP/ready" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
. "$TESTTMP/ready"
T=dev00000.amtsim.test P=dev00001.amtsim.test

t_exit "init" 0 c init
printf 'fqdn,admin_password,address\n%s,P@ssw0rd,127.0.0.1:%s\n%s,P@ssw0rd,127.0.0.1:%s\n' \
	$T "$port" $P "$port" >"$TESTTMP/fleet.csv"
t_exit "import" 0 c device import "$TESTTMP/fleet.csv"
t_exit "cert provision $T" 0 c cert provision $T
cp tests/integration/acl_policy.yaml "$TESTTMP/p.yaml"
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"

t_exit "policy apply --dry-run --device $T" 0 c --json policy apply \
	--dry-run --device $T
t_check "the dry run goes to the TLS port" py "$TESTTMP/out" "$tls_port" <<'EOF'
import json, sys
it = json.load(open(sys.argv[1]))["items"][0]
sys.exit(not (it["url"].startswith("https://dev00000.amtsim.test:16993/") and
    it["connect_to"].endswith("127.0.0.1:" + sys.argv[2])))
EOF

: >"$TESTTMP/sim.log"
t_exit "policy apply --all" 0 c --json policy apply --all
t_check "both devices ok" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["failed"] == 0 and [i["result"] for i in r["items"]] ==
    ["ok", "ok"]))
EOF
cp "$TESTTMP/sim.log" "$TESTTMP/apply.log"
t_grep "$T: the users added over TLS" \
	"amtsim: $T tls admin .*AddUserAclEntryEx -> 200 changed" \
	"$TESTTMP/apply.log"
t_grep "$T: prov proven by a login over TLS" \
	"amtsim: $T tls prov .*transfer/Get -> 200" "$TESTTMP/apply.log"
t_check "$T: nothing of it over plain HTTP" sh -c \
	"! grep -q 'amtsim: $T [^t]' '$TESTTMP/apply.log'"
t_grep "$P (no TLS): over HTTP digest" \
	"amtsim: $P admin .*AddUserAclEntryEx -> 200 changed" \
	"$TESTTMP/apply.log"

: >"$TESTTMP/sim.log"
t_exit "policy drift --all" 0 c --json policy drift --all
t_grep "$T: drift enumerates over TLS" \
	"amtsim: $T tls admin .*EnumerateUserAclEntries -> 200" \
	"$TESTTMP/sim.log"
t_check "$T: drift sends nothing over plain HTTP" sh -c \
	"! grep -q 'amtsim: $T [^t]' '$TESTTMP/sim.log'"

# $T's TLS record altered outside custody: $T fails, nothing sent to it
# (not even over plain HTTP), and the other device is still checked
# and applied (one device never stops the fleet).
if command -v sqlite3 >/dev/null; then
	sqlite3 "$S/custody.db" "UPDATE device_tls SET serial = '00' WHERE fqdn = '$T'"
	for op in drift apply; do
		: >"$TESTTMP/sim.log"
		t_exit "policy $op --all with $T's record altered (exit 1)" 1 \
			c --json policy $op --all
		t_check "$op: $T failed naming its record, $P ok" py "$TESTTMP/out" <<'EOF'
import json, sys
it = {i["fqdn"]: i for i in json.load(open(sys.argv[1]))["items"]}
t, p = it["dev00000.amtsim.test"], it["dev00001.amtsim.test"]
sys.exit(not (t["result"] == "failed" and "altered outside custody" in
    t["detail"] and p["result"] == "ok"))
EOF
		t_check "$op: nothing sent to $T" sh -c \
			"! grep -q 'amtsim: $T ' '$TESTTMP/sim.log'"
	done
	t_exit "cert provision records it again" 0 c cert provision $T
fi

# The device now serves a certificate custody did not issue (a
# self-signed one of the right name): apply fails on it, never falls
# back to plain HTTP.
openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=$T" \
	-addext "subjectAltName=DNS:$T" -keyout "$TESTTMP/k.pem" \
	-out "$TESTTMP/c.pem" -days 2 >/dev/null 2>&1
kill "$SIMPID"; wait "$SIMPID" 2>/dev/null
rm -f "$TESTTMP/ready"
printf '[{"fqdn": "%s", "tls_cert": "%s", "tls_key": "%s"}]\n' $T \
	"$TESTTMP/c.pem" "$TESTTMP/k.pem" >"$TESTTMP/devs.json"
"$AMTSIM" --port "$port" --control-port 0 --verbose --devices \
	"$TESTTMP/devs.json" --ready-file "$TESTTMP/ready" \
	>"$TESTTMP/sim.log" 2>&1 &
SIMPID=$!
i=0
while [ ! -s "$TESTTMP/ready" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
t_exit "apply to an impostor's TLS: the device fails (exit 1)" 1 c --json \
	policy apply --device $T
t_check "tls-failed, with the verification error" py "$TESTTMP/out" <<'EOF'
import json, sys
it = json.load(open(sys.argv[1]))["items"][0]
sys.exit(not (it["result"] == "tls-failed" and "TLS" in it["detail"]))
EOF
t_check "and nothing was sent over plain HTTP" sh -c \
	"! grep -q 'amtsim: $T' '$TESTTMP/sim.log'"
kill "$SIMPID" 2>/dev/null; wait "$SIMPID" 2>/dev/null; SIMPID=""
t_done
