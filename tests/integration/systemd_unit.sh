#!/bin/sh
# tests/integration/systemd_unit.sh - contrib/custodyd.service is a valid
# unit (systemd-analyze verify, warnings included) and its hardening keeps
# the overall exposure of `systemd-analyze security --offline=true` at 2.0
# or below, while the service can still reach network clients.
#
# Both run offline on the unit file: no systemd needs to be running (this
# works in a container). verify checks that every Exec path exists and is
# executable, so it runs on a copy whose /usr/local/sbin/custodyd is the
# built $BUILD/custodyd (or $BUILD/custodyctl as a stand-in before custodyd
# is built). Documentation= man pages are not looked up (--man=no): they
# are installed by make install, not here. Never skipped: without
# systemd-analyze (Debian package systemd; make deps) the test fails.
. tests/integration/lib.sh

UNIT=contrib/custodyd.service
W="$TESTTMP/units"
mkdir -p "$W"

if ! t_need systemd-analyze; then
	t_fail "systemd-analyze is not installed (package systemd; make deps)"
	t_done
fi

BIN="$BUILD/custodyd"
[ -x "$BIN" ] || BIN="$BUILD/custodyctl"

# ---- the unit's contract ----
t_grep "Type=notify" '^Type=notify$' "$UNIT"
t_grep "watchdog" '^WatchdogSec=[1-9]' "$UNIT"
t_grep "ExecStart: custodyd --state-dir --foreground" \
	'^ExecStart=/usr/local/sbin/custodyd --state-dir /var/lib/custody --foreground$' \
	"$UNIT"
t_grep "ExecReload: SIGHUP" '^ExecReload=/bin/kill -HUP \$MAINPID$' "$UNIT"
t_grep "User=custody" '^User=custody$' "$UNIT"
t_grep "StateDirectory" '^StateDirectory=custody$' "$UNIT"
t_grep "StateDirectoryMode=0700" '^StateDirectoryMode=0700$' "$UNIT"
t_grep "UMask=0077" '^UMask=0077$' "$UNIT"
t_grep "no core dumps" '^LimitCORE=0$' "$UNIT"
t_grep "internet sockets allowed" \
	'^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$' "$UNIT"
# It serves clients on the network: nothing may cut it off.
if grep -Eq '^(PrivateNetwork=(yes|true|1)|IPAddressDeny=)' "$UNIT"; then
	t_fail "the unit cuts the service off the network"
else
	t_ok "no PrivateNetwork=/IPAddressDeny="
fi
# Every Exec line runs the binary the copy below replaces.
if grep -E '^Exec' "$UNIT" | grep -Ev \
    '^Exec[A-Za-z]*=(/usr/local/sbin/custodyd|/bin/kill) '; then
	t_fail "an Exec line runs something unexpected"
else
	t_ok "Exec lines: custodyd and kill only"
fi

# verify UNITFILE: exit 0 and nothing on stderr (systemd-analyze verify
# exits 0 on unknown keys and unparsable values, only warning).
verify() {
	systemd-analyze verify --man=no "$1" >"$W/verify.out" 2>"$W/verify.err"
	_rc=$?
	[ $_rc -eq 0 ] && [ ! -s "$W/verify.err" ]
}

# exposure UNITFILE: the overall exposure level, e.g. "1.2".
exposure() {
	systemd-analyze security --offline=true "$1" 2>"$W/sec.err" |
	    tee "$W/sec.out" |
	    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

# at_most LEVEL MAX: LEVEL <= MAX (decimals).
at_most() {
	[ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'
}

sed "s|/usr/local/sbin/custodyd|$BIN|g" "$UNIT" > "$W/custodyd.service"

# ---- verify ----
if verify "$W/custodyd.service"; then
	t_ok "systemd-analyze verify: clean"
else
	t_fail "systemd-analyze verify"
	sed 's/^/    /' "$W/verify.err" "$W/verify.out" | head -20
fi
# The check can fail: a misspelt key, an unparsable value, a missing
# binary are each caught.
mkdir -p "$W/typo"
sed 's/^ProtectSystem=/ProtectSytem=/' "$W/custodyd.service" \
	> "$W/typo/custodyd.service"
if verify "$W/typo/custodyd.service"; then
	t_fail "verify misses a misspelt key"
else
	t_ok "verify catches a misspelt key"
fi
mkdir -p "$W/type"
sed 's/^Type=notify/Type=notifyx/' "$W/custodyd.service" \
	> "$W/type/custodyd.service"
if verify "$W/type/custodyd.service"; then
	t_fail "verify misses a bad Type="
else
	t_ok "verify catches a bad Type="
fi
mkdir -p "$W/nobin"
sed "s|$BIN|$W/no-such-custodyd|g" "$W/custodyd.service" \
	> "$W/nobin/custodyd.service"
if verify "$W/nobin/custodyd.service"; then
	t_fail "verify misses a missing ExecStart binary"
else
	t_ok "verify catches a missing ExecStart binary"
fi

# ---- security ----
level=$(exposure "$W/custodyd.service")
if at_most "$level" 2.0; then
	t_ok "overall exposure $level <= 2.0"
else
	t_fail "overall exposure '${level:-?}' > 2.0"
	grep '✗' "$W/sec.out" | sed 's/^/    /' | head -40
	sed 's/^/    stderr: /' "$W/sec.err" | head -5
fi
t_exit "security --threshold=20 (2.0) agrees" 0 \
	systemd-analyze security --offline=true --threshold=20 \
	"$W/custodyd.service"
# The measure can fail: the same unit without its hardening is exposed.
mkdir -p "$W/bare"
grep -E '^(\[|Description=|Type=|ExecStart=|User=)' "$W/custodyd.service" \
	> "$W/bare/custodyd.service"
bare=$(exposure "$W/bare/custodyd.service")
if [ -n "$bare" ] && ! at_most "$bare" 2.0; then
	t_ok "an unhardened unit measures $bare, over 2.0"
else
	t_fail "an unhardened unit measures '${bare:-?}'"
fi

t_done
