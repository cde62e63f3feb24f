# Shared prelude of every quay-pg-upgrader Job script (effects/job_specs.cpp puts it in front of
# the role's script). Contract:
#   - `set -eu` and pipefail: the first failing command ends the Job; nothing is retried here,
#     so the pod's exit code and termination message tell the real reason.
#   - Everything the script touches comes from the environment (QPU_* paths, libpq's PG* vars);
#     passwords arrive only as PGPASSWORD from a secretKeyRef and never appear in argv.
#   - The output goes to the container log and to $QPU_LOG; on exit a trap writes the
#     termination message ($QPU_TERMINATION_LOG, /dev/termination-log in a pod):
#       failure: "<Reason>: step '<step>' failed (exit N)" then the last lines of the log;
#       success: "<Reason>: <summary>" (QPU_RESULT).
#     Kubernetes keeps at most 4096 bytes of it; we write at most 4000.
#   - While a step moves data, a progress line every QPU_PROGRESS_SECONDS (default 2) for the
#     controller, which reads the tail of the pod's log (progress_begin below).
set -eu
set -o pipefail
umask 077

QPU_LOG=${QPU_LOG:-/tmp/qpu-job.log}
QPU_TERMINATION_LOG=${QPU_TERMINATION_LOG:-/dev/termination-log}
QPU_STEP=starting
QPU_RESULT=${QPU_RESULT:-Completed}
QPU_FAILURE_REASON=${QPU_FAILURE_REASON:-JobFailed}
qpu_server_pgdata=""
qpu_server_bindir=""
qpu_extra_server_pgdata=""  # a second temporary server (the archive Job's verification)
qpu_extra_server_bindir=""
qpu_progress_pid=""
qpu_progress_stage=""
qpu_progress_done=""
qpu_relay_pid=""
: >"$QPU_LOG"

exec 3>&1 4>&2
exec > >(tee -a "$QPU_LOG") 2>&1
qpu_tee=$!

qpu_on_exit() {
  local rc=$?
  trap - EXIT
  set +e
  # The progress lines hold our end of the log pipe: they stop before tee is waited for.
  [ -n "$qpu_progress_pid" ] && kill "$qpu_progress_pid" 2>/dev/null
  [ -n "$qpu_relay_pid" ] && kill "$qpu_relay_pid" 2>/dev/null
  if [ -n "$qpu_server_pgdata" ]; then
    "$qpu_server_bindir/pg_ctl" -D "$qpu_server_pgdata" -m immediate -w -t 30 stop >/dev/null 2>&1
  fi
  if [ -n "$qpu_extra_server_pgdata" ]; then
    "$qpu_extra_server_bindir/pg_ctl" -D "$qpu_extra_server_pgdata" -m immediate -w -t 30 stop >/dev/null 2>&1
  fi
  # Closing our ends of the pipe lets tee finish, so the tail below sees the last lines.
  exec 1>&3 2>&4
  wait "$qpu_tee" 2>/dev/null
  if [ "$rc" -ne 0 ]; then
    {
      printf "%s: step '%s' failed (exit %d)\n" "$QPU_FAILURE_REASON" "$QPU_STEP" "$rc"
      # The progress and manifest lines are for the controller, not the reader; they would crowd
      # out the error.
      grep -v -E '^QPU_(PROGRESS|MANIFEST|MANIFEST_END) ' "$QPU_LOG" | tail -n 25 | cut -c1-300
    } | head -c 4000 >"$QPU_TERMINATION_LOG" 2>/dev/null
  else
    printf '%s\n' "$QPU_RESULT" | head -c 4000 >"$QPU_TERMINATION_LOG" 2>/dev/null
  fi
  exit "$rc"
}
trap qpu_on_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

step() {
  QPU_STEP=$1
  printf '== %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1"
}

# Progress for the controller (reducers/progress.hpp), one line at a time:
#   QPU_PROGRESS <ms since the epoch> <stage> <unit> <done> <total>
# progress_begin STAGE TOTAL_FN DONE_FN: in the background, TOTAL_FN measures the stage's total
# once (the step goes on meanwhile), then a line with DONE_FN's measure follows every
# QPU_PROGRESS_SECONDS until progress_end, which writes the last line (done = total = the final
# measure). Both print a byte count; a failing measure prints no line rather than a wrong one.
progress_line() { printf 'QPU_PROGRESS %s %s %s %s %s\n' "$(date +%s%3N)" "$1" "$2" "$3" "$4"; }

progress_begin() {
  progress_end
  qpu_progress_stage=$1 qpu_progress_done=$3
  local total_fn=$2
  (
    trap - EXIT TERM INT
    set +e
    total=$($total_fn 2>/dev/null)
    case $total in '' | *[!0-9]*) exit 0 ;; esac
    while :; do
      done=$($qpu_progress_done 2>/dev/null)
      case $done in '' | *[!0-9]*) ;; *) progress_line "$qpu_progress_stage" bytes "$done" "$total" ;; esac
      # sleep must not hold the log pipe open after this loop is killed
      sleep "${QPU_PROGRESS_SECONDS:-2}" >/dev/null 2>&1
    done
  ) &
  qpu_progress_pid=$!
}

progress_end() {
  [ -n "$qpu_progress_pid" ] || return 0
  kill "$qpu_progress_pid" 2>/dev/null || true
  wait "$qpu_progress_pid" 2>/dev/null || true
  qpu_progress_pid=""
  local done
  done=$($qpu_progress_done 2>/dev/null) || return 0
  case $done in '' | *[!0-9]*) return 0 ;; esac
  progress_line "$qpu_progress_stage" bytes "$done" "$done"
}

require_env() {
  local name
  for name in "$@"; do
    if [ -z "${!name:-}" ]; then
      QPU_STEP="environment"
      echo "environment variable $name is not set" >&2
      exit 2
    fi
  done
}

# Waits up to QPU_WAIT_SECONDS for the server named by PGHOST/PGPORT to accept connections.
wait_for_server() {
  local deadline=$((SECONDS + ${QPU_WAIT_SECONDS:-60}))
  until pg_isready -q; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "the database at ${PGHOST:-?}:${PGPORT:-5432} did not accept connections within ${QPU_WAIT_SECONDS:-60}s" >&2
      pg_isready || true
      return 1
    fi
    sleep 1
  done
}

# A fresh directory for a temporary server's socket, below QPU_SOCKET_DIR (default /tmp): a
# socket lock file left in /tmp by an earlier run of this pod (a killed container, a restarted
# node) never stops the server from starting.
private_socket_dir() {
  mktemp -d "${QPU_SOCKET_DIR:-/tmp}/qpu.XXXXXX"
}

# A temporary server on a private unix socket only (no TCP), stopped again by stop_server or
# by the exit trap (immediate) when a step fails.
start_server() {
  local bindir=$1 pgdata=$2 socket_dir=$3
  qpu_server_bindir=$bindir
  qpu_server_pgdata=$pgdata
  "$bindir/pg_ctl" -D "$pgdata" -w -t "${QPU_START_SECONDS:-300}" -l "$socket_dir/qpu-server.log" \
    -o "-c listen_addresses='' -c unix_socket_directories='$socket_dir' -c port=5432 ${qpu_server_options:-}" start ||
    { cat "$socket_dir/qpu-server.log" >&2; return 1; }
}

stop_server() {
  "$qpu_server_bindir/pg_ctl" -D "$qpu_server_pgdata" -m fast -w -t "${QPU_STOP_SECONDS:-300}" stop
  qpu_server_pgdata=""
}

# relay_socket SOCKET HOST PORT: a Unix socket at SOCKET whose connections socat forwards to
# HOST:PORT (in the background, until relay_end or the exit trap), once it accepts them.
relay_socket() {
  local socket=$1 host=$2 port=$3 i
  socat "UNIX-LISTEN:$socket,fork,mode=600" "TCP:$host:$port" &
  qpu_relay_pid=$!
  for i in $(seq 50); do
    [ -S "$socket" ] && return 0
    kill -0 "$qpu_relay_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "could not relay $socket to $host:$port" >&2
  return 1
}

relay_end() {
  [ -n "$qpu_relay_pid" ] || return 0
  kill "$qpu_relay_pid" 2>/dev/null || true
  wait "$qpu_relay_pid" 2>/dev/null || true
  qpu_relay_pid=""
}

# Bytes under PATH as du counts them; what du cannot read (a file that went, a folder of another
# user) is left out rather than failing the step.
# install_user: the name of the cluster's install user (oid 10), read over the socket in $PGHOST as
# postgres or as the pod's own user (local trust on a cluster the Job started).
install_user() {
  psql -X -A -t -v ON_ERROR_STOP=1 -U postgres -d template1 -c "SELECT rolname FROM pg_roles WHERE oid = 10" 2>/dev/null ||
    psql -X -A -t -v ON_ERROR_STOP=1 -U "$(id -un)" -d template1 -c "SELECT rolname FROM pg_roles WHERE oid = 10"
}

# A sed script that turns the config's `include` lines into `include_if_exists`: a file only the
# old image has must not fail a start here.
qpu_loose_includes='s/^\([[:space:]]*\)include[[:space:]]/\1include_if_exists /'

tree_bytes() { (du -sb "$1" 2>/dev/null || true) | cut -f1; }

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_at() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }

# Runs ALTER EXTENSION ... UPDATE for every extension of every connectable database (PostgreSQL
# never updates extensions by itself, neither pg_restore nor pg_upgrade does).
update_extensions() {
  local db
  while IFS= read -r db; do
    psql_at -d "$db" -c "SELECT format('ALTER EXTENSION %I UPDATE;', extname) FROM pg_extension" |
      psql_q -d "$db"
  done < <(psql_at -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")
}

# Lines PostgreSQL's initdb and our clients need in the new cluster so that the target image
# serves it as its own entrypoint would have: password logins over TCP (the sclorg images add
# "host all all all md5" at initialisation) and listening on every address.
configure_for_clients() {
  local pgdata=$1
  printf '\n# quay-pg-upgrader: password logins over TCP, as the sclorg images set up\nhost all all all md5\n' \
    >>"$pgdata/pg_hba.conf"
  printf "\n# quay-pg-upgrader: as the sclorg images configure it\nlisten_addresses = '*'\ninclude_if_exists '%s'\n" \
    "${QPU_EXTRA_CONFIG:-/var/lib/pgsql/openshift-custom-postgresql.conf}" >>"$pgdata/postgresql.conf"
}

# The statistics of the live upgraded server (its Service, the PG* connection): `vacuumdb
# --analyze-in-stages` of every database as the superuser, else of the app's own; the minimal
# stage first, so plans recover within seconds. $1: the vacuumdb to run (default: from PATH).
analyze_live() {
  local what=(-d "$QPU_APP_DB")
  [ "${QPU_ADMIN:-0}" = 1 ] && what=(--all)
  "${1:-vacuumdb}" --analyze-in-stages --jobs "${QPU_JOBS:-2}" -q "${what[@]}"
}
