#!/bin/sh
# bench/verify.sh - `password verify` at N devices (default 100000: the
# design point): every secret (2 per device) unsealed and checked, whole
# process as an operator runs it. Prints wall, user and system time (the
# kernel share is what per-secret sodium_malloc regions cost: 4.4 s of
# 5.9-9.3 s before the per-thread secret pool, 0.01 s of 0.9-1.2 s after,
# on the 2-core CI machine). Median of 3 runs; nothing is asserted.
set -u
: "${CUSTODYCTL:?}"
N=${1:-100000}
T=$(mktemp -d /tmp/custody-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
c() { "$CUSTODYCTL" --state-dir "$T/s" "$@"; }
awk -v n="$N" 'BEGIN { print "fqdn"; for (i = 0; i < n; i++) printf "v%06d.fleet.example\n", i }' > "$T/f.csv"
c init > /dev/null && c device import "$T/f.csv" > /dev/null || {
	echo "verify: cannot set up $N devices"; exit 1; }
i=0
while [ $i -lt 3 ]; do
	/usr/bin/time -f "%e %U %S %M" "$CUSTODYCTL" --state-dir "$T/s" \
	    password verify 2>&1 >/dev/null | tail -1
	i=$((i + 1))
done | sort -n | sed -n 2p | awk -v n="$N" '{ printf "password verify, %d devices (%d secrets): %.2f s wall, %.2f s user, %.2f s system, peak RSS %d KiB (median of 3)\n", n, 2 * n, $1, $2, $3, $4 }'
