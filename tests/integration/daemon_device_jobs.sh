#!/bin/sh
# tests/integration/daemon_device_jobs.sh - a cert provision job and a
# policy apply job, each killed mid-way (SIGKILL of custodyctl while a
# slow simulated device is under way), are resumed by custodyd's
# scheduler when it starts, as it resumes rotation and push jobs: both end
# done, each device with one item, and the devices are provisioned and
# hold the policy's users.
. "$(dirname "$0")/lib.sh"
t_need_or_skip sqlite3 curl python3
[ -x "$BUILD/custodyd" ] || { t_skip daemon_device_jobs.sh \
	"custodyd is not built"; exit 77; }
S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
db() { sqlite3 "$S/custody.db" "$@" 2>/dev/null; }
N=4
DPID=
t_amtsim $N
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; t_amtsim_stop' EXIT
dev() { printf 'dev%05d.amtsim.test' "$1"; }
nusers() {	# nusers FQDN: how many ACL entries the device holds
	sim_state "$1" 'len(d["users"])'
}

t_exit "init" 0 c init
{
	echo "fqdn,admin_password,address"
	i=0
	while [ $i -lt $N ]; do
		echo "$(dev $i),P@ssw0rd,127.0.0.1:$port"; i=$((i + 1))
	done
} >"$W/fleet.csv"
t_exit "import" 0 c device import "$W/fleet.csv"

# kill_mid KIND CMD...: run custodyctl CMD, kill it (SIGKILL) once the
# job of KIND has an item and the slow device (dev 1) is under way.
kill_mid() {
	_k=$1; shift
	"$CUSTODYCTL" --state-dir "$S" "$@" >/dev/null 2>&1 &
	_p=$!
	_n=0
	while [ "$(db "SELECT COUNT(*) FROM job_item i JOIN job j ON \
	    j.id = i.job_id WHERE j.kind = '$_k'")" = 0 ] && [ $_n -lt 300 ]
	do
		sleep 0.1; _n=$((_n + 1))
	done
	sleep 1
	kill -9 $_p
	wait $_p 2>/dev/null
	db "SELECT MAX(id) FROM job WHERE kind = '$_k'"
}
sim_fault "$(dev 1)" delay -1 800
pjob=$(kill_mid cert.provision cert provision --all)
ajob_before=$(db "SELECT COUNT(*) FROM job WHERE kind = 'policy.apply'")
cp tests/integration/acl_policy.yaml "$W/p.yaml"
t_exit "policy load" 0 c policy load "$W/p.yaml"
ajob=$(kill_mid policy.apply policy apply --all)
sim_fault "$(dev 1)" clear
t_check "both killed mid-way: part of each job done" test \
    "$(db "SELECT COUNT(*) FROM job_item WHERE job_id = $pjob")" -lt $N -a \
    "$(db "SELECT COUNT(*) FROM job_item WHERE job_id = $ajob")" -lt $N -a \
    "$ajob_before" = 0

t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 --workers 2 ||
    t_fail "custodyd starts"
DPID=$T_DPID
n=0
while { [ "$(db "SELECT state FROM job WHERE id = $pjob")" != done ] ||
    [ "$(db "SELECT state FROM job WHERE id = $ajob")" != done ]; } &&
    [ $n -lt 600 ]; do
	sleep 0.1; n=$((n + 1))
done
t_check "custodyd resumed the provisioning to done" \
    test "$(db "SELECT state FROM job WHERE id = $pjob")" = done
t_check "... and the apply to done" \
    test "$(db "SELECT state FROM job WHERE id = $ajob")" = done
t_grep "... and logged both" "scheduler: resumed cert.provision job $pjob" \
    "$W/d.log"
t_grep "... both" "scheduler: resumed policy.apply job $ajob" "$W/d.log"
t_check "one item per device each" test \
    "$(db "SELECT COUNT(*) FROM job_item WHERE job_id = $pjob")" -eq $N -a \
    "$(db "SELECT COUNT(*) FROM job_item WHERE job_id = $ajob")" -eq $N
i=0
while [ $i -lt $N ]; do
	t_check "$(dev $i) TLS-provisioned and holds the policy's 2 users" \
	    test "$(db "SELECT COUNT(*) FROM device_tls WHERE fqdn = \
	    '$(dev $i)'")" = 1 -a "$(nusers "$(dev $i)")" = 2
	i=$((i + 1))
done
kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=
t_done
