#!/bin/sh
# bench/directory_ad.sh - the Active Directory half of bench/directory:
# N service accounts made by custody (account sync: per account a disabled
# add, the password, the enable, the SID read back, the group membership,
# two store transactions and the audit entries) beside a loop of
# `samba-tool user add` (one account with its password per process,
# written as an administrator on the DC does: straight into the DC's
# sam.ldb, no network) for the same N, against the same Samba AD DC on
# loopback
# (tests/integration/lib_ad.sh, in a private network namespace). Prints
# both times, accounts/s and the ratio. Nothing is asserted.
#
#   sh bench/directory_ad.sh              (BUILD, CUSTODYCTL from bench/run.sh)
#   AD_ACCOUNTS=500 sh bench/directory_ad.sh
#
# Needs root and unshare (Samba's ports are fixed); skipped otherwise.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-$top/build}
CUSTODYCTL=${CUSTODYCTL:-$BUILD/custodyctl}
N=${AD_ACCOUNTS:-100}
if [ -z "${TESTTMP:-}" ]; then
	TESTTMP=$(mktemp -d /tmp/custody-bench-ad.XXXXXX)
	export TESTTMP BENCH_AD_RM=$TESTTMP
fi
export BUILD CUSTODYCTL
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
echo "bench directory (AD): $N accounts via custody account sync beside $N samba-tool user add"
if ! t_need samba samba-tool; then
	echo "bench directory (AD): samba is not installed (make deps)"
	exit 0
fi
ad_start
trap 'ad_stop; [ -n "${BENCH_AD_RM:-}" ] && rm -rf "$BENCH_AD_RM"' EXIT

now() { date +%s.%N; }
S="$TESTTMP/state"
"$CUSTODYCTL" --state-dir "$S" init >/dev/null || exit 1
ad_config "$S"
{
	echo "version: 1"
	echo "owner: c00000"
	echo "directory: {type: ad, realm: $AD_REALM}"
	echo "consoles:"
	i=0
	while [ $i -lt "$N" ]; do
		n=$(printf '%05d' $i)
		echo "  c$n:"
		echo "    identity: {kerberos: \"bc$n@$AD_REALM\"}"
		echo "    duties: [power]"
		echo "    scope: {tags: [t$n]}"
		i=$((i + 1))
	done
} >"$TESTTMP/p.yaml"
"$CUSTODYCTL" --state-dir "$S" policy load "$TESTTMP/p.yaml" >/dev/null ||
	exit 1

t0=$(now)
"$CUSTODYCTL" --state-dir "$S" --json account sync >"$TESTTMP/sync.json" ||
	{ echo "bench directory (AD): account sync failed"; exit 1; }
t1=$(now)
made=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["accounts"]))' \
	"$TESTTMP/sync.json")
t2=$(now)
"$CUSTODYCTL" --state-dir "$S" --json account sync >"$TESTTMP/resync.json" ||
	{ echo "bench directory (AD): the re-sync failed"; exit 1; }
t3=$(now)

t4=$(now)
i=0
while [ $i -lt "$N" ]; do
	samba-tool user add "st$(printf '%05d' $i)" 'Bench-Pass.w0rd' \
	    -s "$AD_DIR/etc/smb.conf" --userou=OU=AMT >/dev/null 2>&1 ||
	    { echo "bench directory (AD): samba-tool user add failed"; exit 1; }
	i=$((i + 1))
done
t5=$(now)
python3 - "$N" "$made" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" <<'EOF'
import sys
n, made = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t2, t3, t4, t5 = map(float, sys.argv[3:9])
c, noop, s = t1 - t0, t3 - t2, t5 - t4
print("  custody account sync: %d accounts (+1 group, %d memberships) in %.2f s: %.1f accounts/s" % (made, made, c, made / c))
print("  re-sync with nothing to do: %.2f s" % noop)
print("  samba-tool user add loop: %d accounts in %.2f s: %.1f accounts/s" % (n, s, n / s))
print("  ratio: custody makes an account %.1fx as fast as samba-tool user add" % ((made / c) / (n / s)))
EOF
