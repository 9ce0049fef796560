# tests/integration/lib_krb.sh - an MIT Kerberos realm for the tests
# (sourced after lib.sh): krb5kdc and kadmind of a realm made in a temp
# directory, listening on 127.0.0.1 only, on free non-default ports.
#
#   krb_start DIR [REALM]   make the realm in DIR (created), start both
#                           daemons, wait until kadmind answers a remote
#                           kadmin; returns 1 (log shown) when it cannot
#   krb_stop                stop both by the PIDs in their PID files
#                           (SIGTERM to both first, then wait; SIGKILL
#                           after 10 s); also run at exit
#
# After krb_start (all exported):
#   KRB_DIR KRB_REALM (default MIT.CUSTODY.TEST)
#   KRB_KDC_PORT KRB_KADMIN_PORT KRB_KPASSWD_PORT
#   KRB5_CONFIG       DIR/krb5.conf, the client profile (replaces
#                     /etc/krb5.conf for every krb5 tool and library)
#   KRB5_KDC_PROFILE  DIR/kdc.conf, for krb5kdc, kadmind, kdb5_util and
#                     kadmin.local
#   KRB5CCNAME        FILE:DIR/ccache
#   KRB_ADMIN         custody/admin@REALM (kadm5.acl: adilc, what custody
#                     needs; kadmin.local for anything else)
#   KRB_ADMIN_PWFILE  DIR/admin.pw, its password (0600)
#   KRB_ADMIN_KEYTAB  DIR/admin.keytab, its keys (0600)
# Passwords are generated and reach the tools on stdin, never in argv.
# Used by the MIT tests (mit_kadm.sh), the directory benchmark and the
# Negotiate tests.
: "${TESTTMP:?}"
# the daemons and kadmin.local live in /usr/sbin, not always on a user's PATH
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin; export PATH ;; esac

# A TCP and UDP port free on 127.0.0.1 now (a race with another process
# is caught by krb_start, which tries other ports).
krb_free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p))
print(p)'
}

krb_kpw() {	# a random password on stdout
	python3 -c 'import secrets; print(secrets.token_urlsafe(24))'
}

krb_stop() {
	_pids=""
	for _f in "$KRB_DIR/kdc.pid" "$KRB_DIR/kadmind.pid"; do
		[ -s "$_f" ] || continue
		_p=$(cat "$_f")
		# only our own daemon: the PID must still run that program
		case $(tr '\0' ' ' < "/proc/$_p/cmdline" 2>/dev/null) in
		*krb5kdc*|*kadmind*) kill -TERM "$_p" 2>/dev/null &&
		    _pids="$_pids $_p" ;;
		esac
		rm -f "$_f"
	done
	_n=0
	for _p in $_pids; do
		while kill -0 "$_p" 2>/dev/null && [ $_n -lt 100 ]; do
			sleep 0.1; _n=$((_n + 1))
		done
		kill -0 "$_p" 2>/dev/null && kill -KILL "$_p" 2>/dev/null
	done
	return 0
}

krb_write_conf() {
	cat > "$KRB_DIR/kdc.conf" <<EOF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$KRB_KDC_PORT
	kdc_tcp_listen = 127.0.0.1:$KRB_KDC_PORT
[realms]
	$KRB_REALM = {
		database_name = $KRB_DIR/db/principal
		key_stash_file = $KRB_DIR/db/stash
		acl_file = $KRB_DIR/kadm5.acl
		kdc_listen = 127.0.0.1:$KRB_KDC_PORT
		kdc_tcp_listen = 127.0.0.1:$KRB_KDC_PORT
		kadmind_listen = 127.0.0.1:$KRB_KADMIN_PORT
		kpasswd_listen = 127.0.0.1:$KRB_KPASSWD_PORT
		max_life = 10h
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
	}
[logging]
	kdc = FILE:$KRB_DIR/kdc.log
	admin_server = FILE:$KRB_DIR/kadmind.log
EOF
	cat > "$KRB_DIR/krb5.conf" <<EOF
[libdefaults]
	default_realm = $KRB_REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 1
[realms]
	$KRB_REALM = {
		kdc = 127.0.0.1:$KRB_KDC_PORT
		admin_server = 127.0.0.1:$KRB_KADMIN_PORT
		kpasswd_server = 127.0.0.1:$KRB_KPASSWD_PORT
	}
EOF
}

krb_start() {
	KRB_DIR=$1
	KRB_REALM=${2:-MIT.CUSTODY.TEST}
	KRB_ADMIN="custody/admin@$KRB_REALM"
	KRB_ADMIN_PWFILE=$KRB_DIR/admin.pw
	KRB_ADMIN_KEYTAB=$KRB_DIR/admin.keytab
	KRB5_CONFIG=$KRB_DIR/krb5.conf
	KRB5_KDC_PROFILE=$KRB_DIR/kdc.conf
	KRB5CCNAME=FILE:$KRB_DIR/ccache
	export KRB_DIR KRB_REALM KRB_ADMIN KRB_ADMIN_PWFILE KRB_ADMIN_KEYTAB \
	    KRB5_CONFIG KRB5_KDC_PROFILE KRB5CCNAME
	mkdir -p "$KRB_DIR/db" && chmod 0700 "$KRB_DIR" "$KRB_DIR/db" || return 1
	# dash runs EXIT traps only on a normal exit, hence the signals.
	trap krb_stop EXIT
	trap 'krb_stop; exit 1' INT TERM HUP
	_try=0
	while :; do
		_try=$((_try + 1))
		KRB_KDC_PORT=$(krb_free_port) KRB_KADMIN_PORT=$(krb_free_port)
		KRB_KPASSWD_PORT=$(krb_free_port)
		export KRB_KDC_PORT KRB_KADMIN_PORT KRB_KPASSWD_PORT
		rm -rf "$KRB_DIR/db"/* "$KRB_DIR"/*.pid
		krb_write_conf
		_mpw=$(krb_kpw)
		printf '%s\n%s\n' "$_mpw" "$_mpw" |
		    kdb5_util -r "$KRB_REALM" create -s >"$KRB_DIR/create.log" 2>&1 ||
		    { sed 's/^/    kdb5_util: /' "$KRB_DIR/create.log"; return 1; }
		_mpw=""
		_apw=$(krb_kpw)
		(umask 077; printf '%s\n' "$_apw" > "$KRB_ADMIN_PWFILE")
		printf '%s\n%s\n' "$_apw" "$_apw" | kadmin.local -r "$KRB_REALM" \
		    -q "addprinc $KRB_ADMIN" >"$KRB_DIR/admin.log" 2>&1 &&
		kadmin.local -r "$KRB_REALM" -q "ktadd -k $KRB_ADMIN_KEYTAB -norandkey $KRB_ADMIN" \
		    >>"$KRB_DIR/admin.log" 2>&1 ||
		    { sed 's/^/    kadmin.local: /' "$KRB_DIR/admin.log"; return 1; }
		chmod 0600 "$KRB_ADMIN_KEYTAB"
		# what custody needs, no more (custody.yaml(5)): add, delete,
		# inquire, list, change keys
		printf '%s adilc\n' "$KRB_ADMIN" > "$KRB_DIR/kadm5.acl"
		krb5kdc -r "$KRB_REALM" -P "$KRB_DIR/kdc.pid" &&
		    kadmind -r "$KRB_REALM" -P "$KRB_DIR/kadmind.pid" && break
		krb_stop
		[ $_try -lt 3 ] || { sed 's/^/    kdc: /' "$KRB_DIR"/*.log; return 1; }
	done
	# Ready once a remote kadmin round trip works (kadmind up, the KDC
	# answering its AS request).
	_n=0
	until kadmin -r "$KRB_REALM" -p "$KRB_ADMIN" -k -t "$KRB_ADMIN_KEYTAB" \
	    -s "127.0.0.1:$KRB_KADMIN_PORT" -q "getprinc $KRB_ADMIN" \
	    >"$KRB_DIR/ready.log" 2>&1; do
		_n=$((_n + 1))
		if [ $_n -gt 100 ]; then
			sed 's/^/    kadmin: /' "$KRB_DIR/ready.log" "$KRB_DIR"/k*.log
			return 1
		fi
		sleep 0.1
	done
	return 0
}
