# Backup Job (job_role::backup), run with the TARGET image's client tools: a newer pg_dump
# reading an older server is the supported direction. Also the second half of the archive Job
# (archive.sh started the old server on the backup clone before it).
#
# env:  PGHOST, PGPORT, PGUSER, PGPASSWORD (secretKeyRef), QPU_APP_DB (the app's database)
#       QPU_ADMIN=1 when PGUSER is the superuser: every database and the globals with passwords;
#         otherwise only QPU_APP_DB and the globals without role passwords
#       QPU_BACKUP_DIR   folder in the backup claim; cleared first
#       QPU_MANIFEST_SQL optional (a revert's backup, the archive Job): psql script printing
#                        schema.table<TAB>rows<TAB>checksum per user table; an upgrade's backup has
#                        none (the controller's manifest, taken beside it, is the one read)
#       QPU_JOBS         pg_dump's parallel workers (default 2)
# out:  $QPU_BACKUP_DIR/cluster.tsv     server_version_num, encoding, collate, ctype (template0)
#       $QPU_BACKUP_DIR/databases.tsv   NN<TAB>database name, one line per archive
#       $QPU_BACKUP_DIR/sizes.tsv       NN<TAB>pg_database_size: the restore's measure of progress
#       $QPU_BACKUP_DIR/globals.sql     pg_dumpall --globals-only
#       $QPU_BACKUP_DIR/NN.database.tsv the database's encoding, collate, ctype (pg_database): the
#                                       restore creates it with them (a database may differ from the cluster)
#       $QPU_BACKUP_DIR/NN.dir/         pg_dump -Fd --create -j QPU_JOBS of each database (directory
#                                       format: the tables dumped in parallel, each file compressed as
#                                       -Fc would; --create: the database's own owner, comment, ACL,
#                                       connection limit, ALTER DATABASE/ROLE ... SET settings too)
#       $QPU_BACKUP_DIR/NN.list         pg_restore --list of it (the archive is readable)
#       $QPU_BACKUP_DIR/NN.manifest.tsv row counts and checksums per table (with QPU_MANIFEST_SQL)
#       $QPU_BACKUP_DIR/COMPLETE        written last: a folder without it is not a backup
[ "${QPU_JOB_ROLE:-}" = archive ] || QPU_FAILURE_REASON=BackupFailed
require_env PGHOST PGUSER QPU_APP_DB QPU_BACKUP_DIR
dir=$QPU_BACKUP_DIR

step "clear $dir"
mkdir -p "$dir"
find "$dir" -mindepth 1 -delete

step "wait for the database at $PGHOST:${PGPORT:-5432}"
wait_for_server

step "read the cluster's settings"
psql_at -F $'\t' -d "$QPU_APP_DB" -c "SELECT current_setting('server_version_num'), pg_encoding_to_char(encoding),
  datcollate, datctype FROM pg_database WHERE datname = 'template0'" >"$dir/cluster.tsv"
echo "server $(cut -f1 "$dir/cluster.tsv"), $(pg_dump --version)"

step "list the databases"
if [ "${QPU_ADMIN:-0}" = 1 ]; then
  psql_at -d "$QPU_APP_DB" -c "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1" \
    >"$dir/databases.txt"
else
  printf '%s\n' "$QPU_APP_DB" >"$dir/databases.txt"
fi
awk '{ printf "%02d\t%s\n", NR, $0 }' "$dir/databases.txt" >"$dir/databases.tsv"
rm "$dir/databases.txt"
[ -s "$dir/databases.tsv" ] || { echo "no database to back up" >&2; exit 1; }
while IFS=$'\t' read -r n db; do
  printf '%s\t%s\n' "$n" "$(psql_at -d "$QPU_APP_DB" -v db="$db" <<<"SELECT pg_database_size(:'db')")"
  psql_at -F $'\t' -d "$QPU_APP_DB" -v db="$db" >"$dir/$n.database.tsv" <<'SQL'
SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = :'db'
SQL
done <"$dir/databases.tsv" >"$dir/sizes.tsv"

# Progress of the dumps: the archives' bytes against their expected size, each table's COPY text
# compressed as pg_dump -Fc does (zlib, level 6) and measured whole for tables up to 10 MB, on a
# 1 % block sample scaled up for larger ones. Measured in the background while pg_dump runs.
archive_estimate() {
  local n db table pages sample total=0
  while IFS=$'\t' read -r n db; do
    while IFS=$'\t' read -r table pages; do
      if [ "$pages" -gt 1280 ]; then
        sample=$(psql -X -q -d "$db" -c "COPY (SELECT * FROM ONLY $table TABLESAMPLE SYSTEM (1) REPEATABLE (0)) TO STDOUT" | gzip -6 | wc -c)
        total=$((total + sample * 100))
      else
        total=$((total + $(psql -X -q -d "$db" -c "COPY (SELECT * FROM ONLY $table) TO STDOUT" | gzip -6 | wc -c)))
      fi
    done < <(psql_at -F $'\t' -d "$db" -c "SELECT format('%I.%I', n.nspname, c.relname), pg_relation_size(c.oid) / 8192
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'")
  done <"$dir/databases.tsv"
  echo "$total"
}
# The bytes of the archives' files (a directory archive grows file by file as its workers write).
files_bytes() { find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
archive_bytes() { files_bytes "$dir"/*.dir; }
progress_begin dump archive_estimate archive_bytes

step "pg_dumpall --globals-only"
if [ "${QPU_ADMIN:-0}" = 1 ]; then
  pg_dumpall --globals-only -l "$QPU_APP_DB" -f "$dir/globals.sql"
else
  # Without superuser rights pg_authid is unreadable; the app user's password is set again by
  # the image's entrypoint from its own Secret.
  pg_dumpall --globals-only --no-role-passwords -l "$QPU_APP_DB" -f "$dir/globals.sql"
fi

if [ -n "${QPU_MANIFEST_SQL:-}" ]; then printf '%s\n' "$QPU_MANIFEST_SQL" >/tmp/qpu-manifest.sql; fi
total=0
while IFS=$'\t' read -r n db; do
  step "pg_dump $db"
  # With QPU_MANIFEST_SQL, the manifest (every row read and hashed) runs on a second connection
  # while pg_dump reads the same quiesced data, so the two passes overlap instead of adding up. Its
  # errors are shown under its own step once pg_dump is done.
  manifest_pid=""
  tables=""
  if [ -n "${QPU_VERIFIED_MANIFEST:-}" ] && [ "$db" = "$QPU_APP_DB" ]; then
    # The archive Job's verification read the app's database already: one full read per side.
    cp "$QPU_VERIFIED_MANIFEST" "$dir/$n.manifest.tsv"
    tables="$(wc -l <"$dir/$n.manifest.tsv") tables (the verification's), "
  elif [ -n "${QPU_MANIFEST_SQL:-}" ]; then
    psql_at -F $'\t' -d "$db" -f /tmp/qpu-manifest.sql >"$dir/$n.manifest.tsv" 2>/tmp/qpu-manifest.err &
    manifest_pid=$!
  fi
  pg_dump -Fd --create -j "${QPU_JOBS:-2}" -d "$db" -f "$dir/$n.dir" || {
    rc=$?
    [ -z "$manifest_pid" ] || { kill "$manifest_pid" 2>/dev/null || true; wait "$manifest_pid" 2>/dev/null || true; }
    exit "$rc"
  }
  if [ -n "$manifest_pid" ]; then
    step "manifest of $db"
    wait "$manifest_pid" || {
      rc=$?
      cat /tmp/qpu-manifest.err >&2
      exit "$rc"
    }
    tables="$(wc -l <"$dir/$n.manifest.tsv") tables, "
  fi
  step "pg_restore --list $db"
  # -f, not a redirect: pg_restore then reports a failed write (a full volume) instead of exiting 1 silently.
  pg_restore --list "$dir/$n.dir" -f "$dir/$n.list"
  [ -s "$dir/$n.list" ]
  size=$(files_bytes "$dir/$n.dir")
  total=$((total + size))
  echo "$db: ${tables}archive $size bytes"
done <"$dir/databases.tsv"

progress_end

step "finish"
count=$(wc -l <"$dir/databases.tsv")
printf 'databases=%s\narchive_bytes=%s\nfinished=%s\n' "$count" "$total" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dir/COMPLETE"
sync -f "$dir" 2>/dev/null || sync
if [ "${QPU_JOB_ROLE:-}" = archive ]; then
  step "stop the old server on the backup clone"
  stop_server
  QPU_RESULT="ArchiveComplete: $count database(s), $total bytes in $dir, beside the clone of the old data; the upgraded database: $analyzed${verified:+; $verified}"
else
  QPU_RESULT="BackupComplete: $count database(s), $total bytes in $dir"
fi
echo "$QPU_RESULT"
