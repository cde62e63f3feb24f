# Preflight check Job (job_role::check), run by default before anything is stopped, while the old
# server still serves: with the target image for the logical method, with the upgrade image for
# pg_upgrade. It checks:
#   - the server is older than the target (PG_NEW_BINDIR's postgres);
#   - the target can create a cluster with the old one's encoding, locale and checksum setting
#     (a scratch initdb in /tmp: a locale missing from the image fails here, not mid-upgrade);
#   - every installed extension is available in the target (pg_available_extensions of the
#     scratch cluster): pg_trgm, which Quay needs, among them;
#   - for pg_upgrade with QPU_LIVE_CHECK=1 (the default when the admin password is known): the
#     real `pg_upgrade --check` against the RUNNING server. The old claim is mounted read-only at
#     QPU_OLD_PGDATA's parent beside the server's pod; pg_upgrade reads the directory's
#     postmaster.pid and pg_control and connects to the socket folder and port postmaster.pid
#     names, where a socat relay forwards to the Service (the server's own socket is in its pod).
#     The scratch cluster is the new cluster it checks against, made with the old install user.
#   - free space on claims of the backup's and the new data's names that exist already (left by an
#     earlier attempt or by hand), mounted read-only: what is free plus what their Jobs clear
#     first (QPU_BACKUP_DIR; QPU_DATA_CLEARED, colon-separated) must hold QPU_BACKUP_NEED /
#     QPU_DATA_NEED bytes (the databases' size; for pg_upgrade at least the old directory's, which
#     is copied). Claims made later for this attempt are empty and sized by the controller.
#   - for pg_upgrade without the live check (QPU_PG_UPGRADE_CHECKS=1, the fallback): over SQL, what
#     pg_upgrade --check would refuse most often: prepared transactions, tables WITH OIDS (gone in
#     12), reg* columns other than regclass/regrole/regtype in user tables (their OIDs do not
#     survive). It cannot see what only pg_upgrade knows (postfix operators, incompatible
#     polymorphic functions, libraries the target lacks, ...).
# env:  PGHOST, PGPORT, PGUSER, PGPASSWORD (secretKeyRef), QPU_APP_DB, QPU_ADMIN, QPU_PG_UPGRADE_CHECKS,
#       QPU_LIVE_CHECK with QPU_OLD_PGDATA and PG_OLD_BINDIR, QPU_BACKUP_CLAIM/NEED/DIR,
#       QPU_DATA_CLAIM/NEED/CLEARED, PG_NEW_BINDIR (default: the bin dir of
#       initdb on PATH), QPU_SOCKET_DIR (default /tmp)
QPU_FAILURE_REASON=CheckFailed
require_env PGHOST PGUSER QPU_APP_DB
newbin=${PG_NEW_BINDIR:-$(dirname "$(command -v initdb)")}
sock=$(private_socket_dir)
problems=()

step "wait for the database at $PGHOST:${PGPORT:-5432}"
wait_for_server

step "read the old cluster's settings"
IFS=$'\t' read -r version encoding collate ctype checksums superuser < <(psql_at -F $'\t' -d "$QPU_APP_DB" -c \
  "SELECT current_setting('server_version_num'), pg_encoding_to_char(encoding), datcollate, datctype,
          current_setting('data_checksums'), (SELECT rolname FROM pg_roles WHERE oid = 10)
   FROM pg_database WHERE datname = 'template0'")
new_version=$("$newbin/postgres" -V | awk '{print $3}')
echo "server $version ($encoding, $collate/$ctype, checksums $checksums, install user $superuser); target $new_version"
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
"$newbin/initdb" -D "$scratch" -U "$superuser" -E "$encoding" --lc-collate="$collate" --lc-ctype="$ctype" \
  --auth-local=trust "${checksum_flag[@]}" >/dev/null
start_server "$newbin" "$scratch" "$sock"
PGHOST=$sock PGUSER=$superuser PGPASSWORD='' psql_at -d postgres -c "SELECT name FROM pg_available_extensions" \
  | sort -u >/tmp/qpu-available.txt
stop_server
while IFS= read -r ext; do
  grep -qx "$ext" /tmp/qpu-available.txt || problems+=("extension $ext is not available in PostgreSQL $new_version")
done < <(sort -u /tmp/qpu-extensions.txt)

live=""
if [ "${QPU_LIVE_CHECK:-0}" = 1 ]; then
  step "pg_upgrade --check against the running server"
  require_env QPU_OLD_PGDATA PG_OLD_BINDIR
  old=$QPU_OLD_PGDATA
  [ -s "$old/PG_VERSION" ] || { echo "$old holds no PostgreSQL data directory (no PG_VERSION): is the old claim the database's?" >&2; exit 1; }
  [ -r "$old/postmaster.pid" ] || { echo "$old has no postmaster.pid: no server runs on the old claim" >&2; exit 1; }
  # postmaster.pid: line 4 the port, line 5 the first socket folder (what pg_upgrade connects to).
  port=$(sed -n 4p "$old/postmaster.pid" | tr -d '[:space:]')
  relay_dir=$(sed -n 5p "$old/postmaster.pid" | sed 's/[[:space:]]*$//')
  if [ -z "$relay_dir" ] || [ -z "$port" ]; then
    echo "the server's postmaster.pid names no Unix socket (unix_socket_directories is empty): pg_upgrade --check cannot reach it; run with --no-live-check" >&2
    exit 1
  fi
  mkdir -p "$relay_dir" 2>/dev/null || true
  if [ ! -w "$relay_dir" ] || [ -e "$relay_dir/.s.PGSQL.$port" ]; then
    echo "cannot put the relay socket at $relay_dir/.s.PGSQL.$port (not writable, or taken)" >&2
    exit 1
  fi
  relay_socket "$relay_dir/.s.PGSQL.$port" "$PGHOST" "${PGPORT:-5432}"
  mkdir -p "$sock/work"
  # pg_upgrade refuses a non-local PGHOST; it connects as the install user with PGPASSWORD.
  if (cd "$sock/work" && env -u PGHOST -u PGHOSTADDR -u PGPORT -u PGDATABASE PGUSER="$superuser" \
        "$newbin/pg_upgrade" --check -b "$PG_OLD_BINDIR" -B "$newbin" -d "$old" -D "$scratch" -U "$superuser" \
        --socketdir "$sock" -P 50433); then
    live="pg_upgrade --check against the running server passed"
  else
    # Its report names a file listing what it refuses; show their first lines.
    find "$scratch" "$sock/work" -name '*.txt' 2>/dev/null | while IFS= read -r f; do
      echo "-- $(basename "$f"):"
      head -n 10 "$f"
    done
    problems+=("pg_upgrade --check against the running server refused the upgrade (its report above)")
  fi
  relay_end
fi
rm -rf "$scratch"

human() { numfmt --to=iec-i --suffix=B "$1"; }
# check_space CLAIM MOUNT NEED WHAT CLEARED...: problems+= when the claim at MOUNT cannot take NEED
# bytes once the folders CLEARED (its Job removes them first) are gone.
check_space() {
  local claim=$1 mnt=$2 need=$3 what=$4 avail reclaim=0 p n
  shift 4
  avail=$(df -B1 --output=avail "$mnt" | tail -n 1 | tr -d ' ')
  for p in "$@"; do
    [ -e "$p" ] || continue
    # (what du cannot read counts as nothing to clear: the estimate errs on the safe side)
    n=$(tree_bytes "$p")
    reclaim=$((reclaim + ${n:-0}))
  done
  echo "claim $claim: $(human "$avail") free and $(human "$reclaim") of earlier work to clear; $what needs about $(human "$need")"
  if [ $((avail + reclaim)) -lt "$need" ]; then
    problems+=("the existing claim $claim has $(human $((avail + reclaim))) free (after clearing earlier work), $what needs about $(human "$need"): free space on it, or delete it so that a new one is made")
  fi
}
if [ -n "${QPU_BACKUP_NEED:-}" ] || [ -n "${QPU_DATA_NEED:-}" ]; then
  step "free space on the claims that exist already"
  if [ -n "${QPU_BACKUP_NEED:-}" ]; then
    check_space "$QPU_BACKUP_CLAIM" "$(dirname "$QPU_BACKUP_DIR")" "$QPU_BACKUP_NEED" "the backup" "$QPU_BACKUP_DIR"
  fi
  if [ -n "${QPU_DATA_NEED:-}" ]; then
    need=$QPU_DATA_NEED
    if [ "${QPU_LIVE_CHECK:-0}" = 1 ]; then
      # pg_upgrade copies the old directory first
      # (files of the running server may go while du reads them: what it counted is enough)
      n=$(tree_bytes "$QPU_OLD_PGDATA")
      [ -n "$n" ] && [ "$n" -gt "$need" ] && need=$n
    fi
    IFS=: read -r -a cleared <<<"$QPU_DATA_CLEARED"
    check_space "$QPU_DATA_CLAIM" "$(dirname "${cleared[0]}")" "$need" "the upgraded data" "${cleared[@]}"
  fi
fi

step "report"
if [ "${#problems[@]}" -gt 0 ]; then
  printf '%s\n' "${problems[@]}" >&2
  exit 1
fi
QPU_RESULT="CheckPassed: $version -> $new_version, $(sort -u /tmp/qpu-extensions.txt | tr '\n' ' ')${live:+; $live}"
echo "$QPU_RESULT"
