# Archive Job (job_role::archive), after an upgrade on cloning storage, while the app already
# serves the upgraded database: the backup claim is a clone of the old claim taken once its server
# had stopped cleanly. The old server starts on it (the upgrade image's old binaries, a socket in
# the pod, no network) with its configuration files read from a scratch folder, so the clone's
# own stay as they were; backup.sh, which follows this text, then writes the logical archive
# beside the clone's data directory with the new binaries' pg_dump, and the exit trap stops the
# server.
#
# First, the upgraded database's statistics: pg_upgrade carries none, and the upgrade Job left
# them out of the downtime, so `vacuumdb --analyze-in-stages` runs here against the live server
# through its Service (the minimal stage first, so plans recover within seconds). A failure is
# reported in the result and never stops the archive: autovacuum makes them in time anyway.
#
# env:  QPU_OLD_PGDATA  the clone's data directory
#       PG_OLD_BINDIR, PG_NEW_BINDIR (the upgrade image's convention)
#       PGHOST, PGPORT, PGUSER, PGPASSWORD (secretKeyRef), QPU_ADMIN: the upgraded server, for
#         the statistics (the superuser: every database; otherwise the app's own tables)
#       and backup.sh's QPU_APP_DB, QPU_BACKUP_DIR, QPU_MANIFEST_SQL
#       QPU_VERIFY_PGDATA optional: verify after the resume against this clone of the upgraded data
QPU_FAILURE_REASON=ArchiveFailed
require_env QPU_OLD_PGDATA PG_OLD_BINDIR PG_NEW_BINDIR PGHOST PGUSER QPU_APP_DB

step "analyze the upgraded database at $PGHOST:${PGPORT:-5432} (the app is back)"
if analyze_live "$PG_NEW_BINDIR/vacuumdb"; then
  analyzed="statistics made"
else
  analyzed="ANALYZE FAILED (exit $?; autovacuum will make the statistics)"
  echo "$analyzed" >&2
fi
unset PGPASSWORD PGSERVICE PGDATABASE PGUSER PGHOST PGPORT

step "start the old server on the backup clone $QPU_OLD_PGDATA"
[ -s "$QPU_OLD_PGDATA/PG_VERSION" ] ||
  { echo "$QPU_OLD_PGDATA holds no PostgreSQL data directory (no PG_VERSION): the backup claim is not a clone of the old claim" >&2; exit 1; }
# scratch_config PGDATA: the server options of a start on a clone whose own configuration files
# stay as they are: copies in a scratch folder, where the image's extra files (an `include` only
# the old image has) may be missing, and the local install user gets in without a password over
# the pod's own socket.
scratch_config() {
  local conf
  conf=$(mktemp -d)
  sed "$qpu_loose_includes" "$1/postgresql.conf" >"$conf/postgresql.conf"
  printf 'local all all trust\n' >"$conf/pg_hba.conf"
  : >"$conf/pg_ident.conf"
  echo "-c config_file=$conf/postgresql.conf -c hba_file=$conf/pg_hba.conf -c ident_file=$conf/pg_ident.conf"
}
qpu_server_options=$(scratch_config "$QPU_OLD_PGDATA")
sock=$(private_socket_dir)
rm -f "$QPU_OLD_PGDATA/postmaster.pid"
start_server "$PG_OLD_BINDIR" "$QPU_OLD_PGDATA" "$sock"
export PGHOST=$sock PGPORT=5432
superuser=$(install_user)
export PGUSER=$superuser QPU_ADMIN=1
# The dump is the TARGET's pg_dump, as the backup Job's (a newer pg_dump reads an older server).
export PATH="$PG_NEW_BINDIR:$PATH"
echo "old server $("$PG_OLD_BINDIR/postgres" -V) on the clone, install user $superuser; $(pg_dump --version)"

# Verification after the resume (QPU_VERIFY_PGDATA: a clone of the upgraded data taken between the
# upgrade Job and the switch). The new server starts on that clone beside the old one; the
# manifest of the app's database is read from both at once (one full read per side; the archive
# below reuses the old side's instead of reading again), printed for the controller
# (`QPU_MANIFEST <old|new> <line>`, closed by `QPU_MANIFEST_END <old|new> <tables>`), and
# compared: a difference fails the Job at once, reason VerificationMismatch, before the archive.
verified=""
if [ -n "${QPU_VERIFY_PGDATA:-}" ]; then
  step "start the new server on the clone of the upgraded data $QPU_VERIFY_PGDATA"
  [ -s "$QPU_VERIFY_PGDATA/PG_VERSION" ] ||
    { echo "$QPU_VERIFY_PGDATA holds no PostgreSQL data directory (no PG_VERSION): the verify claim is not a clone of the upgraded data" >&2; exit 1; }
  vconf=$(scratch_config "$QPU_VERIFY_PGDATA")
  vsock=$(private_socket_dir)
  rm -f "$QPU_VERIFY_PGDATA/postmaster.pid"
  qpu_extra_server_bindir=$PG_NEW_BINDIR qpu_extra_server_pgdata=$QPU_VERIFY_PGDATA
  "$PG_NEW_BINDIR/pg_ctl" -D "$QPU_VERIFY_PGDATA" -w -t "${QPU_START_SECONDS:-300}" -l "$vsock/qpu-server.log" \
    -o "-c listen_addresses='' -c unix_socket_directories='$vsock' -c port=5432 -c autovacuum=off $vconf" start ||
    { cat "$vsock/qpu-server.log" >&2; exit 1; }

  step "manifests of $QPU_APP_DB: the old data (backup clone) and the upgraded data (its clone), side by side"
  printf '%s\n' "$QPU_MANIFEST_SQL" >/tmp/qpu-verify.sql
  PGHOST=$vsock psql_at -F $'\t' -d "$QPU_APP_DB" -f /tmp/qpu-verify.sql >/tmp/qpu-verify-new.tsv 2>/tmp/qpu-verify-new.err &
  new_pid=$!
  psql_at -F $'\t' -d "$QPU_APP_DB" -f /tmp/qpu-verify.sql >/tmp/qpu-verify-old.tsv ||
    { rc=$?; kill "$new_pid" 2>/dev/null || true; exit "$rc"; }
  wait "$new_pid" || { rc=$?; cat /tmp/qpu-verify-new.err >&2; exit "$rc"; }
  for side in old new; do
    sed "s/^/QPU_MANIFEST $side /" "/tmp/qpu-verify-$side.tsv"
    echo "QPU_MANIFEST_END $side $(wc -l <"/tmp/qpu-verify-$side.tsv")"
  done

  step "stop the new server on the clone of the upgraded data"
  "$PG_NEW_BINDIR/pg_ctl" -D "$QPU_VERIFY_PGDATA" -m fast -w -t "${QPU_STOP_SECONDS:-300}" stop
  qpu_extra_server_pgdata=""

  step "compare the manifests"
  tables=$(wc -l </tmp/qpu-verify-old.tsv)
  rows=$(awk -F '\t' '{ s += $2 } END { printf "%d", s }' /tmp/qpu-verify-old.tsv)
  if ! cmp -s /tmp/qpu-verify-old.tsv /tmp/qpu-verify-new.tsv; then
    QPU_FAILURE_REASON=VerificationMismatch
    echo "the upgraded data differs from the old data ($tables tables before the upgrade); old (<) and upgraded (>):" >&2
    diff /tmp/qpu-verify-old.tsv /tmp/qpu-verify-new.tsv | grep '^[<>]' | head -n 20 >&2 || true
    exit 1
  fi
  verified="verified after the resume: $tables tables, $rows rows, every checksum equal"
  echo "$verified"
  export QPU_VERIFIED_MANIFEST=/tmp/qpu-verify-old.tsv
fi
