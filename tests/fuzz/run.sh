#!/bin/sh
# tests/fuzz/run.sh BINDIR SECONDS - run every libFuzzer harness for SECONDS
# over its seed corpus (tests/fuzz/corpus/<name without fuzz_>/); new
# inputs go to a scratch directory, not into the repository.
set -u
BIN=$1
T=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
rc=0
for f in "$BIN"/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	seeds="$top/tests/fuzz/corpus/${name#fuzz_}"
	work=$(mktemp -d /tmp/custody-fuzz-corpus.XXXXXX)
	[ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null
	echo "fuzz: $name for ${T}s"
	if ! "$f" -max_total_time="$T" -max_len=65536 -timeout=10 \
	    -print_final_stats=0 "$work" > "$work.log" 2>&1; then
		tail -40 "$work.log"
		echo "fuzz: $name FAILED (log: $work.log)"
		rc=1
	else
		grep -E '^(#[0-9]+.*DONE|Done)' "$work.log" | tail -1
		rm -f "$work.log"
	fi
	rm -rf "$work"
done
exit $rc
