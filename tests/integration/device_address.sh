#!/bin/sh
# tests/integration/device_address.sh - the registry's device address
# (HOST[:PORT], where custody connects instead of the FQDN): device add
# --address, device set --address / --no-address, the import column, shown
# by device show and device list --json, validated strictly, audited.
. tests/integration/lib.sh

S="$TESTTMP/addr-state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }

t_exit "init" 0 c init
t_exit "device add --address" 0 c device add a1.corp.example \
	--address 127.0.0.1:20000
t_grep "device add prints the address" '^address +127\.0\.0\.1:20000$' \
	"$TESTTMP/out"
t_exit "device add without an address" 0 c device add a2.corp.example
t_exit "device show --json" 0 c --json device show a2.corp.example
t_check "no address is null" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["address"] is not None)
EOF
for bad in "127.0.0.1:0" "host:65535" "host:" "[::1" "a b" "h:01" \
    "-x.example" "1.2.3"; do
	t_exit "address '$bad' refused" 2 c device add b.corp.example \
		--address "$bad"
done
t_exit "device set --address [::1]:8080" 0 c device set a2.corp.example \
	--address '[::1]:8080'
t_exit "device set on an unknown device" 4 c device set \
	nope.corp.example --address gw.corp.example
t_exit "device set with nothing to set" 2 c device set a2.corp.example
t_exit "device set a bad address" 2 c device set a2.corp.example \
	--address 'gw.corp.example:99999'
printf 'fqdn,address\ni1.corp.example,gw.corp.example:17000\ni2.corp.example,\n' \
	>"$TESTTMP/imp.csv"
t_exit "device import with an address column" 0 c device import \
	"$TESTTMP/imp.csv"
printf 'fqdn,address\ni3.corp.example,gw.corp.example:0\n' \
	>"$TESTTMP/bad.csv"
t_exit "import with a bad address refused" 2 c device import \
	"$TESTTMP/bad.csv"
t_grep "the error names the column, not the value" \
	'address \(field 2\): not an address' "$TESTTMP/err"
printf '[{"fqdn": "j1.corp.example", "address": "10.1.2.3"}]' \
	>"$TESTTMP/imp.json"
t_exit "JSON import with an address" 0 c device import "$TESTTMP/imp.json"
t_exit "device list --json" 0 c --json device list
t_check "list shows every address" py "$TESTTMP/out" <<'EOF'
import json, sys
got = {d["fqdn"]: d["address"] for d in json.load(open(sys.argv[1]))["devices"]}
sys.exit(got != {"a1.corp.example": "127.0.0.1:20000",
    "a2.corp.example": "[::1]:8080", "i1.corp.example": "gw.corp.example:17000",
    "i2.corp.example": None, "j1.corp.example": "10.1.2.3"})
EOF
t_exit "device set --no-address" 0 c --json device set a1.corp.example \
	--no-address
t_check "cleared" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(json.load(open(sys.argv[1]))["address"] is not None)
EOF
t_exit "audit list" 0 c audit list
t_grep "device.set audited with the address" \
	'device\.set.*a2\.corp\.example.*address \[::1\]:8080' "$TESTTMP/out"
t_grep "clearing audited" 'device\.set.*a1\.corp\.example.*address cleared' \
	"$TESTTMP/out"
t_done
