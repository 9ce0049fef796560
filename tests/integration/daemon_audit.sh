#!/bin/sh
# tests/integration/daemon_audit.sh - custodyd sends no secret whose audit
# entry is not durable: with the state directory's file system full, the
# audit write of a secret read fails, the reply is 503 with no password,
# the service keeps serving, and once space is freed the same request
# gets the password and its audit entry. Mounts a small tmpfs (root).
. "$(dirname "$0")/lib.sh"
t_need_or_skip curl python3
D="$BUILD/custodyd"
[ -x "$D" ] || { t_skip daemon_audit.sh "custodyd is not built"; exit 77; }
if [ "$(id -u)" -ne 0 ]; then
	t_skip daemon_audit.sh "not root: needs a tmpfs mount"
	exit 77
fi
M="$TESTTMP/mnt"
DPID=
stop() { [ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; DPID=; t_untmpfs; }
t_tmpfs "$M" 8m || { t_fail "mount tmpfs"; t_done; }
trap stop EXIT
trap 'stop; exit 1' INT TERM HUP
S="$M/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
c init >/dev/null || { t_fail "init"; t_done; }
c device add dev1.corp.example >/dev/null
t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    { t_fail "custodyd starts"; t_done; }
DPID=$T_DPID PORT=$T_PORT
get() {
	curl -sS --max-time 90 --cacert "$S/ca/bundle.pem" \
	    --cert "$S/admin/admin.crt" --key "$S/admin/admin.key" \
	    -o "$W/body" -w '%{http_code}' \
	    "https://127.0.0.1:$PORT/v1/devices/dev1.corp.example/admin-password"
}
t_check "a secret read before: 200" test "$(get)" = 200
before=$(c audit list | grep -c 'password.show')
dd if=/dev/zero of="$M/filler" bs=4096 2>/dev/null
st=$(get)
t_check "disk full: the secret read is refused with 503 (got $st)" \
    test "$st" = 503
t_check "disk full: the reply has no password" sh -c \
    "! grep -q '\"password\"' '$W/body'"
t_grep "disk full: the reply is an error" '"error":"' "$W/body"
t_check "disk full: the service still answers" sh -c "curl -sS \
    --max-time 10 --cacert '$S/ca/bundle.pem' \
    https://127.0.0.1:$PORT/healthz | grep -q ok"
rm -f "$M/filler"
t_check "space freed: 200 again" test "$(get)" = 200
t_grep "space freed: the password" '"password":"' "$W/body"
kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
t_check "SIGTERM: exit 0" test $rc -eq 0
after=$(c audit list | grep -c 'password.show')
t_check "every password sent has its audit entry (2 reads audited)" \
    test "$after" -eq $((before + 1))
t_exit "audit verify" 0 c audit verify
t_done
