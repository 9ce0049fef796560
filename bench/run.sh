#!/bin/sh
# bench/run.sh BUILD - run every benchmark: each BUILD/bench/<name> binary
# and each bench/<name>.sh script. Figures go to stdout; nothing is
# asserted (performance is reported, not tested).
set -u
BUILD=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
export BUILD CUSTODYCTL="$BUILD/custodyctl"
echo "custody benchmarks on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
for b in "$BUILD"/bench/*; do
	[ -x "$b" ] || continue
	# Load clients are tools of a bench script (api_client: bench/api.sh).
	case "$b" in *_client) continue ;; esac
	echo
	"$b" || echo "bench $(basename "$b") failed"
done
for s in bench/*.sh; do
	[ -f "$s" ] || continue
	case "$s" in */run.sh) continue ;; esac
	echo
	sh "$s" || echo "bench $s failed"
done
