#!/bin/sh
# tests/integration/cli_habits.sh - what users expect of a CLI: global
# options after the command, COMMAND --help and help COMMAND, -o DIR made
# when missing (0700, never in the state directory), progress of long jobs
# (--wait: a bar on a terminal, plain lines otherwise), a bash completion
# that matches the command table, and remote-mode settings refused before
# any connection.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
S="$TESTTMP/state"
O="$TESTTMP/files"
c() { cc --state-dir "$S" "$@"; }
mkdir -p "$O"
c init >/dev/null
c device add d1.corp.example --tag lab >/dev/null
c device add d2.corp.example >/dev/null

# -- global options after the command -----------------------------------
c --json device list >"$O/before.json"
c device list --json >"$O/after.json"
cc device list --json --state-dir "$S" >"$O/after2.json"
t_check "device list --json == --json device list" cmp -s "$O/before.json" "$O/after.json"
t_check "--state-dir after the command" cmp -s "$O/before.json" "$O/after2.json"
t_grep "--json after the command is JSON" '"devices"' "$O/after.json"
t_exit "--json between group and command" 0 cc device --json list --state-dir "$S"
t_grep "  ... is JSON" '"devices"' "$TESTTMP/out"
t_exit "-q after the command" 0 c password rotate d1.corp.example -q
t_check "  ... prints nothing" test ! -s "$TESTTMP/out"
t_exit "--version N after the command stays the command's" 0 c password show d1.corp.example --version 1
t_exit "after --, --json is an argument" 2 c device show -- --json
t_exit "an option value missing at the end: exit 2" 2 c device list --state-dir

# -- help ------------------------------------------------------------------
t_exit "device list --help: exit 0" 0 c device list --help
t_grep "  ... its usage" '^usage: custodyctl device list \[--tag TAG\]' "$TESTTMP/out"
cp "$TESTTMP/out" "$O/help1"
t_exit "help device list: exit 0" 0 cc help device list
t_check "  ... the same text" cmp -s "$O/help1" "$TESTTMP/out"
t_exit "help device: exit 0" 0 cc help device
t_grep "  ... lists the group" '^  device import ' "$TESTTMP/out"
t_exit "device --help: exit 0" 0 cc device --help
t_exit "help: exit 0" 0 cc help
t_grep "  ... every command" '^  job resume ' "$TESTTMP/out"
t_exit "help init says local only" 0 cc help init
t_grep "  ... local mode only" 'local mode only' "$TESTTMP/out"
t_exit "help nosuch: exit 2" 2 cc help nosuch
t_exit "device nosuch --help: exit 2" 2 cc device nosuch --help
t_exit "--help does not run the command" 0 c password rotate --all --help
t_check "  ... nothing rotated" sh -c "! '$CUSTODYCTL' --state-dir '$S' password history d2.corp.example | grep -q ' 2 '"

# -- -o DIR is made when missing -------------------------------------------
t_exit "cert issue -o a missing directory: made" 0 c cert issue d1.corp.example -o "$O/new/sub"
t_check "  ... files written there" test -s "$O/new/sub/d1.corp.example.key"
t_check "  ... directories 0700" test "$(stat -c %a "$O/new") $(stat -c %a "$O/new/sub")" = "700 700"
t_exit "-o a missing directory in the state: exit 2" 2 c cert issue d2.corp.example -o "$S/made"
t_check "  ... not made" test ! -e "$S/made"
ln -s "$S" "$O/statelink"
t_exit "-o a missing directory through a link to the state: exit 2" 2 c cert issue d2.corp.example -o "$O/statelink/made"
t_check "  ... not made" test ! -e "$S/made"
: >"$O/plain"
t_exit "-o below a file: exit 4" 4 c cert issue d2.corp.example -o "$O/plain/x"
t_exit "-o FILE still needs its directory: exit 4" 4 c ca bundle -o "$O/nodir/bundle.pem"

# -- progress of long jobs -------------------------------------------------
for i in $(seq 1 40); do echo "h$i.corp.example"; done | sed '1i fqdn' >"$O/fleet.csv"
c device import "$O/fleet.csv" >/dev/null
t_exit "password rotate --all --wait (not a terminal)" 0 c password rotate --all --wait --replace-pending
t_grep "  ... plain progress lines" '^progress: 42/42 devices \(100%\), [0-9]+/s, ETA 0:00$' "$TESTTMP/err"
t_exit "password rotate --all without --wait" 0 c password rotate --all --replace-pending
t_check "  ... no progress in a log" sh -c "! grep -q progress '$TESTTMP/err'"
job=$(c --json job list --limit 1 | sed -n 's/.*"id": \([0-9]*\).*/\1/p' | head -1)
t_exit "job show --wait ID" 0 c job show --wait "$job"
t_grep "  ... the job's progress" '^progress: 42/42 devices' "$TESTTMP/err"
t_grep "  ... then the job" "^job $job: password.rotate, done" "$TESTTMP/out"
t_exit "job list --wait: exit 2" 2 c job list --wait
if t_need script; then
	script -qc "'$CUSTODYCTL' --state-dir '$S' password rotate --all --replace-pending >/dev/null" /dev/null >"$O/tty" 2>&1
	t_grep "a terminal gets a bar with rate and ETA" '\[#{24}\] 42/42 100% [0-9]+/s ETA 0:00' "$O/tty"
else
	t_skip "a terminal gets a bar" "script(1) is not installed"
fi

# -- bash completion -------------------------------------------------------
sh "$top/scripts/gen-completion.sh" "$CUSTODYCTL" >"$O/completion"
if cmp -s "$O/completion" "$top/contrib/custodyctl.bash-completion"; then
	t_ok "contrib/custodyctl.bash-completion matches the command table"
else
	t_fail "contrib/custodyctl.bash-completion differs from the command table; regenerate: sh scripts/gen-completion.sh build/custodyctl >contrib/custodyctl.bash-completion"
	diff "$top/contrib/custodyctl.bash-completion" "$O/completion" | head -20 | sed 's/^/    /'
fi
complete_words() {	# words...: what completes the last one
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
	    _custodyctl; echo "${COMPREPLY[*]}"' sh \
	    "$top/contrib/custodyctl.bash-completion" "$@" 2>/dev/null
}
t_check "completes a group" test "$(complete_words custodyctl dev)" = "device"
t_check "completes a subcommand" test "$(complete_words custodyctl --json device li)" = "list"
t_check "completes a command's option" test "$(complete_words custodyctl job show --w)" = "--wait"
t_check "completes a global option after the command" \
    test "$(complete_words custodyctl device list --state-dir x --ser)" = "--server"
t_check "completes help's topics" test "$(complete_words custodyctl help pol)" = "policy"

# -- remote mode refused before any connection ----------------------------
cp "$S/admin/admin.key" "$O/admin.key"
chmod 600 "$O/admin.key"
R="--server https://127.0.0.1:9 --cacert $S/ca/bundle.pem --cert $S/admin/admin.crt"
# shellcheck disable=SC2086
t_exit "remote init: exit 2" 2 cc $R --key "$O/admin.key" init
t_grep "  ... says why" "cannot run through --server" "$TESTTMP/err"
# shellcheck disable=SC2086
t_exit "remote store accept-restore: exit 2" 2 cc $R --key "$O/admin.key" store accept-restore
t_exit "--state-dir and --server: exit 2" 2 cc --state-dir "$S" --server https://127.0.0.1:9 status
chmod 640 "$O/admin.key"
# shellcheck disable=SC2086
t_exit "a client key readable by the group: exit 5" 5 cc $R --key "$O/admin.key" status
t_grep "  ... refused like the master key" "mode 0640" "$TESTTMP/err"
chmod 600 "$O/admin.key"
# shellcheck disable=SC2086
t_exit "nobody listening: exit 5" 5 cc $R --key "$O/admin.key" status
t_grep "  ... names the server" "https://127.0.0.1:9" "$TESTTMP/err"
t_exit "CUSTODY_SERVER and friends from the environment: exit 5" 5 env \
    CUSTODY_SERVER=https://127.0.0.1:9 CUSTODY_CACERT="$S/ca/bundle.pem" \
    CUSTODY_CERT="$S/admin/admin.crt" CUSTODY_KEY="$O/admin.key" "$CUSTODYCTL" device list
t_grep "  ... names that server" "https://127.0.0.1:9" "$TESTTMP/err"
t_exit "--state-dir wins over CUSTODY_SERVER" 0 env CUSTODY_SERVER=https://127.0.0.1:9 \
    "$CUSTODYCTL" --state-dir "$S" status
t_exit "policy check runs offline in remote mode" 0 env CUSTODY_SERVER=https://127.0.0.1:9 \
    "$CUSTODYCTL" policy check "$top/policy/example.yaml"
t_exit "config check in remote mode without a file: exit 2" 2 env CUSTODY_SERVER=https://127.0.0.1:9 \
    "$CUSTODYCTL" config check
t_grep "  ... says what to give" "--file PATH" "$TESTTMP/err"
t_exit "config check --file runs offline in remote mode" 0 env CUSTODY_SERVER=https://127.0.0.1:9 \
    "$CUSTODYCTL" config check --file "$S/custody.yaml"
t_exit "an http:// server: exit 2" 2 cc --server http://127.0.0.1:9 --cacert "$S/ca/bundle.pem" status
t_exit "no --cacert: exit 2" 2 cc --server https://127.0.0.1:9 status

# -- the remote backend against a stand-in that misbehaves on purpose ----
# (tests/integration/remote_fake.py; remote_cli.sh runs the real custodyd)
FPID=
fake() {	# MODE: start the stand-in, set U
	[ -n "$FPID" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null
	rm -f "$O/port" "$O/fake.log"
	python3 "$top/tests/integration/remote_fake.py" "$S/tls/server.crt" \
	    "$S/tls/server.key" "$1" "$O/port" "$O/fake.log" 2>"$O/fake.err" &
	FPID=$!
	_n=0
	while [ ! -s "$O/port" ] && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
	U="https://127.0.0.1:$(cat "$O/port")"
}
trap '[ -n "$FPID" ] && kill "$FPID" 2>/dev/null' EXIT
f() { cc --server "$U" --cacert "$S/ca/bundle.pem" --cert "$S/admin/admin.crt" --key "$O/admin.key" "$@"; }
if t_need python3; then
	fake pages
	t_exit "pages followed remotely" 0 f device list
	t_check "  ... every page's device" test "$(grep -c corp.example "$TESTTMP/out")" = 3
	t_check "  ... three requests on one kept-alive connection" \
	    test "$(grep -c '^POST /v1/ops/device.list application/json ' "$O/fake.log") $(grep -c '^CONN' "$O/fake.log")" = "3 1"
	t_grep "  ... the cursor sent back as after" '"after":"p2"' "$O/fake.log"
	fake huge
	t_exit "a reply over 64 MiB: exit 5" 5 f status
	t_grep "  ... refused as too large" "larger than [0-9]+ bytes" "$TESTTMP/err"
	fake denied
	t_exit "403 with an error name: exit 3" 3 f device list
	t_grep "  ... the server's message" "^custodyctl: fake: not yours$" "$TESTTMP/err"
	fake html
	t_exit "502 with an HTML page: exit 5" 5 f status
	t_grep "  ... names the server and the status" "$U answered HTTP 502" "$TESTTMP/err"
else
	t_skip "remote backend against a stand-in" "python3 is not installed"
fi
t_done
