# Preflight check Job (job_role::check), run by default before anything is stopped, while the old
# server still serves: with the target image for the logical method, with the upgrade image for
# pg_upgrade. It does not mount the old claim (a ReadWriteOnce claim in use may not attach to a
# second node), so instead of `pg_upgrade --check` on the data directory it checks over SQL what
# pg_upgrade --check would refuse (QPU_PG_UPGRADE_CHECKS=1), plus what only the target can tell:
#   - the server is older than the target (PG_NEW_BINDIR's postgres);
#   - the target can create a cluster with the old one's encoding, locale and checksum setting
#     (a scratch initdb in /tmp: a locale missing from the image fails here, not mid-upgrade);
#   - every installed extension is available in the target (pg_available_extensions of the
#     scratch cluster);
#   - for pg_upgrade: no prepared transactions, no tables WITH OIDS (gone in 12), no reg*
#     columns other than regclass/regrole/regtype in user tables (their OIDs do not survive).
# env:  PGHOST, PGPORT, PGUSER, PGPASSWORD (secretKeyRef), QPU_APP_DB, QPU_ADMIN, QPU_PG_UPGRADE_CHECKS,
#       PG_NEW_BINDIR (default: the bin dir of initdb on PATH), QPU_SOCKET_DIR (default /tmp)
QPU_FAILURE_REASON=CheckFailed
require_env PGHOST PGUSER QPU_APP_DB
newbin=${PG_NEW_BINDIR:-$(dirname "$(command -v initdb)")}
sock=$(private_socket_dir)
problems=()

step "wait for the database at $PGHOST:${PGPORT:-5432}"
wait_for_server

step "read the old cluster's settings"
IFS=$'\t' read -r version encoding collate ctype checksums < <(psql_at -F $'\t' -d "$QPU_APP_DB" -c \
  "SELECT current_setting('server_version_num'), pg_encoding_to_char(encoding), datcollate, datctype,
          current_setting('data_checksums') FROM pg_database WHERE datname = 'template0'")
new_version=$("$newbin/postgres" -V | awk '{print $3}')
echo "server $version ($encoding, $collate/$ctype, checksums $checksums); target $new_version"
[ "$version" -lt "$(( ${new_version%%.*} * 10000 ))" ] || problems+=("the server ($version) is not older than the target ($new_version)")

step "collect installed extensions and pg_upgrade blockers"
: >/tmp/qpu-extensions.txt
while IFS= read -r db; do
  psql_at -d "$db" -c "SELECT extname FROM pg_extension" >>/tmp/qpu-extensions.txt
  [ "${QPU_PG_UPGRADE_CHECKS:-1}" = 1 ] || continue
  if [ "$version" -lt 120000 ]; then
    n=$(psql_at -d "$db" -c "SELECT count(*) FROM pg_class WHERE relhasoids AND relnamespace >= 16384")
    [ "$n" = 0 ] || problems+=("database $db has $n table(s) WITH OIDS")
  fi
  n=$(psql_at -d "$db" -c "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace s ON s.oid = c.relnamespace
        WHERE NOT a.attisdropped AND s.nspname NOT IN ('pg_catalog', 'information_schema')
          AND a.atttypid IN ('regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype,
                             'regoperator'::regtype, 'regconfig'::regtype, 'regdictionary'::regtype)")
  [ "$n" = 0 ] || problems+=("database $db has $n column(s) of a reg* type pg_upgrade cannot carry")
done < <(if [ "${QPU_ADMIN:-0}" = 1 ]; then
           psql_at -d "$QPU_APP_DB" -c "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
         else printf '%s\n' "$QPU_APP_DB"; fi)
if [ "${QPU_PG_UPGRADE_CHECKS:-1}" = 1 ]; then
  n=$(psql_at -d "$QPU_APP_DB" -c "SELECT count(*) FROM pg_prepared_xacts")
  [ "$n" = 0 ] || problems+=("$n prepared transaction(s) are open")
fi

step "scratch initdb with the target ($encoding, $collate/$ctype)"
scratch=$sock/qpu-check-data
rm -rf "$scratch"
checksum_flag=()
[ "$checksums" = on ] && checksum_flag=(--data-checksums)
"$newbin/initdb" -D "$scratch" -U postgres -E "$encoding" --lc-collate="$collate" --lc-ctype="$ctype" \
  --auth-local=trust "${checksum_flag[@]}" >/dev/null
start_server "$newbin" "$scratch" "$sock"
PGHOST=$sock PGUSER=postgres PGPASSWORD='' psql_at -d postgres -c "SELECT name FROM pg_available_extensions" \
  | sort -u >/tmp/qpu-available.txt
stop_server
rm -rf "$scratch"
while IFS= read -r ext; do
  grep -qx "$ext" /tmp/qpu-available.txt || problems+=("extension $ext is not available in PostgreSQL $new_version")
done < <(sort -u /tmp/qpu-extensions.txt)

step "report"
if [ "${#problems[@]}" -gt 0 ]; then
  printf '%s\n' "${problems[@]}" >&2
  exit 1
fi
QPU_RESULT="CheckPassed: $version -> $new_version, $(sort -u /tmp/qpu-extensions.txt | tr '\n' ' ')"
echo "$QPU_RESULT"
