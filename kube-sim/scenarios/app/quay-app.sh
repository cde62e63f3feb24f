#!/bin/sh
# A stand-in for Quay in kube-sim's scenario: one INSERT into logentry per APP_INTERVAL seconds
# through the database Service, each in its own autocommit transaction. Clair's stand-in runs the
# same loop with its own statement (APP_SQL, returning an id) and name (APP_NAME). A line
# "committed <id>" is printed only after psql returned the id, i.e. after the COMMIT was
# acknowledged; failures print "failed: ..." and are retried. SIGTERM ends it after the current
# statement.
stop=0
trap 'stop=1' TERM INT
host=${DB_HOST:-registry-quay-database}
interval=${APP_INTERVAL:-0.2}
name=${APP_NAME:-quay-app}
sql=${APP_SQL:-"INSERT INTO logentry (kind_id, account_id, ip, metadata_json) VALUES (1, 1, '127.0.0.1', '{\"from\":\"quay-app\"}') RETURNING id"}
echo "$name: writing to $host as $PGUSER"
while [ "$stop" = 0 ]; do
  out=$(psql -X -qtA -v ON_ERROR_STOP=1 -h "$host" -c "$sql" 2>&1)
  if [ $? -eq 0 ] && [ -n "$out" ]; then
    echo "committed $out"
  else
    echo "failed: $(echo "$out" | head -1)"
  fi
  [ "$stop" = 0 ] && sleep "$interval"
done
echo "$name: stopped"
