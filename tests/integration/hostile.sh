#!/bin/sh
# tests/integration/hostile.sh - hostile input end to end: crafted names
# cannot forge audit lines or reach the terminal as escapes, import errors
# never quote a value of a file with password columns, refused names and
# keys exit with the documented codes.
. "$(dirname "$0")/lib.sh"
t_need_or_skip openssl sqlite3
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
ESC=$(printf '\033')
# no_raw NAME FILE: FILE holds no ESC byte and no other C0 control but \n
no_raw() {
	if LC_ALL=C grep -q "$(printf '[\001-\011\013-\037\177]')" "$2"; then
		t_fail "$1 (raw control bytes in $2)"; cat -v "$2" | head -5
	else
		t_ok "$1"
	fi
}

t_exit "init" 0 c init
openssl req -new -newkey rsa:2048 -nodes -keyout "$TESTTMP/k.pem" \
    -subj /CN=h1.corp.example -out "$TESTTMP/h1.csr" 2>/dev/null

# A name with a newline and an ESC sequence: refused, audited, and shown
# escaped everywhere.
evil=$(printf 'x\n99 forged ok%s[2J' "$ESC")
t_exit "crafted name refused" 2 c cert sign "$evil" --csr "$TESTTMP/h1.csr"
no_raw "error message has no raw control bytes" "$TESTTMP/err"
t_check "error message is one line" test "$(wc -l < "$TESTTMP/err")" -eq 1
t_grep "error shows the escapes" 'x\\n99 .*ok\\x1b\[2J' "$TESTTMP/err"
t_exit "device add crafted name refused" 2 c device add "$evil"
no_raw "device add error has no raw control bytes" "$TESTTMP/err"
t_exit "audit list" 0 c audit list
no_raw "audit list has no raw control bytes" "$TESTTMP/out"
t_check "audit list: one line per entry" test "$(wc -l < "$TESTTMP/out")" -eq "$(grep -c '^[0-9]* 20' "$TESTTMP/out")"
t_check "no forged entry 99" sh -c "! grep -q '^99 ' '$TESTTMP/out'"
t_grep "the refusal is listed escaped" 'cert.sign x\\n99 .*\\x1b\[2J refused' "$TESTTMP/out"
t_exit "audit list --json" 0 c --json audit list
no_raw "audit list --json has no raw control bytes" "$TESTTMP/out"
# Not UTF-8: refused and listed escaped, never an error of the listing.
t_exit "invalid UTF-8 name refused" 2 c cert sign "$(printf 'bad\377.example')" --csr "$TESTTMP/h1.csr"
t_grep "invalid UTF-8 shown escaped" 'bad\\xff' "$TESTTMP/err"
t_exit "audit list with invalid UTF-8 object" 0 c --json audit list
t_grep "invalid UTF-8 object listed escaped" 'bad\\\\xff' "$TESTTMP/out"

# Addresses and numbers are not host names: as device names or in CSRs.
t_exit "device add 10.0.0.1 refused" 2 c device add 10.0.0.1
t_exit "device add 12345.678 refused" 2 c device add 12345.678
t_exit "device add h1.corp.example" 0 c device add h1.corp.example
openssl req -new -key "$TESTTMP/k.pem" -subj /CN=h1.corp.example \
    -addext subjectAltName=DNS:h1.corp.example,DNS:10.0.0.1 \
    -out "$TESTTMP/ip.csr" 2>/dev/null
t_exit "CSR asking for DNS:10.0.0.1 refused" 2 c cert sign h1.corp.example --csr "$TESTTMP/ip.csr"
t_grep "says it is not a host name" "not a host name" "$TESTTMP/err"
# Two requests in one PEM file: refused, not the first one signed.
cat "$TESTTMP/h1.csr" "$TESTTMP/h1.csr" > "$TESTTMP/two.csr"
t_exit "PEM with two CSRs refused" 2 c cert sign h1.corp.example --csr "$TESTTMP/two.csr"
t_grep "says there are two" "more than one block" "$TESTTMP/err"
t_exit "one CSR signed" 0 c cert sign h1.corp.example --csr "$TESTTMP/h1.csr" -o "$TESTTMP/h1.crt"

# Exit codes: input errors are 2, however they are found.
long=$(head -c 1000 /dev/zero | tr '\0' a)
t_exit "1000-character console name: exit 2" 2 c console add "$long" -o "$TESTTMP"
t_grep "says the bound" "1 to 64 characters" "$TESTTMP/err"
c audit list > "$TESTTMP/audit.txt"
t_grep "long console name refusal audited" "console.add console:a+ refused" "$TESTTMP/audit.txt"
t_exit "password rotate --tag 'bad tag': exit 2" 2 c password rotate --tag 'bad tag'
t_exit "password rotate --tag unknown: exit 4" 4 c password rotate --tag nosuchtag
# A CA key swapped in the database: the store is damaged, exit 5, audited.
S2="$TESTTMP/state2"
t_exit "init a second state" 0 cc --state-dir "$S2" init
t_exit "device add in it" 0 cc --state-dir "$S2" device add h1.corp.example
sqlite3 "$S2/custody.db" "UPDATE ca_key SET sealed = (SELECT sealed FROM ca_key WHERE role = 'root') WHERE role = 'issuing'"
t_exit "cert sign with a swapped CA key: exit 5" 5 cc --state-dir "$S2" cert sign h1.corp.example --csr "$TESTTMP/h1.csr" -o "$TESTTMP/sw.crt"
t_grep "says the store was altered" "damaged or was altered|was altered outside custody" "$TESTTMP/err"
t_check "nothing written" test ! -e "$TESTTMP/sw.crt"
cc --state-dir "$S2" audit list > "$TESTTMP/audit2.txt"
t_grep "the failure is audited" "cert.sign h1.corp.example failed .*(cannot be unsealed|ca_key\(gen=1, role=issuing\) was altered)" "$TESTTMP/audit2.txt"
t_exit "console add with a swapped CA key: exit 5" 5 cc --state-dir "$S2" console add con1 -o "$TESTTMP"
t_exit "audit still verifies" 0 cc --state-dir "$S2" audit verify

# Import files with passwords: a missing header or mixed-up columns put a
# password where a name is expected; no message quotes it.
pw='Sw4p!Secret#Pw'
printf 'h7.corp.example,%s\n' "$pw" > "$TESTTMP/nohdr.csv"
printf '%s,h7.corp.example\n' "$pw" > "$TESTTMP/nohdr2.csv"
printf 'admin_password,fqdn\nh7.corp.example,%s\n' "$pw" > "$TESTTMP/mixed.csv"
printf '[{"fqdn": "%s", "admin_password": "h7.corp.example"}]\n' "$pw" > "$TESTTMP/mixed.json"
for f in nohdr nohdr2 mixed; do
	t_exit "import $f.csv refused" 2 c device import "$TESTTMP/$f.csv"
	t_check "import $f.csv: no password in the output" sh -c "! grep -qF '$pw' '$TESTTMP/out' '$TESTTMP/err'"
done
t_grep "mixed-up columns named by column" 'line 2: fqdn \(field 2\)' "$TESTTMP/err"
t_exit "import mixed.json refused" 2 c device import "$TESTTMP/mixed.json"
t_check "import mixed.json: no password in the output" sh -c "! grep -qF '$pw' '$TESTTMP/out' '$TESTTMP/err'"
t_exit "import --json mixed.json refused" 2 c --json device import "$TESTTMP/mixed.json"
t_check "import --json: no password in the output" sh -c "! grep -qF '$pw' '$TESTTMP/out' '$TESTTMP/err'"
c audit list > "$TESTTMP/audit.txt"
t_check "audit holds no password" sh -c "! grep -qF '$pw' '$TESTTMP/audit.txt'"

t_done
