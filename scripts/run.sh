#!/bin/sh
# scripts/run.sh BUILD STATE - what `make run` does until custodyd exists:
# initialise the state directory if absent, then show a guided tour of the
# commands that work on it.
set -eu
BUILD=$1
STATE=$2
C="$BUILD/custodyctl"
if [ ! -e "$STATE/custody.db" ]; then
	"$C" --state-dir "$STATE" init
else
	echo "using the existing custody state in $STATE"
fi
cat <<TXT

custody is ready in $STATE (SQLite store, sealed with $STATE/seal/master.key).
The HTTPS service (custodyd) comes later; today custodyctl works on the state
directory directly, like kadmin.local. Try:

  $C --state-dir $STATE device add host1.corp.example --tag lab
  $C --state-dir $STATE device list
  $C --state-dir $STATE password show host1.corp.example
  $C --state-dir $STATE password rotate --tag lab
  $C --state-dir $STATE password history host1.corp.example
  $C --state-dir $STATE password confirm host1.corp.example --version 2
  $C --state-dir $STATE device import devices.csv
  $C --state-dir $STATE audit list
  $C --state-dir $STATE audit verify
  $C --state-dir $STATE --json status

Every command takes --json. man ./man/custodyctl.1 for the whole story.
TXT
"$C" --state-dir "$STATE" status
