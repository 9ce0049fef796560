#!/bin/sh
# bench/directory.sh - N MIT service principals created through custody's
# kadm5 code (BUILD/bench/directory_client: one kadmind connection,
# create + randkey per principal, the keys returned as principal sync
# needs them) beside a loop of `kadmin.local -q "addprinc -randkey ..."`
# for the same N (a process per principal, straight on the KDC database,
# no keys returned). Both against the throwaway realm of
# tests/integration/lib_krb.sh. Rates and their ratio are reported,
# nothing is asserted.
#
#   sh bench/directory.sh            (BUILD from bench/run.sh)
#   DIR_PRINCIPALS=1000 sh bench/directory.sh
#
# The AD half (samba-tool user add vs custody's libldap code) is not
# here yet.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
CLIENT=$BUILD/bench/directory_client
N=${DIR_PRINCIPALS:-300}
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac

echo "bench directory: $N MIT principals, custody (kadm5) vs a kadmin.local loop"
if [ ! -x "$CLIENT" ]; then
	echo "bench directory: $CLIENT is missing (make $CLIENT)" >&2
	exit 1
fi
for t in krb5kdc kadmind kdb5_util kadmin.local python3; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "bench directory: skipped, $t is not installed (make deps)"
		exit 0
	fi
done
TESTTMP=$(mktemp -d /tmp/custody-bench-dir.XXXXXX)
export TESTTMP
. "$top/tests/integration/lib_krb.sh"
trap 'krb_stop; rm -rf "$TESTTMP"' EXIT
trap 'krb_stop; rm -rf "$TESTTMP"; exit 1' INT TERM
krb_start "$TESTTMP/krb" || { echo "bench directory: the realm did not start" >&2; exit 1; }

ct=$("$CLIENT" "$KRB_REALM" "127.0.0.1:$KRB_KDC_PORT" \
    "127.0.0.1:$KRB_KADMIN_PORT" "$KRB_ADMIN" "$KRB_ADMIN_PWFILE" custody "$N") ||
    { echo "bench directory: custody's run failed" >&2; exit 1; }

t0=$(date +%s.%N)
i=0
while [ $i -lt "$N" ]; do
	kadmin.local -r "$KRB_REALM" -q "addprinc -randkey loop-$i@$KRB_REALM" \
	    >/dev/null 2>&1 || { echo "bench directory: kadmin.local failed" >&2; exit 1; }
	i=$((i + 1))
done
t1=$(date +%s.%N)

python3 - "$N" "$ct" "$t0" "$t1" <<'PY'
import sys
n, ct, t0, t1 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
kt = t1 - t0
print(f"  custody kadm5 (remote, create + randkey): {n} in {ct:.2f} s, {n / ct:.0f} principals/s")
print(f"  kadmin.local loop (local addprinc):       {n} in {kt:.2f} s, {n / kt:.0f} principals/s")
print(f"  ratio custody / kadmin.local: {kt / ct:.1f}x")
PY
