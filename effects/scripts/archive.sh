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
conf=$(mktemp -d)
# The image's extra files (an `include` only the old image has) may be missing here; the local
# install user gets in without a password over the pod's own socket.
sed "$qpu_loose_includes" "$QPU_OLD_PGDATA/postgresql.conf" >"$conf/postgresql.conf"
printf 'local all all trust\n' >"$conf/pg_hba.conf"
: >"$conf/pg_ident.conf"
qpu_server_options="-c config_file=$conf/postgresql.conf -c hba_file=$conf/pg_hba.conf -c ident_file=$conf/pg_ident.conf"
sock=$(private_socket_dir)
rm -f "$QPU_OLD_PGDATA/postmaster.pid"
start_server "$PG_OLD_BINDIR" "$QPU_OLD_PGDATA" "$sock"
export PGHOST=$sock PGPORT=5432
superuser=$(install_user)
export PGUSER=$superuser QPU_ADMIN=1
# The dump is the TARGET's pg_dump, as the backup Job's (a newer pg_dump reads an older server).
export PATH="$PG_NEW_BINDIR:$PATH"
echo "old server $("$PG_OLD_BINDIR/postgres" -V) on the clone, install user $superuser; $(pg_dump --version)"
