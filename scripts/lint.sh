#!/bin/sh
# scripts/lint.sh - static checks: banned functions, module layering
# (scripts/layers.sh), man page warnings (groff) and cppcheck.
set -u
cd "$(dirname "$0")/.."
rc=0
# Banned: unbounded or error-blind C library calls (curl checksrc style).
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|rand|srand)[[:space:]]*\('
hits=$(grep -nE "$banned" $(find src include tests bench -name '*.[ch]') 2>/dev/null \
	| grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$hits" ]; then
	echo "lint: banned functions (use snprintf, strtol via util_parse_long, randombytes):"
	echo "$hits"
	rc=1
fi
# Module layering (DESIGN.md): no include of a header from a layer above.
sh scripts/layers.sh >/dev/null || { sh scripts/layers.sh; rc=1; }
# Man pages: groff's mdoc warnings (an unclosed list, a bad macro) are
# errors, so a page renders as written.
for m in man/*.[0-9]; do
	out=$(LC_ALL=C groff -mdoc -ww -z "$m" 2>&1)
	if [ -n "$out" ]; then
		echo "lint: $m: $out"
		rc=1
	fi
done
if command -v cppcheck >/dev/null 2>&1; then
	cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
	    --enable=warning,portability,performance \
	    --suppress=missingIncludeSystem -Iinclude -Isrc \
	    --include=scripts/cppcheck.h -D__GNUC__ \
	    src tests/unit bench tests/fuzz 2>&1 || rc=1
else
	echo "lint: cppcheck is not installed (make deps)"
	rc=1
fi
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
