#!/bin/sh
# scripts/deps.sh - install the Debian packages custody builds and tests with.
# Idempotent and quiet when everything is present; runs apt-get update once
# before installing; a policy-rc.d keeps package scripts from starting daemons.
set -eu
PKGS="build-essential pkg-config libssl-dev openssl libsodium-dev \
libsqlite3-dev sqlite3 libjansson-dev libyaml-dev libcmocka-dev \
gnutls-bin cppcheck groff-base clang libclang-rt-14-dev util-linux python3 coreutils \
python3-yaml python3-junitparser pre-commit git yamllint time \
libevent-dev libcurl4-openssl-dev libsystemd-dev curl nginx-light systemd \
libhttp-parser-dev libxml2-dev \
krb5-kdc krb5-admin-server krb5-user libkrb5-dev \
libldap-dev ldap-utils libsasl2-dev libsasl2-modules-gssapi-mit \
samba samba-ad-dc samba-ad-provision winbind"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
		|| missing="$missing $p"
done
# Commands that another package may provide (a node.js build that ships
# its own npm conflicts with Debian's npm): install only when absent.
# npm fetches the SARIF validator the policy tests run.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "deps: installing$missing"
prc=/usr/sbin/policy-rc.d
had_prc=0
[ -e "$prc" ] && had_prc=1
if [ $had_prc -eq 0 ]; then
	printf '#!/bin/sh\nexit 101\n' > "$prc"
	chmod 0755 "$prc"
fi
trap '[ $had_prc -eq 0 ] && rm -f "$prc"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
