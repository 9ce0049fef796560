#!/bin/sh
# tests/integration/import.sh - custodyctl device import end to end: CSV and
# JSON with adopted passwords and tags; bad or hostile input refused whole
# (exit 2), duplicates (exit 1), the line or entry named and no password
# echoed; tag selection of what was imported; and a disk that fills up in
# the middle of a large import (exit 5, nothing half-done). The disk-full
# case mounts a small tmpfs (root).
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
ndev() { c --json device list | j 'len(d["devices"])'; }
# t_refused NAME WANT FILE PATTERN [SECRET]: import FILE exits WANT, says
# PATTERN, never echoes SECRET nor a "near '...'" token, imports nothing.
t_refused() {
	_b=$(ndev)
	t_exit "$1" "$2" c device import "$3"
	[ -n "$4" ] && t_grep "$1: message" "$4" "$TESTTMP/err"
	if [ -n "${5:-}" ] && grep -qF -- "$5" "$TESTTMP/err" "$TESTTMP/out"; then
		t_fail "$1: message leaks the password"
		sed 's/^/    /' "$TESTTMP/err"
	fi
	if grep -q "near '" "$TESTTMP/err"; then
		t_fail "$1: message quotes the input"
		sed 's/^/    /' "$TESTTMP/err"
	fi
	t_check "$1: nothing imported" test "$(ndev)" = "$_b"
}

t_exit "init" 0 c init

# Good imports: adopted passwords kept, missing ones generated, tags from
# "a;b c" and from a JSON array, FQDNs stored lowercase.
cat > "$TESTTMP/ok.csv" <<'CSV'
fqdn,uuid,digest_realm,tags,admin_password,mebx_password
C1.Corp.Example,,,"lab;west east",Adm1n!pass,
"c2.corp.example",11111111-2222-3333-4444-555555555555,Digest:A4070000000000000000000000000000,west,,"M3bx#p ss"
CSV
t_exit "import CSV" 0 c device import "$TESTTMP/ok.csv"
t_grep "import CSV counts" "imported 2 devices" "$TESTTMP/out"
t_check "CSV: adopted admin password kept" test "$(c password show c1.corp.example)" = 'Adm1n!pass'
t_check "CSV: adopted mebx password kept" test "$(c password show c2.corp.example --kind mebx)" = 'M3bx#p ss'
t_check "CSV: missing password generated (24)" test "$(c password show c2.corp.example | tr -d '\n' | wc -c)" -eq 24
t_check "CSV: tags split on ; and spaces" test "$(c --json device show c1.corp.example | j '",".join(d["tags"])')" = "east,lab,west"
t_check "CSV: tag selection" test "$(c --json device list --tag west | j 'len(d["devices"])')" = 2
t_check "CSV: FQDN stored lowercase" test "$(c --json device show C1.CORP.EXAMPLE | j 'd["fqdn"]')" = c1.corp.example
t_check "CSV: uuid and realm" test "$(c --json device show c2.corp.example | j 'd["uuid"], d["digest_realm"]')" = "11111111-2222-3333-4444-555555555555 Digest:A4070000000000000000000000000000"
cat > "$TESTTMP/ok.json" <<'JSON'
[{"fqdn": "J1.corp.example", "tags": ["json", "x"], "admin_password": "Adm1n!json"},
 {"fqdn": "j2.corp.example", "tags": "json;y", "mebx_password": "B@ck\\sl4sh", "uuid": null}]
JSON
t_exit "import JSON" 0 c device import "$TESTTMP/ok.json"
t_grep "import JSON counts" "imported 2 devices" "$TESTTMP/out"
t_check "JSON: adopted password kept" test "$(c password show j1.corp.example)" = 'Adm1n!json'
t_check "JSON: escaped password kept" test "$(c password show j2.corp.example --kind mebx)" = 'B@ck\sl4sh'
t_check "JSON: tags from an array" test "$(c --json device show j1.corp.example | j '",".join(d["tags"])')" = "json,x"
t_check "JSON: tags from a string" test "$(c --json device show j2.corp.example | j '",".join(d["tags"])')" = "json,y"
printf 'fqdn,tags\ns1.corp.example,stdin\n' | c device import - >"$TESTTMP/out" 2>"$TESTTMP/err"
t_check "import from standard input" test "$(c --json device list --tag stdin | j 'len(d["devices"])')" = 1
t_check "five devices" test "$(ndev)" = 5

# Bad CSV: exit 2, the line named, nothing imported.
f="$TESTTMP/bad.csv"
printf 'fqdn,colour\nx.corp.example,red\n' > "$f"
t_refused "CSV unknown column" 2 "$f" "line 1: field 2 is not a column name"
printf 'fqdn,tags,fqdn\nx.corp.example,a,y.corp.example\n' > "$f"
t_refused "CSV duplicate column" 2 "$f" "line 1:"
printf 'uuid,tags\n,lab\n' > "$f"
t_refused "CSV no fqdn column" 2 "$f" "line 1:"
printf 'fqdn,tags\nx.corp.example,a\ny.corp.example,b,extra\n' > "$f"
t_refused "CSV wrong field count" 2 "$f" "line 3:"
printf 'fqdn,admin_password\nb1.corp.example,Adm1n!pass\nb2.corp.example,weakling\nb3.corp.example,\n' > "$f"
t_refused "CSV bad password" 2 "$f" "line 3:" "weakling"
printf 'fqdn,mebx_password\nb1.corp.example,"Sup3r:S3cr3t!"\n' > "$f"
t_refused "CSV forbidden character in a password" 2 "$f" "line 2:" "S3cr3t"
printf 'fqdn,tags\nb1.corp.example,"a\nb"\nbad_name.example,x\n' > "$f"
t_refused "CSV bad FQDN after a two-line field" 2 "$f" "line 4:"
printf 'fqdn,uuid,tags\n' > "$f"
t_refused "CSV header only" 2 "$f" "no devices"
printf 'fqdn\nd1.corp.example\nD1.Corp.Example\n' > "$f"
t_refused "CSV duplicate FQDN in the file" 1 "$f" "line 3:"
printf 'fqdn\nd1.corp.example\nC1.corp.example\n' > "$f"
t_refused "CSV FQDN already registered" 1 "$f" "line 3:"

# Malformed and hostile JSON: exit 2 (1 for a duplicate FQDN), the entry
# named, never a password nor jansson's quote of the input.
f="$TESTTMP/bad.json"
G='{"fqdn": "ok1.corp.example", "admin_password": "Adm1n!pass"}'
printf '{"fqdn": "x.corp.example"}' > "$f"
t_refused "JSON object root" 2 "$f" "array"
printf '[%s, "y.corp.example"]' "$G" > "$f"
t_refused "JSON non-object entry" 2 "$f" "entry 2:"
printf '[%s, {"fqdn": "y.corp.example", "tags": ["lab", 5]}]' "$G" > "$f"
t_refused "JSON non-string tag" 2 "$f" "entry 2:"
printf '[%s, {"fqdn": "y.corp.example", "colour": "red"}]' "$G" > "$f"
t_refused "JSON unknown key" 2 "$f" "entry 2: key 2 is not known"
printf '[%s, {"fqdn": "y.corp.example", "fqdn": "z.corp.example"}]' "$G" > "$f"
t_refused "JSON duplicate keys" 2 "$f" ""
printf '[%s, {"fqdn": {"name": "y.corp.example"}}]' "$G" > "$f"
t_refused "JSON nested object value" 2 "$f" "entry 2:"
printf '[%s, {"fqdn": "y.corp.example", "admin_password": 31415926}]' "$G" > "$f"
t_refused "JSON numeric password" 2 "$f" "entry 2:" "31415926"
printf '[%s, {"fqdn": "y.corp.example", "admin_password": "Sup3rS3cr3t!\\q"}]' "$G" > "$f"
t_refused "JSON invalid escape in a password" 2 "$f" "" "S3cr3t"
printf '[%s, {"fqdn": "y.corp.example", "admin_password": "Sup3rS3cr3t\001!"}]' "$G" > "$f"
t_refused "JSON control character in a password" 2 "$f" "" "S3cr3t"
printf '[%s, {"fqdn": "y.corp.example", "admin_password": "Sup3rS3cr3t' "$G" > "$f"
t_refused "JSON truncated inside a password" 2 "$f" "" "S3cr3t"
printf '[%s, {"fqdn": "y.corp.example"' "$G" > "$f"
t_refused "JSON truncated document" 2 "$f" ""
printf '[%s, {"fqdn": "y.corp.example", "admin_password": "weakling"}]' "$G" > "$f"
t_refused "JSON bad password" 2 "$f" "entry 2:" "weakling"
printf '[%s, {"fqdn": "OK1.corp.example"}]' "$G" > "$f"
t_refused "JSON duplicate FQDN" 1 "$f" "entry 2:"
t_check "five devices after the refusals" test "$(ndev)" = 5

# What was imported is selectable by tag; a tag nobody has is not found.
t_exit "rotate an imported tag" 0 c password rotate --tag west
t_grep "both west devices rotated" "(^|[^0-9])2 (secrets )?rotated" "$TESTTMP/out"
t_exit "rotate a tag no device has: exit 4" 4 c password rotate --tag nosuchtag
t_check "nothing pending outside the tag" test "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM secret WHERE state = 'pending'")" -eq 2
# Audit objects are the stored (lowercase) name, whatever was typed.
c password show C1.CORP.Example >/dev/null
c password confirm C2.Corp.Example --version 2 >/dev/null
t_check "audit objects are lowercase" test "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM audit WHERE object LIKE '%.corp.example' AND object <> lower(object)")" -eq 0
t_check "audit --object finds the show" test "$(c --json audit list --object c1.corp.example | j 'sum(1 for e in d["entries"] if e["action"] == "password.show")')" -ge 2
printf '%s\n' 'Adm1n!pass' 'Adm1n!json' 'M3bx#p ss' 'weakling' 'S3cr3t' > "$TESTTMP/pw.lst"
c --json audit list > "$TESTTMP/audit.json"
t_check "audit holds no password" sh -c "! grep -F -f '$TESTTMP/pw.lst' '$TESTTMP/audit.json'"
t_exit "audit verify" 0 c audit verify

# A disk that fills up during a large import: exit 5, the disk named, and
# afterwards (space freed) the store, secrets and audit chain are whole.
if [ "$(id -u)" -ne 0 ]; then
	t_skip "disk full during an import" "not root: it needs a tmpfs mount"
	t_done
fi
M="$TESTTMP/mnt"
mkdir -p "$M"
cleanup() {
	_i=0
	while mountpoint -q "$M" 2>/dev/null && [ $_i -lt 20 ]; do
		umount "$M" 2>/dev/null || sleep 0.2
		_i=$((_i + 1))
	done
	if mountpoint -q "$M" 2>/dev/null; then
		umount -l "$M" 2>/dev/null
	fi
	return 0
}
# EXIT cleans up on every way out; on a signal, clean up and stop there
# (a trap on INT alone would let the script run on).
trap 'cleanup' EXIT
trap 'cleanup; exit 129' HUP
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
if ! mount -t tmpfs -o size=6m tmpfs "$M" 2>"$TESTTMP/mount.err"; then
	t_skip "disk full during an import" "cannot mount a tmpfs: $(cat "$TESTTMP/mount.err")"
	t_done
fi
S="$M/state"
t_exit "init on a 6 MiB file system" 0 c init
printf 'fqdn,tags\nbase1.corp.example,base\nbase2.corp.example,base\n' > "$TESTTMP/base.csv"
t_exit "a first small import" 0 c device import "$TESTTMP/base.csv"
sqlite3 "$S/custody.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
awk 'BEGIN { print "fqdn,tags,admin_password"
	for (i = 0; i < 20000; i++)
		printf "full%05d.corp.example,bulk,Adm1n!pass%05d\n", i, i }' > "$TESTTMP/big.csv"
before=$(ndev)
audits=$(sqlite3 "$S/custody.db" 'SELECT COUNT(*) FROM audit')
avail=$(df -P -k "$M" | awk 'NR == 2 { print $4 }')
fill=$((avail - 300))
if [ "$fill" -gt 0 ]; then
	dd if=/dev/zero of="$M/filler" bs=1024 count="$fill" 2>/dev/null
fi
left=$(df -P -k "$M" | awk 'NR == 2 { print $4 }')
t_check "about 300 KiB left ($left KiB)" test "$left" -ge 200 -a "$left" -le 400
t_exit "disk full during the import: exit 5" 5 c device import "$TESTTMP/big.csv"
t_grep "disk full: message" "disk is full" "$TESTTMP/err"
t_grep "disk full: it filled during the import (a line named)" "line [0-9]+:" "$TESTTMP/err"
t_check "disk full: nothing on stdout" test ! -s "$TESTTMP/out"
grep -q '^imported' "$TESTTMP/out" && t_fail "disk full: claims an import"
rm -f "$M/filler"
t_check "disk full: device count unchanged" test "$(ndev)" = "$before"
t_check "disk full: no secret of the import stored" test "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM device WHERE fqdn LIKE 'full%'")" -eq 0
t_check "disk full: no import audit entries" test "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM audit WHERE object LIKE 'full%'")" -eq 0
t_exit "disk full: password verify afterwards" 0 c password verify
t_exit "disk full: audit verify afterwards" 0 c audit verify
t_check "disk full: audit grew only by the checks" test "$(sqlite3 "$S/custody.db" 'SELECT COUNT(*) FROM audit')" -ge "$audits"
t_check "disk full: the earlier devices' passwords read" test -n "$(c password show base1.corp.example)"
t_done
