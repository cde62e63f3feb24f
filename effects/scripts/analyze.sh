# Analyze Job (job_role::analyze), after an upgrade that restored or copied the data (logical, or
# pg_upgrade on a copy), once it is verified and the app serves it again: neither pg_restore nor
# pg_upgrade carries the planner's statistics, and the upgrade Job left them out of the downtime,
# so `vacuumdb --analyze-in-stages` runs here against the live server through its Service, with
# the target image's client tools. A failure fails this Job and is reported; it never undoes the
# upgrade (autovacuum makes the statistics in time anyway).
#
# env:  PGHOST, PGPORT, PGUSER, PGPASSWORD (secretKeyRef), QPU_ADMIN, QPU_APP_DB: the upgraded
#         server (the superuser: every database; otherwise the app's own)
#       QPU_JOBS  vacuumdb's parallel connections (default 2; --job-cpus)
QPU_FAILURE_REASON=AnalyzeFailed
require_env PGHOST PGUSER QPU_APP_DB

step "wait for the upgraded database at $PGHOST:${PGPORT:-5432}"
wait_for_server

step "vacuumdb --analyze-in-stages (the app is back)"
analyze_live
if [ "${QPU_ADMIN:-0}" = 1 ]; then what="every database"; else what="database $QPU_APP_DB"; fi
QPU_RESULT="AnalyzeComplete: statistics made for $what on $(psql_at -d "$QPU_APP_DB" -c 'SHOW server_version' | awk '{print $1}') (vacuumdb --analyze-in-stages, while the app served)"
echo "$QPU_RESULT"
