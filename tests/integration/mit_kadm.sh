#!/bin/sh
# tests/integration/mit_kadm.sh - the consoles' MIT Kerberos principals
# against a real krb5kdc + kadmind on loopback (lib_krb.sh): principal
# sync creates what the policy says (dry run first: nothing), the keytab
# custody hands out gets a ticket with kinit -kt, a principal custody did
# not create is neither adopted nor deleted, rotation keeps the previous
# kvno in the keytab during keytab_grace (a ticket issued before the
# rotation still decrypts) and drops it after, a console the policy drops
# loses its principal and keytab, so does a revoked console (and sync
# does not make it again), keytab get through custodyd is that
# console's or an admin's only (403 for another console), and the
# configuration is refused when malformed or its password file is loose.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_krb.sh"
t_need_or_skip krb5kdc kadmind kdb5_util kadmin.local kinit klist kvno python3
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W/sec" "$W/aud"
c() { cc --state-dir "$S" "$@"; }
kl() { kadmin.local -r "$KRB_REALM" -q "$1" 2>&1; }
DPID=
krb_start "$TESTTMP/krb" || { t_fail "the test realm starts"; t_done; }
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; krb_stop' EXIT
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; krb_stop; exit 1' INT TERM
t_ok "the test realm starts (kdc $KRB_KDC_PORT, kadmind $KRB_KADMIN_PORT)"
R=$KRB_REALM

c init >/dev/null
conf() {	# conf [password|keytab] [GRACE]
	_cred="admin_password_file: $KRB_ADMIN_PWFILE"
	[ "${1:-password}" = keytab ] && _cred="admin_keytab: $KRB_ADMIN_KEYTAB"
	cat > "$S/custody.yaml" <<EOF
directory:
  mit:
    realm: $R
    kdc: 127.0.0.1:$KRB_KDC_PORT
    admin_server: 127.0.0.1:$KRB_KADMIN_PORT
    admin_principal: $KRB_ADMIN
    $_cred
    keytab_grace: ${2:-1h}
EOF
}

# ---- configuration ----
cat > "$S/custody.yaml" <<EOF
directory:
  mit:
    realm: $R
    admin_principal: custody/admin
    admin_password_file: relative.pw
    keytab_grace: forever
EOF
t_exit "config check refuses a malformed directory.mit" 2 c config check
t_grep "  ... at file:line:col: relative path" \
    'custody.yaml:5:26: .admin_password_file. of directory.mit must be an absolute path' \
    "$TESTTMP/err"
t_grep "  ... and the duration" 'custody.yaml:6:19: .keytab_grace.' \
    "$TESTTMP/err"
cat > "$S/custody.yaml" <<EOF
directory:
  mit:
    realm: $R
    admin_principal: custody/admin
    admin_keytab: /k
    admin_keytab: /k2
EOF
t_exit "config check refuses a duplicate key" 2 c config check
t_grep "  ... named at its line" 'custody.yaml:6:5: duplicate key' "$TESTTMP/err"
cat > "$S/custody.yaml" <<EOF
directory:
  mit:
    realm: $R
    admin_principal: custody/admin@OTHER.REALM
    admin_keytab: /k
    kdc: 127.0.0.1:$KRB_KDC_PORT
EOF
t_exit "config check refuses the admin of another realm" 2 c config check
t_grep "  ... at its value" "custody.yaml:4:22: .*NAME@$R" "$TESTTMP/err"
printf 'directory:\n  mit:\n    realm: %s\n    unknown: 1\n' "$R" > "$S/custody.yaml"
t_exit "config check refuses an unknown key" 2 c config check
t_grep "  ... named" "custody.yaml:4:5: unknown key 'unknown'" "$TESTTMP/err"
conf
t_exit "config check accepts directory.mit" 0 c config check

cat > "$W/p1.yaml" <<EOF
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
  other:
    identity: {kerberos: "svc-other@CORP.EXAMPLE"}
    duties: [power]
  taken:
    identity: {kerberos: "svc-taken@$R"}
    duties: [inventory]
  tgs:
    identity: {kerberos: "krbtgt/EVIL.TEST@$R"}
    duties: [time]
  adm:
    identity: {kerberos: "ops/admin@$R"}
    duties: [agent-presence]
  anon:
    identity: {kerberos: "WELLKNOWN/ANONYMOUS@$R"}
    duties: [time]
EOF
t_exit "principal sync without a policy is refused" 1 c principal sync
t_grep "  ... saying why" "no usable policy" "$TESTTMP/err"
c policy load "$W/p1.yaml" >/dev/null 2>&1

# A principal someone else made: custody must leave it alone.
kl "addprinc -randkey svc-taken@$R" >/dev/null

# A wrong password: krb5's reason, never the password itself.
printf 'not-the-password\n' > "$W/wrong.pw"
chmod 0600 "$W/wrong.pw"
sed -i "s|$KRB_ADMIN_PWFILE|$W/wrong.pw|" "$S/custody.yaml"
t_exit "a wrong admin password is refused" 1 c principal sync
t_grep "  ... with krb5's reason" "kadm5 login as $KRB_ADMIN on kadmind .*: Incorrect password" \
    "$TESTTMP/err"
t_check "  ... not the password" sh -c "! grep -q not-the-password '$TESTTMP/err'"
conf
chmod 0644 "$KRB_ADMIN_PWFILE"
t_exit "a password file readable by others is refused" 5 c principal sync
t_grep "  ... saying so" "admin.pw.*(group|others)" "$TESTTMP/err"
chmod 0600 "$KRB_ADMIN_PWFILE"

t_exit "principal sync --dry-run" 1 c principal sync --dry-run
t_grep "  ... would create sec" "^create +sec +svc-sec@$R" "$TESTTMP/out"
t_grep "  ... and aud" "^create +aud +svc-aud@$R" "$TESTTMP/out"
t_grep "  ... reports the foreign one" "^foreign +taken" "$TESTTMP/out"
kl listprincs > "$W/princs"
t_check "  ... and creates nothing" sh -c "! grep -q svc-sec '$W/princs'"
t_check "  ... nor a keytab" test ! -e "$S/keytabs/sec.keytab"

# exit 1: the foreign principal is a failure worth a look
t_exit "principal sync creates the principals" 1 c principal sync
t_grep "  ... sec" "^create +sec +svc-sec@$R kvno 2" "$TESTTMP/out"
t_grep "  ... counts" "2 created, 0 deleted, 0 unchanged, 4 failed" "$TESTTMP/out"
t_grep "  ... never a krbtgt/ principal" "^error +tgs +krbtgt/EVIL.TEST@$R: custody makes no such principal" \
    "$TESTTMP/out"
t_grep "  ... nor an admin one" "^error +adm +ops/admin@$R: custody makes no such principal" \
    "$TESTTMP/out"
kl listprincs > "$W/princs"
# the anonymous principal (RFC 6112): made, it turns anonymous PKINIT on
# for the whole realm; RFC 6111's WELLKNOWN names are the realm's own
t_grep "  ... nor WELLKNOWN/ANONYMOUS" "^error +anon +WELLKNOWN/ANONYMOUS@$R: custody makes no such principal" \
    "$TESTTMP/out"
t_check "  ... none is in the realm" sh -c "! grep -Eq 'EVIL|ops/admin|WELLKNOWN' '$W/princs'"
t_check "  ... not the other realm's console" sh -c "! grep -q other '$TESTTMP/out'"
kl "getprinc svc-sec@$R" > "$W/getprinc"
t_grep "  ... in the realm (kadmin.local getprinc)" "Key: vno 2" "$W/getprinc"
kl "getprinc svc-taken@$R" > "$W/getprinc"
t_grep "  ... the foreign principal untouched" "Key: vno 1" "$W/getprinc"
t_check "  ... keytab dir 0700" test "$(stat -c %a "$S/keytabs")" = 700
t_check "  ... keytab 0600" test "$(stat -c %a "$S/keytabs/sec.keytab")" = 600
conf keytab
t_exit "principal sync again, with the admin keytab" 1 c principal sync
t_grep "  ... is a no-op" "0 created, 0 deleted, 2 unchanged, 4 failed" \
    "$TESTTMP/out"
conf

t_exit "keytab get sec" 0 c keytab get sec -o "$W/sec.keytab"
t_check "  ... written 0600" test "$(stat -c %a "$W/sec.keytab")" = 600
t_exit "  ... kinit -kt gets a ticket with it" 0 \
    kinit -k -t "$W/sec.keytab" "svc-sec@$R"
klist > "$W/klist" 2>&1
t_grep "  ... as svc-sec" "Default principal: svc-sec@$R" "$W/klist"
t_exit "keytab get --json" 0 c --json keytab get sec -o "$W/sec-json.keytab"
t_check "  ... says the console and the file, not the keys" python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
sys.exit(not (o["console"] == "sec" and o["file"] == sys.argv[2] and
    o["mode"] == "0600" and "keytab" not in o))' "$TESTTMP/out" "$W/sec-json.keytab"
t_check "  ... and the file is the keytab" cmp "$W/sec.keytab" "$W/sec-json.keytab"
t_exit "keytab get of a console without a principal" 4 c keytab get sccm -o "$W/x"
# sealed at rest: no keytab, no key and no principal name in the clear
t_exit "the keytab on disk is not a keytab (sealed)" 1 \
    klist -k "$S/keytabs/sec.keytab"
t_check "  ... holds no principal name in the clear" \
    sh -c "! grep -aq svc-sec '$S/keytabs/sec.keytab'"
# the first key of the plaintext keytab (the 32 bytes of an aes256 key)
klist -kK "$W/sec.keytab" | sed -n 's/.*(0x\([0-9a-f]*\)).*/\1/p' | head -1 \
    > "$W/key1"
t_check "  ... nor the key bytes" sh -c "test -s '$W/key1' && \
    ! od -An -tx1 -v '$S/keytabs/sec.keytab' | tr -d ' \\n' | \
    grep -q \"\$(cat '$W/key1')\""
cp "$S/keytabs/sec.keytab" "$W/sec.sealed"
cp "$S/keytabs/aud.keytab" "$S/keytabs/sec.keytab"
t_exit "another console's sealed keytab in sec's place is refused" 5 \
    c keytab get sec -o "$W/swapped"
t_grep "  ... saying so" "not sealed for console sec" "$TESTTMP/err"
t_check "  ... nothing written" test ! -e "$W/swapped"
cp "$W/sec.sealed" "$S/keytabs/sec.keytab"
# a plaintext keytab from before sealing is sealed on first touch
cp "$W/sec.keytab" "$S/keytabs/sec.keytab"
t_exit "a plaintext keytab left from before: keytab get works" 0 \
    c keytab get sec -o "$W/sec.migrated"
t_check "  ... the same keys" cmp "$W/sec.keytab" "$W/sec.migrated"
t_check "  ... and the file is sealed now" sh -c \
    "head -c 7 '$S/keytabs/sec.keytab' | grep -q CUSTKT1 && \
    ! grep -aq svc-sec '$S/keytabs/sec.keytab'"
t_grep "audit: keytab.get recorded" "keytab.get +principal:svc-sec@$R" \
    "$(c audit list > "$W/audit"; echo "$W/audit")"
t_grep "audit: principal.create recorded" "principal.create +principal:svc-aud@$R" \
    "$W/audit"

# ---- rotation ----
# A ticket for svc-sec issued now is encrypted in kvno 2's key.
kinit -k -t "$KRB_ADMIN_KEYTAB" "$KRB_ADMIN" >/dev/null 2>&1
t_exit "a service ticket for svc-sec before the rotation" 0 kvno "svc-sec@$R"
t_exit "principal rotate sec" 0 c principal rotate sec
t_grep "  ... kvno 3, kvno 2 kept" "kvno 3 \(kvno 2 stays in the keytab" \
    "$TESTTMP/out"
c keytab get sec -o "$W/sec2.keytab" >/dev/null 2>&1
klist -k "$W/sec2.keytab" > "$W/kt"
t_grep "  ... the keytab holds kvno 3" "^ +3 " "$W/kt"
t_grep "  ... and kvno 2" "^ +2 " "$W/kt"
t_exit "  ... kinit -kt with the rotated keytab" 0 \
    env KRB5CCNAME="FILE:$W/cc2" kinit -k -t "$W/sec2.keytab" "svc-sec@$R"
t_exit "  ... the ticket issued before still decrypts (kvno 2)" 0 \
    kvno -k "$W/sec2.keytab" "svc-sec@$R"
t_exit "  ... the old keytab alone no longer gets a ticket" 1 \
    env KRB5CCNAME="FILE:$W/cc3" kinit -k -t "$W/sec.keytab" "svc-sec@$R"
# past the grace period: kvno 2 leaves the keytab
t_exit "keytab get after the grace period" 0 \
    env CUSTODY_TEST_NOW=+7200 "$CUSTODYCTL" --state-dir "$S" keytab get sec \
    -o "$W/sec3.keytab"
klist -k "$W/sec3.keytab" > "$W/kt"
t_grep "  ... holds kvno 3" "^ +3 " "$W/kt"
t_check "  ... no longer kvno 2" sh -c "! grep -Eq '^ +2 ' '$W/kt'"
t_exit "  ... the ticket from before the rotation no longer decrypts" 1 \
    kvno -k "$W/sec3.keytab" "svc-sec@$R"
t_exit "principal rotate of an unknown console" 4 c principal rotate nobody

# ---- one change of the realm at a time ----
# A rotation stopped between its randkey and its keytab write; another
# rotation (or a sync) meanwhile would randkey again and the keytab last
# written would hold keys the realm no longer has: refused (exit 5).
CUSTODY_TEST_STOP_AT=mit-randkey "$CUSTODYCTL" --state-dir "$S" \
	principal rotate sec >"$W/rot1.out" 2>"$W/rot1.err" &
rpid=$!
t_wait_stopped $rpid
t_exit "a second rotation while one runs: refused (exit 5)" 5 \
	c principal rotate sec
t_grep "  ... saying another change is running" \
	'another principal sync, rotate or delete is running' "$TESTTMP/err"
t_exit "  ... so is a sync (exit 5)" 5 c principal sync
t_exit "  ... a dry run reads beside it" 1 c principal sync --dry-run
t_exit "  ... keytab get does not wait for it" 0 \
	c keytab get sec -o "$W/sec-during.keytab"
kill -CONT $rpid
wait $rpid
rc=$?
t_check "the first rotation finishes (exit 0, got $rc)" test $rc -eq 0
c keytab get sec -o "$W/sec4.keytab" >/dev/null 2>&1
t_exit "  ... its keytab gets a ticket (the realm's keys)" 0 \
	env KRB5CCNAME="FILE:$W/cc6" kinit -k -t "$W/sec4.keytab" "svc-sec@$R"
kl "getprinc svc-sec@$R" > "$W/getprinc"
t_grep "  ... one rotation only (kvno 4)" "Key: vno 4" "$W/getprinc"

# ---- keytab get through custodyd: that console or an admin ----
c console add sec -o "$W/sec" >/dev/null
c console add aud -o "$W/aud" >/dev/null
if t_need curl; then
	if t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2; then
		DPID=$T_DPID
		U="https://127.0.0.1:$T_PORT/v1/consoles"
		get() {	# get WHO CONSOLE: status; body in $W/body
			curl -sS --max-time 10 --cacert "$S/ca/bundle.pem" \
			    --cert "$W/$1/$1.crt" --key "$W/$1/$1.key" \
			    -o "$W/body" -D "$W/head" -w '%{http_code}' \
			    "$U/$2/keytab"
		}
		t_check "GET keytab of sec as sec: 200" test "$(get sec sec)" = 200
		t_grep "  ... application/octet-stream" \
		    "Content-Type: application/octet-stream" "$W/head"
		t_grep "  ... not cached" "Cache-Control: no-store" "$W/head"
		t_exit "  ... kinit -kt with it" 0 env KRB5CCNAME="FILE:$W/cc4" \
		    kinit -k -t "$W/body" "svc-sec@$R"
		t_check "GET keytab of sec as aud: 403" test "$(get aud sec)" = 403
		t_grep "  ... denied" '"error": *"denied"' "$W/body"
		t_check "remote keytab get as admin" sh -c "'$CUSTODYCTL' \
		    --server https://127.0.0.1:$T_PORT --cacert '$S/ca/bundle.pem' \
		    --cert '$S/admin/admin.crt' --key '$S/admin/admin.key' \
		    keytab get aud -o '$W/aud.keytab' 2>/dev/null && \
		    klist -k '$W/aud.keytab' | grep -q svc-aud"
		t_check "remote principal list and sync --dry-run as admin" sh -c \
		    "'$CUSTODYCTL' --server https://127.0.0.1:$T_PORT \
		    --cacert '$S/ca/bundle.pem' --cert '$S/admin/admin.crt' \
		    --key '$S/admin/admin.key' principal list | grep -q '^sec ' && \
		    '$CUSTODYCTL' --server https://127.0.0.1:$T_PORT \
		    --cacert '$S/ca/bundle.pem' --cert '$S/admin/admin.crt' \
		    --key '$S/admin/admin.key' principal sync --dry-run | \
		    grep -Eq '^keep +sec'"
		t_exit "remote principal sync as a console: not authorized" 3 \
		    "$CUSTODYCTL" --server "https://127.0.0.1:$T_PORT" \
		    --cacert "$S/ca/bundle.pem" --cert "$W/sec/sec.crt" \
		    --key "$W/sec/sec.key" principal sync
		kill "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
		DPID=
	else
		t_fail "custodyd starts"
	fi
else
	t_skip "keytab get through custodyd" "curl is not installed"
fi

# ---- crashes: the next sync finishes what was cut short ----
printf '  late:\n    identity: {kerberos: "svc-late@%s"}\n    duties: [event-log]\n' \
    "$R" >> "$W/p1.yaml"
c policy load "$W/p1.yaml" >/dev/null 2>&1
t_exit "a crash right after kadm5 create" 99 \
    env CUSTODY_TEST_CRASH_AT=mit-created "$CUSTODYCTL" --state-dir "$S" principal sync
kl "getprinc svc-late@$R" > "$W/getprinc"
t_grep "  ... left the principal in the realm" "Principal: svc-late@$R" "$W/getprinc"
t_exit "  ... the next sync finishes it (custody's: it was recorded first)" 1 \
    c principal sync
t_grep "  ... created, not foreign" "^create +late +svc-late@$R kvno 2" "$TESTTMP/out"
c keytab get late -o "$W/late.keytab" >/dev/null 2>&1
t_exit "  ... and its keytab works" 0 env KRB5CCNAME="FILE:$W/cc5" \
    kinit -k -t "$W/late.keytab" "svc-late@$R"
t_exit "a crash between randkey and the keytab write" 99 \
    env CUSTODY_TEST_CRASH_AT=mit-randkey "$CUSTODYCTL" --state-dir "$S" \
    principal rotate late
t_exit "  ... the keytab is behind the realm" 1 env KRB5CCNAME="FILE:$W/cc5" \
    kinit -k -t "$S/keytabs/late.keytab" "svc-late@$R"
t_exit "  ... the next sync gives new keys" 1 c principal sync
t_grep "  ... (rekey)" "^rekey +late +svc-late@$R kvno 4" "$TESTTMP/out"
c keytab get late -o "$W/late.keytab" >/dev/null 2>&1
t_exit "  ... and the keytab works again" 0 env KRB5CCNAME="FILE:$W/cc5" \
    kinit -k -t "$W/late.keytab" "svc-late@$R"
# A sync stopped after its 'creating' row and before kadm5 create, and
# someone else makes that principal meanwhile: it is theirs (the realm
# says who made it), not custody's half-made one. Before, the next sync
# took the "exists" answer for its own crash, ran randkey on it (their
# keys gone) and handed the keys out as the console's keytab; and a
# console leaving the policy then deleted it.
cp "$W/p1.yaml" "$W/p1-early.yaml"
printf '  early:\n    identity: {kerberos: "svc-early@%s"}\n    duties: [event-log]\n' \
    "$R" >> "$W/p1-early.yaml"
c policy load "$W/p1-early.yaml" >/dev/null 2>&1
t_exit "a crash right after the 'creating' row, before kadm5 create" 99 \
    env CUSTODY_TEST_CRASH_AT=mit-begun "$CUSTODYCTL" --state-dir "$S" principal sync
kl "getprinc svc-early@$R" > "$W/getprinc"
t_grep "  ... nothing in the realm yet" "does not exist" "$W/getprinc"
# (as another administrator of the realm: kadmin.local records it)
kadmin.local -r "$R" -p "other/admin@$R" -q "addprinc -randkey svc-early@$R" \
    >/dev/null 2>&1
kl "getprinc svc-early@$R" | grep -E '^(Key|Last modified)' > "$W/early.before"
t_exit "the next sync, the principal made by someone else meanwhile" 1 \
    c principal sync
t_grep "  ... reports it foreign" "^foreign +early +svc-early@$R" "$TESTTMP/out"
t_check "  ... does not finish it as its own" sh -c \
    "! grep -Eq '^create +early' '$TESTTMP/out'"
kl "getprinc svc-early@$R" | grep -E '^(Key|Last modified)' > "$W/early.after"
t_check "  ... its keys and modifier untouched (no randkey)" \
    cmp "$W/early.before" "$W/early.after"
t_exit "  ... keytab get early: none" 4 c keytab get early -o "$W/x"
t_exit "  ... the sync after: still foreign" 1 c principal sync
t_grep "  ... (reported again)" "^foreign +early +svc-early@$R" "$TESTTMP/out"
c policy load "$W/p1.yaml" >/dev/null 2>&1
t_exit "early leaves the policy" 1 c principal sync
kl "getprinc svc-early@$R" > "$W/getprinc"
t_grep "  ... its principal (not custody's) is not deleted" \
    "Principal: svc-early@$R" "$W/getprinc"
kl "delprinc -force svc-early@$R" >/dev/null
c policy load "$W/p1-early.yaml" >/dev/null 2>&1
t_exit "once it is gone, custody makes its own" 1 c principal sync
t_grep "  ... created" "^create +early +svc-early@$R kvno 2" "$TESTTMP/out"
c policy load "$W/p1.yaml" >/dev/null 2>&1
t_exit "  ... and deletes it when early leaves again" 1 c principal sync
t_grep "  ... (deleted)" "^delete +early +svc-early@$R" "$TESTTMP/out"
# the same window, and the console leaves the policy before the next sync
c policy load "$W/p1-early.yaml" >/dev/null 2>&1
t_exit "a crash after the 'creating' row again" 99 \
    env CUSTODY_TEST_CRASH_AT=mit-begun "$CUSTODYCTL" --state-dir "$S" principal sync
kadmin.local -r "$R" -p "other/admin@$R" -q "addprinc -randkey svc-early@$R" \
    >/dev/null 2>&1
c policy load "$W/p1.yaml" >/dev/null 2>&1
t_exit "  ... early leaves the policy: principal sync" 1 c principal sync
t_check "  ... deletes nothing" sh -c "! grep -Eq '^delete +early' '$TESTTMP/out'"
kl "getprinc svc-early@$R" > "$W/getprinc"
t_grep "  ... the principal someone else made is still there" \
    "Principal: svc-early@$R" "$W/getprinc"
t_grep "  ... audited: the row dropped, the principal left alone" \
    "principal.forget +principal:svc-early@$R" \
    "$(c audit list > "$W/audit"; echo "$W/audit")"
kl "delprinc -force svc-early@$R" >/dev/null

# ---- the policy drops a console: its principal goes ----
grep -v -e '^  aud:' -e 'svc-aud' -e 'duties: \[audit\]' "$W/p1.yaml" > "$W/p2.yaml"
c policy load "$W/p2.yaml" >/dev/null 2>&1
t_exit "principal sync after aud left the policy" 1 c principal sync
t_grep "  ... deletes svc-aud" "^delete +aud +svc-aud@$R" "$TESTTMP/out"
kl "getprinc svc-aud@$R" > "$W/getprinc"
t_grep "  ... gone from the realm" "does not exist" "$W/getprinc"
t_check "  ... and its keytab" test ! -e "$S/keytabs/aud.keytab"
kl "getprinc svc-taken@$R" > "$W/getprinc"
t_grep "  ... the foreign principal is still there" "Key: vno 1" "$W/getprinc"
t_exit "keytab get of the removed console" 4 c keytab get aud -o "$W/x"
c principal list > "$W/list"
t_check "principal list: sec only" sh -c "grep -q '^sec ' '$W/list' && \
    ! grep -q '^aud ' '$W/list'"
# ---- revocation: the console's principal goes, and stays gone ----
# (with a console Sec beside sec, whose principal is not the one to go
# first: the consoles were matched without case, Sec's first)
cp "$W/p2.yaml" "$W/p3.yaml"
printf '  Sec:\n    identity: {kerberos: "svc-twin@%s"}\n    duties: [power]\n' \
    "$R" >> "$W/p3.yaml"
c policy load "$W/p3.yaml" >/dev/null 2>&1
t_exit "principal sync with consoles sec and Sec" 1 c principal sync
t_grep "  ... creates Sec's" "^create +Sec +svc-twin@$R" "$TESTTMP/out"
t_exit "console revoke sec" 0 c --json console revoke sec
t_grep "  ... deletes its principal" '"principal": "deleted"' "$TESTTMP/out"
kl "getprinc svc-sec@$R" > "$W/getprinc"
t_grep "  ... gone from the realm" "does not exist" "$W/getprinc"
t_check "  ... and its keytab" test ! -e "$S/keytabs/sec.keytab"
t_exit "  ... keytab get sec: none" 4 c keytab get sec -o "$W/x"
t_exit "principal sync after the revocation" 1 c principal sync
t_check "  ... does not make it again" sh -c "! grep -q svc-sec '$TESTTMP/out'"
kl "getprinc svc-sec@$R" > "$W/getprinc"
t_grep "  ... still not in the realm" "does not exist" "$W/getprinc"
t_exit "audit verify" 0 c audit verify
krb_stop
t_exit "principal sync with the KDC down: unavailable" 5 c principal sync
t_grep "  ... saying so" "Cannot contact any KDC" "$TESTTMP/err"
t_done
