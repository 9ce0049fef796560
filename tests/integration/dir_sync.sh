#!/bin/sh
# tests/integration/dir_sync.sh - one command for the whole directory:
# `account sync` against a real Samba AD DC (lib_ad.sh) and a real MIT
# realm (lib_krb.sh) at once makes both the AD service accounts and the
# MIT principals the policy wants (the MIT half being principal sync's own
# code), says both in its output, is a no-op the second time, and works
# with either section alone; each console's keytab comes from its own
# realm.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba ldapsearch python3 krb5kdc kadmind kdb5_util kinit klist
. tests/integration/lib_krb.sh
ad_start
krb_start "$TESTTMP/krb" || { t_fail "the MIT test realm starts"; t_done; }
trap 'ad_stop; krb_stop' EXIT
trap 'ad_stop; krb_stop; exit 1' INT TERM HUP

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
MITP="svc-mit@$KRB_REALM"
mit_lines() {
	printf '%s\n' '  mit:' "    realm: $KRB_REALM" \
	    "    kdc: 127.0.0.1:$KRB_KDC_PORT" \
	    "    admin_server: 127.0.0.1:$KRB_KADMIN_PORT" \
	    "    admin_principal: $KRB_ADMIN" \
	    "    admin_password_file: $KRB_ADMIN_PWFILE"
}

t_exit "init" 0 c init
ad_config "$S"
mit_lines >>"$S/custody.yaml"
t_exit "config check: both sections" 0 c config check
printf '%s\n' 'version: 1' 'owner: sccm' \
	'directory: {type: ad, realm: CUSTODY.TEST}' 'consoles:' \
	'  sccm:' '    identity: {kerberos: "svc-sccm@CUSTODY.TEST"}' \
	'    duties: [setup, power]' \
	'  mitcon:' "    identity: {kerberos: \"$MITP\"}" \
	'    duties: [power]' >"$TESTTMP/p.yaml"
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"

t_exit "account sync --dry-run" 0 c account sync --dry-run
t_grep "dry run: the AD account" '^would add CN=svc-sccm,' "$TESTTMP/out"
t_grep "dry run: the MIT principal" "^create +mitcon +$MITP" "$TESTTMP/out"
t_exit "principal list after the dry run" 0 c principal list
t_check "dry run: no principal made" sh -c '! grep -q mitcon "$1"' _ \
	"$TESTTMP/out"

t_exit "account sync: both directories" 0 c --json account sync
cp "$TESTTMP/out" "$TESTTMP/sync.json"
t_check "the reply has the AD account and the MIT principal" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
acc = [a["name"] for a in r["accounts"]]
pr = [(i["console"], i["action"]) for i in r["principals"]["items"]]
sys.exit(not (acc == ["svc-sccm"] and pr == [("mitcon", "create")] and
              r["ok"] and r["principals"]["created"] == 1))' \
	"$TESTTMP/sync.json"
t_check "the MIT principal exists in the realm" sh -c \
	'kadmin.local -r "$1" -q "getprinc $2" 2>&1 | grep -q "^Principal: $2"' \
	_ "$KRB_REALM" "$MITP"
ad_search -b "CN=svc-sccm,$AD_OU" -s base dn >"$TESTTMP/acc.ldif" 2>&1
t_grep "the AD account exists in AD" '^dn: CN=svc-sccm' "$TESTTMP/acc.ldif"
t_exit "keytab get mitcon (MIT)" 0 c keytab get mitcon -o "$TESTTMP/mit.kt"
t_check "kinit -kt in the MIT realm" sh -c \
	'kinit -kt "$1" "$2" >/dev/null 2>&1' _ "$TESTTMP/mit.kt" "$MITP"
t_exit "keytab get sccm (AD)" 0 c keytab get sccm -o "$TESTTMP/ad.kt"
t_check "the AD keytab is the AD account's" sh -c \
	'klist -k "$1" | grep -q "svc-sccm@CUSTODY.TEST"' _ "$TESTTMP/ad.kt"
t_exit "keytab get of a console with neither" 4 c keytab get nosuch \
	-o "$TESTTMP/none.kt"

t_exit "re-sync" 0 c --json account sync
t_check "re-sync is a no-op in both" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["changes"] == 0 and r["principals"]["created"] == 0 and
              r["principals"]["unchanged"] == 1 and r["ok"]))' "$TESTTMP/out"

# The policy drops the MIT console: account sync deletes its principal
# (principal sync's rule), the AD side unchanged.
printf '%s\n' 'version: 1' 'owner: sccm' \
	'directory: {type: ad, realm: CUSTODY.TEST}' 'consoles:' \
	'  sccm:' '    identity: {kerberos: "svc-sccm@CUSTODY.TEST"}' \
	'    duties: [setup, power]' >"$TESTTMP/p2.yaml"
t_exit "policy load (mitcon gone)" 0 c policy load "$TESTTMP/p2.yaml"
t_exit "account sync" 0 c account sync
t_grep "the principal deletion is said" "^delete +mitcon +$MITP" "$TESTTMP/out"
t_check "the principal is gone from the realm" sh -c \
	'! kadmin.local -r "$1" -q "getprinc $2" 2>&1 | grep -q "^Principal:"' \
	_ "$KRB_REALM" "$MITP"

# Either section alone.
{ echo "directory:"; mit_lines; } >"$S/custody.yaml"
t_exit "policy load (mitcon back)" 0 c policy load "$TESTTMP/p.yaml"
t_exit "account sync with directory.mit only" 0 c account sync
t_grep "the principal is made" "^create +mitcon +$MITP" "$TESTTMP/out"
t_check "no LDAP change said" sh -c '! grep -q "^add CN=" "$1"' _ \
	"$TESTTMP/out"
printf 'log:\n  level: info\n' >"$S/custody.yaml"
t_exit "account sync with neither section: usage" 2 c account sync
t_grep "it says why" 'no directory\.ad or directory\.mit' "$TESTTMP/err"
t_done
