#!/bin/sh
# tests/integration/secrets_on_disk.sh - no generated or adopted password
# appears in any file under the state directory (raw bytes, WAL included),
# nor in the audit log output.
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }

c init >/dev/null
i=0
while [ $i -lt 50 ]; do
	echo "fqdn"
	echo "d$i.corp.example"
	i=$((i + 1))
done | awk 'NR == 1 || $0 != "fqdn"' > "$TESTTMP/devs.csv"
c device import "$TESTTMP/devs.csv" >/dev/null
printf 'fqdn,admin_password,mebx_password\nadopt.corp.example,Ad0pted!Secret,Mebx0!Secret\n' > "$TESTTMP/a.csv"
c device import "$TESTTMP/a.csv" >/dev/null
c password rotate --all --kind all >/dev/null
: > "$TESTTMP/pws"
i=0
while [ $i -lt 50 ]; do
	for k in admin mebx; do
		c password show "d$i.corp.example" --kind $k >> "$TESTTMP/pws"
		c password show "d$i.corp.example" --kind $k --pending >> "$TESTTMP/pws"
	done
	i=$((i + 1))
done
echo 'Ad0pted!Secret' >> "$TESTTMP/pws"
echo 'Mebx0!Secret' >> "$TESTTMP/pws"
t_check "collected 202 passwords" test "$(sort -u "$TESTTMP/pws" | wc -l)" -eq 202
c audit list > "$TESTTMP/audit.txt"
# While the WAL still holds recent pages, and after a checkpoint.
found=$(find "$S" -type f -exec grep -l -a -F -f "$TESTTMP/pws" {} + 2>/dev/null)
t_check "no password in any state file (WAL live)" test -z "$found"
sqlite3 "$S/custody.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
found=$(find "$S" -type f -exec grep -l -a -F -f "$TESTTMP/pws" {} + 2>/dev/null)
t_check "no password in any state file (checkpointed)" test -z "$found"
t_check "no password in the audit log" sh -c "! grep -a -F -f '$TESTTMP/pws' '$TESTTMP/audit.txt'"
# the check itself can fail: a file holding one of them is found
head -n 1 "$TESTTMP/pws" > "$TESTTMP/plant"
t_check "the search finds a planted password" test -n "$(grep -l -a -F -f "$TESTTMP/pws" "$TESTTMP/plant")"
t_done
