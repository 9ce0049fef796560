#!/bin/sh
# tests/integration/ad_gc.sh - the duplicate-SPN check of AMT device
# objects searches the whole forest through the Global Catalog
# (directory.ad gc_uri, by default uri's host on port 3269), not only the
# domain. Against a real Samba AD DC (lib_ad.sh), which is a Global
# Catalog of a forest of one domain: a second domain cannot be provisioned
# on the same loopback (its DC would need the same fixed ports), so the
# object of another domain is played by a stand-in Global Catalog
# (fake_ldap.py, mode spn, with the DC's certificate) that knows
# CN=amt-other,...,DC=child,DC=custody,DC=test holding the device's SPN:
# the device is refused naming it, after a forest-wide search (base "");
# the real DC, which has no such object, would have let it through. The
# default GC (Samba's, 3269) is searched and lets a free device through;
# a GC that cannot be reached refuses the device and says how to turn the
# check off; gc_uri: none checks the domain only.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba ldapsearch python3
ad_start

S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
spns() {	# spns FQDN: how many SPNs the object CN=FQDN holds
	ad_search -b "CN=$1,$AD_OU" -s base servicePrincipalName 2>/dev/null |
	    grep -c '^servicePrincipalName: '
}
fake_pid=
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; ad_stop' EXIT
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; ad_stop; exit 1' \
	INT TERM HUP
OTHER="CN=amt-other,CN=Computers,DC=child,DC=custody,DC=test"
python3 tests/integration/fake_ldap.py "$AD_DIR/tls/dc.pem" \
	"$AD_DIR/tls/dc.key" "$W/ready" "$W/gc.log" spn "$OTHER" \
	"HTTP/d1.corp.test:16992" &
fake_pid=$!
t_wait_line "$W/ready" '^[0-9]'
GC="ldaps://127.0.0.1:$(cat "$W/ready")"

t_exit "init" 0 c init
for d in d1 d2 d3; do
	t_exit "device add $d (tag krb)" 0 c device add $d.corp.test --tag krb
done
ad_policy "$W/p.yaml" sccm:power:krb
t_exit "policy load" 0 c policy load "$W/p.yaml"

# The forest's GC knows d1's SPN on an object of another domain.
ad_config "$S" "    gc_uri: $GC"
t_exit "account sync: d1 refused (exit 1)" 1 c account sync
t_grep "... naming the other domain's object, found in the forest" \
	"device 'd1.corp.test': SPN HTTP/d1.corp.test:16992 is already on $OTHER \\(found in the forest's Global Catalog\\): refused" \
	"$TESTTMP/err"
t_grep "... searched from the forest's root (base \"\")" '^search $' "$W/gc.log"
t_check "... no object for d1" test "$(spns d1.corp.test)" = 0
t_check "... the console's account made all the same" test \
	"$(ad_search -b "CN=svc-sccm,$AD_OU" -s base dn 2>/dev/null)" = \
	"dn: CN=svc-sccm,$AD_OU"
c audit list >"$W/audit" 2>&1
t_grep "... audited" 'directory\.sync +d1\.corp\.test +refused .*Global Catalog' \
	"$W/audit"

# The real forest (Samba's GC on 3269, the default): d1 is free there.
ad_config "$S"
: >"$W/gc.log"
t_exit "account sync, the default GC: d1 made" 0 c account sync
t_check "... d1 holds its six SPNs" test "$(spns d1.corp.test)" = 6
t_check "... the stand-in GC was not asked" test ! -s "$W/gc.log"

# A GC that cannot be reached: the check cannot be made, the device is
# refused, the rest goes on.
ad_config "$S" "    gc_uri: ldaps://127.0.0.1:1"
t_exit "device add d4" 0 c device add d4.corp.test --tag krb
t_exit "account sync, the GC down: exit 1" 1 c account sync
t_grep "... saying the forest cannot be searched, and what to do" \
	"device 'd4.corp.test': the duplicate-SPN check cannot search the forest: the Global Catalog ldaps://127.0.0.1:1: .*set directory.ad gc_uri to a Global Catalog, or none to check the domain only" \
	"$TESTTMP/err"
t_check "... no object for d4" test "$(spns d4.corp.test)" = 0

# gc_uri: none: the domain only (the stand-in GC is not asked).
ad_config "$S" "    gc_uri: none"
t_exit "account sync, gc_uri none: d4 made" 0 c account sync
t_check "... d4 holds its six SPNs" test "$(spns d4.corp.test)" = 6
t_check "... the stand-in GC was not asked" test ! -s "$W/gc.log"
t_done
