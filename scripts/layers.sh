#!/bin/sh
# scripts/layers.sh - the module layering of DESIGN.md ("Architecture"):
# a module under src/ includes only headers of lower layers, never one of a
# layer above it, nor another module's private header (src/MOD/*.h).
#
#   0 common                 3 cred ca policy config
#   1 store seal audit       5 api sched
#   2 state                  6 cli policytool daemon
#
# The state module composes a state directory from store, seal and audit,
# so it sits between them and the domain modules. Includes within one
# layer are listed below, each one allowed by name; a new one fails until
# it is added here with its reason. Prints each violation as
# FILE: includes HEADER (MODULE, layer N above MODULE, layer M); exit 1.
set -u
cd "$(dirname "$0")/.."

layer() {	# module -> layer
	case $1 in
	common) echo 0 ;;
	store|seal|audit) echo 1 ;;
	state) echo 2 ;;
	cred|ca|policy|config) echo 3 ;;
	amt|directory) echo 4 ;;
	api|sched) echo 5 ;;
	cli|policytool|daemon) echo 6 ;;
	*) echo 99 ;;
	esac
}

owner() {	# include/ header -> its module
	case $1 in
	err.h|log.h|util.h|csv.h|version.h|arena.h|ytree.h) echo common ;;
	job.h|scheduler.h) echo sched ;;
	ops.h) echo api ;;
	*) echo "${1%.h}" ;;
	esac
}

# Same-layer includes that are allowed: "module>module" with the reason.
same_layer_ok() {
	case $1 in
	"store>seal") ;;	# row MAC key: the seal module's secret type
	"audit>store") ;;	# the log is stored in the store
	"audit>seal") ;;	# secret type, the chain's keyed hash
	"ca>cred") ;;		# device lookups (cred_device_find)
	"api>sched") ;;		# operations start and show jobs
	*) return 1 ;;
	esac
}

rc=0
for f in src/*/*.c src/*/*.h; do
	[ -f "$f" ] || continue
	mod=${f#src/}; mod=${mod%%/*}
	ml=$(layer "$mod")
	for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		case $h in
		*/*) hm=${h%%/*}
			[ "$hm" = "$mod" ] && continue
			echo "$f: includes $h (the private header of $hm)"
			rc=1; continue ;;
		esac
		[ -f "include/$h" ] || continue	# the module's own private header
		hm=$(owner "$h")
		[ "$hm" = "$mod" ] && continue
		hl=$(layer "$hm")
		if [ "$hl" -gt "$ml" ]; then
			echo "$f: includes $h ($hm, layer $hl above $mod, layer $ml)"
			rc=1
		elif [ "$hl" -eq "$ml" ] && ! same_layer_ok "$mod>$hm"; then
			echo "$f: includes $h ($hm, the same layer as $mod; allow it in scripts/layers.sh with its reason)"
			rc=1
		fi
	done
done
[ $rc -eq 0 ] && echo "layers: clean"
exit $rc
