#!/bin/sh
# tests/integration/concurrency.sh - two custodyctl processes writing one
# state directory at once: rotations, confirms, imports, CSR signing and
# CA rollover steps in two parallel loops (bounded in count and in time),
# then: every command ended as a success or a refusal (never "busy" or a
# damaged store), password verify and audit verify are clean, no device
# has two pending versions of a secret, and the audit log holds exactly
# one "ok" entry per change each successful command reported (nothing
# lost, nothing doubled).
. "$(dirname "$0")/lib.sh"
t_need_or_skip sqlite3 openssl
S="$TESTTMP/state"
W="$TESTTMP/w"
mkdir -p "$W"
c() { cc --state-dir "$S" "$@"; }
db() { sqlite3 "$S/custody.db" "$1"; }
ROUNDS=${CONC_ROUNDS:-20}
DEADLINE=$(( $(date +%s) + ${CONC_SECONDS:-40} ))

# A fast CA (ECDSA): a rotation makes its CA keys before its transaction
# (checked at the end), but an activation still makes the service keys
# (ECDSA unless the legacy profile) inside its own.
t_exit "init" 0 c init --key-type ecdsa-p256
for w in a b; do
	for i in 0 1 2; do c device add "$w$i.corp.example" >/dev/null; done
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/$w.key" -subj "/CN=${w}0.corp.example" \
	    -out "$W/$w.csr" 2>/dev/null
done
c device add shared.corp.example >/dev/null
base() { db "SELECT count(*) FROM audit WHERE result = 'ok' AND action = '$1'"; }
for a in password.rotate password.confirm password.show device.add \
    cert.sign ca.rotate ca.activate ca.retire; do
	echo "$a $(base $a)" >> "$W/base"
done

# One worker: each command's exit code goes to W/codes.NAME, and what a
# success changed (action and number of audit entries) to W/ok.NAME.
worker() {
	me=$1
	r=0
	while [ $r -lt "$ROUNDS" ] && [ "$(date +%s)" -lt "$DEADLINE" ]; do
		for dev in "${me}1.corp.example" shared.corp.example; do
			run "$me" password.rotate 1 password rotate "$dev"
			v=$(c --json password show "$dev" --pending 2>/dev/null |
			    sed -n 's/.*"version": *\([0-9]*\).*/\1/p')
			if [ -n "$v" ]; then
				echo "password.show 1" >> "$W/ok.$me"
				run "$me" password.confirm 1 password confirm \
				    "$dev" --version "$v"
			fi
		done
		printf 'fqdn,tags\n%s-%s-1.corp.example,%s\n%s-%s-2.corp.example,%s\n' \
		    "$me" "$r" "$me" "$me" "$r" "$me" > "$W/import.$me"
		run "$me" device.add 2 device import "$W/import.$me"
		run "$me" cert.sign 1 cert sign "${me}0.corp.example" \
		    --csr "$W/$me.csr" -o "$W/leaf.$me.pem" --force
		case "$me.$((r % 3))" in
		a.0|b.1) run "$me" ca.rotate 1 ca rotate ;;
		a.1|b.2) run "$me" ca.activate 1 ca rotate --activate ;;
		*) run "$me" ca.retire 1 ca rotate --retire-old --force ;;
		esac
		r=$((r + 1))
	done
	echo "$r" > "$W/rounds.$me"
}
# run WORKER ACTION N ARGS...: one command; on success N ok entries of
# ACTION are expected in the audit log.
run() {
	_me=$1 _act=$2 _n=$3
	shift 3
	c "$@" >/dev/null 2>>"$W/err.$_me"
	_rc=$?
	echo "$_rc $*" >> "$W/codes.$_me"
	[ $_rc -eq 0 ] && echo "$_act $_n" >> "$W/ok.$_me"
	return 0
}

start=$(date +%s)
worker a & pa=$!
worker b & pb=$!
wait $pa
wait $pb
took=$(( $(date +%s) - start ))
echo "# $(cat "$W/rounds.a") and $(cat "$W/rounds.b") rounds in ${took}s"

t_check "both loops ran" test "$(cat "$W/rounds.a")" -gt 0 -a "$(cat "$W/rounds.b")" -gt 0
# Success (0) or a refusal of a step the other process made moot (1);
# never unavailable (5: busy, damaged) nor anything else.
bad=$(cat "$W/codes.a" "$W/codes.b" | awk '$1 != 0 && $1 != 1' | wc -l)
t_check "every command succeeded or was refused ($bad others)" test "$bad" -eq 0
[ "$bad" -eq 0 ] || { cat "$W/codes.a" "$W/codes.b" | awk '$1 != 0 && $1 != 1' | head; tail -5 "$W/err.a" "$W/err.b"; }
oks=$(cat "$W/codes.a" "$W/codes.b" | awk '$1 == 0' | wc -l)
t_check "most commands succeeded ($oks)" test "$oks" -ge 10
for a in cert.sign device.add password.rotate; do
	n=$(cat "$W/ok.a" "$W/ok.b" | awk -v a=$a '$1 == a' | wc -l)
	t_check "$a succeeded in both loops ($n)" test "$n" -ge 2
done

t_exit "password verify" 0 c password verify
t_exit "audit verify" 0 c audit verify
t_check "no device with two pending versions" test "$(db "SELECT count(*) FROM
    (SELECT 1 FROM secret WHERE state = 'pending' GROUP BY device_id, kind
    HAVING count(*) > 1)")" -eq 0
t_check "no device with two current versions" test "$(db "SELECT count(*) FROM
    (SELECT 1 FROM secret WHERE state = 'current' GROUP BY device_id, kind
    HAVING count(*) > 1)")" -eq 0
t_check "exactly one active generation" test "$(db "SELECT count(*) FROM ca_gen
    WHERE state = 'active'")" -eq 1
t_check "no serial left reserved" test "$(db "SELECT count(*) FROM ca_serial")" -eq 0
# No lost (or doubled) audit entry: per action, the "ok" entries added
# equal what the successful commands reported.
while read -r a b0; do
	want=$(cat "$W/ok.a" "$W/ok.b" | awk -v a="$a" '$1 == a { s += $2 } END { print s + 0 }')
	got=$(( $(base "$a") - b0 ))
	t_check "audit: $a entries match the successes ($got of $want)" test "$got" -eq "$want"
done < "$W/base"
t_check "imported devices all registered" test "$(db "SELECT count(*) FROM device
    WHERE fqdn LIKE '%-%-_.corp.example'")" -eq "$(cat "$W/ok.a" "$W/ok.b" | awk '$1 == "device.add" { s += $2 } END { print s + 0 }')"
t_check "within the time bound" test "$took" -le 60

# The CPU work of a rotation (making the new root and issuing keys:
# seconds for RSA-4096) and of an activation (the new service keys) is
# done before its write transaction: every time the command stops where it
# makes a key (test hook), the store's write lock is free, so another
# writer goes through at once.
keygen_unlocked() {	# keygen_unlocked NAME ARGS...: run custodyctl ARGS
	name=$1
	shift
	CUSTODY_TEST_STOP_AT=ca-keygen "$CUSTODYCTL" --state-dir "$S" "$@" \
	    >/dev/null 2>"$TESTTMP/kg.err" &
	kg=$!
	stops=0 held=0 n=0
	while kill -0 $kg 2>/dev/null && [ $n -lt 600 ]; do
		n=$((n + 1))
		if [ "$(sed 's/^.*) //' /proc/$kg/stat 2>/dev/null |
		    cut -d' ' -f1)" = T ]; then
			stops=$((stops + 1))
			sqlite3 "$S/custody.db" ".timeout 0" \
			    "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 ||
			    held=$((held + 1))
			kill -CONT $kg
		fi
		sleep 0.05
	done
	wait $kg
	rc=$?
	t_check "$name: made its keys (stopped at each: $stops)" test $stops -ge 2
	t_check "$name: never while holding the write lock (held at $held stops)" test $held -eq 0
	t_check "$name: succeeded (exit $rc)" test $rc -eq 0
}
c ca rotate --retire-old --force >/dev/null 2>&1
c ca rotate --activate >/dev/null 2>&1
c ca rotate --retire-old --force >/dev/null 2>&1
keygen_unlocked "ca rotate" ca rotate --key-type rsa3072
keygen_unlocked "ca rotate --activate" ca rotate --activate
t_exit "then: the new service certificate is in place" 0 c audit verify
t_done
