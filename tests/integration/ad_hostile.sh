#!/bin/sh
# tests/integration/ad_hostile.sh - account sync against a hostile LDAPS
# "domain controller" (tests/integration/fake_ldap.py, no Samba needed):
# custody bounds what it takes from the DC on its own side, whatever size
# limit the DC ignores (more than 10000 entries, more than 64 MiB for one
# search: refused, exit 1, the peak memory bounded), and never follows a
# referral; a ca_file missing, without a certificate or writable by others
# is named before anything is sent; a DC silent after the connect is given
# up within the connect timeout.
. tests/integration/lib.sh
t_need_or_skip python3 openssl

S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
W="$TESTTMP/w"
mkdir -p "$W"

# A CA and the fake DC's certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/ca.key" -out "$W/ca.pem" -days 1 -subj "/CN=fake DC CA" \
	2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/dc.key" -out "$W/dc.csr" -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$W/ext"
openssl x509 -req -in "$W/dc.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" \
	-CAcreateserial -days 1 -extfile "$W/ext" -out "$W/dc.pem" 2>/dev/null
printf 'fake-bind-Pass.w0rd' >"$W/bind.pw"
chmod 600 "$W/bind.pw"

t_exit "init" 0 c init
cat >"$TESTTMP/p.yaml" <<EOF
version: 1
owner: sccm
directory: {type: ad, realm: HOSTILE.TEST}
consoles:
  sccm:
    identity: {kerberos: "svc-sccm@HOSTILE.TEST"}
    duties: [power]
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"

fake_pid=
fake() {	# fake MODE ARG: (re)start the fake DC, custody.yaml pointing at it
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
	rm -f "$W/ready" "$W/log"
	python3 tests/integration/fake_ldap.py "$W/dc.pem" "$W/dc.key" \
	    "$W/ready" "$W/log" "$1" "$2" &
	fake_pid=$!
	t_wait_line "$W/ready" '^[0-9]'
	cat >"$S/custody.yaml" <<EOF
directory:
  ad:
    uri: ldaps://127.0.0.1:$(cat "$W/ready")
    ca_file: $W/ca.pem
    bind: custody@HOSTILE.TEST
    bind_password_file: $W/bind.pw
    base_dn: "OU=AMT,DC=hostile,DC=test"
    realm: HOSTILE.TEST
EOF
	chmod 600 "$S/custody.yaml"
}
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null' EXIT

# peak KIB: the peak resident size of the last command run by peak()
peak() { /usr/bin/time -f '%M' -o "$W/rss" "$@"; }

# A careless ca_file: named, with the fix, before any connection (libldap
# alone says only "Can't contact LDAP server").
fake flood 1
cp "$S/custody.yaml" "$W/good.yaml"
sed -i "s|ca_file: .*|ca_file: $W/nosuch.pem|" "$S/custody.yaml"
t_exit "ca_file missing: not found (exit 4)" 4 c account sync
t_grep "  ... naming it" "directory.ad ca_file $W/nosuch.pem: No such file" \
	"$TESTTMP/err"
sed -i "s|ca_file: .*|ca_file: $W/bind.pw|" "$S/custody.yaml"
t_exit "ca_file without a certificate: refused (exit 2)" 2 c account sync
t_grep "  ... saying so" "ca_file $W/bind.pw holds no PEM certificate" \
	"$TESTTMP/err"
cp "$W/ca.pem" "$W/loose-ca.pem"
chmod 0664 "$W/loose-ca.pem"
sed -i "s|ca_file: .*|ca_file: $W/loose-ca.pem|" "$S/custody.yaml"
t_exit "ca_file writable by the group: refused (exit 5)" 5 c account sync
t_grep "  ... saying why" "ca_file $W/loose-ca.pem must be .*not writable by group or others" \
	"$TESTTMP/err"
t_check "  ... nothing sent to the DC" test ! -s "$W/log"
cp "$W/good.yaml" "$S/custody.yaml"
t_exit "  ... the right ca_file connects (the fake DC's answer: exit 1)" 1 \
	c account sync --dry-run
t_grep "  ... bound" '^bind' "$W/log"

# 10050 entries for a search that asked for at most 10000.
fake flood 10050
t_exit "a DC flooding entries: refused (exit 1)" 1 c account sync
t_grep "  ... saying so" 'the directory sent more than 10000 entries for one search' \
	"$TESTTMP/err"
t_grep "  ... after the bind and a search" '^search DC=hostile,DC=test' \
	"$W/log"

# 60 entries of 3 MiB each: 180 MiB for one search.
fake huge 60
if [ -x /usr/bin/time ]; then
	t_exit "a DC sending huge entries: refused (exit 1)" 1 peak env \
	    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16" \
	    "$CUSTODYCTL" --state-dir "$S" account sync
	t_check "  ... custody held at most about 64 MiB of it (peak RSS $(tail -1 "$W/rss") KiB < 250 MiB)" \
	    test "$(tail -1 "$W/rss")" -lt 256000
else
	t_exit "a DC sending huge entries: refused (exit 1)" 1 c account sync
	t_skip "peak memory" "/usr/bin/time is not installed"
fi
t_grep "  ... saying so" 'the directory sent more than 64 MiB for one search' \
	"$TESTTMP/err"

# A referral to another server: not followed.
python3 tests/integration/fake_ldap.py plain "$W/other.ready" "$W/other.log" &
other_pid=$!
t_wait_line "$W/other.ready" '^[0-9]'
fake referral "ldaps://127.0.0.1:$(cat "$W/other.ready")/DC=hostile,DC=test"
t_exit "a referral: the sync stops (exit 1)" 1 c account sync
t_grep "  ... with the DC's answer" 'Referral \(LDAP 10\)' "$TESTTMP/err"
kill "$other_pid" 2>/dev/null
wait "$other_pid" 2>/dev/null
t_check "  ... and nothing connected to the server it named" \
	test ! -s "$W/other.log"
# A "DC" that accepts the connection and never answers the TLS
# handshake: refused within the connect timeout (10 s), without spinning
# (libldap's GnuTLS retried the read without waiting, forever).
python3 tests/integration/fake_ldap.py silent "$W/silent.ready" &
silent_pid=$!
t_wait_line "$W/silent.ready" '^[0-9]'
sed -i "s|uri: .*|uri: ldaps://127.0.0.1:$(cat "$W/silent.ready")|" \
	"$S/custody.yaml"
start=$(date +%s)
if [ -x /usr/bin/time ]; then
	t_exit "a DC silent after the connect: unavailable (exit 5)" 5 \
	    /usr/bin/time -f '%U %S' -o "$W/cpu" timeout 60 \
	    "$CUSTODYCTL" --state-dir "$S" account sync
	t_check "  ... using little CPU ($(tail -1 "$W/cpu") s user, system)" \
	    awk 'END { exit !($1 + $2 < 5) }' "$W/cpu"
else
	t_exit "a DC silent after the connect: unavailable (exit 5)" 5 \
	    timeout 60 "$CUSTODYCTL" --state-dir "$S" account sync
fi
t_check "  ... within the connect timeout ($(( $(date +%s) - start )) s)" \
	test $(( $(date +%s) - start )) -lt 30
t_grep "  ... saying the DC cannot be reached" "Can't contact LDAP server" \
	"$TESTTMP/err"
kill "$silent_pid" 2>/dev/null
wait "$silent_pid" 2>/dev/null
t_exit "nothing was recorded as made" 0 c --json account list
t_check "  ... (no object)" python3 -c '
import json, sys; sys.exit(json.load(open(sys.argv[1]))["objects"] != [])' \
	"$TESTTMP/out"
t_done
