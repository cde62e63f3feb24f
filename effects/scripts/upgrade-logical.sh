# Logical upgrade Job (job_role::upgrade_logical), run with the TARGET image: a new cluster in
# the new claim, filled from the backup claim (mounted read-only).
#
# env:  QPU_BACKUP_DIR  the backup Job's folder (must hold COMPLETE)
#       QPU_PGDATA      the new data directory inside the new claim (the image's PGDATA);
#                       removed first if a previous attempt left it
#       QPU_JOBS        parallel pg_restore jobs (default 2; --job-cpus)
#       QPU_SOCKET_DIR  below it, a fresh folder holds the temporary server's socket (default /tmp)
#       PG_SERVER_BINDIR / PG_CLIENT_BINDIR  optional; default: initdb/psql from PATH
# The temporary server listens on the socket only; nothing outside the pod can reach it.
QPU_FAILURE_REASON=UpgradeFailed
require_env QPU_BACKUP_DIR QPU_PGDATA
backup=$QPU_BACKUP_DIR
sock=$(private_socket_dir)
jobs=${QPU_JOBS:-2}
bindir=${PG_SERVER_BINDIR:-$(dirname "$(command -v initdb)")}
unset PGPASSWORD PGSERVICE PGDATABASE
export PGHOST=$sock PGPORT=5432 PGUSER=postgres

step "check the backup in $backup"
[ -f "$backup/COMPLETE" ] || { echo "$backup holds no complete backup (no COMPLETE marker)" >&2; exit 1; }
IFS=$'\t' read -r old_version encoding collate ctype <"$backup/cluster.tsv"
echo "backup of server $old_version: encoding $encoding, collate $collate, ctype $ctype"

step "initdb $QPU_PGDATA"
rm -rf "$QPU_PGDATA"
mkdir -p "$QPU_PGDATA"
chmod 0700 "$QPU_PGDATA"
# --no-sync: the syncfs at the end makes the whole claim durable, initdb's files included.
"$bindir/initdb" --no-sync -D "$QPU_PGDATA" -U postgres -E "$encoding" --lc-collate="$collate" --lc-ctype="$ctype" \
  --auth-local=trust --auth-host=md5 >/dev/null
configure_for_clients "$QPU_PGDATA"

step "start a temporary server on $sock"
# A loading server: nothing in it matters until the Job ends, since a Job that fails (a killed pod
# included) leaves a directory the next attempt removes first. So no WAL beyond what a crash-free
# run needs (wal_level minimal: pg_restore's COPY into a table it created in the same transaction
# writes no WAL), no fsync, no full-page images, no autovacuum. Durability comes at the end: a
# clean shutdown (its checkpoint writes every page) and then syncfs of the claim's filesystem.
# On the command line only: postgresql.conf, which the database Deployment starts with, keeps
# the image's settings. (About a fifth off the restore at 3.5 GB here; docs/BENCHMARKS.md.)
qpu_server_options="-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c wal_level=minimal"
qpu_server_options+=" -c max_wal_senders=0 -c max_wal_size=4GB -c checkpoint_timeout=1h -c autovacuum=off"
start_server "$bindir" "$QPU_PGDATA" "$sock"

step "restore globals"
# The bootstrap superuser exists already (initdb -U postgres); everything else is created.
sed '/^CREATE ROLE postgres;$/d' "$backup/globals.sql" | psql_q -d postgres

# Progress of the restores: the databases' size in the new cluster against their size in the old
# one (sizes.tsv; a backup from before it existed restores without progress lines). A database
# that carried bloat ends below 100 %.
old_bytes() { [ -s "$backup/sizes.tsv" ] && awk -F '\t' '{ s += $2 } END { print s + 0 }' "$backup/sizes.tsv"; }
new_bytes() { psql_at -d postgres -c "SELECT sum(pg_database_size(oid)) FROM pg_database WHERE NOT datistemplate"; }
progress_begin restore old_bytes new_bytes

# A directory archive (pg_dump -Fd, since 2026-12-03), or a custom-format file from a backup taken
# before: pg_restore reads both.
archive_of() { if [ -d "$backup/$1.dir" ]; then echo "$backup/$1.dir"; else echo "$backup/$1.dump"; fi; }
while IFS=$'\t' read -r n db; do
  step "pg_restore -j $jobs $db"
  archive=$(archive_of "$n")
  if [ "$db" != postgres ]; then
    # Create the database ourselves rather than with pg_restore --create: a newer pg_restore
    # writes CREATE DATABASE options (LOCALE_PROVIDER, ...) an older target server rejects, as
    # when postgres:14 runs with 15's client tools. Its encoding and locale are the database's
    # own (NN.database.tsv; a backup from before it existed: the cluster's, matched at initdb);
    # the owner comes from the archive's DATABASE entry.
    # (awk reads the list to its end: leaving early would kill pg_restore with SIGPIPE.)
    owner=$(pg_restore --create --list "$archive" | awk '$4 == "DATABASE" && $5 == "-" && !found { print $NF; found = 1 }')
    db_encoding=$encoding db_collate=$collate db_ctype=$ctype
    if [ -e "$backup/$n.database.tsv" ]; then
      IFS=$'\t' read -r db_encoding db_collate db_ctype <"$backup/$n.database.tsv" && [ -n "$db_ctype" ] ||
        { echo "$backup/$n.database.tsv does not hold the encoding, collate and ctype of $db" >&2; exit 1; }
    fi
    psql_q -d postgres -v db="$db" -v owner="${owner:-postgres}" -v enc="$db_encoding" -v collate="$db_collate" \
      -v ctype="$db_ctype" <<'SQL'
CREATE DATABASE :"db" OWNER :"owner" TEMPLATE template0 ENCODING :'enc' LC_COLLATE :'collate' LC_CTYPE :'ctype';
SQL
  fi
  # No count or checksum pass here: the verifying phase reads every row of the running server once
  # and compares it with the manifest of the quiet old database (one full read of the new side).
  pg_restore --exit-on-error -j "$jobs" -d "$db" "$archive"
  # The database's own properties, which pg_restore applies only with --create: its comment, ACL,
  # connection limit and settings (ALTER DATABASE ... SET, ALTER ROLE ... IN DATABASE ... SET).
  # Each statement names the database, so they run from any connection. With --create pg_restore
  # prints the CREATE DATABASE whatever the list says; the database exists, so that one statement
  # (and only it: --no-owner drops its ALTER ... OWNER) is left out of what psql runs. An archive
  # made without --create (a backup from before 2026-12-05) has no such entries: nothing to apply.
  pg_restore --create --list "$archive" |
    awk '($4 == "DATABASE" && $5 == "PROPERTIES") || (($4 == "COMMENT" || $4 == "ACL") && $6 == "DATABASE") ||
         ($4 == "SECURITY" && $5 == "LABEL" && $7 == "DATABASE")' >"$sock/properties.list"
  if [ -s "$sock/properties.list" ]; then
    step "database properties of $db: $(wc -l <"$sock/properties.list") entries"
    pg_restore --create --no-owner -L "$sock/properties.list" -f - "$archive" |
      awk '/^-- Name: .*; Type: DATABASE; Schema: -;/ { create = 1; next } create && /^CREATE DATABASE / { create = 0; next } { print }' |
      psql_q -d postgres >/dev/null
  fi
done <"$backup/databases.tsv"
progress_end

# No ANALYZE here: the analyze Job makes the statistics after the app is back (pg_restore carries
# none), so the downtime does not wait for them.
step "ALTER EXTENSION ... UPDATE"
update_extensions

step "stop the temporary server"
stop_server
# syncfs (sync -f) of the filesystem: every file the server wrote without fsync, not just the folder.
sync -f "$QPU_PGDATA" 2>/dev/null || sync
QPU_RESULT="UpgradeComplete: restored $(wc -l <"$backup/databases.tsv") database(s) into $("$bindir/postgres" -V | awk '{print $3}') at $QPU_PGDATA"
echo "$QPU_RESULT"
