#!/bin/sh
# scripts/run.sh BUILD STATE - what `make run` does: initialise the state
# directory if absent, print how to reach the service, then run custodyd
# in the foreground on 127.0.0.1:8443 (Ctrl-C stops it; SIGTERM drains).
set -eu
BUILD=$1
STATE=$2
C="$BUILD/custodyctl"
LISTEN=${CUSTODY_LISTEN:-127.0.0.1:8443}
if [ ! -e "$STATE/custody.db" ]; then
	"$C" --state-dir "$STATE" init
else
	echo "using the existing custody state in $STATE"
fi
U="https://$LISTEN"
CURL="curl --cacert $STATE/ca/bundle.pem"
ADMIN="--cert $STATE/admin/admin.crt --key $STATE/admin/admin.key"
cat <<TXT

custody is ready in $STATE; custodyd starts below on $U
(Ctrl-C to stop). From another terminal:

  # the trust bundle and the CRL (public)
  $CURL $U/v1/trust/bundle
  $CURL $U/v1/trust/crl.pem
  # as the bootstrap admin (client certificate made by init)
  $CURL $ADMIN -H 'Content-Type: application/json' \\
      -d '{"fqdn":"host1.corp.example","tags":["lab"]}' $U/v1/devices
  $CURL $ADMIN $U/v1/devices
  $CURL $ADMIN $U/v1/devices/host1.corp.example/admin-password
  $CURL $ADMIN -X POST $U/v1/devices/host1.corp.example/rotate
  $CURL $ADMIN $U/v1/audit
  $CURL $ADMIN $U/metrics
  # any operation of custodyctl, as JSON
  $CURL $ADMIN -H 'Content-Type: application/json' -d '{}' $U/v1/ops/status

custodyctl keeps working on the same directory while the service runs
(local mode, like kadmin.local); what it changes, the service sees:

  $C --state-dir $STATE device list
  $C --state-dir $STATE audit verify

man -l man/custodyd.8 for the routes, limits and signals.

TXT
exec "$BUILD/custodyd" --state-dir "$STATE" --listen "$LISTEN"
