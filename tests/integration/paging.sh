#!/bin/sh
# tests/integration/paging.sh - list commands over more than one page
# (OPS_LIST_MAX = 10000 items): the operations answer bounded pages and
# custodyctl follows the cursors to print everything, or one page with
# --limit and where to go on.
. "$(dirname "$0")/lib.sh"
t_need_or_skip sqlite3 python3
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
N=10050
py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $1" "$2"; }

t_exit "init" 0 c init
{ echo "fqdn,tags"; seq -f "h%05g.corp.example,lab" 1 $N; } > "$TESTTMP/many.csv"
t_exit "import $N devices" 0 c device import "$TESTTMP/many.csv"
t_exit "device list: all of them" 0 c device list
t_check "device list: $N lines and a header" test "$(wc -l < "$TESTTMP/out")" -eq $((N + 1))
t_check "device list: each once, in order" sh -c "tail -n +2 '$TESTTMP/out' | cut -d' ' -f1 | sort -c -u"
t_exit "device list --tag: all of them" 0 c device list --tag lab
t_check "device list --tag: $N lines and a header" test "$(wc -l < "$TESTTMP/out")" -eq $((N + 1))
t_exit "device list --json: all of them" 0 c --json device list
t_check "device list --json: one document, $N devices, next null" py 'assert len(d["devices"]) == '$N' and d["next"] is None' "$TESTTMP/out"
t_exit "device list --limit 3" 0 c device list --limit 3
t_check "one page and where to go on" test "$(tail -1 "$TESTTMP/out")" = "(more: --after h00003.corp.example)"
t_exit "device list --limit 2 --after" 0 c device list --limit 2 --after h00003.corp.example
t_grep "the next page" "^h00005.corp.example " "$TESTTMP/out"
t_exit "device list --limit 0: usage" 2 c device list --limit 0
t_exit "device list --limit 10001: usage" 2 c device list --limit 10001

entries=$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM audit")
t_exit "audit list: every entry" 0 c audit list
t_check "audit list: $entries lines" test "$(wc -l < "$TESTTMP/out")" -eq "$entries"
t_exit "audit list --json" 0 c --json audit list
t_check "audit list --json: $entries entries" py 'assert len(d["entries"]) == '"$entries"' and d["next"] is None' "$TESTTMP/out"
t_exit "audit list --after 10000" 0 c audit list --after 10000
t_check "audit list --after: the rest" test "$(wc -l < "$TESTTMP/out")" -eq $((entries - 10000))
t_exit "audit list --limit 2 --after 5" 0 c audit list --limit 2 --after 5
t_check "audit page and where to go on" test "$(tail -1 "$TESTTMP/out")" = "(more: --after 7)"
t_exit "audit list --limit 0: usage" 2 c audit list --limit 0

# cert list: the same, every page unless --limit (init made 4 certificates).
t_exit "cert list --all" 0 c cert list --all
t_check "cert list --all: 4 and a header, no hint" test "$(wc -l < "$TESTTMP/out")" -eq 5
t_exit "cert list --all --limit 1" 0 c cert list --all --limit 1
t_check "cert list: one and where to go on" test "$(sed -n '3p' "$TESTTMP/out")" = "(more: --after 1)"
t_exit "cert list --all --after 1" 0 c cert list --all --after 1
t_check "cert list --after: the other 3" test "$(wc -l < "$TESTTMP/out")" -eq 4

t_done
