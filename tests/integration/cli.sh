#!/bin/sh
# tests/integration/cli.sh - custodyctl end to end on a throwaway state:
# init, devices, import, passwords, rotation state machine, audit, --json.
. "$(dirname "$0")/lib.sh"
S="$TESTTMP/state"
c() { cc --state-dir "$S" "$@"; }
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

t_exit "init" 0 c init
t_exit "init refuses an existing state" 1 c init
t_grep "init says why" "already holds" "$TESTTMP/err"
t_check "master key is 0600" test "$(stat -c %a "$S/seal/master.key")" = 600
t_check "seal dir is 0700" test "$(stat -c %a "$S/seal")" = 700

t_exit "device add" 0 c device add Host1.Corp.Example --uuid 12345678-1234-1234-1234-123456789ABC --digest-realm Digest:A4070000000000000000000000000000 --tag lab --tag east
t_exit "device add normalises the FQDN" 0 c device show host1.corp.example
t_exit "duplicate device refused" 1 c device add host1.corp.example
t_exit "bad FQDN refused" 2 c device add "bad_name.example"
t_grep "bad FQDN message" "not a valid FQDN" "$TESTTMP/err"
t_exit "bad UUID refused" 2 c device add h9.corp.example --uuid nope
t_exit "bad realm refused" 2 c device add h9.corp.example --digest-realm Digest:XYZ
t_exit "unknown device: exit 4" 4 c device show nope.corp.example
t_exit "usage error: exit 2" 2 c device add
t_exit "unknown command: exit 2" 2 c frobnicate

# JSON output parses and carries the fields
c --json device show host1.corp.example > "$TESTTMP/show.json"
t_check "device show --json" test "$(j 'd["uuid"], d["tags"], d["digest_realm"]' < "$TESTTMP/show.json")" = "12345678-1234-1234-1234-123456789abc ['east', 'lab'] Digest:A4070000000000000000000000000000"

# Passwords: unique per device and kind, AMT-valid
c device add host2.corp.example --tag lab >/dev/null
a1=$(c password show host1.corp.example)
m1=$(c password show host1.corp.example --kind mebx)
a2=$(c password show host2.corp.example)
t_check "passwords differ per device and kind" test "$a1" != "$a2" -a "$a1" != "$m1"
t_check "default length 24" test "${#a1}" -eq 24
c device add host3.corp.example --password-length 8 >/dev/null
a3=$(c password show host3.corp.example)
t_check "--password-length 8" test "${#a3}" -eq 8

# Rotation: pending first, refused while pending, confirm, replace
t_exit "rotate one" 0 c password rotate host1.corp.example
t_grep "rotate reports pending" "v2 pending" "$TESTTMP/out"
t_exit "second rotate refused" 1 c password rotate host1.corp.example
t_grep "refusal says why" "still pending" "$TESTTMP/out"
p2=$(c password show host1.corp.example --pending)
t_check "pending differs from current" test "$p2" != "$a1"
t_check "current unchanged while pending" test "$(c password show host1.corp.example)" = "$a1"
t_exit "confirm a non-pending version refused" 1 c password confirm host1.corp.example --version 1
t_exit "replace pending" 0 c password rotate host1.corp.example --replace-pending
p3=$(c password show host1.corp.example --pending)
t_check "replacement is v3" test "$(c --json password show host1.corp.example --pending | j 'd["version"]')" = 3
t_check "replaced v2 kept as failed" test "$(c password show host1.corp.example --version 2)" = "$p2"
t_exit "confirm v3" 0 c password confirm host1.corp.example --version 3
t_check "v3 is current" test "$(c password show host1.corp.example)" = "$p3"
t_check "v1 kept, retired" test "$(c password show host1.corp.example --version 1)" = "$a1"
c --json password history host1.corp.example > "$TESTTMP/h.json"
t_check "history states" test "$(j '" ".join(v["kind"]+str(v["version"])+v["state"] for v in d["versions"])' < "$TESTTMP/h.json")" = "admin1retired admin2failed admin3current mebx1current"
printf '%s\n' "$a1" "$p2" "$p3" > "$TESTTMP/pw.lst"
t_check "history holds no values" sh -c "! grep -F -f '$TESTTMP/pw.lst' '$TESTTMP/h.json'"
t_exit "rotate by tag" 0 c password rotate --tag lab --kind mebx
t_grep "tag rotation count" "2 secrets rotated" "$TESTTMP/out"
t_exit "rotate a tag nobody has: exit 4" 4 c password rotate --tag no-such-tag
t_exit "rotate --all --kind all" 1 c password rotate --all --kind all
t_grep "bulk refusal counted" "refused" "$TESTTMP/out"
t_exit "rotate needs a selector" 2 c password rotate
t_exit "password verify" 0 c password verify

# Import: CSV with adopted passwords, all or nothing
cat > "$TESTTMP/ok.csv" <<'CSV'
fqdn,uuid,digest_realm,tags,admin_password,mebx_password
a1.corp.example,,,"lab;west",Adm1n!pass,
"a2.corp.example",11111111-2222-3333-4444-555555555555,,west,,M3bx#pass
CSV
t_exit "import CSV" 0 c device import "$TESTTMP/ok.csv"
t_check "adopted admin password kept" test "$(c password show a1.corp.example)" = 'Adm1n!pass'
t_check "adopted mebx password kept" test "$(c password show a2.corp.example --kind mebx)" = 'M3bx#pass'
t_check "missing one generated" test "$(c password show a2.corp.example | wc -c)" -eq 25
t_check "tags imported" test "$(c --json device list --tag west | j 'len(d["devices"])')" = 2
before=$(c --json device list | j 'len(d["devices"])')
cat > "$TESTTMP/bad.csv" <<'CSV'
fqdn,admin_password
b1.corp.example,Adm1n!pass
b2.corp.example,weak
b3.corp.example,
CSV
t_exit "bad CSV row aborts" 2 c device import "$TESTTMP/bad.csv"
t_grep "bad row has its line" "line 3" "$TESTTMP/err"
t_check "bad row message does not echo the password" sh -c "! grep -q weak '$TESTTMP/err'"
t_check "nothing imported" test "$(c --json device list | j 'len(d["devices"])')" = "$before"
printf 'fqdn,colour\nx.corp.example,red\n' > "$TESTTMP/col.csv"
t_exit "unknown column" 2 c device import "$TESTTMP/col.csv"
t_grep "unknown column by position" "field 2 is not a column name" "$TESTTMP/err"
printf 'fqdn\nd1.corp.example\nd1.corp.example\n' > "$TESTTMP/dup.csv"
t_exit "duplicate in file aborts" 1 c device import "$TESTTMP/dup.csv"
t_grep "duplicate line" "line 3" "$TESTTMP/err"
cat > "$TESTTMP/ok.json" <<'JSON'
[{"fqdn": "j1.corp.example", "tags": ["json", "x"]},
 {"fqdn": "j2.corp.example", "admin_password": "Adm1n!pass", "uuid": null}]
JSON
t_exit "import JSON" 0 c device import "$TESTTMP/ok.json"
t_check "JSON tags" test "$(c --json device list --tag json | j 'len(d["devices"])')" = 1
printf '[{"fqdn": "k1.corp.example"}, {"fqdn": 5}]' > "$TESTTMP/bad.json"
t_exit "bad JSON entry aborts" 2 c device import "$TESTTMP/bad.json"
t_grep "JSON entry number" "entry 2" "$TESTTMP/err"
printf '[{"fqdn": "k1.corp.example"' > "$TESTTMP/trunc.json"
t_exit "truncated JSON" 2 c device import "$TESTTMP/trunc.json"
t_exit "k1 not imported" 4 c device show k1.corp.example
sqlite3 "$S/custody.db" "UPDATE device SET fqdn = 'renamed.corp.example' WHERE fqdn = 'a1.corp.example'"
t_exit "a device renamed in the database does not open its secrets" 5 c password show renamed.corp.example
t_grep "and says the store was altered" "damaged or was altered" "$TESTTMP/err"
sqlite3 "$S/custody.db" "UPDATE device SET fqdn = 'a1.corp.example' WHERE fqdn = 'renamed.corp.example'"
t_check "renamed back, it opens again" test "$(c password show a1.corp.example)" = 'Adm1n!pass' 
head -c 70000000 /dev/zero > "$TESTTMP/huge.csv"
t_exit "oversized import refused" 2 c device import "$TESTTMP/huge.csv"
t_grep "size named" "over the limit" "$TESTTMP/err"

# Remove keeps history and revokes the device's certificates
mkdir -p "$TESTTMP/h2"
c cert issue host2.corp.example -o "$TESTTMP/h2" > /dev/null
h2serial=$(openssl x509 -in "$TESTTMP/h2/host2.corp.example.crt" -noout -serial | cut -d= -f2)
t_exit "remove" 0 c device remove host2.corp.example
t_grep "remove reports the revoked certificate" "1 certificates revoked" "$TESTTMP/out"
c ca crl --pem | openssl crl -noout -text > "$TESTTMP/crl.txt"
t_grep "the removed device's certificate is on the CRL" "Serial Number: $h2serial" "$TESTTMP/crl.txt"
t_grep "with reason cessationOfOperation" "Cessation Of Operation" "$TESTTMP/crl.txt"
t_exit "removed device is gone" 4 c device show host2.corp.example
t_check "history kept in the store" test "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM secret s JOIN device d ON d.id = s.device_id WHERE d.fqdn = 'host2.corp.example'")" -ge 2
t_exit "re-add after remove" 0 c device add host2.corp.example

# Audit
t_exit "audit verify" 0 c audit verify
c --json audit list > "$TESTTMP/audit.json"
t_check "audit records shows and rotations" test "$(j 'sum(1 for e in d["entries"] if e["action"] in ("password.show","password.rotate","password.confirm","device.import","device.add"))' < "$TESTTMP/audit.json")" -gt 10
echo 'Adm1n!pass' >> "$TESTTMP/pw.lst"
t_check "audit holds no password" sh -c "! grep -F -f '$TESTTMP/pw.lst' '$TESTTMP/audit.json'"
t_exit "audit list --object" 0 c audit list --object host1.corp.example
c password show HOST1.Corp.Example > /dev/null
t_check "audit objects are the stored name, whatever the case typed" test "$(c --json audit list --object host1.corp.example | j 'd["entries"][-1]["action"]')" = password.show
# audit verify sees one snapshot while other processes append; the
# readers must succeed too (a reader failing would append nothing and
# leave verify nothing to be fooled by): the subshell exits with the
# number of failed reads.
before=$(c audit list --object host1.corp.example | grep -c ' password.show ')
( i=0 f=0; while [ $i -lt 40 ]; do c password show host1.corp.example >/dev/null 2>&1 || f=$((f + 1)); i=$((i + 1)); done; exit $f ) &
bg=$!
bad=0; i=0
while [ $i -lt 10 ]; do c audit verify >/dev/null 2>&1 || bad=$((bad + 1)); i=$((i + 1)); done
wait $bg
bgrc=$?
t_check "audit verify is not fooled by concurrent appends ($bad false alarms)" test $bad -eq 0
t_check "every concurrent read succeeded ($bgrc failed)" test $bgrc -eq 0
t_check "and each was audited" test "$(c audit list --object host1.corp.example | grep -c ' password.show ')" -ge $((before + 40))
t_exit "status" 0 c status
t_exit "status --json" 0 c --json status
t_exit "init --force with bad CA options refused" 2 c init --force --leaf-days 20
t_check "and nothing was wiped" test "$(c --json device list | j 'len(d["devices"]) > 0')" = True
t_exit "ca rotate makes a second generation" 0 c ca rotate
t_check "generation 2 files exist" test -f "$S/ca/root-g2.pem"
t_exit "init --force" 0 c init --force
t_check "force starts over" test "$(c --json device list | j 'len(d["devices"])')" = 0
t_check "force removes the old CA's files" test ! -e "$S/ca/root-g2.pem"
t_check "force keeps a working CA" test -s "$S/ca/root-g1.pem" -a -s "$S/tls/server.crt"
rm -rf "$S"
c --json init > "$TESTTMP/init.json"
t_check "init --json parses, with the CA" test "$(j 'd["initialised"], d["ca"]["generations"][0]["state"]' < "$TESTTMP/init.json")" = "True active"
t_done
