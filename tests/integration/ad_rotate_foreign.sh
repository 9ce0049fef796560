#!/bin/sh
# tests/integration/ad_rotate_foreign.sh - account rotate sets a password
# only on the object custody made: custody's account deleted and another
# object made at its DN by someone else (under the same name) is refused,
# its password and its password's kvno left as they were, no keytab made
# for it; once that object is gone, account sync makes custody's own.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba samba-tool ldapsearch ldapmodify python3
ad_start

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
st() { samba-tool "$@" -s "$AD_DIR/etc/smb.conf" >/dev/null 2>&1; }
t_exit "init" 0 c init
ad_config "$S"
ad_policy "$TESTTMP/p.yaml" sec:power
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"
t_exit "account sync" 0 c account sync
t_exit "keytab get sec" 0 c keytab get sec -o "$TESTTMP/kt1"

# someone deletes custody's account and makes their own at its DN, with
# the same sAMAccountName and a password of theirs
TPW=$(python3 -c 'import secrets; print("Aa1-" + secrets.token_urlsafe(18))')
t_check "custody's svc-sec deleted by someone" st user delete svc-sec
t_check "  ... and theirs made at CN=svc-sec" st user add svc-sec "$TPW" \
    --userou=OU=AMT
k0=$(ad_kvno svc-sec)
printf '%s' "$TPW" > "$TESTTMP/their.pw"
bind_theirs() {
	LDAPTLS_CACERT="$AD_CA" ldapsearch -LLL -H "$AD_URI" -x \
	    -D "CN=svc-sec,$AD_OU" -y "$TESTTMP/their.pw" \
	    -b "CN=svc-sec,$AD_OU" -s base dn >/dev/null 2>&1
}
t_check "  ... their password binds" bind_theirs

t_exit "account rotate sec: refused (exit 1)" 1 c account rotate sec
t_grep "  ... saying the object is not custody's" \
    "the object at CN=svc-sec,$AD_OU is not the one custody made" "$TESTTMP/err"
t_check "  ... their password still binds" bind_theirs
t_check "  ... its kvno unchanged ($k0)" test "$(ad_kvno svc-sec)" = "$k0"
c audit list > "$TESTTMP/audit"
t_check "  ... no password set in AD (audit)" sh -c \
    "! grep -Eq 'directory.rotate +svc-sec +ok +rotated' '$TESTTMP/audit'"
t_exit "account rotate --all: refused the same way" 1 c account rotate --all
t_check "  ... their password still binds" bind_theirs

t_check "their object deleted" st user delete svc-sec
t_exit "account sync makes custody's own again" 0 c account sync
t_exit "  ... and account rotate works on it" 0 c account rotate sec
t_done
