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
sim_stop() {	# and check it ends cleanly (sanitizers report at exit)
	kill "$SIMPID" 2>/dev/null; wait "$SIMPID"; _rc=$?; SIMPID=""
	t_check "amtsim exits 0 on SIGTERM" [ "$_rc" = 0 ]
	[ "$_rc" = 0 ] || tail -30 "$W/sim.log"
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
# HTTP; body in $W/resp, HTTP code printed (000 when curl failed)
post() {
	_dev=$1 _u=$2 _p=$3 _f=$4; shift 4
	# a dropped connection shows as 000 (curl -w would say the 401)
	_c=$(curl -s --digest -u "$_u:$_p" -o "$W/resp" -w '%{http_code}' \
	    -H 'Content-Type: application/soap+xml; charset=utf-8' \
	    --connect-to "$_dev:16992:127.0.0.1:$PORT" \
	    --data-binary "@$_f" "$@" "http://$_dev:16992/wsman") || _c=000
	echo "$_c"
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
sim_start --count 5 --verbose || { t_fail "amtsim starts"; t_done; }
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
    "^WWW-Authenticate: Digest realm=\"$R0\", nonce=\"[0-9a-f]{48}\",stale=\"false\",qop=\"auth\"" "$W/hdr"
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

t_grep "--verbose logs each call" "^amtsim: $D0 admin .*AMT_AuthorizationService/SetAdminAclEntryEx -> 200 changed" "$W/sim.log"
t_check "--verbose never logs a DigestPassword" sh -c "! grep -q '$(digestpw admin "$R0" "$NEWPW")' '$W/sim.log'"

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

# --- user ACL (§1-§4) ----------------------------------------------------
R1=$(realm_of $D1)
# acl_params NAME PASS ACCESS REALMS...: AddUserAclEntryEx parameters
acl_params() {
	_n=$1 _p=$2 _a=$3; shift 3
	printf '<h:DigestUsername>%s</h:DigestUsername>' "$_n"
	[ -n "$_p" ] && printf '<h:DigestPassword>%s</h:DigestPassword>' \
	    "$(digestpw "$_n" "$R1" "$_p")"
	printf '<h:AccessPermission>%s</h:AccessPermission>' "$_a"
	for _r; do printf '<h:Realms>%s</h:Realms>' "$_r"; done
}
add_user() { method $D1 admin "$PW" AddUserAclEntryEx "$(acl_params "$@")" >/dev/null; }
OPW='Op3rator#1'
add_user ops1 "$OPW" 2 2 5
t_check "AddUserAclEntryEx returns 0" [ "$(rv)" = 0 ]
H1=$(xval Handle)
t_check "AddUserAclEntryEx returns a Handle" [ -n "$H1" ]
t_check "a user without GeneralInfoRealm cannot Get GeneralSettings (400 AccessDenied)" \
    [ "$(post $D1 ops1 "$OPW" "$W/get.xml")" = 400 ]
t_grep "the fault is AccessDenied" 'c:AccessDenied' "$W/resp"
add_user ops1 "$OPW" 2 13
t_check "duplicate username: 2058" [ "$(rv)" = 2058 ]
add_user ops2 "$OPW" 2 22
t_check "reserved realm 22: 2055" [ "$(rv)" = 2055 ]
add_user ops2 "$OPW" 2 0
t_check "realm 0: 2055" [ "$(rv)" = 2055 ]
add_user ops2 "$OPW" 2
t_check "no realm: 2055" [ "$(rv)" = 2055 ]
add_user ops2 "$OPW" 3 13
t_check "AccessPermission 3: 36" [ "$(rv)" = 36 ]
for bad in '$$ops' admin Administrator 'a&lt;b' 'ops,2' 'seventeen-chars-x'; do
	add_user "$bad" "$OPW" 2 13
	t_check "username '$bad': 12" [ "$(rv)" = 12 ]
done
method $D1 admin "$PW" AddUserAclEntryEx "<h:DigestUsername>ops2</h:DigestUsername><h:DigestPassword>00112233445566778899aabbccddeeff</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>13</h:Realms>" >/dev/null
t_check "32-hex DigestPassword (legacy form) refused by default: 2054" [ "$(rv)" = 2054 ]
method $D1 admin "$PW" AddUserAclEntryEx "<h:AccessPermission>2</h:AccessPermission><h:Realms>13</h:Realms>" >/dev/null
t_check "neither digest user nor SID: 36" [ "$(rv)" = 36 ]
for i in 2 3 4 5 6 7; do add_user "ops$i" "$OPW" 2 13 19; done
t_check "seven digest users fit" [ "$(rv)" = 0 ]
add_user ops8 "$OPW" 2 13
t_check "an eighth digest user: 23 (MAX_LIMIT_REACHED)" [ "$(rv)" = 23 ]
t_check "a user with GeneralInfoRealm logs in and reads GeneralSettings" \
    [ "$(post $D1 ops2 "$OPW" "$W/get.xml")" = 200 ]
t_check "a user cannot call AuthorizationService without PTAdministrationRealm" \
    [ "$(method $D1 ops2 "$OPW" EnumerateUserAclEntries '<h:StartIndex>1</h:StartIndex>')" = 400 ]
method $D1 admin "$PW" EnumerateUserAclEntries '<h:StartIndex>1</h:StartIndex>' >/dev/null
t_check "EnumerateUserAclEntries: TotalCount 7, HandlesCount 7" \
    [ "$(xval TotalCount)/$(xval HandlesCount)/$(rv)" = "7/7/0" ]
t_check "EnumerateUserAclEntries lists 7 handles" [ "$(grep -o '<g:Handles>' "$W/resp" | wc -l)" -eq 7 ]
method $D1 admin "$PW" EnumerateUserAclEntries '<h:StartIndex>5</h:StartIndex>' >/dev/null
t_check "StartIndex 5 pages: 3 handles of 7" [ "$(xval TotalCount)/$(xval HandlesCount)" = "7/3" ]
method $D1 admin "$PW" EnumerateUserAclEntries '<h:StartIndex>8</h:StartIndex>' >/dev/null
t_check "StartIndex past the end: 35" [ "$(rv)" = 35 ]
method $D1 admin "$PW" EnumerateUserAclEntries '<h:StartIndex>0</h:StartIndex>' >/dev/null
t_check "StartIndex 0: 35" [ "$(rv)" = 35 ]
method $D1 admin "$PW" GetUserAclEntryEx "<h:Handle>$H1</h:Handle>" >/dev/null
t_check "GetUserAclEntryEx: name, access, realms" \
    [ "$(xval DigestUsername)/$(xval AccessPermission)/$(grep -o '<g:Realms>[0-9]*' "$W/resp" | tr -d '<g:Realms>' | tr '\n' ,)/$(rv)" = "ops1/2/2,5,/0" ]
t_check "GetUserAclEntryEx never returns the hash" sh -c "! grep -q DigestPassword '$W/resp'"
method $D1 admin "$PW" GetUserAclEntryEx "<h:Handle>999</h:Handle>" >/dev/null
t_check "GetUserAclEntryEx of an unknown handle: 2053" [ "$(rv)" = 2053 ]
method $D1 admin "$PW" UpdateUserAclEntryEx "<h:Handle>$H1</h:Handle>$(acl_params ops1 '' 2 13)" >/dev/null
t_check "UpdateUserAclEntryEx (realms only, password kept): 0" [ "$(rv)" = 0 ]
t_check "the updated user reads GeneralSettings with its password" \
    [ "$(post $D1 ops1 "$OPW" "$W/get.xml")" = 200 ]
method $D1 admin "$PW" UpdateUserAclEntryEx "<h:Handle>$H1</h:Handle>$(acl_params ops1b '' 2 13)" >/dev/null
t_check "renaming without a new DigestPassword: 36" [ "$(rv)" = 36 ]
method $D1 admin "$PW" UpdateUserAclEntryEx "<h:Handle>$H1</h:Handle>$(acl_params ops2 "$OPW" 2 13)" >/dev/null
t_check "renaming onto another user: 2058" [ "$(rv)" = 2058 ]
method $D1 admin "$PW" UpdateUserAclEntryEx "<h:Handle>999</h:Handle>$(acl_params ops1 "$OPW" 2 13)" >/dev/null
t_check "UpdateUserAclEntryEx of an unknown handle: 2053" [ "$(rv)" = 2053 ]
NPW2='0ther#Pass'
method $D1 admin "$PW" UpdateUserAclEntryEx "<h:Handle>$H1</h:Handle>$(acl_params ops1 "$NPW2" 1 13)" >/dev/null
t_check "UpdateUserAclEntryEx with a new password: 0" [ "$(rv)" = 0 ]
t_check "updated password logs in, old one not" \
    [ "$(post $D1 ops1 "$NPW2" "$W/get.xml")/$(post $D1 ops1 "$OPW" "$W/get.xml")" = 200/401 ]
method $D1 admin "$PW" UpdateUserAclEntryEx "<h:Handle>$H1</h:Handle>$(acl_params ops1 "$NPW2" 0 13)" >/dev/null
t_check "a LocalAccessPermission user cannot log in over the network" \
    [ "$(post $D1 ops1 "$NPW2" "$W/get.xml")" = 401 ]
t_check "state: user entries with handle, realms, access, HA1" \
    [ "$(state $D1 '[(u["username"],u["access"],u["realms"],u["ha1"]) for u in d["users"] if u["handle"]=='"$H1"']')" = \
      "[('ops1', 0, [13], '$(md5hex "ops1:$R1:$NPW2")')]" ]
method $D1 admin "$PW" RemoveUserAclEntry "<h:Handle>$H1</h:Handle>" >/dev/null
t_check "RemoveUserAclEntry: 0" [ "$(rv)" = 0 ]
method $D1 admin "$PW" RemoveUserAclEntry "<h:Handle>$H1</h:Handle>" >/dev/null
t_check "RemoveUserAclEntry again: 2053" [ "$(rv)" = 2053 ]
add_user ops8 "$OPW" 2 13
t_check "a freed slot takes a new user" [ "$(rv)" = 0 ]
t_check "state lists 7 users" [ "$(state $D1 'len(d["users"])')" = 7 ]

# --- Kerberos users need Kerberos on (§5) ---------------------------------
SID=AQUAAAAAAAUVAAAA3PTcO4M9K0aCi6YoAAIAAA==
KPARAMS="<h:KerberosUserSid>$SID</h:KerberosUserSid><h:AccessPermission>2</h:AccessPermission><h:Realms>3</h:Realms>"
method $D1 admin "$PW" AddUserAclEntryEx "$KPARAMS" >/dev/null
t_check "Kerberos SID user while Kerberos is off: 16" [ "$(rv)" = 16 ]
KRB=$AMT/AMT_KerberosSettingData
call $D1 admin "$PW" "$XFER/Put" "$KRB" "<h:AMT_KerberosSettingData xmlns:h=\"$KRB\"><h:InstanceID>Intel (r) AMT: Kerberos Settings</h:InstanceID><h:KrbEnabled>true</h:KrbEnabled><h:RealmName>WEST.EXAMPLE.COM</h:RealmName><h:MasterKey>4ZzPde5U4GsGpZB68TzvQg==</h:MasterKey></h:AMT_KerberosSettingData>" >/dev/null
t_grep "Put AMT_KerberosSettingData" 'transfer/PutResponse.*<g:KrbEnabled>true</g:KrbEnabled>' "$W/resp"
t_check "Kerberos settings never return MasterKey" sh -c "! grep -q MasterKey '$W/resp'"
method $D1 admin "$PW" AddUserAclEntryEx "$KPARAMS" >/dev/null
t_check "Kerberos SID user: 0" [ "$(rv)" = 0 ]
method $D1 admin "$PW" GetUserAclEntryEx "<h:Handle>$(xval Handle)</h:Handle>" >/dev/null
t_check "GetUserAclEntryEx returns the SID" [ "$(xval KerberosUserSid)" = "$SID" ]
method $D1 admin "$PW" AddUserAclEntryEx "<h:KerberosUserSid>AQUAAAAAAAUVAAAA3PTcO4M9</h:KerberosUserSid><h:AccessPermission>2</h:AccessPermission><h:Realms>3</h:Realms>" >/dev/null
t_check "malformed SID: 36" [ "$(rv)" = 36 ]

# --- digest sessions reset after ACL changes (§3), nonce counts -----------
nonce_of() { sed -n 's/.*nonce="\([0-9a-f]*\)".*/\1/p' "$W/hdr"; }
stale_of() { sed -n 's/.*stale="\([a-z]*\)".*/\1/p' "$W/hdr"; }
fresh_nonce() {	# fresh_nonce DEV
	curl -s -D "$W/hdr" -o /dev/null --connect-to "$1:16992:127.0.0.1:$PORT" \
	    --data-binary "@$W/get.xml" "http://$1:16992/wsman"
	nonce_of
}
# rawpost DEV USER PASS NONCE NC: Get GeneralSettings with a computed
# Authorization header (RFC 2617, qop=auth)
rawpost() {
	_rl=$(realm_of "$1")
	_ha1=$(md5hex "$2:$_rl:$3")
	_ha2=$(md5hex "POST:/wsman")
	_rs=$(md5hex "$_ha1:$4:$5:c0ffee:auth:$_ha2")
	curl -s -D "$W/hdr" -o "$W/resp" -w '%{http_code}' \
	    -H "Authorization: Digest username=\"$2\", realm=\"$_rl\", nonce=\"$4\", uri=\"/wsman\", cnonce=\"c0ffee\", nc=$5, qop=auth, response=\"$_rs\"" \
	    -H 'Content-Type: application/soap+xml' \
	    --connect-to "$1:16992:127.0.0.1:$PORT" --data-binary "@$W/get.xml" \
	    "http://$1:16992/wsman"
}
N=$(fresh_nonce $D2)
t_check "hand-computed digest response accepted" [ "$(rawpost $D2 admin "$PW" "$N" 00000001)" = 200 ]
t_check "the nonce serves the session's next request" [ "$(rawpost $D2 admin "$PW" "$N" 00000002)" = 200 ]
# RFC 7616 3.4: the nonce count only goes up; a request sent again with
# its Authorization (a replay) is refused like a wrong password.
R0=$(sim_state $D2 'd["stats"]["replays"]')
t_check "the same nc again on that nonce (a replay): 401 stale=false" \
    [ "$(rawpost $D2 admin "$PW" "$N" 00000002)/$(stale_of)" = 401/false ]
t_check "a lower nc: 401 stale=false" \
    [ "$(rawpost $D2 admin "$PW" "$N" 00000001)/$(stale_of)" = 401/false ]
t_check "nc 0 or not 8 hex digits: 401" \
    [ "$(rawpost $D2 admin "$PW" "$N" 00000000)/$(rawpost $D2 admin "$PW" "$N" 5)" = 401/401 ]
t_check "the state dump counts the replays" \
    [ "$(sim_state $D2 'd["stats"]["replays"]')" -eq $((R0 + 4)) ]
t_check "the next nc still works" [ "$(rawpost $D2 admin "$PW" "$N" 00000003)" = 200 ]
NOLD=$(fresh_nonce $D2)
i=0; while [ $i -lt 8 ]; do fresh_nonce $D2 >/dev/null; i=$((i + 1)); done
t_check "a nonce the device no longer remembers: 401 stale=true" \
    [ "$(rawpost $D2 admin "$PW" "$NOLD" 00000001)/$(stale_of)" = 401/true ]
t_check "wrong response on a good nonce: 401 stale=false" \
    [ "$(rawpost $D2 admin 'Wr0ng#pass' "$N" 00000004)/$(stale_of)" = 401/false ]
R2=$(realm_of $D2)
method $D2 admin "$PW" AddUserAclEntryEx "<h:DigestUsername>sess</h:DigestUsername><h:DigestPassword>$(digestpw sess "$R2" "$OPW")</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>13</h:Realms>" >/dev/null
t_check "ACL change on the device" [ "$(rv)" = 0 ]
t_check "after an ACL change the old nonce is refused: 401 stale=true" \
    [ "$(rawpost $D2 admin "$PW" "$N" 00000005)/$(stale_of)" = 401/true ]
N2=$(nonce_of)
t_check "the stale challenge's new nonce works" [ "$(rawpost $D2 admin "$PW" "$N2" 00000001)" = 200 ]
t_check "a nonce of another device is refused" \
    [ "$(rawpost $D1 admin "$PW" "$N2" 00000001)/$(stale_of)" = 401/false ]
curl -s -v --digest -u "admin:$PW" -H 'Content-Type: application/soap+xml' \
    --connect-to "$D2:16992:127.0.0.1:$PORT" \
    --data-binary "@$W/get.xml" "http://$D2:16992/wsman" \
    --next --digest -u "admin:$PW" -H 'Content-Type: application/soap+xml' \
    --connect-to "$D2:16992:127.0.0.1:$PORT" \
    --data-binary "@$W/req.xml" "http://$D2:16992/wsman" >/dev/null 2>"$W/v"
t_check "curl --digest keeps working across requests (stats)" \
    [ "$(grep -c '^< HTTP/1.1 200' "$W/v")" -eq 2 ]

# --- identity and time (§7, §8) -------------------------------------------
call $D2 admin "$PW" "$ENUM/Enumerate" "$CIM/CIM_SoftwareIdentity" \
    "<Enumerate xmlns=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"/>" >/dev/null
CTX=$(sed -n 's/.*<n:EnumerationContext>\([^<]*\)<.*/\1/p' "$W/resp")
t_check "Enumerate CIM_SoftwareIdentity gives a context" [ -n "$CTX" ]
pull() {	# pull DEV CLASS-URI CONTEXT MAX
	call "$1" admin "$PW" "$ENUM/Pull" "$2" "<Pull xmlns=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"><EnumerationContext>$3</EnumerationContext><MaxElements>$4</MaxElements><MaxCharacters>99999</MaxCharacters></Pull>"
}
pull $D2 "$CIM/CIM_SoftwareIdentity" "$CTX" 999 >/dev/null
t_grep "Pull: AMT version in InstanceID AMT" '<g:InstanceID>AMT</g:InstanceID><g:IsEntity>true</g:IsEntity><g:VersionString>16.1.27</g:VersionString>' "$W/resp"
t_grep "Pull: EndOfSequence" 'PullResponse</b:Action>.*<n:EndOfSequence>' "$W/resp"
pull $D2 "$CIM/CIM_SoftwareIdentity" "$CTX" 2 >/dev/null
t_check "Pull with MaxElements 2: two items and a next context" \
    [ "$(grep -o '<g:CIM_SoftwareIdentity>' "$W/resp" | wc -l)/$(grep -c EndOfSequence "$W/resp")" = "2/0" ]
t_check "Pull of an unknown context: 400" [ "$(pull $D2 "$CIM/CIM_SoftwareIdentity" 'FF000000-0000-0000-0000-000000000002' 1)" = 400 ]
TS=$AMT/AMT_TimeSynchronizationService
curl -s -o /dev/null -X POST "http://127.0.0.1:$CTL/clock" -d "{\"device\":\"$D2\",\"offset\":-3600}"
call $D2 admin "$PW" "$TS/GetLowAccuracyTimeSynch" "$TS" "$(invoke_body "$TS" GetLowAccuracyTimeSynch "")" >/dev/null
TA0=$(xval Ta0)
NOW=$(date +%s)
t_check "GetLowAccuracyTimeSynch: Ta0 is the device clock (1 h behind)" \
    [ $((NOW - 3600 - TA0)) -le 2 ] && [ $((NOW - 3600 - TA0)) -ge -2 ]
call $D2 admin "$PW" "$TS/SetHighAccuracyTimeSynch" "$TS" "$(invoke_body "$TS" SetHighAccuracyTimeSynch "<h:Ta0>$TA0</h:Ta0><h:Tm1>$NOW</h:Tm1><h:Tm2>$NOW</h:Tm2>")" >/dev/null
t_check "SetHighAccuracyTimeSynch: 0" [ "$(rv)" = 0 ]
OFF=$(state $D2 'd["clock_offset"]')
t_check "the device clock is corrected" [ "$OFF" -le 2 ] && [ "$OFF" -ge -2 ]
call $D2 admin "$PW" "$TS/SetHighAccuracyTimeSynch" "$TS" "$(invoke_body "$TS" SetHighAccuracyTimeSynch "<h:Ta0>$TA0</h:Ta0><h:Tm1>1000</h:Tm1><h:Tm2>$NOW</h:Tm2>")" >/dev/null
t_check "SetHighAccuracyTimeSynch before 2004: 36" [ "$(rv)" = 36 ]

# --- faults (README.md "Faults") ------------------------------------------
D3=dev00003.amtsim.test
D4=dev00004.amtsim.test
R3=$(realm_of $D3)
addf() {	# addf NAME: AddUserAclEntryEx of NAME on D3, HTTP code printed
	method $D3 admin "$PW" AddUserAclEntryEx "<h:DigestUsername>$1</h:DigestUsername><h:DigestPassword>$(digestpw "$1" "$R3" "$OPW")</h:DigestPassword><h:AccessPermission>2</h:AccessPermission><h:Realms>13</h:Realms>"
}
has_user() { state $D3 "'$1' in [u.get('username') for u in d['users']]"; }
t_check "POST /fault answers 200" [ "$(fault $D3 drop-after-apply)" = 200 ]
t_check "drop-after-apply: no reply (curl gets nothing)" [ "$(addf fa1)" = 000 ]
t_check "drop-after-apply: the change was applied" [ "$(has_user fa1)" = True ]
t_check "drop-after-apply is used up after count requests" [ "$(addf fa2)" = 200 ]
t_check "fault count 2 hits two requests" \
    [ "$(fault $D3 http500 2)/$(addf fb1)/$(addf fb2)/$(addf fb3)" = 200/500/500/200 ]
t_check "http500: the change was not applied" [ "$(has_user fb1)/$(has_user fb3)" = False/True ]
method $D3 admin "$PW" RemoveUserAclEntry "<h:Handle>$(state $D3 "[u['handle'] for u in d['users'] if u.get('username')=='fb3'][0]")</h:Handle>" >/dev/null
fault $D3 delay 1 1500 >/dev/null
T=$(curl -s --digest -u "admin:$PW" -o "$W/resp" -w '%{time_total}' -H 'Content-Type: application/soap+xml' \
    --connect-to "$D3:16992:127.0.0.1:$PORT" --data-binary "@$W/get.xml" "http://$D3:16992/wsman")
t_check "delay: the reply comes after ms ($T s)" python3 -c "import sys; sys.exit(not float('$T') >= 1.4)"
t_grep "delay: the reply is whole" '</a:Envelope>$' "$W/resp"
fault $D3 delay 1 1000 >/dev/null
curl -s --digest -u "admin:$PW" -o /dev/null --max-time 0.5 -H 'Content-Type: application/soap+xml' \
    --connect-to "$D3:16992:127.0.0.1:$PORT" --data-binary "@$W/get.xml" "http://$D3:16992/wsman"
sleep 1.2
t_check "a client gone before a delayed reply does not hurt the device" \
    [ "$(post $D3 admin "$PW" "$W/get.xml")" = 200 ]
fault $D3 drop-after-apply >/dev/null
t_check "drop-after-apply of a Get: dropped too" \
    [ "$(post $D3 admin "$PW" "$W/get.xml")" = 000 ]
fault $D3 malformed-xml >/dev/null
t_check "malformed-xml: 200 ..." [ "$(post $D3 admin "$PW" "$W/get.xml")" = 200 ]
t_check "... with a body that is not XML" sh -c "! python3 -c 'import sys,xml.dom.minidom as m; m.parse(sys.argv[1])' '$W/resp' 2>/dev/null"
fault $D3 oversized >/dev/null
post $D3 admin "$PW" "$W/get.xml" >/dev/null
t_check "oversized: a reply over 16 MiB" [ "$(wc -c <"$W/resp")" -gt 16777216 ]
fault $D3 entity-expansion >/dev/null
post $D3 admin "$PW" "$W/get.xml" >/dev/null
t_grep "entity-expansion: nested entities in a DOCTYPE" '<!DOCTYPE a:Envelope \[<!ENTITY l0 "lol"><!ENTITY l1 "&l0;&l0;.*&l9;' "$W/resp"
fault $D3 doctype >/dev/null
post $D3 admin "$PW" "$W/get.xml" >/dev/null
t_grep "doctype: an external entity" '<!ENTITY xxe SYSTEM "file:///etc/passwd">.*&xxe;' "$W/resp"
fault $D3 wrong-relatesto >/dev/null
post $D3 admin "$PW" "$W/get.xml" >/dev/null
t_check "wrong-relatesto: RelatesTo differs from the MessageID" \
    sh -c "grep -q '<b:RelatesTo>' '$W/resp' && ! grep -q '<b:RelatesTo>$MSGID</b:RelatesTo>' '$W/resp'"
t_check "down: connections dropped until up" \
    [ "$(fault $D3 down -1)/$(post $D3 admin "$PW" "$W/get.xml")/$(post $D3 admin "$PW" "$W/get.xml")" = 200/000/000 ]
t_check "other devices are not affected" [ "$(post $D4 admin "$PW" "$W/get.xml")" = 200 ]
t_check "up: the device answers again" \
    [ "$(fault $D3 up)/$(post $D3 admin "$PW" "$W/get.xml")" = 200/200 ]
t_check "state counts drops and faults" [ "$(state $D3 '(d["stats"]["drops"] >= 3, d["stats"]["faults"] >= 8)')" = "(True, True)" ]
t_check "POST /fault of an unknown fault: 400" [ "$(fault $D3 explode)" = 400 ]
t_check "POST /fault of an unknown device: 404" [ "$(fault nope.test delay)" = 404 ]

# --- hostile requests ------------------------------------------------------
printf '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>' >"$W/dt.xml"
t_check "a request with a DOCTYPE: 400 fault" [ "$(post $D4 admin "$PW" "$W/dt.xml")" = 400 ]
t_grep "... saying so" 'DOCTYPE not allowed' "$W/resp"
: >"$W/empty.xml"
t_check "an empty request body: 400" [ "$(post $D4 admin "$PW" "$W/empty.xml")" = 400 ]
printf '<Envelope' >"$W/bad.xml"
t_check "a malformed request: 400" [ "$(post $D4 admin "$PW" "$W/bad.xml")" = 400 ]
envelope "$XFER/Get" "$AMT/AMT_NoSuchClass" "" >"$W/nc.xml"
t_check "an unknown class: 400" [ "$(post $D4 admin "$PW" "$W/nc.xml")" = 400 ]
# Announced over the cap: refused from the head (413), before a byte of
# the body is read. (Sending the whole body races the server's close with
# the client's writes: a reset instead of the answer, under load.)
big=$(python3 - "$PORT" "$D4" <<'EOF2'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(("POST /wsman HTTP/1.1\r\nHost: %s:16992\r\n"
           "Content-Type: application/soap+xml; charset=utf-8\r\n"
           "Content-Length: 300000\r\n\r\n" % sys.argv[2]).encode())
print(s.recv(4096).decode("latin-1").split(" ")[1])
EOF2
)
t_check "a request body over the cap is refused (413)" [ "$big" = 413 ]

# --- TLS provisioning (§6) -------------------------------------------------
PK=$AMT/AMT_PublicKeyManagementService
pkm() {	# pkm DEV METHOD PARAMS
	call "$1" admin "$PW" "$PK/$2" "$PK" "$(invoke_body "$PK" "$2" "$3")"
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/ca.key" -out "$W/ca.pem" \
    -subj "/CN=amtsim test CA" -days 2 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
pkm $D4 GenerateKeyPair '<h:KeyAlgorithm>0</h:KeyAlgorithm><h:KeyLength>2048</h:KeyLength>' >/dev/null
KEYID=$(sed -n 's/.*<c:Selector Name="InstanceID">\([^<]*\)<.*/\1/p' "$W/resp")
t_check "GenerateKeyPair: 0 and a key pair reference" \
    [ "$(rv)/$KEYID" = "0/Intel(r) AMT Key: Handle: 0" ]
pkm $D4 GenerateKeyPair '<h:KeyAlgorithm>0</h:KeyAlgorithm><h:KeyLength>1024</h:KeyLength>' >/dev/null
t_check "GenerateKeyPair of RSA 1024: 2066" [ "$(rv)" = 2066 ]
KP=$AMT/AMT_PublicPrivateKeyPair
call $D4 admin "$PW" "$ENUM/Enumerate" "$KP" "<Enumerate xmlns=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"/>" >/dev/null
pull $D4 "$KP" "$(sed -n 's/.*<n:EnumerationContext>\([^<]*\)<.*/\1/p' "$W/resp")" 999 >/dev/null
DERKEY=$(xval DERKey)
printf '%s' "$DERKEY" | base64 -d | openssl pkey -pubin -inform DER -out "$W/devkey.pem" 2>/dev/null
t_check "key pairs enumerate with DERKey (an RSA SubjectPublicKeyInfo)" \
    sh -c "openssl pkey -pubin -in '$W/devkey.pem' -text -noout | grep -q '2048 bit'"
NULLCSR=$(python3 tests/amtsim/fixtures/nullcsr.py "$D4" "$DERKEY")
pkm $D4 GeneratePKCS10RequestEx "<h:KeyPair><a:Address xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">/wsman</a:Address><a:ReferenceParameters xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><w:ResourceURI xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">$KP</w:ResourceURI><w:SelectorSet xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><w:Selector Name=\"InstanceID\">$KEYID</w:Selector></w:SelectorSet></a:ReferenceParameters></h:KeyPair><h:SigningAlgorithm>1</h:SigningAlgorithm><h:NullSignedCertificateRequest>$NULLCSR</h:NullSignedCertificateRequest>" >/dev/null
t_check "GeneratePKCS10RequestEx: 0" [ "$(rv)" = 0 ]
xval SignedCertificateRequest | base64 -d | openssl req -inform DER -out "$W/dev.csr" 2>/dev/null
t_check "the signed request verifies with the device key" \
    sh -c "openssl req -in '$W/dev.csr' -verify -noout 2>&1 | grep -qi 'verify OK'"
t_check "... and carries the requested subject and key" \
    sh -c "openssl req -in '$W/dev.csr' -noout -subject | grep -q 'CN *= *$D4' &&
      [ \"\$(openssl req -in '$W/dev.csr' -noout -pubkey)\" = \"\$(cat '$W/devkey.pem')\" ]"
OTHER=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout -outform DER | base64 -w0)
pkm $D4 GeneratePKCS10RequestEx "<h:KeyPair><a:ReferenceParameters xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><w:SelectorSet xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><w:Selector Name=\"InstanceID\">$KEYID</w:Selector></w:SelectorSet></a:ReferenceParameters></h:KeyPair><h:SigningAlgorithm>1</h:SigningAlgorithm><h:NullSignedCertificateRequest>$(python3 tests/amtsim/fixtures/nullcsr.py "$D4" "$OTHER")</h:NullSignedCertificateRequest>" >/dev/null
t_check "a request for another key: 2062" [ "$(rv)" = 2062 ]
printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$D4" >"$W/ext"
openssl x509 -req -in "$W/dev.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
    -days 1 -sha256 -extfile "$W/ext" -out "$W/dev.pem" 2>/dev/null
b64der() { openssl x509 -in "$1" -outform DER | base64 -w0; }
pkm $D4 AddTrustedRootCertificate "<h:CertificateBlob>$(b64der "$W/ca.pem")</h:CertificateBlob>" >/dev/null
t_check "AddTrustedRootCertificate: 0" [ "$(rv)" = 0 ]
pkm $D4 AddTrustedRootCertificate "<h:CertificateBlob>$(b64der "$W/ca.pem")</h:CertificateBlob>" >/dev/null
t_check "the same root again: 2058" [ "$(rv)" = 2058 ]
# as MeshCentral sends it: the PEM body, line breaks and all
pkm $D4 AddCertificate "<h:CertificateBlob>$(sed '/^-----/d' "$W/dev.pem")</h:CertificateBlob>" >/dev/null
CERTID=$(sed -n 's/.*<c:Selector Name="InstanceID">\([^<]*\)<.*/\1/p' "$W/resp")
t_check "AddCertificate: 0 and a certificate reference" [ "$(rv)/$CERTID" = "0/Intel(r) AMT Certificate: Handle: 1" ]
pkm $D4 AddCertificate "<h:CertificateBlob>bm90IGEgY2VydGlmaWNhdGU=</h:CertificateBlob>" >/dev/null
t_check "AddCertificate of garbage: 2063" [ "$(rv)" = 2063 ]
PKC=$AMT/AMT_PublicKeyCertificate
call $D4 admin "$PW" "$ENUM/Enumerate" "$PKC" "<Enumerate xmlns=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"/>" >/dev/null
pull $D4 "$PKC" "$(sed -n 's/.*<n:EnumerationContext>\([^<]*\)<.*/\1/p' "$W/resp")" 999 >/dev/null
t_grep "certificates enumerate, the root flagged TrustedRootCertficate" \
    '<g:InstanceID>Intel\(r\) AMT Certificate: Handle: 0</g:InstanceID>.*<g:TrustedRootCertficate>true</g:TrustedRootCertficate>.*Handle: 1</g:InstanceID>.*<g:TrustedRootCertficate>false' "$W/resp"
TCC=$AMT/AMT_TLSCredentialContext
A='xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"'
call $D4 admin "$PW" "$XFER/Create" "$TCC" "<h:AMT_TLSCredentialContext xmlns:h=\"$TCC\" $A><h:ElementInContext><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>$PKC</w:ResourceURI><w:SelectorSet><w:Selector Name=\"InstanceID\">$CERTID</w:Selector></w:SelectorSet></a:ReferenceParameters></h:ElementInContext><h:ElementProvidingContext><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>$AMT/AMT_TLSProtocolEndpointCollection</w:ResourceURI><w:SelectorSet><w:Selector Name=\"ElementName\">TLSProtocolEndpointInstances Collection</w:Selector></w:SelectorSet></a:ReferenceParameters></h:ElementProvidingContext></h:AMT_TLSCredentialContext>" >/dev/null
t_grep "Create AMT_TLSCredentialContext" 'transfer/CreateResponse</b:Action>.*<t:ResourceCreated>' "$W/resp"
TSD=$AMT/AMT_TLSSettingData
call $D4 admin "$PW" "$XFER/Put" "$TSD" "<h:AMT_TLSSettingData xmlns:h=\"$TSD\"><h:ElementName>Intel(r) AMT 802.3 TLS Settings</h:ElementName><h:InstanceID>Intel(r) AMT 802.3 TLS Settings</h:InstanceID><h:Enabled>true</h:Enabled><h:MutualAuthentication>false</h:MutualAuthentication><h:AcceptNonSecureConnections>true</h:AcceptNonSecureConnections></h:AMT_TLSSettingData>" \
    '<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT 802.3 TLS Settings</w:Selector></w:SelectorSet>' >/dev/null
t_grep "Put AMT_TLSSettingData" 'transfer/PutResponse</b:Action>.*<g:Enabled>true</g:Enabled>' "$W/resp"
tlsget() {	# tlsget DEV [curl args]: Get GeneralSettings over the TLS port
	_d=$1; shift
	_c=$(curl -s --digest -u "admin:$PW" -o "$W/resp" -w '%{http_code}' \
	    -H 'Content-Type: application/soap+xml; charset=utf-8' \
	    --connect-to "$_d:16993:127.0.0.1:$TLSPORT" --data-binary "@$W/get.xml" \
	    "$@" "https://$_d:16993/wsman") || _c=000
	echo "$_c"
}
t_check "no TLS before CommitChanges" [ "$(tlsget $D4 --cacert "$W/ca.pem")" = 000 ]
SC=$AMT/AMT_SetupAndConfigurationService
call $D4 admin "$PW" "$SC/CommitChanges" "$SC" "$(invoke_body "$SC" CommitChanges "")" >/dev/null
t_check "CommitChanges: 0" [ "$(rv)" = 0 ]
t_check "TLS port: digest Get verified against the CA, by SNI" \
    [ "$(tlsget $D4 --cacert "$W/ca.pem")" = 200 ]
t_grep "... answered by that device" "<g:HostName>dev00004</g:HostName>" "$W/resp"
t_check "openssl s_client verifies the device certificate" \
    sh -c "echo | openssl s_client -connect 127.0.0.1:$TLSPORT -servername $D4 -CAfile '$W/ca.pem' -verify_return_error -verify_hostname $D4 2>&1 | grep -q 'Verify return code: 0'"
t_check "a device without TLS fails the handshake" [ "$(tlsget $D3 -k)" = 000 ]
fault $D4 drop-after-apply >/dev/null
t_check "drop-after-apply over TLS: no reply" [ "$(tlsget $D4 --cacert "$W/ca.pem")" = 000 ]
fault $D4 down >/dev/null
t_check "a device that is down fails the TLS handshake" [ "$(tlsget $D4 --cacert "$W/ca.pem")" = 000 ]
fault $D4 up >/dev/null
t_check "HTTP still served (AcceptNonSecureConnections true)" [ "$(post $D4 admin "$PW" "$W/get.xml")" = 200 ]
t_check "state: TLS active with the issued certificate" \
    [ "$(state $D4 'd["tls"]["active"], d["tls"]["cert_sha256"]')" = \
      "True $(openssl x509 -in "$W/dev.pem" -outform DER | sha256sum | cut -c1-64)" ]
call $D4 admin "$PW" "$XFER/Delete" "$PKC" "" "<w:SelectorSet><w:Selector Name=\"InstanceID\">$CERTID</w:Selector></w:SelectorSet>" >/dev/null
t_check "the certificate bound to TLS cannot be deleted" [ "$(rv)" = "" ] && t_grep "... fault" 'bound to TLS' "$W/resp"

# --- SetMEBxPassword (§2): TLS only, password rules -----------------------
mebx() {	# mebx DEV PASSWORD [tls]
	envelope "$SC/SetMEBxPassword" "$SC" "$(invoke_body "$SC" SetMEBxPassword "<h:Password>$2</h:Password>")" >"$W/req.xml"
	if [ "${3:-}" = tls ]; then
		curl -s --digest -u "admin:$PW" -o "$W/resp" -H 'Content-Type: application/soap+xml' \
		    --cacert "$W/ca.pem" --connect-to "$1:16993:127.0.0.1:$TLSPORT" \
		    --data-binary "@$W/req.xml" "https://$1:16993/wsman"
	else
		post "$1" admin "$PW" "$W/req.xml" >/dev/null
	fi
	rv
}
t_check "SetMEBxPassword over plain HTTP: 16" [ "$(mebx $D4 'Mebx#Pass1')" = 16 ]
for bad in 'Sh0rt#' 'nouppercase#1' 'NOLOWERCASE#1' 'NoDigits#here' 'NoSpecial123' 'Location_1' 'Has:Colon1' 'Has,Comma1' 'ThisPasswordIsWayTooLong#123456789'; do
	t_check "SetMEBxPassword '$bad' breaks the rules: 2054" [ "$(mebx $D4 "$bad" tls)" = 2054 ]
done
t_check "SetMEBxPassword over TLS: 0" [ "$(mebx $D4 'Mebx#Pass 1' tls)" = 0 ]
t_check "state: MEBx set, hash only" \
    [ "$(state $D4 'd["mebx"]["sha256"]')" = "$(printf '%s' 'Mebx#Pass 1' | sha256sum | cut -c1-64)" ]

# --- mutual TLS, TLS only (§6) ---------------------------------------------
openssl req -new -newkey rsa:2048 -nodes -keyout "$W/console.key" -subj "/CN=console.ops.example" \
    -out "$W/console.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth,2.16.840.1.113741.1.2.1\n' >"$W/cext"
openssl x509 -req -in "$W/console.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
    -days 1 -sha256 -extfile "$W/cext" -out "$W/console.pem" 2>/dev/null
tlsput() {	# tlsput MUTUAL NONSECURE [TRUSTEDCN]
	call $D4 admin "$PW" "$XFER/Put" "$TSD" "<h:AMT_TLSSettingData xmlns:h=\"$TSD\"><h:ElementName>Intel(r) AMT 802.3 TLS Settings</h:ElementName><h:InstanceID>Intel(r) AMT 802.3 TLS Settings</h:InstanceID><h:Enabled>true</h:Enabled><h:MutualAuthentication>$1</h:MutualAuthentication><h:AcceptNonSecureConnections>$2</h:AcceptNonSecureConnections>${3:+<h:TrustedCN>$3</h:TrustedCN>}</h:AMT_TLSSettingData>" \
	    '<w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT 802.3 TLS Settings</w:Selector></w:SelectorSet>' >/dev/null
	call $D4 admin "$PW" "$SC/CommitChanges" "$SC" "$(invoke_body "$SC" CommitChanges "")" >/dev/null
	rv
}
t_check "mutual TLS committed" [ "$(tlsput true true)" = 0 ]
t_check "mutual TLS: no console certificate, no connection" [ "$(tlsget $D4 --cacert "$W/ca.pem")" = 000 ]
t_check "mutual TLS: a console certificate from the trusted root gets in" \
    [ "$(tlsget $D4 --cacert "$W/ca.pem" --cert "$W/console.pem" --key "$W/console.key")" = 200 ]
t_check "TrustedCN set, not matching the console" [ "$(tlsput true true other.example)" = 0 ]
t_check "mutual TLS: a console outside TrustedCN is refused" \
    [ "$(tlsget $D4 --cacert "$W/ca.pem" --cert "$W/console.pem" --key "$W/console.key")" = 000 ]
t_check "TrustedCN with 16 names" [ "$(tlsput true true "a.example</h:TrustedCN><h:TrustedCN>b.example</h:TrustedCN><h:TrustedCN>c.example</h:TrustedCN><h:TrustedCN>d.example</h:TrustedCN><h:TrustedCN>e.example</h:TrustedCN><h:TrustedCN>f.example</h:TrustedCN><h:TrustedCN>g.example</h:TrustedCN><h:TrustedCN>h.example</h:TrustedCN><h:TrustedCN>i.example</h:TrustedCN><h:TrustedCN>j.example</h:TrustedCN><h:TrustedCN>k.example</h:TrustedCN><h:TrustedCN>l.example</h:TrustedCN><h:TrustedCN>m.example</h:TrustedCN><h:TrustedCN>n.example</h:TrustedCN><h:TrustedCN>o.example</h:TrustedCN><h:TrustedCN>ops.example")/$(state $D4 'len(d["tls"]["trusted_cn"])')" = 0/16 ]
t_check "TrustedCN matching the console's domain" [ "$(tlsput true true ops.example)" = 0 ]
t_check "mutual TLS: the console in TrustedCN gets in" \
    [ "$(tlsget $D4 --cacert "$W/ca.pem" --cert "$W/console.pem" --key "$W/console.key")" = 200 ]
t_check "TLS only (AcceptNonSecureConnections false)" [ "$(tlsput false false)" = 0 ]
t_check "... the HTTP port drops the device" [ "$(post $D4 admin "$PW" "$W/get.xml")" = 000 ]
t_check "... TLS still answers" [ "$(tlsget $D4 --cacert "$W/ca.pem")" = 200 ]
sim_stop

# --- devices file, preconfigured TLS, nonce expiry ------------------------
printf '[ext]\nsubjectAltName=DNS:amt-a.example.test,DNS:amt-b.example.test\nextendedKeyUsage=serverAuth\n' >"$W/fext"
openssl req -new -newkey rsa:2048 -nodes -keyout "$W/fleet.key" -subj "/CN=amt fleet" -out "$W/fleet.csr" 2>/dev/null
openssl x509 -req -in "$W/fleet.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
    -days 1 -sha256 -extfile "$W/fext" -extensions ext -out "$W/fleet.pem" 2>/dev/null
cat >"$W/devices.json" <<JSON
[{"fqdn": "amt-a.example.test", "realm": "Digest:A4070000000000000000000000000000",
  "admin_password": "Zz9!zzzzz", "amt_version": "12.0.67", "build": 1234,
  "control_mode": "ccm", "system_accounts": true,
  "tls_cert": "$W/fleet.pem", "tls_key": "$W/fleet.key"},
 {"fqdn": "amt-b.example.test", "mebx_policy": "default-only", "clock_offset": -100,
  "tls_cert": "$W/fleet.pem", "tls_key": "$W/fleet.key"}]
JSON
sim_start --devices "$W/devices.json" --nonce-lifetime 4 || t_fail "amtsim starts with a devices file"
A=amt-a.example.test B=amt-b.example.test
t_check "devices file: realm and admin password" \
    [ "$(realm_of $A)/$(post $A admin 'Zz9!zzzzz' "$W/get.xml")" = "Digest:A4070000000000000000000000000000/200" ]
curl -s -D "$W/hdr" -o /dev/null --connect-to "$A:16992:127.0.0.1:$PORT" --data-binary "@$W/get.xml" "http://$A:16992/wsman"
t_grep "devices file: version and build in Server" 'Active Management Technology 12\.0\.67\.1234' "$W/hdr"
method $A admin 'Zz9!zzzzz' SetAdminAclEntryEx "<h:Username>admin</h:Username><h:DigestPassword>arkZL7pYoE1eDE34m5pDUA==</h:DigestPassword>" >/dev/null
t_check "the reference's DigestPassword vector sets admin / P@ssw0rd" \
    [ "$(rv)/$(post $A admin 'P@ssw0rd' "$W/get.xml")/$(state $A 'd["admin"]["ha1"]')" = "0/200/6ab9192fba58a04d5e0c4df89b9a4350" ]
method $A admin "$PW" EnumerateUserAclEntries '<h:StartIndex>1</h:StartIndex>' >/dev/null
H=$(xval Handles)
t_check "system_accounts: one \$\$uns entry" [ "$(xval TotalCount)" = 1 ]
method $A admin "$PW" RemoveUserAclEntry "<h:Handle>$H</h:Handle>" >/dev/null
t_check "a \$\$ system entry cannot be removed: 16" [ "$(rv)" = 16 ]
t_check "tls_cert: TLS from the start, verified against the CA" \
    [ "$(tlsget $A --cacert "$W/ca.pem")" = 200 ]
t_check "SetMEBxPassword in client control mode: 16" [ "$(mebx $A 'Mebx#Pass1' tls)" = 16 ]
t_check "MEBx policy default-only: the first change works" [ "$(mebx $B 'Mebx#Pass1' tls)" = 0 ]
t_check "... the second is refused: 16" [ "$(mebx $B 'Mebx#Pass2' tls)" = 16 ]
t_check "clock_offset from the devices file" [ "$(state $B 'd["clock_offset"]')" = -100 ]
N=$(fresh_nonce $B)
t_check "a fresh nonce works" [ "$(rawpost $B admin "$PW" "$N" 00000001)" = 200 ]
sleep 5.2
t_check "an expired nonce: 401 stale=true" [ "$(rawpost $B admin "$PW" "$N" 00000002)/$(stale_of)" = 401/true ]
sim_stop
# --tls-cert/--tls-key: every device serves one (wildcard) certificate
printf '[ext]\nsubjectAltName=DNS:*.amtsim.test\nextendedKeyUsage=serverAuth\n' >"$W/wext"
openssl req -new -newkey rsa:2048 -nodes -keyout "$W/wild.key" -subj "/CN=*.amtsim.test" -out "$W/wild.csr" 2>/dev/null
openssl x509 -req -in "$W/wild.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
    -days 1 -sha256 -extfile "$W/wext" -extensions ext -out "$W/wild.pem" 2>/dev/null
sim_start --count 300 --tls-cert "$W/wild.pem" --tls-key "$W/wild.key" || t_fail "amtsim starts with --tls-cert"
TLSPORT=$tls_port
t_check "--tls-cert: every device answers over TLS, verified" \
    [ "$(tlsget dev00000.amtsim.test --cacert "$W/ca.pem")/$(tlsget dev00299.amtsim.test --cacert "$W/ca.pem")" = 200/200 ]
t_check "--tls-cert: state shows TLS active with that certificate" \
    [ "$(state dev00123.amtsim.test 'd["tls"]["active"], d["tls"]["cert_sha256"]')" = \
      "True $(openssl x509 -in "$W/wild.pem" -outform DER | sha256sum | cut -c1-64)" ]
t_check "TLS sessions resume" tls_resumed "$TLSPORT" "$W/ca.pem" \
    dev00007.amtsim.test dev00007.amtsim.test
t_check "  counted: tls_handshakes 2, tls_full_handshakes 1" \
    [ "$(state dev00007.amtsim.test 'd["stats"]["tls_handshakes"], d["stats"]["tls_full_handshakes"]')" = "2 1" ]
sim_stop
sim_start --count 8 --tls-cert "$W/wild.pem" --tls-key "$W/wild.key" --no-tls-resume ||
	t_fail "amtsim starts with --no-tls-resume"
TLSPORT=$tls_port
t_check "--no-tls-resume: full handshakes only" tls_not_resumed "$TLSPORT" \
    "$W/ca.pem" dev00007.amtsim.test dev00007.amtsim.test
t_check "  counted: tls_handshakes 2, tls_full_handshakes 2" \
    [ "$(state dev00007.amtsim.test 'd["stats"]["tls_handshakes"], d["stats"]["tls_full_handshakes"]')" = "2 2" ]
sim_stop
# --first: a slice of a larger fleet, realms as in the whole fleet;
# --tls-dir: each device its own certificate file, leaf then chain (an
# intermediate CA the client does not have), one key.
openssl req -new -newkey rsa:2048 -nodes -keyout "$W/int.key" -subj "/CN=amtsim test issuing CA" -out "$W/int.csr" 2>/dev/null
printf '[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$W/iext"
openssl x509 -req -in "$W/int.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
    -days 1 -sha256 -extfile "$W/iext" -extensions ext -out "$W/int.pem" 2>/dev/null
mkdir -p "$W/tlsdir"
openssl genrsa -out "$W/tlsdir/key.pem" 2048 2>/dev/null
for i in 5 6; do
	f=dev0000$i.amtsim.test
	printf '[ext]\nsubjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' $f >"$W/dext"
	openssl req -new -key "$W/tlsdir/key.pem" -subj "/CN=$f" -out "$W/d.csr" 2>/dev/null
	openssl x509 -req -in "$W/d.csr" -CA "$W/int.pem" -CAkey "$W/int.key" -CAcreateserial \
	    -days 1 -sha256 -extfile "$W/dext" -extensions ext -out "$W/leaf.pem" 2>/dev/null
	cat "$W/leaf.pem" "$W/int.pem" >"$W/tlsdir/$f.crt"
done
sim_start --count 2 --first 5 --tls-dir "$W/tlsdir" --tls-key "$W/tlsdir/key.pem" ||
	t_fail "amtsim starts with --first and --tls-dir"
TLSPORT=$tls_port
t_check "--first: dev00005 and dev00006, no dev00000" \
    [ "$(curl -s "http://127.0.0.1:$CTL/state" | python3 -c 'import json,sys; print(" ".join(d["fqdn"] for d in json.load(sys.stdin)["devices"]))')" = \
      "dev00005.amtsim.test dev00006.amtsim.test" ]
t_check "--first: dev00005's realm is that of the whole fleet's" \
    [ "$(state dev00005.amtsim.test 'd["realm"]')" = \
      "Digest:$(printf 'amtsim/1/5' | md5sum | cut -c1-32 | tr a-f A-F)" ]
t_check "--tls-dir: each device its own certificate, its chain served" \
    [ "$(tlsget dev00005.amtsim.test --cacert "$W/ca.pem")/$(tlsget dev00006.amtsim.test --cacert "$W/ca.pem")" = 200/200 ]
t_check "--tls-dir: dev00006 serves its own leaf" \
    [ "$(state dev00006.amtsim.test 'd["tls"]["cert_sha256"]')" = \
      "$(openssl x509 -in "$W/tlsdir/dev00006.amtsim.test.crt" -outform DER | sha256sum | cut -c1-64)" ]
sim_stop
rm "$W/tlsdir/dev00006.amtsim.test.crt"
t_exit "--tls-dir without a device's file: exit 1" 1 "$AMTSIM" --port 0 --count 2 --first 5 \
    --tls-dir "$W/tlsdir" --tls-key "$W/tlsdir/key.pem"
echo '[{"fqdn": "x.test", "realm": "Digest:abc"}]' >"$W/bad.json"
t_exit "a devices file with a bad realm: exit 1" 1 "$AMTSIM" --port 0 --devices "$W/bad.json"
t_exit "bad usage: exit 2" 2 "$AMTSIM" --count 3
t_exit "a non-loopback address is refused: exit 2" 2 "$AMTSIM" --port 0 --host 0.0.0.0
t_check "--help" sh -c "'$AMTSIM' --help | grep -q 'usage: amtsim'"

t_done
