#!/bin/sh
# tests/integration/amtsim.sh - the AMT simulator (tests/amtsim/) against
# reference/amt.md, driven by curl --digest with hand-written SOAP
# envelopes and by its control API.
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl openssl python3 md5sum base64

AMTSIM="$BUILD/amtsim"
[ -x "$AMTSIM" ] || { t_fail "amtsim built ($AMTSIM)"; t_done; }
W="$TESTTMP/amtsim"
mkdir -p "$W"
SIMPID=""
cleanup() { [ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

AMT=http://intel.com/wbem/wscim/1/amt-schema/1
CIM=http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2
XFER=http://schemas.xmlsoap.org/ws/2004/09/transfer
ENUM=http://schemas.xmlsoap.org/ws/2004/09/enumeration
AS=$AMT/AMT_AuthorizationService
PW='P@ssw0rd'

# sim_start ARGS...: start amtsim, wait for its ready file, load the ports
sim_start() {
	rm -f "$W/ready"
	"$AMTSIM" --port 0 --control-port 0 --ready-file "$W/ready" "$@" \
	    >"$W/sim.log" 2>&1 &
	SIMPID=$!
	_i=0
	while [ ! -s "$W/ready" ] && [ $_i -lt 200 ]; do
		sleep 0.05; _i=$((_i + 1))
	done
	[ -s "$W/ready" ] || { cat "$W/sim.log"; return 1; }
	. "$W/ready"
	PORT=$port TLSPORT=$tls_port CTL=$control_port
}
sim_stop() {
	kill "$SIMPID" 2>/dev/null; wait "$SIMPID" 2>/dev/null; SIMPID=""
}

# state DEV PYEXPR: evaluate PYEXPR on the device's state dump (as d)
state() {
	curl -s "http://127.0.0.1:$CTL/state?device=$1" |
	    python3 -c 'import json,sys; d=json.load(sys.stdin); print('"$2"')'
}
fault() {	# fault DEV KIND [COUNT [MS]]
	curl -s -o /dev/null -w '%{http_code}' -X POST \
	    "http://127.0.0.1:$CTL/fault" -d "{\"device\":\"$1\",\"fault\":\"$2\",\"count\":${3:-1},\"ms\":${4:-0}}"
}
realm_of() { state "$1" 'd["realm"]'; }
# digestpw USER REALM PASSWORD: reference §3
digestpw() { printf '%s' "$1:$2:$3" | openssl md5 -binary | base64; }
md5hex() { printf '%s' "$1" | md5sum | cut -c1-32; }

MSGID=100
# envelope ACTION RESOURCE BODY [SELECTORS]: a request per reference §4
envelope() {
	MSGID=$((MSGID + 1))
	printf '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>%s</a:Action><a:To>/wsman</a:To><w:ResourceURI>%s</w:ResourceURI><a:MessageID>%s</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>%s</Header><Body>%s</Body></Envelope>' \
	    "$1" "$2" "$MSGID" "${4:-}" "$3"
}
# invoke_body CLASS-URI METHOD PARAMS-XML
invoke_body() {
	printf '<h:%s_INPUT xmlns:h="%s">%s</h:%s_INPUT>' "$2" "$1" "$3" "$2"
}
# post DEV USER PASS FILE [curl args]: POST FILE to DEV's /wsman over
# HTTP; body in $W/resp, HTTP code printed
post() {
	_dev=$1 _u=$2 _p=$3 _f=$4; shift 4
	curl -s --digest -u "$_u:$_p" -o "$W/resp" -w '%{http_code}' \
	    -H 'Content-Type: application/soap+xml; charset=utf-8' \
	    --connect-to "$_dev:16992:127.0.0.1:$PORT" \
	    --data-binary "@$_f" "$@" "http://$_dev:16992/wsman"
}
# call DEV USER PASS ACTION RESOURCE BODY [SELECTORS]: envelope + post
call() {
	envelope "$4" "$5" "$6" "${7:-}" >"$W/req.xml"
	post "$1" "$2" "$3" "$W/req.xml"
}
method() {	# method DEV USER PASS METHOD PARAMS (AMT_AuthorizationService)
	call "$1" "$2" "$3" "$AS/$4" "$AS" "$(invoke_body "$AS" "$4" "$5")"
}
rv() { sed -n 's/.*<g:ReturnValue>\([0-9]*\)<\/g:ReturnValue>.*/\1/p' "$W/resp"; }
xval() { sed -n "s/.*<g:$1>\\([^<]*\\)<\\/g:$1>.*/\\1/p" "$W/resp"; }

D0=dev00000.amtsim.test
D1=dev00001.amtsim.test
D2=dev00002.amtsim.test
sim_start --count 5 || { t_fail "amtsim starts"; t_done; }
t_ok "amtsim starts and writes its ready file"

# --- DigestPassword test vector (reference §3) -------------------------
t_check "DigestPassword test vector (shell side)" \
    [ "$(digestpw admin 'Digest:A4070000000000000000000000000000' 'P@ssw0rd')" = "arkZL7pYoE1eDE34m5pDUA==" ]

# --- digest challenge shape (§3) ---------------------------------------
envelope "$XFER/Get" "$AMT/AMT_GeneralSettings" "" >"$W/get.xml"
curl -s -D "$W/hdr" -o /dev/null -H 'Content-Type: application/soap+xml' \
    --connect-to "$D0:16992:127.0.0.1:$PORT" --data-binary "@$W/get.xml" \
    "http://$D0:16992/wsman"
R0=$(realm_of $D0)
t_grep "401 without credentials" '^HTTP/1.1 401' "$W/hdr"
t_grep "challenge: realm Digest:+32 uppercase hex, qop=auth, stale=false" \
    "^WWW-Authenticate: Digest realm=\"$R0\", nonce=\"[0-9a-f]{40}\",stale=\"false\",qop=\"auth\"" "$W/hdr"
t_grep "challenge: Connection: close and AMT Server header" '^Connection: close' "$W/hdr"
t_grep "Server: Intel(R) Active Management Technology" '^Server: Intel\(R\) Active Management Technology 16\.1\.27\.2176' "$W/hdr"
t_check "realm is Digest: + 32 uppercase hex" \
    sh -c "echo '$R0' | grep -Eq '^Digest:[0-9A-F]{32}$'"
t_check "devices have different realms" [ "$R0" != "$(realm_of $D1)" ]
curl -s -D "$W/hdr" -o /dev/null -H 'Authorization: Basic YWRtaW46UEBzc3cwcmQ=' \
    --connect-to "$D0:16992:127.0.0.1:$PORT" --data-binary "@$W/get.xml" \
    "http://$D0:16992/wsman"
t_grep "Basic auth gets a digest challenge" '^WWW-Authenticate: Digest' "$W/hdr"

# --- Get AMT_GeneralSettings --------------------------------------------
t_check "Get AMT_GeneralSettings with admin/default password" \
    [ "$(post $D0 admin "$PW" "$W/get.xml")" = 200 ]
t_grep "GetResponse action" 'transfer/GetResponse</b:Action>' "$W/resp"
t_grep "RelatesTo is the request MessageID" "<b:RelatesTo>$MSGID</b:RelatesTo>" "$W/resp"
t_grep "DigestRealm in GeneralSettings matches the challenge" \
    "<g:DigestRealm>$R0</g:DigestRealm>" "$W/resp"
t_grep "HostName and DomainName" '<g:HostName>dev00000</g:HostName><g:HostOSFQDN>|<g:DomainName>amtsim.test</g:DomainName>' "$W/resp"
F0=$(state $D0 'd["stats"]["auth_failures"]')
t_check "wrong password: 401" [ "$(post $D0 admin 'Wr0ng!pass' "$W/get.xml")" = 401 ]
t_check "unknown user: 401" [ "$(post $D0 nobody "$PW" "$W/get.xml")" = 401 ]
t_check "state counts the failed logins" [ "$(state $D0 'd["stats"]["auth_failures"]')" = $((F0 + 2)) ]

# --- SetAdminAclEntryEx (§3, §10) ----------------------------------------
NEWPW='N3w-Passw0rd!'
method $D0 admin "$PW" SetAdminAclEntryEx \
    "<h:Username>admin</h:Username><h:DigestPassword>$(digestpw admin "$R0" "$NEWPW")</h:DigestPassword>" >/dev/null
t_check "SetAdminAclEntryEx returns 0" [ "$(rv)" = 0 ]
t_grep "SetAdminAclEntryExResponse action" 'AMT_AuthorizationService/SetAdminAclEntryExResponse</b:Action>' "$W/resp"
t_check "state holds the new HA1 only" \
    [ "$(state $D0 'd["admin"]["ha1"]')" = "$(md5hex "admin:$R0:$NEWPW")" ]
t_check "new password logs in" [ "$(post $D0 admin "$NEWPW" "$W/get.xml")" = 200 ]
t_check "old password is refused" [ "$(post $D0 admin "$PW" "$W/get.xml")" = 401 ]
t_check "other devices keep theirs" [ "$(post $D1 admin "$PW" "$W/get.xml")" = 200 ]
method $D0 admin "$NEWPW" GetAdminAclEntryStatus "" >/dev/null
t_grep "IsDefault false" '<g:IsDefault>false</g:IsDefault>' "$W/resp"
method $D0 admin "$NEWPW" SetAdminAclEntryEx \
    "<h:Username>admin</h:Username><h:DigestPassword>c2hvcnQ=</h:DigestPassword>" >/dev/null
t_check "malformed DigestPassword: 2054" [ "$(rv)" = 2054 ]
method $D0 admin "$NEWPW" SetAdminAclEntryEx \
    "<h:Username>ad:min</h:Username><h:DigestPassword>$(digestpw 'ad:min' "$R0" "$NEWPW")</h:DigestPassword>" >/dev/null
t_check "invalid admin username: 12" [ "$(rv)" = 12 ]
t_check "failed Set changes nothing" [ "$(post $D0 admin "$NEWPW" "$W/get.xml")" = 200 ]

# --- /state ---------------------------------------------------------------
curl -s "http://127.0.0.1:$CTL/state" >"$W/state.json"
t_check "GET /state lists every device" python3 -c '
import json,sys
s=json.load(open(sys.argv[1]))["devices"]
assert len(s)==5 and s[0]["fqdn"]=="dev00000.amtsim.test"
for d in s:
    assert d["realm"].startswith("Digest:") and len(d["realm"])==39
    assert d["admin"]["username"]=="admin" and len(d["admin"]["ha1"])==32
    for k in ("users","keys","certificates","tls","clock","stats","fault"):
        assert k in d, k
' "$W/state.json"
t_check "GET /state?device= of an unknown device is 404" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CTL/state?device=nope.test")" = 404 ]
t_check "unknown Host is 404" [ "$(post nope.amtsim.test admin "$PW" "$W/get.xml")" = 404 ]

t_done
