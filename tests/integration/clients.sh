#!/bin/sh
# tests/integration/clients.sh - client certificates beyond their first
# issue: staff add|list|revoke|renew, a console certificate whose subject
# is the policy's identity, console renew with a new key or a CSR (the old
# certificate superseded once the new one's key is delivered, or, with a
# CSR, once the new one is used), the renewal window in the lists.
. tests/integration/lib.sh

S="$TESTTMP/clients-state"
O="$TESTTMP/out-dir"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
mkdir -p "$O"

t_exit "init" 0 c init
cat >"$TESTTMP/p.yaml" <<'EOF'
version: 1
owner: sccm
consoles:
  sccm:
    identity: { certificate: "CN=sccm.corp.example,O=Corp" }
    duties: [setup]
  pwr:
    identity: { kerberos: "svc-pwr@CORP.EXAMPLE" }
    duties: [power]
EOF
t_exit "policy load" 0 c policy load "$TESTTMP/p.yaml"

# Staff.
t_exit "staff add needs a role" 2 c staff add ann -o "$O"
t_exit "staff add ann --role auditor" 0 c staff add ann --role auditor \
	-o "$O" --key-type ecdsa-p256
t_check "ann.crt, ann.key 0600" sh -c "test -s '$O/ann.crt' &&
	test \"\$(stat -c %a '$O/ann.key')\" = 600"
t_exit "a bad role" 2 c staff add bob --role root -o "$O"
t_exit "the bootstrap name is taken" 1 c staff add admin --role admin \
	-o "$O"
t_exit "staff list" 0 c --json staff list
t_check "bootstrap admin and ann (auditor)" py "$TESTTMP/out" <<'EOF'
import json, sys
i = json.load(open(sys.argv[1]))["items"]
sys.exit([(x["name"], x["role"], x["state"]) for x in i] !=
    [("admin", "admin", "active"), ("ann", "auditor", "active")] or
    any(x["renew_due"] for x in i))
EOF
t_exit "staff renew ann (new key)" 0 c --json staff renew ann -o "$O" \
	--force --key-type ecdsa-p256
t_check "the key written (cert.delivered): the old one revoked then" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(len(r["superseded"]) != 1 or r["supersedes"] != [] or "key" in r)
EOF
t_exit "cert list" 0 c --json cert list
t_check "the key written (cert.delivered): the old one revoked (superseded), one valid" py \
	"$TESTTMP/out" <<'EOF'
import json, sys
i = [x for x in json.load(open(sys.argv[1]))["items"] if x["holder"] == "ann"]
v = [x for x in i if x["status"] == "valid"]
sys.exit(len(i) != 2 or len(v) != 1 or "supersedes" in v[0] or
    [x.get("reason") for x in i if x["status"] == "revoked"] != ["superseded"])
EOF
t_exit "audit list" 0 c audit list
t_grep "... audited: superseded once its key was delivered" \
	"cert.revoke .*reason=superseded.*its key was delivered" "$TESTTMP/out"
t_exit "staff revoke ann" 0 c staff revoke ann
t_exit "no valid staff certificate left for ann" 0 c --json cert list
t_check "ann: every certificate revoked, one superseded" py \
	"$TESTTMP/out" <<'EOF'
import json, sys
i = [x for x in json.load(open(sys.argv[1]))["items"] if x["holder"] == "ann"]
sys.exit(len(i) != 2 or any(x["status"] != "revoked" for x in i) or
    sorted(x["reason"] for x in i) != ["cessationOfOperation", "superseded"])
EOF
t_exit "a revoked member cannot be renewed" 4 c staff renew ann -o "$O" \
	--force

# Consoles: the subject is the policy's identity (CN=NAME without one).
t_exit "console add sccm" 0 c console add SCCM -o "$O"
t_check "subject from the policy" sh -c "openssl x509 -in '$O/sccm.crt' \
	-noout -subject -nameopt RFC2253 | grep -qx 'subject=CN=sccm.corp.example,O=Corp'"
t_exit "console add pwr" 0 c console add pwr -o "$O"
t_check "CN=pwr without a certificate identity" sh -c "openssl x509 \
	-in '$O/pwr.crt' -noout -subject -nameopt RFC2253 | grep -qx 'subject=CN=pwr'"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$O/own.key" -subj /CN=ignored -out "$O/own.csr" 2>/dev/null
t_exit "console renew --csr" 0 c --json console renew sccm --csr \
	"$O/own.csr" -o "$O" --force
t_check "no key made; the old one waits for the new one's use" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit("key" in r or len(r["supersedes"]) != 1 or r["superseded"] != [] or
    r["subject"] != "CN=sccm.corp.example,O=Corp")
EOF
cp "$TESTTMP/out" "$TESTTMP/renew-csr"
t_exit "cert list" 0 c cert list
t_grep "... the old one: superseded once the new one is used" \
	"$(py "$TESTTMP/renew-csr" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("%s .* superseded once %s is used, at the latest" %
    (r["supersedes"][0]["serial"], r["serial"]))
EOF
)" "$TESTTMP/out"
t_exit "console list" 0 c console list
t_grep "... console list: the new one supersedes the old once used" \
	"^sccm .* supersedes [0-9A-F]* once used, at the latest" "$TESTTMP/out"
t_exit "console renew pwr -o (a key made by custody)" 0 c console \
	renew pwr -o "$O" --force
t_grep "... says the old one was revoked" "^revoked [0-9A-F]* \\(superseded\\)" \
	"$TESTTMP/out"
t_exit "cert list" 0 c --json cert list
t_check "pwr: delivered, so the old one is revoked at once" py \
	"$TESTTMP/out" <<'EOF'
import json, sys
i = [x for x in json.load(open(sys.argv[1]))["items"] if x["holder"] == "pwr"]
sys.exit(len(i) != 2 or [x["status"] for x in i].count("valid") != 1 or
    [x.get("reason") for x in i if x["status"] == "revoked"] != ["superseded"])
EOF
t_check "the new certificate holds the CSR's key" sh -c "
	[ \"\$(openssl x509 -in '$O/sccm.crt' -noout -pubkey)\" = \
	  \"\$(openssl pkey -in '$O/own.key' -pubout)\" ]"
t_exit "renewing an unknown console" 4 c console renew nosuch -o "$O"
t_exit "console list" 0 c console list
t_grep "a RENEW column" "RENEW" "$TESTTMP/out"
t_exit "audit verify" 0 c audit verify
t_done
