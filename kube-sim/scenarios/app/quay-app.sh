#!/bin/bash
# A stand-in for Quay in kube-sim's scenario: one INSERT into logentry per APP_INTERVAL seconds
# through the database Service, each in its own autocommit transaction. Clair's stand-in runs the
# same loop with its own statement (APP_SQL, returning an id) and name (APP_NAME). A line
# "committed <id>" is printed only after psql returned the id, i.e. after the COMMIT was
# acknowledged; failures print "failed: ..." and are retried. SIGTERM ends it after the current
# statement.
#
# Like Quay's own connection pool, it keeps one session open and reconnects only when that session
# fails (the server stopped, the connection dropped, no answer within APP_TIMEOUT seconds). A new
# connection per statement cost a psql and a server backend each time, about a quarter of the CPU
# of an end-to-end case.
stop=0
trap 'stop=1' TERM INT
host=${DB_HOST:-registry-quay-database}
interval=${APP_INTERVAL:-0.2}
timeout=${APP_TIMEOUT:-10}
name=${APP_NAME:-quay-app}
sql=${APP_SQL:-"INSERT INTO logentry (kind_id, account_id, ip, metadata_json) VALUES (1, 1, '127.0.0.1', '{\"from\":\"quay-app\"}') RETURNING id"}
# Statements come one per line on the session's input; psql's messages share its output.
sql=${sql//$'\n'/ }
# The pause between statements is a read that times out on a FIFO nobody writes (held open for
# reading and writing, so it never reports an end): bash's read is a builtin, sleep would be a
# process per statement.
pause_dir=$(mktemp -d)
mkfifo "$pause_dir/pause"
exec {pause}<>"$pause_dir/pause"
rm -rf "$pause_dir"
session=
open_session() {
  coproc PSQL { exec psql -X -qtA -v ON_ERROR_STOP=1 -h "$host" 2>&1; }
  session=$PSQL_PID
  exec {to_psql}>&"${PSQL[1]}" {from_psql}<&"${PSQL[0]}"
}
close_session() {
  [ -n "$session" ] || return 0
  exec {to_psql}>&- {from_psql}<&-
  kill "$session" 2>/dev/null
  wait "$session" 2>/dev/null
  session=
}
echo "$name: writing to $host as $PGUSER"
while [ "$stop" = 0 ]; do
  [ -n "$session" ] || open_session
  out=
  if printf '%s;\n' "$sql" >&"$to_psql" 2>/dev/null && IFS= read -r -t "$timeout" out <&"$from_psql" \
      && [[ $out =~ ^[0-9]+$ ]]; then
    echo "committed $out"
  else
    # An error, a lost connection or no answer: psql's first line says which (an error ends the
    # session: ON_ERROR_STOP); the next statement opens a new one.
    echo "failed: ${out:-no answer from psql within ${timeout}s}"
    close_session
  fi
  [ "$stop" = 0 ] && read -r -t "$interval" -u "$pause" _
done
close_session
echo "$name: stopped"
