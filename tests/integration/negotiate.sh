#!/bin/sh
# tests/integration/negotiate.sh - Negotiate (GSSAPI/SPNEGO) login to
# custodyd against a real MIT realm on loopback (lib_krb.sh): custody's
# HTTP/localhost service keytab in auth.negotiate_keytab; a console
# whose policy identity is {kerberos: svc-sec@REALM} kinits with the
# keytab custody made for it and reaches its own keytab endpoint with
# curl --negotiate, gets 403 on another console's and on admin routes;
# a principal of no console gets the public routes only (401 elsewhere,
# with WWW-Authenticate: Negotiate); a garbage or replayed token is a
# 401 (the replay cache custodyd's own, whatever KRB5RCACHE* say) and
# custodyd stays up; mutual TLS keeps working alongside; a
# service keytab readable by others is not used.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_krb.sh"
t_need_or_skip krb5kdc kadmind kdb5_util kadmin.local kinit klist curl python3
curl -V | grep -q 'GSS-API' || { t_skip "Negotiate" "curl without GSS-API"; t_done; }
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W/sccm"
c() { cc --state-dir "$S" "$@"; }
kl() { kadmin.local -r "$KRB_REALM" -q "$1" 2>&1; }
DPID=
krb_start "$TESTTMP/krb" || { t_fail "the test realm starts"; t_done; }
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; krb_stop' EXIT
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; krb_stop; exit 1' INT TERM
t_ok "the test realm starts (kdc $KRB_KDC_PORT)"
R=$KRB_REALM
# custodyd's replay cache is its own (DIR/negotiate.rcache2), whatever
# the environment says: these would turn krb5's default one off, or move
# it, and must not (a replayed token is refused below)
KRB5RCACHENAME="none:"; KRB5RCACHETYPE=none; KRB5RCACHEDIR="$TESTTMP/nodir"
export KRB5RCACHENAME KRB5RCACHETYPE KRB5RCACHEDIR

c init >/dev/null
# custody's own HTTP service principal and its keytab
kl "addprinc -randkey HTTP/localhost@$R" >/dev/null
kl "ktadd -k $W/http.keytab HTTP/localhost@$R" >/dev/null
# the keytab shared with another service of the host (ssh's host/)
kl "addprinc -randkey host/localhost@$R" >/dev/null
kl "ktadd -k $W/http.keytab host/localhost@$R" >/dev/null
chmod 0600 "$W/http.keytab"
# a principal no console has
kl "addprinc -randkey stranger@$R" >/dev/null
kl "ktadd -k $W/stranger.keytab stranger@$R" >/dev/null
# a principal of the realm custody manages that custody did not make
# (principal sync reports it foreign), named by a console's identity
kl "addprinc -randkey svc-taken@$R" >/dev/null
kl "ktadd -k $W/taken.keytab svc-taken@$R" >/dev/null
cat > "$S/custody.yaml" <<EOF
directory:
  mit:
    realm: $R
    kdc: 127.0.0.1:$KRB_KDC_PORT
    admin_server: 127.0.0.1:$KRB_KADMIN_PORT
    admin_principal: $KRB_ADMIN
    admin_password_file: $KRB_ADMIN_PWFILE
auth:
  negotiate_keytab: $W/http.keytab
EOF
t_exit "config check accepts auth.negotiate_keytab" 0 c config check
cat > "$W/p.yaml" <<EOF
version: 1
owner: sccm
directory: {type: mit, realm: $R}
consoles:
  sccm:
    identity: {certificate: "CN=sccm"}
    duties: [setup, power, inventory, redirection]
  sec:
    identity: {kerberos: "svc-sec@$R"}
    duties: [system-defense]
  aud:
    identity: {kerberos: "svc-aud@$R"}
    duties: [audit]
  taken:
    identity: {kerberos: "svc-taken@$R"}
    duties: [inventory]
EOF
c policy load "$W/p.yaml" >/dev/null 2>&1
t_exit "principal sync" 1 c principal sync
t_grep "  ... svc-taken is foreign" "^foreign +taken +svc-taken@$R" "$TESTTMP/out"
c keytab get sec -o "$W/sec.keytab" >/dev/null 2>&1
c keytab get aud -o "$W/aud.keytab" >/dev/null 2>&1
c console add sccm -o "$W/sccm" >/dev/null

t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    { t_fail "custodyd starts"; t_done; }
DPID=$T_DPID
U="https://localhost:$T_PORT"
neg() {	# neg CCACHE PATH [curl args]: status; body $W/body, head $W/head
	_cc=$1 _p=$2
	shift 2
	env KRB5CCNAME="FILE:$_cc" curl -sS --max-time 10 --cacert \
	    "$S/ca/bundle.pem" --negotiate -u : -o "$W/body" -D "$W/head" \
	    -w '%{http_code}' "$@" "$U$_p" 2>>"$W/curl.err"
}
env KRB5CCNAME="FILE:$W/cc.sec" kinit -k -t "$W/sec.keytab" "svc-sec@$R"
env KRB5CCNAME="FILE:$W/cc.str" kinit -k -t "$W/stranger.keytab" "stranger@$R"
env KRB5CCNAME="FILE:$W/cc.tkn" kinit -k -t "$W/taken.keytab" "svc-taken@$R"

t_check "no credentials: GET sec's keytab is 401" \
    test "$(curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" -o "$W/body" \
    -D "$W/head" -w '%{http_code}' "$U/v1/consoles/sec/keytab")" = 401
t_grep "  ... offering Negotiate" "^WWW-Authenticate: Negotiate" "$W/head"
t_check "svc-sec with Negotiate: its own keytab, 200" \
    test "$(neg "$W/cc.sec" /v1/consoles/sec/keytab)" = 200
t_exit "  ... and it is the keytab (kinit -kt)" 0 \
    env KRB5CCNAME="FILE:$W/cc.x" kinit -k -t "$W/body" "svc-sec@$R"
t_grep "  ... mutual authentication: a token in the reply" \
    "^WWW-Authenticate: Negotiate [A-Za-z0-9+/]" "$W/head"
t_check "svc-sec: another console's keytab is 403" \
    test "$(neg "$W/cc.sec" /v1/consoles/aud/keytab)" = 403
t_check "svc-sec: an admin route is 403" \
    test "$(neg "$W/cc.sec" /v1/devices)" = 403
t_grep "audit: keytab.get by console sec" "keytab.get +principal:svc-sec@$R" \
    "$(c audit list > "$W/audit"; echo "$W/audit")"
t_check "a principal of no console: sec's keytab is 401" \
    test "$(neg "$W/cc.str" /v1/consoles/sec/keytab)" = 401
t_check "  ... the public trust bundle is 200" \
    test "$(neg "$W/cc.str" /v1/trust/bundle)" = 200
t_grep "  ... logged" "Negotiate login as stranger@$R maps to no identity" \
    "$W/d.log"
# In the realm custody manages, a console's principal is the one custody
# made for it: the foreign svc-taken (whoever holds its keys, not custody)
# is not console taken, as its AMT ACL entries would not be either.
t_check "the foreign principal named by console taken: 401" \
    test "$(neg "$W/cc.tkn" /v1/consoles/taken/keytab)" = 401
t_grep "  ... logged: not the principal custody made" \
    "Negotiate login as svc-taken@$R maps to no identity: .*not the principal custody made for console taken" \
    "$W/d.log"
# a ticket for the other service of the keytab (what ssh's client sends
# to sshd, seen on the wire): not a login here
t_check "svc-sec with a ticket for host/localhost: 401" \
    test "$(neg "$W/cc.sec" /v1/consoles/sec/keytab --service-name host)" = 401
t_grep "  ... logged: not an HTTP/ service" \
    "Negotiate login refused: the ticket is for host/localhost@$R, not an HTTP/ service" \
    "$W/d.log"
t_check "a garbage token is 401" test "$(curl -sS --max-time 10 --cacert \
    "$S/ca/bundle.pem" -H 'Authorization: Negotiate YIIBAAAAAAAAAAAAAAAA' \
    -o /dev/null -w '%{http_code}' "$U/v1/consoles/sec/keytab")" = 401
t_check "a token that is not base64 is 401" test "$(curl -sS --max-time 10 \
    --cacert "$S/ca/bundle.pem" -H 'Authorization: Negotiate !!!' \
    -o /dev/null -w '%{http_code}' "$U/v1/consoles/sec/keytab")" = 401
t_check "two Authorization headers are 400" test "$(curl -sS --max-time 10 \
    --cacert "$S/ca/bundle.pem" -H 'Authorization: Negotiate AAAA' \
    -H 'Authorization: Negotiate AAAA' -o /dev/null -w '%{http_code}' \
    "$U/v1/trust/bundle")" = 400
# a token seen on the wire, sent again: the replay cache refuses it
env KRB5CCNAME="FILE:$W/cc.sec" curl -sv --max-time 10 --cacert \
    "$S/ca/bundle.pem" --negotiate -u : -o /dev/null \
    "$U/v1/consoles/sec/keytab" 2>&1 | tr -d '\r' |
    sed -n 's/^> Authorization: Negotiate //p' > "$W/token"
t_check "a token replayed is 401" sh -c "test -s '$W/token' && test \"\$(curl \
    -sS --max-time 10 --cacert '$S/ca/bundle.pem' -H \"Authorization: \
    Negotiate \$(cat '$W/token')\" -o /dev/null -w '%{http_code}' \
    '$U/v1/consoles/sec/keytab')\" = 401"
t_check "  ... with custodyd's own replay cache, 0600 in its directory" \
    test "$(stat -c %a "$S/negotiate.rcache2" 2>/dev/null)" = 600
t_check "custodyd is still up" kill -0 "$DPID"
t_check "mutual TLS alongside: sccm's certificate, GET sec's keytab 403" \
    test "$(curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" --cert \
    "$W/sccm/sccm.crt" --key "$W/sccm/sccm.key" -o /dev/null \
    -w '%{http_code}' "$U/v1/consoles/sec/keytab")" = 403
t_check "  ... the certificate wins over a Negotiate token" \
    test "$(env KRB5CCNAME="FILE:$W/cc.sec" curl -sS --max-time 10 --cacert \
    "$S/ca/bundle.pem" --cert "$W/sccm/sccm.crt" --key "$W/sccm/sccm.key" \
    --negotiate -u : -o /dev/null -w '%{http_code}' \
    "$U/v1/consoles/sec/keytab")" = 403
chmod 0644 "$W/http.keytab"
t_check "a service keytab readable by others is not used: 401" \
    test "$(neg "$W/cc.sec" /v1/consoles/sec/keytab)" = 401
t_grep "  ... saying why" "auth.negotiate_keytab: .*http.keytab" "$W/d.log"
chmod 0600 "$W/http.keytab"
kill "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
DPID=
t_done
