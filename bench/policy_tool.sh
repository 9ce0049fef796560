#!/bin/sh
# bench/policy_tool.sh - custody-policy as CI runs it: whole processes on
# a generated 1,000-console policy (215 KiB), side by side in one run with
# the tools CI users compare it to: yamllint (a YAML linter that checks
# syntax and style only, no meaning) and `custodyctl policy check` (the
# same code in the full CLI), and for the review diff, GNU diff -u of the
# same two files (a text diff, no meaning). Median of 11 runs each;
# nothing is asserted.
set -u
: "${BUILD:?}"
CP="$BUILD/custody-policy"
GEN="$BUILD/bench/policy"
[ -x "$CP" ] && [ -x "$GEN" ] || { echo "policy_tool: build first"; exit 1; }
T=$(mktemp -d /tmp/custody-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$GEN" --emit 1000 > "$T/old.yaml"
"$GEN" --emit 1000 after > "$T/new.yaml"

# median wall time in ms of 11 runs of the command
med() {
	i=0
	while [ $i -lt 11 ]; do
		s=$(date +%s%N)
		"$@" >/dev/null 2>&1
		e=$(date +%s%N)
		echo $(((e - s) / 1000))
		i=$((i + 1))
	done | sort -n | sed -n 6p | awk '{printf "%.2f", $1 / 1000}'
}

c=$(med "$CP" check "$T/old.yaml")
x=$(med "$BUILD/custodyctl" policy check "$T/old.yaml")
echo "policy_tool: check 1000 consoles: custody-policy $c ms, custodyctl $x ms"
if command -v yamllint >/dev/null 2>&1; then
	y=$(med yamllint -d relaxed "$T/old.yaml")
	echo "policy_tool: yamllint -d relaxed on the same file: $y ms" \
	    "(custody-policy is $(echo "$y $c" | awk '{printf "%.1f", $1 / $2}')x faster," \
	    "with the meaning checked)"
else
	echo "policy_tool: yamllint not installed (make deps)"
fi
d=$(med "$CP" diff --format markdown "$T/old.yaml" "$T/new.yaml")
g=$(med diff -u "$T/old.yaml" "$T/new.yaml")
echo "policy_tool: review diff of 1000 consoles: custody-policy diff" \
    "--format markdown $d ms, diff -u $g ms" \
    "(ratio $(echo "$d $g" | awk '{printf "%.1f", $1 / $2}')x)"
