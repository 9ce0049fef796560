#!/bin/sh
# tests/integration/provision_nonsecure.sh - cert provision on a device
# whose firmware (CSME 16.1 and later) has the read-only
# NonSecureConnectionsSupported=false in AMT_TLSSettingData (reference
# 6): it refuses a Put of the 802.3 settings that keeps plain HTTP
# (AcceptNonSecureConnections true) with PT_STATUS_NOT_PERMITTED. custody
# reads the property and binds TLS only; the device then answers on the
# TLS port alone, and custody keeps speaking TLS to it. A device that
# allows plain HTTP keeps it (tools still on 16992).
. tests/integration/lib.sh
t_need_or_skip curl python3

S="$TESTTMP/nonsecure-state"
c() { cc --state-dir "$S" "$@"; }
N=dev00000.amtsim.test O=dev00001.amtsim.test
printf '[{"fqdn": "%s", "nonsecure_supported": false}, {"fqdn": "%s"}]\n' \
	$N $O >"$TESTTMP/devs.json"
t_amtsim 2 "$TESTTMP" --devices "$TESTTMP/devs.json" --verbose

t_exit "init" 0 c init
printf 'fqdn,admin_password,address\n%s,P@ssw0rd,127.0.0.1:%s\n%s,P@ssw0rd,127.0.0.1:%s\n' \
	$N "$port" $O "$port" >"$TESTTMP/fleet.csv"
t_exit "import" 0 c device import "$TESTTMP/fleet.csv"
t_exit "cert provision $N (TLS only)" 0 c --json cert provision $N
t_check "ok; the 802.3 settings without plain HTTP" python3 - \
	"$TESTTMP/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
st = {s["step"]: s for s in r["steps"]}
sys.exit(not (r["result"] == "ok" and st["tls-remote"]["result"] == "ok" and
    "non-TLS refused" in st["tls-remote"]["detail"]))
EOF
t_check "TLS on, plain HTTP off on the device" test "$(sim_state $N \
	'd["tls"]["active"] and not d["tls"]["committed"]["accept_nonsecure"]')" = True
t_check "its plain HTTP port no longer answers" sh -c "[ \"\$(curl -s -o \
	/dev/null -w '%{http_code}' --connect-to $N:16992:127.0.0.1:$port \
	http://$N:16992/wsman -d x)\" = 000 ]"
t_exit "a push to it (over TLS)" 0 c password rotate $N --push
t_grep "went over TLS" "amtsim: $N tls admin .*SetAdminAclEntryEx -> 200" \
	"$TESTTMP/sim.log"

t_exit "cert provision $O" 0 c --json cert provision $O
t_check "$O keeps plain HTTP" test "$(sim_state $O \
	'd["tls"]["committed"]["accept_nonsecure"]')" = True
t_amtsim_stop
t_done
