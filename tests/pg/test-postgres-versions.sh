#!/usr/bin/env bash
# Tests the PostgreSQL builds provisioned by scripts/provision-postgres.sh (docs/POSTGRES.md):
#  - per provisioned major: initdb as the unprivileged user, start on a free 127.0.0.1 port
#    (unix socket in the temp dir), CREATE EXTENSION pg_trgm, a table with rows, query, stop;
#  - PostgreSQL 13's own client tools (psql, pg_dump, pg_restore) from the cache;
#  - dump a 10 server with 15's pg_dumpall/pg_dump, restore into 15 with pg_restore;
#  - pg_upgrade 13 -> 15 (--check, then --link) and the rows, index and extension after it.
# Servers and temp dirs are removed on any exit. Prints "N passed, M failed"; exit 1 on failure.
# Runs as root (servers then run as the provisioned user via runuser) or as an ordinary user.
# Usage: tests/pg/test-postgres-versions.sh [MAJOR...]   (default: every provisioned major)
set -uo pipefail

CACHE=${QPU_PG_CACHE:-/var/cache/quay-pg-upgrader/pg}
ROWS=5000

if [ ! -r "$CACHE/versions.env" ]; then
  echo "test-postgres-versions: $CACHE/versions.env not found: run scripts/provision-postgres.sh (as root) first"
  echo "0 passed, 1 failed"
  exit 1
fi
# shellcheck disable=SC1091
. "$CACHE/versions.env"
ONLY=("$@")

PASS=0
FAIL=0
FAILED=()
WORK=$(mktemp -d /tmp/qpu-pgt.XXXXXX)
chmod 755 "$WORK"
SERVERS="$WORK/servers"   # "bindir datadir" of every server started, for the cleanup
: >"$SERVERS"

is_root() { [ "$(id -u)" -eq 0 ]; }
as_pg() { if is_root; then runuser -u "$QPU_PG_USER" -- "$@"; else "$@"; fi; }
cleanup() {
  local b d
  while read -r b d; do
    [ -f "$d/postmaster.pid" ] && (cd "$WORK" && as_pg "$b/pg_ctl" -D "$d" -m immediate -w stop) >/dev/null 2>&1
  done <"$SERVERS"
  rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

var() { local n="QPU_PG_${1}_${2}"; printf '%s' "${!n-}"; }
bin() { printf '%s/%s' "$(var "$1" BINDIR)" "$2"; }   # bin MAJOR TOOL
CLIENT=$QPU_PG_CLIENT_BINDIR                          # newest full client tools (15)
have() { case " $QPU_PG_MAJORS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
need() { local m; for m; do have "$m" || { echo "PostgreSQL $m is not provisioned"; return 1; }; done; }

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    if ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# Cluster helpers. A cluster NAME lives in $WORK/NAME (socket dir) with data in $WORK/NAME/data.
declare -A PORT=()
cluster_init() {   # cluster_init NAME MAJOR
  local n=$1 m=$2 dir="$WORK/$1"
  mkdir -p "$dir"; is_root && chown "$QPU_PG_USER:" "$dir"; chmod 700 "$dir"
  (cd "$dir" && as_pg "$(bin "$m" initdb)" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C -N) \
    >"$dir/initdb.log" 2>&1 || { tail -n 20 "$dir/initdb.log"; echo "initdb ($m) failed"; return 1; }
}
cluster_start() {  # cluster_start NAME MAJOR: sets PORT[NAME]
  local n=$1 m=$2 dir="$WORK/$1" port
  echo "$(var "$m" BINDIR) $dir/data" >>"$SERVERS"
  for _ in 1 2 3; do
    port=$(free_port) || { echo "no free port"; return 1; }
    if (cd "$dir" && as_pg "$(bin "$m" pg_ctl)" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
          -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start) >"$dir/pg_ctl.log" 2>&1; then
      PORT[$n]=$port
      return 0
    fi
  done
  tail -n 20 "$dir/server.log" 2>/dev/null
  echo "PostgreSQL $m server $n did not start"
  return 1
}
cluster_stop() {   # cluster_stop NAME MAJOR
  local dir="$WORK/$1"
  (cd "$dir" && as_pg "$(bin "$2" pg_ctl)" -D "$dir/data" -m fast -w -t 60 stop) >>"$dir/pg_ctl.log" 2>&1 ||
    { cat "$dir/pg_ctl.log"; echo "pg_ctl stop ($2) failed"; return 1; }
}
# sql NAME DB SQL...: runs statements with 15's psql over TCP; prints unaligned tuples.
sql() {
  local n=$1 db=$2; shift 2
  local args=() s
  for s; do args+=(-c "$s"); done
  "$CLIENT/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${PORT[$n]}" -U postgres -d "$db" "${args[@]}"
}
expect() {         # expect WHAT GOT WANT
  if [ "$2" != "$3" ]; then echo "FAIL: $1: got '$2', want '$3'"; return 1; fi
  echo "ok: $1 = $3"
}
# The schema every test uses: a table with rows, a pg_trgm index on it, a view and a sequence.
SCHEMA=(
  "CREATE EXTENSION IF NOT EXISTS pg_trgm"
  "CREATE TABLE repository (id serial PRIMARY KEY, name text NOT NULL, created timestamptz DEFAULT now())"
  "INSERT INTO repository (name) SELECT 'org' || (g % 50) || '/repo-' || g FROM generate_series(1, $ROWS) g"
  "CREATE INDEX repository_name_trgm ON repository USING gin (name gin_trgm_ops)"
  "CREATE VIEW repo_count AS SELECT count(*) AS n FROM repository"
)
check_schema() {   # check_schema NAME DB: rows, the trgm index and the view answer
  local n=$1 db=$2
  expect "row count" "$(sql "$n" "$db" "SELECT count(*) FROM repository")" "$ROWS" &&
  expect "view" "$(sql "$n" "$db" "SELECT n FROM repo_count")" "$ROWS" &&
  expect "trigram match" "$(sql "$n" "$db" "SET enable_seqscan = off" \
      "SELECT count(*) FROM repository WHERE name LIKE '%repo-4242%'")" 1 &&
  expect "similarity" "$(sql "$n" "$db" "SELECT similarity('org1/repo-1', 'org1/repo-1') = 1")" t &&
  expect "trgm index" "$(sql "$n" "$db" \
      "SELECT count(*) FROM pg_indexes WHERE indexname = 'repository_name_trgm'")" 1
}

run_test() {       # run_test NAME FUNCTION ARGS...: runs it with set -e, output in a log
  local name=$1 log="$WORK/test-$((PASS + FAIL)).log" rc start=$SECONDS
  shift
  ( set -e; "$@" ) >"$log" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    PASS=$((PASS + 1)); printf 'PASS  %-62s %3ss\n' "$name" "$((SECONDS - start))"
  else
    FAIL=$((FAIL + 1)); FAILED+=("$name"); printf 'FAIL  %-62s %3ss\n' "$name" "$((SECONDS - start))"
    sed 's/^/      | /' "$log" | tail -n 30
  fi
}

# ---- the tests ---------------------------------------------------------------------------------
t_cache_readable() {
  local m
  for m in $QPU_PG_MAJORS; do
    as_pg test -x "$(bin "$m" postgres)" || { echo "$QPU_PG_USER cannot execute $(bin "$m" postgres)"; return 1; }
    expect "postgres -V major ($m)" "$(as_pg "$(bin "$m" postgres)" -V | sed -E 's/.*\) ([0-9]+).*/\1/')" "$m"
  done
  if command -v python3 >/dev/null; then python3 -m json.tool "$CACHE/versions.json" >/dev/null
  else node -e 'JSON.parse(require("fs").readFileSync(process.argv[1]))' "$CACHE/versions.json"; fi
  echo "versions.json parses"
}

t_major() {        # t_major MAJOR: initdb, start, pg_trgm, rows, query, stop
  local m=$1 n="c$1" s
  cluster_init "$n" "$m"
  cluster_start "$n" "$m"
  expect "server major" "$(sql "$n" postgres "SELECT current_setting('server_version_num')::int / 10000")" "$m"
  if [ "$(var "$m" PG_TRGM)" != yes ] ||
     ! sql "$n" postgres "CREATE EXTENSION pg_trgm" >"$WORK/$n/trgm.log" 2>&1; then
    cat "$WORK/$n/trgm.log" 2>/dev/null || true
    echo "FAIL: the PostgreSQL $m build lacks contrib pg_trgm (CREATE EXTENSION pg_trgm failed)"
    return 1
  fi
  for s in "${SCHEMA[@]}"; do sql "$n" postgres "$s"; done
  check_schema "$n" postgres
  expect "update" "$(sql "$n" postgres "UPDATE repository SET name = name || '-x' WHERE id <= 10 RETURNING 1" | wc -l)" 10
  cluster_stop "$n" "$m"
  [ ! -f "$WORK/$n/data/postmaster.pid" ] || { echo "server still running after stop"; return 1; }
}

t_13_client_tools() {  # PostgreSQL 13's own psql, pg_dump and pg_restore (bullseye build)
  need 13
  local n=t13 s
  cluster_init "$n" 13
  cluster_start "$n" 13
  for s in "${SCHEMA[@]}"; do
    "$(bin 13 psql)" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${PORT[$n]}" -U postgres -d postgres -c "$s"
  done
  "$(bin 13 pg_dump)" -h 127.0.0.1 -p "${PORT[$n]}" -U postgres -Fc -f "$WORK/$n/dump13.custom" postgres
  expect "pg_restore 13 lists the table" \
    "$("$(bin 13 pg_restore)" -l "$WORK/$n/dump13.custom" | grep -c 'TABLE DATA public repository')" 1
  "$(bin 13 psql)" -X -q -h 127.0.0.1 -p "${PORT[$n]}" -U postgres -c "CREATE DATABASE copy"
  "$(bin 13 pg_restore)" -h 127.0.0.1 -p "${PORT[$n]}" -U postgres -d copy "$WORK/$n/dump13.custom"
  check_schema "$n" copy
  (cd "$WORK/$n" && "$(bin 13 vacuumdb)" -q -h 127.0.0.1 -p "${PORT[$n]}" -U postgres --analyze copy)
  cluster_stop "$n" 13
}

t_dump_10_restore_15() {   # 15's pg_dumpall/pg_dump against a 10 server, pg_restore into 15
  need 10 15
  local s
  cluster_init old 10
  cluster_start old 10
  sql old postgres "CREATE ROLE quay LOGIN PASSWORD 'quay'" "CREATE DATABASE quay OWNER quay"
  sql old quay "CREATE EXTENSION pg_trgm"
  for s in "${SCHEMA[@]:1}"; do sql old quay "SET ROLE quay" "$s"; done
  "$CLIENT/pg_dumpall" -h 127.0.0.1 -p "${PORT[old]}" -U postgres --globals-only -f "$WORK/old/globals.sql"
  "$CLIENT/pg_dump" -h 127.0.0.1 -p "${PORT[old]}" -U postgres -Fc -f "$WORK/old/quay.dump" quay
  local before
  before=$(sql old quay "SELECT count(*) FROM repository")
  cluster_stop old 10

  cluster_init new 15
  cluster_start new 15
  # The globals include CREATE ROLE postgres, which exists already: errors there are expected.
  "$CLIENT/psql" -X -q -h 127.0.0.1 -p "${PORT[new]}" -U postgres -d postgres -f "$WORK/old/globals.sql" \
    >"$WORK/new/globals.log" 2>&1 || true
  expect "role quay restored" "$(sql new postgres "SELECT count(*) FROM pg_roles WHERE rolname = 'quay'")" 1
  "$CLIENT/pg_restore" -h 127.0.0.1 -p "${PORT[new]}" -U postgres --create --exit-on-error -d postgres \
    "$WORK/old/quay.dump"
  expect "rows equal after restore" "$(sql new quay "SELECT count(*) FROM repository")" "$before"
  check_schema new quay
  expect "owner" "$(sql new postgres "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'quay'")" quay
  expect "server major" "$(sql new postgres "SELECT current_setting('server_version_num')::int / 10000")" 15
  cluster_stop new 15
}

t_pg_upgrade_13_15() {     # pg_upgrade 13 -> 15 --link, both clusters stopped
  need 13 15
  local s before up="$WORK/upgrade"
  cluster_init u13 13
  cluster_start u13 13
  sql u13 postgres "CREATE ROLE quay LOGIN" "CREATE DATABASE quay OWNER quay"
  for s in "${SCHEMA[@]}"; do sql u13 quay "$s"; done
  before=$(sql u13 quay "SELECT count(*) FROM repository")
  cluster_stop u13 13
  cluster_init u15 15
  # pg_upgrade writes logs and sockets into its working directory: one owned by the user.
  mkdir -p "$up"; is_root && chown "$QPU_PG_USER:" "$up"
  local p1 p2 args
  p1=$(free_port); p2=$(free_port)
  echo "$(var 13 BINDIR) $WORK/u13/data" >>"$SERVERS"
  echo "$(var 15 BINDIR) $WORK/u15/data" >>"$SERVERS"
  args=(-b "$(var 13 BINDIR)" -B "$(var 15 BINDIR)" -d "$WORK/u13/data" -D "$WORK/u15/data"
        -p "$p1" -P "$p2" -U postgres)
  (cd "$up" && as_pg "$CLIENT/pg_upgrade" "${args[@]}" --check) ||
    { cat "$up"/*.log "$up"/pg_upgrade_output.d/*/log/*.log 2>/dev/null | tail -n 30; return 1; }
  (cd "$up" && as_pg "$CLIENT/pg_upgrade" "${args[@]}" --link) ||
    { cat "$up"/pg_upgrade_output.d/*/log/*.log 2>/dev/null | tail -n 30; return 1; }
  cluster_start u15 15
  expect "server major after upgrade" "$(sql u15 postgres "SELECT current_setting('server_version_num')::int / 10000")" 15
  expect "rows equal after pg_upgrade" "$(sql u15 quay "SELECT count(*) FROM repository")" "$before"
  check_schema u15 quay
  expect "pg_trgm extension carried over" "$(sql u15 quay "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")" 1
  (cd "$up" && "$CLIENT/vacuumdb" -q -h 127.0.0.1 -p "${PORT[u15]}" -U postgres --all --analyze-only)
  expect "insert after upgrade" "$(sql u15 quay "INSERT INTO repository (name) VALUES ('new/repo') RETURNING id > $ROWS")" t
  cluster_stop u15 15
}

# ---- run ---------------------------------------------------------------------------------------
MAJORS=$QPU_PG_MAJORS
[ "${#ONLY[@]}" -gt 0 ] && MAJORS="${ONLY[*]}"
echo "PostgreSQL cache: $CACHE (majors: $QPU_PG_MAJORS); servers run as: $(is_root && echo "$QPU_PG_USER" || id -un)"
if is_root && ! getent passwd "$QPU_PG_USER" >/dev/null; then
  echo "user $QPU_PG_USER is missing: run scripts/provision-postgres.sh"; echo "0 passed, 1 failed"; exit 1
fi
run_test "cache: every bin dir runs as $QPU_PG_USER, versions.json" t_cache_readable
for m in $MAJORS; do
  if have "$m"; then
    run_test "PostgreSQL $m ($(var "$m" VERSION)): initdb, start, pg_trgm, rows, stop" t_major "$m"
  else
    run_test "PostgreSQL $m: provisioned" need "$m"
  fi
done
if [ "${#ONLY[@]}" -eq 0 ]; then
  run_test "PostgreSQL 13 client tools: psql, pg_dump, pg_restore, vacuumdb" t_13_client_tools
  run_test "pg_dump/pg_dumpall 15 from a 10 server, pg_restore into 15" t_dump_10_restore_15
  run_test "pg_upgrade 13 -> 15 (--check, --link)" t_pg_upgrade_13_15
fi

if [ "$FAIL" -gt 0 ]; then
  echo "failed:"; printf '  %s\n' "${FAILED[@]}"
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
