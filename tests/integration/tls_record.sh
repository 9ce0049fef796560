#!/bin/sh
# tests/integration/tls_record.sh - a device's TLS record (device_tls) is
# row-MAC'd and marked on the device row (doc/internals/SECRETS.md): a
# record altered with sqlite3, stripped of its MAC (a row from before
# MACs) or deleted is refused clearly, and nothing goes to the device
# over plain HTTP (no downgrade); cert provision, which sees TLS verify on
# the wire, records it again; device remove takes the record with it, so
# a device added again under the name is not taken for provisioned. A
# device certificate custody revoked is not trusted any more, though it
# still verifies against the bundle: nothing is sent to a device that
# presents it, until cert provision --force gives it a new one.
. tests/integration/lib.sh
t_need_or_skip curl python3 sqlite3

S="$TESTTMP/tls-rec-state"
c() { cc --state-dir "$S" "$@"; }
q() { sqlite3 "$S/custody.db" "$1"; }

t_amtsim 2 "$TESTTMP" --verbose
D=$(sim_dev 0)
t_exit "init" 0 c init
D1=$(sim_dev 1)
printf 'fqdn,admin_password,address\n%s,P@ssw0rd,127.0.0.1:%s\n%s,P@ssw0rd,127.0.0.1:%s\n' \
	"$D" "$port" "$D1" "$port" >"$TESTTMP/fleet.csv"
t_exit "import" 0 c device import "$TESTTMP/fleet.csv"
t_exit "cert provision" 0 c cert provision "$D"
t_check "the record has a MAC" test "$(q "SELECT length(mac) FROM device_tls
	WHERE fqdn = '$D'")" = 32
t_check "and the device row its TLS mark" test "$(q "SELECT length(tls_mac)
	FROM device WHERE fqdn = '$D'")" = 32
t_exit "a push over TLS" 0 c password rotate "$D" --push

plain() {	# nothing of the device over plain HTTP since the log was cleared
	! grep -q "amtsim: $D admin" "$TESTTMP/sim.log"
}
refused() {	# NAME PATTERN: a push refused with PATTERN, nothing sent
	: >"$TESTTMP/sim.log"
	t_exit "$1: device push refused" 1 c password rotate "$D" --push
	t_grep "$1: saying why" "$2" "$TESTTMP/out"
	t_check "$1: nothing over plain HTTP" plain
}
repaired() {	# NAME: cert provision writes the record again, pushes work
	t_exit "$1: cert provision records it again" 0 c --json cert \
	    provision "$D"
	t_grep "$1: saying so" 'altered outside custody, is written again' \
	    "$TESTTMP/out"
	t_exit "$1: then a push" 0 c device push "$D"
	t_check "$1: went over TLS" grep -q "amtsim: $D tls admin" \
	    "$TESTTMP/sim.log"
}

q "UPDATE device_tls SET roots = '[]' WHERE fqdn = '$D'"
refused "altered roots" 'row device_tls.fqdn=dev00000\.amtsim\.test. was altered outside custody .its MAC does not match'
repaired "altered roots"

q "UPDATE device_tls SET mac = NULL WHERE fqdn = '$D'"
refused "no MAC" 'row device_tls.fqdn=dev00000\.amtsim\.test. was altered outside custody .it has no MAC.'
repaired "no MAC"

q "DELETE FROM device_tls WHERE fqdn = '$D'"
refused "deleted" 'custody provisioned TLS on this device .its device row says so., but its TLS record .device_tls. is gone'
t_exit "deleted: device push --dry-run refused too" 5 c device push "$D" \
	--dry-run
t_grep "deleted: the dry run says why" 'its TLS record .device_tls. is gone' \
	"$TESTTMP/err"
repaired "deleted"

q "DELETE FROM device_tls WHERE fqdn = '$D'"
q "UPDATE device SET tls_mac = randomblob(32) WHERE fqdn = '$D'"
refused "deleted, mark forged" 'has a TLS mark that does not verify'
repaired "deleted, mark forged"

# --- a revoked device certificate -----------------------------------------
t_exit "cert provision $D1" 0 c cert provision "$D1"

# One device's altered record is that device's failure: ca push-roots
# --all still does the others (it never stops the fleet for one device).
q "UPDATE device_tls SET serial = '00' WHERE fqdn = '$D'"
t_exit "ca push-roots --all with one altered record (exit 1)" 1 c --json \
	ca push-roots --all
t_check "that device failed naming its record, the other done" python3 - \
	"$TESTTMP/out" "$D" "$D1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
it = {i["fqdn"]: i for i in r["items"]}
sys.exit(not (r["ok"] == 1 and r["failed"] == 1 and
    it[sys.argv[2]]["result"] == "failed" and
    "altered outside custody" in it[sys.argv[2]]["detail"] and
    it[sys.argv[3]]["result"] == "ok"))
EOF
# The same for a provisioning job: the altered record of a device whose
# TLS does not answer is its failure, the job does the others.
sim_fault "$D" down -1
t_exit "cert provision --all with one altered record (exit 1)" 1 c \
	--json cert provision --all
t_check "that device failed naming its record, the other unchanged" \
	python3 - "$TESTTMP/out" "$D" "$D1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
it = {i["fqdn"]: i for i in r["items"]}
sys.exit(not (len(it) == 2 and it[sys.argv[2]]["result"] == "failed" and
    "altered outside custody" in it[sys.argv[2]]["detail"] and
    it[sys.argv[3]]["result"] == "unchanged"))
EOF
sim_fault "$D" up
t_exit "push-roots: a rotation" 0 c password rotate "$D"
repaired "push-roots"
t_exit "its certificate" 0 c --json cert list --device "$D1"
SER=$(python3 -c 'import json,sys; print([c["serial"] for c in json.load(open(sys.argv[1]))["items"] if c["status"] == "valid"][0])' "$TESTTMP/out")
t_exit "a push to it over TLS" 0 c password rotate "$D1" --push
t_exit "cert revoke its certificate" 0 c cert revoke "$SER" --reason \
	keyCompromise
: >"$TESTTMP/sim.log"
t_exit "a push after the revocation fails" 1 c password rotate "$D1" --push
t_grep "naming the revoked certificate" \
	"$D1 admin: .*presents a certificate custody revoked" "$TESTTMP/out"
t_check "nothing reached the device" sh -c "! grep -q 'amtsim: $D1 ' \
	'$TESTTMP/sim.log'"
t_exit "cert provision without --force refuses" 1 c cert provision "$D1"
t_exit "cert provision --force gives it a new certificate" 0 c cert \
	provision "$D1" --force
t_exit "then a push" 0 c device push "$D1"
t_check "over TLS" grep -q "amtsim: $D1 tls admin" "$TESTTMP/sim.log"

t_exit "device remove" 0 c device remove "$D"
t_check "its TLS record went with it" test "$(q "SELECT count(*) FROM
	device_tls WHERE fqdn = '$D'")" = 0
t_exit "added again" 0 c device add "$D" --address "127.0.0.1:$port"
t_exit "a rotation" 0 c password rotate "$D"
t_exit "its dry run is over plain HTTP: not provisioned" 0 c --json \
	device push "$D" --dry-run
t_check "http:// URL" python3 -c 'import json,sys; sys.exit(not json.load(open(sys.argv[1]))["url"].startswith("http://"))' "$TESTTMP/out"

# Root rollover with one device's record altered: that device counts as
# lacking the new root (its record tells nothing), so the activation is
# refused naming it, and --force still overrides (an integrity error
# stopped both, --force included).
q "UPDATE device_tls SET serial = '00' WHERE fqdn = '$D1'"
t_exit "ca rotate" 0 c ca rotate
t_exit "ca rotate --activate with $D1's record altered (exit 1)" 1 c ca \
	rotate --activate
t_grep "refused, naming it" "lack a root of the bundle: $D1" "$TESTTMP/err"
t_exit "ca rotate --activate --force" 0 c ca rotate --activate --force
t_done
