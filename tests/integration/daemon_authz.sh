#!/bin/sh
# tests/integration/daemon_authz.sh - the authorization matrix over HTTPS:
# each kind of caller (anonymous, the owner console scoped to tag lab,
# another console, a staff auditor, the staff admin) x each REST route x a
# device in the
# owner's scope and one outside it, with the exact status expected; and
# no reply carries a password unless the caller may read it.
# Consoles read their own scoped credential (ETag, 304, HA1 form).
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_authz.sh "custodyd is not built"; exit 77; }
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W/sccm" "$W/power" "$W/aud"
c() { cc --state-dir "$S" "$@"; }
DPID=
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null' EXIT
c init >/dev/null
cat > "$W/policy.yaml" <<'P'
version: 1
owner: sccm
consoles:
  sccm:
    identity: {certificate: "CN=sccm"}
    duties: [setup, power, inventory, redirection]
    scope: {tags: [lab]}
  power:
    identity: {certificate: "CN=power"}
    duties: [power]
P
c policy load "$W/policy.yaml" >/dev/null
c console add sccm -o "$W/sccm" >/dev/null
c console add power -o "$W/power" >/dev/null
c staff add aud --role auditor -o "$W/aud" >/dev/null
IN=in.corp.example
OUT=out.corp.example
c device add $IN --tag lab \
    --digest-realm Digest:0123456789ABCDEF0123456789ABCDEF >/dev/null
for f in del1.corp.example del2.corp.example del3.corp.example; do
	c device add $f --tag lab >/dev/null
done
c device add $OUT >/dev/null
c password rotate $IN >/dev/null	# job 1
t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    { t_fail "custodyd starts"; t_done; }
DPID=$T_DPID PORT=$T_PORT
U="https://127.0.0.1:$PORT"

# call WHO METHOD PATH [BODY]: the status; the body in $W/body
call() {
	_who=$1 _m=$2 _p=$3 _b=${4:-}
	set -- -sS --max-time 10 --cacert "$S/ca/bundle.pem" -o "$W/body" \
	    -w '%{http_code}' -X "$_m"
	case $_who in
	anon) ;;
	admin) set -- "$@" --cert "$S/admin/admin.crt" --key "$S/admin/admin.key" ;;
	aud) set -- "$@" --cert "$(ls "$W"/aud/*.crt | head -1)" \
	    --key "$(ls "$W"/aud/*.key | head -1)" ;;
	*) set -- "$@" --cert "$W/$_who/$_who.crt" --key "$W/$_who/$_who.key" ;;
	esac
	[ -n "$_b" ] && set -- "$@" -H 'Content-Type: application/json' -d "$_b"
	curl "$@" "$U$_p"
}
# row METHOD PATH BODY ANON SCCM POWER AUDITOR ADMIN: expected statuses by
# caller (admin last: some rows change things). A password may be in a
# reply only with 200 from a password route (whose status says who may).
row() {
	_m=$1 _p=$2 _b=$3
	shift 3
	case $_p in
	*/admin-password|/v1/ops/password.show|*/credential*) _sec=1 ;;
	*) _sec=0 ;;
	esac
	for _who in anon sccm power aud admin; do
		_want=$1; shift
		_got=$(call $_who "$_m" "$_p" "$_b")
		if [ "$_got" = "$_want" ]; then
			t_ok "$_who $_m $_p: $_want"
		else
			t_fail "$_who $_m $_p: $_got, want $_want ($(head -c 200 "$W/body"))"
		fi
		if grep -q '"password"' "$W/body" &&
		    { [ "$_got" != 200 ] || [ $_sec -eq 0 ]; }; then
			t_fail "$_who $_m $_p: a password in a reply it may not have"
		fi
	done
}
#   method path                               body  anon sccm power aud admin
row GET    /v1/trust/bundle                   ""    200  200  200  200  200
row GET    /v1/trust/crl                      ""    200  200  200  200  200
row GET    /healthz                           ""    200  200  200  200  200
row POST   /v1/ops/ca.bundle                  ""    200  200  200  200  200
row GET    /metrics                           ""    401  403  403  403  200
row GET    /v1/devices                        ""    401  403  403  200  200
row POST   /v1/ops/device.list                "{}"  401  403  403  200  200
row GET    /v1/devices/$IN                    ""    401  403  403  200  200
row GET    /v1/devices/$OUT                   ""    401  403  403  200  200
row GET    /v1/devices/$IN/admin-password     ""    401  200  403  403  200
row GET    /v1/devices/$OUT/admin-password    ""    401  403  403  403  200
row POST   /v1/ops/password.show "{\"fqdn\":\"$IN\"}"  401 200 403 403 200
row POST   /v1/ops/password.show "{\"fqdn\":\"$OUT\"}" 401 403 403 403 200
row GET    /v1/devices/nope.corp.example/admin-password "" 401 403 403 403 404
row GET    /v1/devices/$IN/credential         ""    401  200  200  403  400
row GET    /v1/devices/$OUT/credential        ""    401  403  200  403  400
row GET    "/v1/devices/$IN/credential?console=power" "" 401 403 200 403 200
row GET    "/v1/devices/$OUT/credential?console=sccm" "" 401 403 403 403 404
row POST   /v1/devices/$IN/certificate        "{}"  401  400  403  403  400
row POST   /v1/devices/$OUT/certificate       "{}"  401  403  403  403  400
row POST   /v1/devices/$IN/rotate             ""    401  403  403  403  200
row POST   /v1/clients/self/certificate       "{}"  401  400  400  400  400
row POST   /v1/rotations        "{\"tag\":\"lab\"}" 401  403  403  403  200
row GET    /v1/jobs/1                         ""    401  403  403  200  200
row GET    /v1/audit                          ""    401  403  403  200  200
row POST   /v1/devices "{\"fqdn\":\"new.corp.example\"}" 401 403 403 403 200
row DELETE /v1/devices/del1.corp.example      ""    401  403  403  403  200
row POST   /v1/ops/no.such                    "{}"  400  400  400  400  400
# A console naming another console is refused, and that is audited.
c audit list > "$W/audit.txt"
t_grep "a console asking for another's credential: refusal audited" \
    'console:sccm +credential.show +in.corp.example +denied' "$W/audit.txt"
# ETag = the version; If-None-Match gives 304 without the secret.
curl -sS --cacert "$S/ca/bundle.pem" --cert "$W/sccm/sccm.crt" \
    --key "$W/sccm/sccm.key" -D "$W/h" -o /dev/null \
    "$U/v1/devices/$IN/credential"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(".*"\).*/\1/p' "$W/h" | tr -d '\r')
t_check "credential: an ETag" test -n "$etag"
t_grep "credential: no-store" '^[Cc]ache-[Cc]ontrol: no-store' "$W/h"
rm -f "$W/body"
t_check "credential: If-None-Match with it gives 304" test "$(curl -sS \
    --cacert "$S/ca/bundle.pem" --cert "$W/sccm/sccm.crt" \
    --key "$W/sccm/sccm.key" -o "$W/body" -w '%{http_code}' \
    -H "If-None-Match: $etag" "$U/v1/devices/$IN/credential")" = 304
t_check "... with no body" test ! -s "$W/body"
call sccm GET "/v1/devices/$IN/credential?format=ha1" >/dev/null
t_check "credential?format=ha1: the HA1, not the password" sh -c \
    "grep -q '\"ha1\":\"' '$W/body' && ! grep -q '\"password\"' '$W/body'"
# Refusals of authenticated callers are audited; anonymous ones are not.
c audit list > "$W/audit.txt"
t_grep "refusals of a console are audited" \
    'console:power +password.show +in.corp.example +denied' "$W/audit.txt"
t_check "anonymous refusals are not" sh -c "! grep -q '^.*anonymous' \
    '$W/audit.txt'"
# A secret read's audit entry that cannot be committed: no secret leaves.
# The loop serves secret reads without waiting for their batch (it goes on
# with other connections); the reply is held until the batch commits, and
# replaced by the error when it fails.
n0=$(sqlite3 "$S/custody.db" "SELECT count(*) FROM audit")
sqlite3 "$S/custody.db" "CREATE TRIGGER fail_head BEFORE UPDATE ON meta WHEN
    NEW.key = 'audit.head' BEGIN SELECT RAISE(ABORT, 'injected failure');
    END"
# (the batch's error: a constraint, 409)
t_check "audit commit failing: a credential read answers the error" \
    test "$(call sccm GET "/v1/devices/$IN/credential")" = 409
t_check "... without the password" sh -c "! grep -q password '$W/body'"
t_grep "... saying why" 'injected failure' "$W/body"
t_check "audit commit failing: an admin password read answers the error" \
    test "$(call admin GET "/v1/devices/$IN/admin-password")" = 409
t_check "... without the password" sh -c "! grep -q password '$W/body'"
sqlite3 "$S/custody.db" "DROP TRIGGER fail_head"
t_check "... nothing was recorded" test "$(sqlite3 "$S/custody.db" \
    "SELECT count(*) FROM audit")" -eq "$n0"
t_check "the commit working again: 200" \
    test "$(call sccm GET "/v1/devices/$IN/credential")" = 200
t_grep "... with the password" '"password":"' "$W/body"
kill -TERM "$DPID"
wait "$DPID"
DPID=
t_done
