#!/bin/sh
# tests/integration/daemon_krb_rotate.sh - custodyd's scheduler rotates the
# AD device objects due under directory.ad object_max_age (rotation.kerberos,
# on by default) against a real Samba AD DC (lib_ad.sh) and amtsim: with its
# clock 82 days on (due at 81 of the default 90), the object of the device
# keyed at day 0 gets a new password in AD (msDS-KeyVersionNumber + 1) and
# the device gets it with KeyVersion + 1, as one job over exactly the due
# device; the device rotated at day 50 is left alone. Then ticks with
# nothing due (the DC stopped: any connection would fail and be logged)
# make no job and no audit entry; with the DC down a due object is tried
# once, then an hour later, not every tick. rotation.kerberos: false
# turns it off.
. tests/integration/lib.sh
. tests/integration/lib_ad.sh
ad_netns "$@"
t_need_or_skip samba ldapsearch python3 curl openssl sqlite3 iconv
[ -x "$BUILD/custodyd" ] || { t_skip daemon_krb_rotate.sh "custodyd is not built"; exit 77; }
ad_start

S="$TESTTMP/state"
W="$TESTTMP/work"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
DAY=86400
D0=$(sim_dev 0) D1=$(sim_dev 1)
DPID=
t_amtsim 2 "$TESTTMP"
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; [ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null; ad_stop' EXIT
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; [ -n "$SIMPID" ] && kill "$SIMPID" 2>/dev/null; ad_stop; exit 1' \
	INT TERM HUP

t_exit "init" 0 c init
# No other rotation by age: the ticks below do only what is tested.
ad_config "$S"
cat >>"$S/custody.yaml" <<EOF
rotation:
  max_age: {admin: 0, mebx: 0, console: 0}
EOF
{
	echo "fqdn,admin_password,address,tags"
	for d in $D0 $D1; do echo "$d,P@ssw0rd,127.0.0.1:$port,krb"; done
} >"$W/fleet.csv"
t_exit "import" 0 c device import "$W/fleet.csv"
for d in $D0 $D1; do
	t_exit "cert provision $d" 0 c cert provision $d
done
ad_policy "$W/p.yaml" sccm:power:krb
t_exit "policy load" 0 c policy load "$W/p.yaml"
t_exit "account sync" 0 c account sync
t_exit "device kerberos --all" 0 c device kerberos --all
t_exit "50 days on: device kerberos --rotate $D1" 0 env \
	CUSTODY_TEST_NOW=+$((50 * DAY)) "$CUSTODYCTL" --state-dir "$S" \
	device kerberos --rotate $D1
k0=$(ad_kvno $D0) k1=$(ad_kvno $D1)
t_check "both keyed ($k0, $k1)" ad_krb_holds "$S" $D1 "$k1"

njobs() {	# njobs: device.kerberos jobs in the store
	sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM job WHERE kind = \
	    'device.kerberos'"
}
naudit() { sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM audit"; }
j0=$(njobs)
jmax=$(sqlite3 "$S/custody.db" "SELECT COALESCE(MAX(id), 0) FROM job")

# custodyd 82 days on, ticking every second.
CUSTODY_TEST_NOW=+$((82 * DAY)) CUSTODY_TEST_TICK_MS=1000 \
	t_custodyd "$S" "$W/d.log" --listen 127.0.0.1:0 ||
	{ t_fail "custodyd starts"; t_done; }
DPID=$T_DPID
n=0
while [ "$(sqlite3 "$S/custody.db" "SELECT COUNT(*) FROM job WHERE kind = \
    'device.kerberos' AND id > $jmax AND state != 'running'" \
    2>/dev/null)" != 1 ] && [ $n -lt 600 ]; do
	n=$((n + 1))
	sleep 0.1
done
t_check "the scheduler ran one job ($(njobs) jobs, $j0 before)" \
	test "$(njobs)" = $((j0 + 1))
job=$(sqlite3 "$S/custody.db" "SELECT id FROM job WHERE kind = \
	'device.kerberos' ORDER BY id DESC LIMIT 1")
t_check "... done, over the due device only, as the scheduler" test \
	"$(sqlite3 "$S/custody.db" "SELECT state, total, actor FROM job \
	WHERE id = $job")" = "done|1|local:scheduler"
t_check "... its one item: $D0 ok" test "$(sqlite3 "$S/custody.db" \
	"SELECT d.fqdn, i.result FROM job_item i JOIN device d ON d.id = \
	i.device_id WHERE i.job_id = $job")" = "$D0|ok"
t_grep "... logged" "scheduler: AMT Kerberos job $job: 1 AD device objects due, 0 not rotated" \
	"$W/d.log"
t_check "$D0: AD's kvno + 1" test "$(ad_kvno $D0)" = $((k0 + 1))
t_check "$D0 holds the new password at kvno + 1 (amtsim), AD takes it" \
	ad_krb_holds "$S" $D0 $((k0 + 1))
t_check "$D1 (32 days old): AD unchanged" test "$(ad_kvno $D1)" = "$k1"
t_check "$D1: the device unchanged" ad_krb_holds "$S" $D1 "$k1"
sqlite3 "$S/custody.db" "SELECT actor, action, object, result FROM audit \
	WHERE action = 'device.kerberos' ORDER BY rowid DESC LIMIT 1" \
	>"$W/last"
t_grep "audited as the scheduler" "^local:scheduler\|device.kerberos\|$D0\|ok$" \
	"$W/last"

# Nothing due now: the next ticks make no job and no audit entry, and do
# not connect to the DC (stopped: a connection would fail, be logged).
ad_stop
a1=$(naudit) j1=$(njobs) t1=$(grep -c 'scheduler' "$W/d.log")
sleep 3.5
t_check "idle ticks: no job ($(njobs), $j1 before)" test "$(njobs)" = "$j1"
t_check "idle ticks: no audit entry ($(naudit), $a1 before)" \
	test "$(naudit)" = "$a1"
t_check "idle ticks: nothing logged by the scheduler (no DC connection)" \
	test "$(grep -c 'scheduler' "$W/d.log")" = "$t1"
kill -TERM "$DPID"; wait "$DPID"; DPID=

# 200 days on, both objects due, the DC still down: the first tick tries
# (no job: the DC is reached before one is made) and says so; the next
# ticks wait an hour rather than try again every tick.
CUSTODY_TEST_NOW=+$((200 * DAY)) CUSTODY_TEST_TICK_MS=1000 \
	t_custodyd "$S" "$W/d1.log" --listen 127.0.0.1:0 ||
	{ t_fail "custodyd starts"; t_done; }
DPID=$T_DPID
sleep 3.5
t_check "the DC down: tried once in 4 ticks ($(grep -c 'rotation of the AD device objects' "$W/d1.log"))" \
	test "$(grep -c 'rotation of the AD device objects' "$W/d1.log")" = 1
t_grep "... saying when it tries again" \
	"rotation of the AD device objects: .*\(tried again in an hour\)" \
	"$W/d1.log"
t_check "... no job" test "$(njobs)" = "$j1"
kill -TERM "$DPID"; wait "$DPID"; DPID=

# rotation.kerberos: false: both objects due, none rotated, no job, no
# try.
sed -i 's/^rotation:$/rotation:\n  kerberos: false/' "$S/custody.yaml"
CUSTODY_TEST_NOW=+$((200 * DAY)) CUSTODY_TEST_TICK_MS=1000 \
	t_custodyd "$S" "$W/d2.log" --listen 127.0.0.1:0 ||
	{ t_fail "custodyd starts"; t_done; }
DPID=$T_DPID
sleep 2.5
t_check "rotation.kerberos false: no job" test "$(njobs)" = "$j1"
t_check "... not tried" sh -c \
	'! grep -q "rotation of the AD device objects" "$1"' _ "$W/d2.log"
kill -TERM "$DPID"; wait "$DPID"; DPID=
t_done
