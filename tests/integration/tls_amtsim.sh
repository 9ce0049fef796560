#!/bin/sh
# tests/integration/tls_amtsim.sh - cert provision against the AMT
# simulator (tests/amtsim): the device ends serving a custody certificate
# for its FQDN on its TLS port, trusted through custody's bundle; a re-run
# changes nothing; a later push goes over TLS; a device that goes down in
# the middle ends as a per-device failure naming the step, and a re-run
# completes it.
. tests/integration/lib.sh
t_need_or_skip curl python3 openssl

S="$TESTTMP/tls-sim-state"
c() { cc --state-dir "$S" "$@"; }
py() { python3 - "$@"; }
N=4

t_amtsim $N "$TESTTMP" --verbose
verifies() {	# verifies FQDN: openssl checks the chain and the name
	openssl s_client -connect "127.0.0.1:$tls_port" -servername "$1" \
	    -CAfile "$S/ca/bundle.pem" -verify_return_error \
	    -verify_hostname "$1" </dev/null >"$TESTTMP/sclient" 2>&1 &&
	    grep -q 'Verify return code: 0 (ok)' "$TESTTMP/sclient"
}

t_exit "init" 0 c init
{
	echo "fqdn,admin_password,address"
	i=0
	while [ $i -lt $N ]; do
		echo "$(sim_dev $i),P@ssw0rd,127.0.0.1:$port"
		i=$((i + 1))
	done
} >"$TESTTMP/fleet.csv"
t_exit "import the simulated fleet" 0 c device import "$TESTTMP/fleet.csv"

D=$(sim_dev 0)
t_check "no TLS before" sh -c "! openssl s_client -connect \
	127.0.0.1:$tls_port -servername $D </dev/null >/dev/null 2>&1"
t_exit "cert provision --dry-run" 0 c --json cert provision "$D" --dry-run
t_check "the dry run lists the steps and sends nothing" py "$TESTTMP/out" \
	"$(sim_state "$D" 'len(d["keys"])')" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
steps = [s["step"] for s in r["steps"]]
sys.exit(not (r["dry_run"] and steps[0] == "tls-check" and
    steps[-1] == "verify" and "commit" in steps and sys.argv[2] == "0"))
EOF
t_exit "cert provision" 0 c --json cert provision "$D"
t_check "ok, every step ok" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
steps = [s["step"] for s in r["steps"]]
sys.exit(not (r["result"] == "ok" and all(s["result"] == "ok" for s in
    r["steps"]) and steps == ["tls-check", "login-check", "realm-check", "key-pair", "roots", "csr",
    "sign", "chain", "context", "tls-remote", "tls-local", "commit",
    "verify"]))
EOF
t_check "openssl s_client verifies $D against the bundle" verifies "$D"
t_exit "cert list --device" 0 c --json cert list --device "$D"
cp "$TESTTMP/out" "$TESTTMP/certs"
t_check "the simulator serves custody's leaf for the device key, trusts the root" \
	py "$TESTTMP/certs" "$S/ca/bundle.pem" <<EOF
import json, sys, subprocess
st = json.loads('''$(curl -s "http://127.0.0.1:$control_port/state?device=$D")''')
certs = json.load(open(sys.argv[1]))["items"]
root = subprocess.run(["openssl", "x509", "-in", sys.argv[2], "-outform",
    "DER"], capture_output=True).stdout
import hashlib
rs = hashlib.sha256(root).hexdigest()
tls = st["tls"]
leaf = [c for c in st["certificates"] if c["sha256"] == tls["cert_sha256"]][0]
sys.exit(not (tls["active"] and tls["committed"]["enabled"] and
    leaf["key_handle"] >= 0 and leaf["subject"] == "CN=$D" and
    any(c["sha256"] == tls["cert_sha256"] for c in certs) and
    any(c["trusted_root"] and c["sha256"] == rs for c in st["certificates"])))
EOF
ncerts=$(sim_state "$D" 'len(d["certificates"])')
t_exit "a re-run" 0 c --json cert provision "$D"
t_check "is a no-op" py "$TESTTMP/out" "$ncerts" "$(sim_state "$D" \
	'len(d["certificates"])')" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "unchanged" and len(r["steps"]) == 1 and
    sys.argv[2] == sys.argv[3]))
EOF
t_exit "audited step by step" 0 c --json audit list
t_check "the steps are in the audit log" py "$TESTTMP/out" "$D" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
items = r["entries"]
d = [e["detail"] for e in items if e["action"] == "cert.provision"
    and e["object"] == sys.argv[2]]
sys.exit(not (any(x.startswith("commit:") for x in d) and
    any(x.startswith("verify:") for x in d) and
    any(x.startswith("TLS recorded") for x in d)))
EOF

# A push afterwards goes over TLS.
: >"$TESTTMP/sim.log"
t_exit "password rotate --push" 0 c password rotate "$D" --push
t_check "its SetAdminAclEntryEx went over TLS" grep -q \
	"amtsim: $D tls admin .*SetAdminAclEntryEx -> 200 changed" "$TESTTMP/sim.log"
t_check "and nothing of it over plain HTTP" sh -c "! grep -q \
	'amtsim: $D admin' '$TESTTMP/sim.log'"
t_exit "device push --dry-run of a new one" 0 c --json password rotate "$D"
t_exit "its dry run" 0 c --json device push "$D" --dry-run
t_check "shows the TLS URL" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(not json.load(open(sys.argv[1]))["url"].startswith("https://"))
EOF
hs() { sim_state "$D" 'd["stats"]["tls_handshakes"]'; }
hf() { sim_state "$D" 'd["stats"]["tls_full_handshakes"]'; }
h0=$(hs) f0=$(hf)
t_exit "the pending one pushed" 0 c device push "$D"
# Three TLS connections: the Get's challenge (AMT closes after a 401);
# the Get and the change on one, where the proof is challenged again; the
# proof's login on a new one (doc/internals/SERVICE.md, bench/push). Only
# the first is a full handshake: the other two resume its TLS session.
t_check "the push made 3 TLS handshakes ($h0 -> $(hs))" [ $(($(hs) - h0)) -eq 3 ]
t_check "one of them full, two resumed ($f0 -> $(hf))" [ $(($(hf) - f0)) -eq 1 ]

# A device that goes down in the middle (after its leaf is installed,
# before TLS is bound): a per-device failure naming the step; once up, a
# re-run completes it, reusing the key pair and the leaf (no second
# signature).
D1=$(sim_dev 1)
CUSTODY_TEST_STOP_AT=provision-bind "$CUSTODYCTL" --state-dir "$S" --json \
    cert provision "$D1" >"$TESTTMP/f.out" 2>"$TESTTMP/f.err" &
pid=$!
t_wait_stopped $pid
sim_fault "$D1" down -1
kill -CONT $pid
wait $pid
t_check "provision of a device going down mid-way exits 1" [ $? -eq 1 ]
t_check "failed at context, with a reason" py "$TESTTMP/f.out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "failed" and r["step"] == "context" and
    r["detail"]))
EOF
sim_fault "$D1" up
t_exit "a re-run completes" 0 c --json cert provision "$D1"
t_check "reusing the key pair and the leaf made before" py "$TESTTMP/out" \
	"$(sim_state "$D1" 'len(d["keys"])')" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
st = {s["step"]: s for s in r["steps"]}
sys.exit(not (r["result"] == "ok" and st["key-pair"]["detail"].startswith(
    "reused") and st["leaf"]["detail"].startswith("reused") and
    "sign" not in st and sys.argv[2] == "1"))
EOF
t_exit "cert list --device $D1" 0 c --json cert list --device "$D1"
t_check "one certificate signed for it" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(len(json.load(open(sys.argv[1]))["items"]) != 1)
EOF
t_check "openssl s_client verifies $D1" verifies "$D1"

# A TLS session is its device's own, as on separate hosts: it resumes on
# the device that made it, not on another one behind the same port.
t_check "a session made with $D resumes with $D" tls_resumed "$tls_port" \
	"$S/ca/bundle.pem" "$D" "$D"
t_check "but not with $D1" tls_not_resumed "$tls_port" "$S/ca/bundle.pem" \
	"$D" "$D1"

# MEBx: over TLS only. A device not provisioned is refused, clearly, and
# nothing reaches it; a provisioned one takes it (ReturnValue 0) and the
# version becomes current.
mebx_holds() {	# mebx_holds FQDN: the device's MEBx hash is custody's current
	c password show "$1" --kind mebx >"$TESTTMP/pw" || return 1
	sim_state "$1" 'd["mebx"]["sha256"] if d["mebx"]["set"] else "-"' \
	    >"$TESTTMP/dev"
	py "$TESTTMP/dev" "$TESTTMP/pw" <<'EOF'
import hashlib, sys
h = open(sys.argv[1]).read().strip()
pw = open(sys.argv[2]).read().rstrip("\n")
sys.exit(h != hashlib.sha256(pw.encode()).hexdigest())
EOF
}
U="plain.amtsim.test"
t_exit "register a device without TLS" 0 c device add "$U" \
	--address "127.0.0.1:$port"
t_exit "its MEBx rotation" 0 c password rotate "$U" --kind mebx
t_exit "MEBx push to a device without TLS is refused" 1 c device push "$U" \
	--kind mebx
t_grep "saying why" "not TLS-provisioned" "$TESTTMP/err"
t_check "and the version stays pending" sh -c "c() { \"\$CUSTODYCTL\" \
	--state-dir '$S' \"\$@\"; }; c --json password history '$U' |
	grep -q '\"state\": \"pending\"'"
: >"$TESTTMP/sim.log"
t_exit "password rotate --kind mebx --push (TLS-provisioned)" 0 \
	c --json password rotate "$D" --kind mebx --push
t_check "ok" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["pushed"] == 1 and r["pushes"][0]["result"] == "ok" and
    r["pushes"][0]["kind"] == "mebx"))
EOF
t_check "the device holds custody's current MEBx password" mebx_holds "$D"
t_check "SetMEBxPassword went over TLS" grep -q \
	"amtsim: $D tls admin .*SetMEBxPassword -> 200 changed" "$TESTTMP/sim.log"
t_check "and never over plain HTTP" sh -c "! grep -q \
	'amtsim: $D admin .*SetMEBxPassword' '$TESTTMP/sim.log'"
t_exit "MEBx rotate --push to the device without TLS" 1 \
	c --json password rotate "$U" --kind mebx --replace-pending --push
t_check "is its refused item" py "$TESTTMP/out" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))["pushes"][0]
sys.exit(not (p["result"] == "refused" and "TLS" in p["detail"]))
EOF
# MEBx pushes go one named device at a time: by selector they are refused
# before anything is rotated or sent.
t_exit "device push --all --kind mebx: usage" 2 c device push --all \
	--kind mebx
t_exit "device push FQDN FQDN --kind mebx: usage" 2 c device push "$D" \
	"$D1" --kind mebx
nmebx=$(c --json password history "$D" | grep -c '"kind": "mebx"')
t_exit "password rotate --all --kind mebx --push: refused" 2 \
	c password rotate --all --kind mebx --push
t_grep "saying MEBx pushes take FQDNs" "MEBx password \(FQDNs\)" \
	"$TESTTMP/err"
t_check "and nothing was rotated" [ "$(c --json password history "$D" |
	grep -c '"kind": "mebx"')" = "$nmebx" ]
# A lost answer: the version stays pushed; the next push sends it again.
t_exit "a MEBx rotation" 0 c password rotate "$D1" --kind mebx
sim_fault "$D1" drop-after-apply 1
t_exit "its push loses the answer" 1 c --json device push "$D1" --kind mebx
t_check "unknown: stays pushed" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "unknown" and "stays pushed" in r["detail"]))
EOF
t_exit "pushed again" 0 c --json device push "$D1" --kind mebx
t_check "the device holds custody's current MEBx password" mebx_holds "$D1"

D2=$(sim_dev 2)
sim_fault "$D2" down -1
t_exit "provision a device that is down" 1 c --json cert provision "$D2"
t_check "a per-device failure" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "failed" and r["step"] == "login-check"))
EOF
sim_fault "$D2" up
t_exit "once up, a re-run completes" 0 c --json cert provision "$D2"
t_check "openssl s_client verifies $D2 after it came back" verifies "$D2"

D3=$(sim_dev 3)
# A peer that takes any digest login (an impostor at the device's address
# with its realm): custody would otherwise sign a certificate for the
# device's name with a key of the impostor's. A login with a password no
# one holds must be refused first; nothing is changed or signed.
sim_fault "$D3" accept-any -1
t_exit "provision a peer that takes any login" 1 c --json cert provision "$D3"
t_check "failed at the login check, naming it" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "failed" and r["step"] == "login-check" and
    "takes any login" in r["detail"]))
EOF
t_exit "cert list --device $D3 (impostor)" 0 c --json cert list --device "$D3"
t_check "nothing signed for it" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(len(json.load(open(sys.argv[1]))["items"]) != 0)
EOF
t_check "no key pair made on it" test "$(sim_state "$D3" 'len(d["keys"])')" = 0
sim_fault "$D3" http500 -1
t_exit "a device answering 500" 1 c --json cert provision "$D3"
sim_fault "$D3" clear
t_exit "a re-run completes" 0 c --json cert provision "$D3"
t_exit "cert list --device $D3" 0 c --json cert list --device "$D3"
t_check "one certificate signed for it" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(len(json.load(open(sys.argv[1]))["items"]) != 1)
EOF
# Root rollover: a new generation staged; activation is refused while a
# provisioned device lacks its root (listing it); push-roots installs it;
# activation then works, and the devices stay reachable over TLS.
t_exit "ca rotate" 0 c ca rotate
t_exit "ca rotate --activate is refused" 1 c ca rotate --activate
t_grep "listing the devices that lack the new root" \
	"4 TLS-provisioned device.*$D1" "$TESTTMP/err"
# --force activates all the same (on a copy of the state, so that the
# rollover below runs as an operator would): audited as forced, naming
# the devices that lack the root.
cp -a "$S" "$S.force"
t_exit "--force without --activate or --retire-old: usage" 2 \
	cc --state-dir "$S.force" ca rotate --force
t_exit "ca rotate --activate --force" 0 \
	cc --state-dir "$S.force" ca rotate --activate --force
t_exit "audit list --object ca" 0 cc --state-dir "$S.force" --json audit \
	list --object ca
t_check "the forced activation is audited, naming the devices" \
	py "$TESTTMP/out" "$D1" <<'EOF'
import json, sys
items = json.load(open(sys.argv[1]))["entries"]
a = [e for e in items if e["action"] == "ca.activate" and
    e["result"] == "forced"]
sys.exit(not (len(a) == 1 and
    "4 TLS-provisioned device(s)" in a[0]["detail"] and
    sys.argv[2] in a[0]["detail"]))
EOF
t_exit "ca show" 0 cc --state-dir "$S.force" --json ca show
t_check "the copy's new generation is active" py "$TESTTMP/out" <<'EOF'
import json, sys
g = {x["generation"]: x["state"] for x in
    json.load(open(sys.argv[1]))["generations"]}
sys.exit(g.get(2) != "active")
EOF
rm -rf "$S.force"
t_exit "ca push-roots --all" 0 c --json ca push-roots --all
t_check "every provisioned device ok" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["ok"] == 4 and r["failed"] == 0))
EOF
t_check "$D trusts both roots of the bundle" py "$S/ca/bundle.pem" <<EOF
import json, sys, subprocess, hashlib, re
st = json.loads('''$(curl -s "http://127.0.0.1:$control_port/state?device=$D")''')
pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
    open(sys.argv[1]).read(), re.S)
sums = [hashlib.sha256(subprocess.run(["openssl", "x509", "-outform", "DER"],
    input=p.encode(), capture_output=True).stdout).hexdigest() for p in pems]
have = {c["sha256"] for c in st["certificates"] if c["trusted_root"]}
sys.exit(not (len(sums) == 2 and all(s in have for s in sums)))
EOF
ncerts=$(sim_state "$D" 'len(d["certificates"])')
t_exit "a second push-roots" 0 c ca push-roots "$D"
t_check "adds nothing" [ "$(sim_state "$D" 'len(d["certificates"])')" = \
	"$ncerts" ]
t_exit "ca rotate --activate now works" 0 c ca rotate --activate
t_exit "a push after the rollover still goes over TLS" 0 \
	c password rotate "$D" --push
t_check "openssl s_client verifies $D against the new bundle" verifies "$D"
# Its certificate is still the old generation's (so the old root cannot
# be retired): --renew gives it one of the active generation over the
# TLS that verifies, nothing over plain HTTP, and revokes the old one.
t_exit "cert list --device $D (before --renew)" 0 c --json cert list \
	--device "$D"
OLDSER=$(python3 -c 'import json,sys; print([c["serial"] for c in json.load(open(sys.argv[1]))["items"] if c["status"] == "valid"][0])' "$TESTTMP/out")
: >"$TESTTMP/sim.log"
t_exit "cert provision --renew" 0 c --json cert provision "$D" --renew
t_check "ok: renewed over TLS, the old certificate superseded" py \
	"$TESTTMP/out" "$OLDSER" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
st = {s["step"]: s for s in r["steps"]}
sys.exit(not (r["result"] == "ok" and "renewing" in st["tls-check"]["detail"]
    and "login-check" not in st and st["sign"]["result"] == "ok" and
    sys.argv[2] in st["supersede"]["detail"] and
    "revoked" in st["supersede"]["detail"]))
EOF
t_check "nothing of $D over plain HTTP" sh -c "! grep -q 'amtsim: $D admin' \
	'$TESTTMP/sim.log'"
t_check "openssl s_client verifies $D after the renewal" verifies "$D"
t_exit "cert list --device $D (after)" 0 c --json cert list --device "$D"
SERVED=$(openssl s_client -connect "127.0.0.1:$tls_port" -servername "$D" \
	</dev/null 2>/dev/null | openssl x509 -noout -serial | sed 's/.*=//')
t_check "$D serves the new certificate, of generation 2; the old revoked" \
	py "$TESTTMP/out" "$OLDSER" "$SERVED" <<'EOF'
import json, sys
c = {x["serial"].lower().lstrip("0"): x for x in
     json.load(open(sys.argv[1]))["items"]}
new = c[sys.argv[3].lower().lstrip("0")]
sys.exit(not (new["status"] == "valid" and new["generation"] == 2 and
    c[sys.argv[2].lower().lstrip("0")]["status"] == "revoked"))
EOF
t_exit "a push after the renewal still goes over TLS" 0 \
	c password rotate "$D" --push
t_exit "cert provision --all --renew (a job; $U is unreachable)" 1 c \
	--json cert provision --all --renew
t_check "every provisioned device renewed" py "$TESTTMP/out" "$U" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["results"] == {"ok": 4, "unreachable": 1} and
    all(i["result"] == "ok" for i in r["items"] if i["fqdn"] != sys.argv[2])))
EOF
t_exit "cert list (no device certificate of generation 1 left valid)" 0 \
	c --json cert list --kind device
t_check "none" py "$TESTTMP/out" <<'EOF'
import json, sys
sys.exit(any(c["generation"] == 1 and c["status"] == "valid" for c in
    json.load(open(sys.argv[1]))["items"]))
EOF
t_exit "device not provisioned: push-roots fails for it" 1 \
	c ca push-roots "$U"
# A device recorded as TLS-provisioned whose TLS stops verifying (here:
# TLS turned off on it by hand) is not re-provisioned over plain HTTP, as
# someone on the path blocking the TLS port would have it; --force does
# (a device that was reset).
AMT=http://intel.com/wbem/wscim/1/amt-schema/1
TSID="Intel(r) AMT 802.3 TLS Settings"
pw=$(c password show "$D3")
t_check "TLS turned off on $D3 by hand" [ "$(sim_wsman "$D3" admin "$pw" \
	http://schemas.xmlsoap.org/ws/2004/09/transfer/Put \
	"$AMT/AMT_TLSSettingData" "<w:SelectorSet><w:Selector \
Name=\"InstanceID\">$TSID</w:Selector></w:SelectorSet>" "<h:AMT_TLSSettingData \
xmlns:h=\"$AMT/AMT_TLSSettingData\"><h:ElementName>$TSID</h:ElementName>\
<h:InstanceID>$TSID</h:InstanceID><h:MutualAuthentication>false\
</h:MutualAuthentication><h:Enabled>false</h:Enabled>\
<h:AcceptNonSecureConnections>true</h:AcceptNonSecureConnections>\
</h:AMT_TLSSettingData>")" = 200 ]
t_check "and committed" [ "$(sim_wsman "$D3" admin "$pw" \
	"$AMT/AMT_SetupAndConfigurationService/CommitChanges" \
	"$AMT/AMT_SetupAndConfigurationService" "" "<h:CommitChanges_INPUT \
xmlns:h=\"$AMT/AMT_SetupAndConfigurationService\"/>")" = 200 ]
t_check "$D3 no longer verifies" sh -c "! openssl s_client -connect \
	127.0.0.1:$tls_port -servername $D3 </dev/null >/dev/null 2>&1"
: >"$TESTTMP/sim.log"
t_exit "cert provision of it: refused" 1 c --json cert provision "$D3"
t_check "at tls-check, saying why" py "$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["result"] == "failed" and r["step"] == "tls-check" and
    "plain HTTP" in r["detail"] and "--force" in r["detail"]))
EOF
t_check "nothing went to it over plain HTTP" sh -c "! grep -q \
	'amtsim: $D3 admin' '$TESTTMP/sim.log'"
t_exit "cert provision --force re-provisions it" 0 c --json cert provision \
	"$D3" --force
t_check "openssl s_client verifies $D3 again" verifies "$D3"

t_amtsim_stop
t_done
