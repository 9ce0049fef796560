#!/bin/sh
# tests/integration/ad_negotiate.sh - Negotiate login to custodyd with
# tickets from a Samba AD DC (lib_ad.sh): the console whose account
# custody made logs in with the keytab custody derived for it; an AD user
# custody did not create (account sync refuses it as foreign) that the
# policy names as a console's identity, and the domain's Administrator,
# are anonymous (401), logged.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba samba-tool ldapsearch kinit curl python3
curl -V | grep -q 'GSS-API' || { t_skip "Negotiate" "curl without GSS-API"; t_done; }
ad_start

S="$TESTTMP/state"
W="$TESTTMP/w"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
st() { samba-tool "$@" -s "$AD_DIR/etc/smb.conf" >/dev/null 2>&1; }
ad_krb5_conf "$TESTTMP/krb5.conf"
export KRB5_CONFIG="$TESTTMP/krb5.conf"
R=$AD_REALM

# custody's HTTP service: an account of its own with HTTP/localhost
TPW=$(python3 -c 'import secrets; print("Aa1-" + secrets.token_urlsafe(18))')
st user add custody-http "$TPW" || t_fail "the HTTP service account"
st spn add HTTP/localhost custody-http || t_fail "its SPN"
(umask 077; samba-tool domain exportkeytab "$W/http.keytab" \
    --principal="HTTP/localhost@$R" -s "$AD_DIR/etc/smb.conf" >/dev/null 2>&1)
t_check "the HTTP service keytab" test -s "$W/http.keytab"
# someone else's user, under the name a console's identity gives
st user add svc-taken "$TPW" || t_fail "a user custody does not make"

t_exit "init" 0 c init
ad_config "$S"
printf '%s\n' 'auth:' "  negotiate_keytab: $W/http.keytab" >>"$S/custody.yaml"
ad_policy "$W/p.yaml" sec:power taken:inventory
printf '%s\n' '  Administrator:' \
    "    identity: {kerberos: \"Administrator@$R\"}" \
    '    duties: [audit]' >>"$W/p.yaml"
t_exit "policy load" 0 c policy load "$W/p.yaml"
t_exit "account sync (svc-taken and Administrator refused)" 1 c account sync
t_grep "  ... svc-taken is not custody's" "account 'svc-taken' exists in AD" \
    "$TESTTMP/err"
t_exit "keytab get sec" 0 c keytab get sec -o "$W/sec.keytab"

t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    { t_fail "custodyd starts"; t_done; }
DPID=$T_DPID
trap 'kill "$DPID" 2>/dev/null; ad_stop' EXIT
trap 'kill "$DPID" 2>/dev/null; ad_stop; exit 1' INT TERM HUP
neg() {	# neg CCACHE PATH: the status
	env KRB5CCNAME="FILE:$1" curl -sS --max-time 10 --cacert \
	    "$S/ca/bundle.pem" --negotiate -u : -o "$W/body" \
	    -w '%{http_code}' "https://localhost:$T_PORT$2" 2>>"$W/curl.err"
}
t_check "kinit svc-sec with custody's keytab" env \
    KRB5CCNAME="FILE:$W/cc.sec" kinit -k -t "$W/sec.keytab" "svc-sec@$R"
t_check "kinit svc-taken with its owner's password" sh -c \
    'printf "%s\n" "$1" | KRB5CCNAME="FILE:$2" kinit "$3" >/dev/null' _ \
    "$TPW" "$W/cc.tkn" "svc-taken@$R"
t_check "kinit Administrator" sh -c \
    'printf "%s\n" "$1" | KRB5CCNAME="FILE:$2" kinit "$3" >/dev/null' _ \
    "$AD_PW" "$W/cc.adm" "Administrator@$R"

t_check "svc-sec (custody's account): its own keytab, 200" \
    test "$(neg "$W/cc.sec" /v1/consoles/sec/keytab)" = 200
t_check "svc-taken (not custody's) named by console taken: 401" \
    test "$(neg "$W/cc.tkn" /v1/consoles/taken/keytab)" = 401
t_grep "  ... logged" \
    "Negotiate login as svc-taken@$R maps to no identity: .*not the principal custody made for console taken" \
    "$W/d.log"
t_check "the domain's Administrator named by a console: 401" \
    test "$(neg "$W/cc.adm" /v1/consoles/Administrator/keytab)" = 401
t_done
