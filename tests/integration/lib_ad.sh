# tests/integration/lib_ad.sh - a Samba AD domain controller on loopback for
# the Active Directory tests (sourced after lib.sh).
#
# The facts and pitfalls this follows are in test-services.md (Samba 4.17 on
# Debian 12); the numbers in the comments are its pitfalls.
#
#   ad_netns "$@"   first thing in a script: re-run it in a private network
#                   namespace (unshare -n, loopback up), because Samba's
#                   LDAP, LDAPS and KDC ports are fixed (88, 389, 636: 8) and
#                   only one DC fits per namespace. Skips the script (77)
#                   when that cannot be done (not root, no unshare).
#   ad_start        provision (once per build, BUILD/ad-template, then a
#                   copy per script: 23), start `samba -i` in the background
#                   (its PID in AD_PID), wait until an LDAPS search that
#                   verifies the DC's certificate answers; stopped by PID
#                   when the script exits. Sets AD_DIR, AD_URI (ldaps),
#                   AD_STARTTLS_URI (ldap), AD_CA (the DC's CA, PEM),
#                   AD_BASE (the domain's DN), AD_OU (OU=AMT under it, made
#                   at provision), AD_REALM, AD_BIND (Administrator's UPN),
#                   AD_PWFILE (its password, a 0600 file), AD_PW.
#   ad_stop         stop the DC (SIGTERM, then SIGKILL after 10 s) by PID.
#   ad_search ARGS  ldapsearch bound as Administrator over LDAPS, verified.
#   ad_config STATE [extra YAML lines]  write STATE/custody.yaml's
#                   directory.ad for this DC.
#   ad_krb5_conf FILE  a krb5.conf for the DC's KDC (realm CUSTODY.TEST on
#                   127.0.0.1:88, no DNS: test-services.md pitfall 20).
#   ad_policy FILE CONSOLE:DUTY[,DUTY...][:TAG]...  a policy of those
#                   consoles (the first the owner), each with the Kerberos
#                   identity svc-CONSOLE@CUSTODY.TEST; with TAG, auth:
#                   kerberos and scope {tags: [TAG]} (Kerberos ACL entries:
#                   an AD device object for each device so tagged).
#   ad_kvno NAME    msDS-KeyVersionNumber of CN=NAME in AD_OU (a device
#                   object: NAME is the FQDN).
#   ad_krb_holds STATE FQDN KVNO  the device's AMT Kerberos settings
#                   (amtsim's GET /state, control_port) hold KeyVersion
#                   KVNO and the passphrase and RC4 key (NT hash computed
#                   here) of the object password custody shows
#                   (custodyctl account password, written to
#                   TESTTMP/pw.now), and AD takes that password (a simple
#                   bind as the object).
AD_REALM=CUSTODY.TEST
AD_DOMAIN=CUSTODY
AD_BASE="DC=custody,DC=test"
AD_OU="OU=AMT,$AD_BASE"
AD_BIND="Administrator@custody.test"
# Complex enough for the domain's default policy (15).
AD_PW='Adm1n-Pass.word'
AD_PID=

ad_netns() {
	if [ -n "${AD_NETNS:-}" ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1 ||
	    ! unshare -n true 2>/dev/null; then
		t_skip "${0##*/}" "a Samba DC needs root and unshare -n (its ports are fixed)"
		exit 77
	fi
	AD_NETNS=1 exec unshare -n sh -c 'ip link set lo up && exec sh "$0" "$@"' \
	    "$0" "$@"
}

# Write the template's smb.conf settings that keep everything in DIR and
# on loopback (4, 5, 6, 7, 9).
ad_provision() {	# ad_provision DIR
	_d=$1
	mkdir -p "$_d/etc" "$_d/run" "$_d/log" "$_d/tls"
	: >"$_d/etc/empty.conf"
	samba-tool domain provision -s "$_d/etc/empty.conf" \
	    --targetdir="$_d" --realm="$AD_REALM" --domain="$AD_DOMAIN" \
	    --host-name=dc1 --server-role=dc --dns-backend=NONE \
	    --adminpass="$AD_PW" \
	    --option="interfaces = lo" --option="bind interfaces only = yes" \
	    --option="pid directory = $_d/run" \
	    --option="winbindd socket directory = $_d/run/winbindd" \
	    --option="ncalrpc dir = $_d/run/ncalrpc" \
	    --option="ntp signd socket directory = $_d/run/ntp_signd" \
	    --option="log file = $_d/log/samba.log" \
	    --option="server services = ldap, cldap, kdc" \
	    --option="tls enabled = yes" \
	    --option="tls certfile = $_d/tls/dc.pem" \
	    --option="tls keyfile = $_d/tls/dc.key" \
	    --option="tls cafile = $_d/tls/ca.pem" \
	    >"$_d/log/provision.log" 2>&1 || return 1
	# No password ages (15): a template copied weeks later still works.
	samba-tool domain passwordsettings set -s "$_d/etc/smb.conf" \
	    -H "$_d/private/sam.ldb" --max-pwd-age=0 --min-pwd-age=0 \
	    >>"$_d/log/provision.log" 2>&1 || return 1
	samba-tool ou create "$AD_OU" -s "$_d/etc/smb.conf" \
	    -H "$_d/private/sam.ldb" >>"$_d/log/provision.log" 2>&1 || return 1
	# Samba's own certificate has no SAN: a CA of the test's own and a
	# certificate for dc1, localhost, 127.0.0.1 and ::1 (10).
	(
		cd "$_d/tls" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout ca.key -out ca.pem -days 3650 \
		    -subj "/CN=custody test AD CA" 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout dc.key -out dc.csr -subj "/CN=dc1.custody.test" \
		    2>/dev/null &&
		printf 'subjectAltName=DNS:dc1.custody.test,DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' >ext &&
		openssl x509 -req -in dc.csr -CA ca.pem -CAkey ca.key \
		    -CAcreateserial -out dc.pem -days 3650 -extfile ext \
		    2>/dev/null &&
		chmod 0600 dc.key ca.key	# else the LDAP task fails (10)
	) || return 1
}

# The template, made once per build directory under a lock (another
# script may be making it) and renamed into place whole.
ad_template() {
	AD_TEMPLATE=${AD_TEMPLATE:-$BUILD/ad-template}
	[ -f "$AD_TEMPLATE/etc/smb.conf" ] && return 0
	mkdir -p "$(dirname "$AD_TEMPLATE")"
	(
		flock 9
		[ -f "$AD_TEMPLATE/etc/smb.conf" ] && exit 0
		_t="$AD_TEMPLATE.new.$$"
		rm -rf "$_t"
		if ! ad_provision "$_t"; then
			sed 's/^/    provision: /' "$_t/log/provision.log" 2>/dev/null | tail -20
			rm -rf "$_t"
			exit 1
		fi
		mv "$_t" "$AD_TEMPLATE"
	) 9>"$AD_TEMPLATE.lock"
}

ad_search() {
	LDAPTLS_CACERT="$AD_CA" LDAPTLS_REQCERT=demand ldapsearch -LLL -o ldif-wrap=no \
	    -H "$AD_URI" -x -D "$AD_BIND" -y "$AD_PWFILE" "$@"
}

ad_stop() {
	[ -n "$AD_PID" ] || return 0
	kill -TERM "$AD_PID" 2>/dev/null
	_n=0
	while kill -0 "$AD_PID" 2>/dev/null && [ $_n -lt 100 ]; do
		sleep 0.1; _n=$((_n + 1))
	done
	kill -KILL "$AD_PID" 2>/dev/null
	wait "$AD_PID" 2>/dev/null
	AD_PID=
}

ad_start() {
	if ! ad_template; then
		t_fail "provision a Samba AD DC"
		t_done
	fi
	AD_DIR="$TESTTMP/ad"
	if [ ! -d "$AD_DIR" ]; then
		cp -a "$AD_TEMPLATE" "$AD_DIR"
		sed -i "s|$AD_TEMPLATE.new.[0-9]*|$AD_DIR|g; s|$AD_TEMPLATE|$AD_DIR|g" \
		    "$AD_DIR/etc/smb.conf"
	fi
	AD_CA="$AD_DIR/tls/ca.pem"
	AD_URI="ldaps://127.0.0.1:636"
	AD_STARTTLS_URI="ldap://127.0.0.1:389"
	AD_PWFILE="$TESTTMP/ad-bind.pw"
	if [ ! -f "$AD_PWFILE" ]; then
		(umask 077; printf '%s' "$AD_PW" >"$AD_PWFILE")
	fi
	# in the script's process group: a test run killed whole takes it along
	samba -i -M single --no-process-group -s "$AD_DIR/etc/smb.conf" \
	    >"$AD_DIR/log/samba.out" 2>&1 &
	AD_PID=$!
	trap 'ad_stop' EXIT
	trap 'ad_stop; exit 1' INT TERM HUP
	_n=0
	until ad_search -s base -b "" dn >/dev/null 2>&1; do
		_n=$((_n + 1))
		if [ $_n -gt 300 ] || ! kill -0 "$AD_PID" 2>/dev/null; then
			t_fail "Samba AD DC ready (see below)"
			tail -20 "$AD_DIR/log/samba.out" | sed 's/^/    samba: /'
			t_done
		fi
		sleep 0.1
	done
}

# ad_config STATE [LINE...]: directory.ad for this DC, verified with its
# CA, bound as Administrator; each LINE (e.g. "    starttls: true") is
# appended to the block.
ad_config() {
	_s=$1; shift
	{
		echo "directory:"
		echo "  ad:"
		echo "    uri: $AD_URI"
		echo "    ca_file: $AD_CA"
		echo "    bind: $AD_BIND"
		echo "    bind_password_file: $AD_PWFILE"
		echo "    base_dn: \"$AD_OU\""
		echo "    realm: $AD_REALM"
		for _l; do echo "$_l"; done
	} >"$_s/custody.yaml"
	chmod 0600 "$_s/custody.yaml"
}

ad_krb5_conf() {
	cat >"$1" <<EOF
[libdefaults]
	default_realm = $AD_REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
[realms]
	$AD_REALM = {
		kdc = 127.0.0.1
	}
EOF
}

ad_kvno() {
	ad_search -b "CN=$1,$AD_OU" -s base msDS-KeyVersionNumber |
	    sed -n 's/^msDS-KeyVersionNumber: //p'
}

ad_krb_holds() {
	_pw=$("$CUSTODYCTL" --state-dir "$1" account password "$2") || return 1
	printf '%s' "$_pw" >"$TESTTMP/pw.now"
	_nt=$(printf '%s' "$_pw" | iconv -f ASCII -t UTF-16LE |
	    openssl dgst -md4 -binary -provider legacy -provider default |
	    base64)
	LDAPTLS_CACERT="$AD_CA" LDAPTLS_REQCERT=demand ldapsearch -LLL \
	    -H "$AD_URI" -x -D "CN=$2,$AD_OU" -y "$TESTTMP/pw.now" \
	    -b "CN=$2,$AD_OU" -s base dn >/dev/null 2>&1 || {
		echo "AD does not take the password of $2" >&2; return 1; }
	curl -s "http://127.0.0.1:$control_port/state?device=$2" \
	    >"$TESTTMP/dnow.json"
	python3 - "$TESTTMP/dnow.json" "$3" "$_nt" "$TESTTMP/pw.now" <<'EOF2'
import json, sys
k = json.load(open(sys.argv[1]))["kerberos"]
ok = (k["key_version"] == int(sys.argv[2]) and
      k["master_key"] == sys.argv[3] and
      k["passphrase"] == open(sys.argv[4]).read())
if not ok:
    print(k["key_version"], sys.argv[2], file=sys.stderr)
sys.exit(not ok)
EOF2
}

ad_policy() {
	_f=$1; shift
	{
		echo "version: 1"
		echo "owner: ${1%%:*}"
		echo "directory: {type: ad, realm: $AD_REALM}"
		echo "consoles:"
		for _p; do
			_n=${_p%%:*} _r=${_p#*:}
			_d=${_r%%:*}
			echo "  $_n:"
			echo "    identity: {kerberos: \"svc-$_n@$AD_REALM\"}"
			echo "    duties: [$(echo "$_d" | sed 's/,/, /g')]"
			if [ "$_r" != "$_d" ]; then
				echo "    auth: kerberos"
				echo "    scope: {tags: [${_r#*:}]}"
			fi
		done
	} >"$_f"
}
