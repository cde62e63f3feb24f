#!/usr/bin/env bash
# Where each provisioned PostgreSQL is (written by scripts/provision-postgres.sh; docs/POSTGRES.md).
#
#   scripts/pg-env.sh                      prints the table (major, version, bin dir, tools)
#   scripts/pg-env.sh MAJOR                prints `export` lines for that major (eval-able):
#                                          PATH, QPU_PG_BINDIR, QPU_PG_VERSION, QPU_PG_LD_LIBRARY_PATH
#   scripts/pg-env.sh MAJOR -- CMD ARGS... runs CMD with that environment
#   . scripts/pg-env.sh                    (sourced) loads versions.env and defines
#                                          qpu_pg_bindir MAJOR, qpu_pg_ldpath MAJOR,
#                                          qpu_pg_has MAJOR TOOL, qpu_pg_run MAJOR CMD...
# The cache is ${QPU_PG_CACHE:-/var/cache/quay-pg-upgrader/pg}.

_qpu_pg_cache=${QPU_PG_CACHE:-/var/cache/quay-pg-upgrader/pg}
if [ ! -r "$_qpu_pg_cache/versions.env" ]; then
  echo "pg-env: $_qpu_pg_cache/versions.env not found; run scripts/provision-postgres.sh as root" >&2
  # shellcheck disable=SC2317
  return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
. "$_qpu_pg_cache/versions.env"

_qpu_pg_var() { local n="QPU_PG_${1}_${2}"; printf '%s' "${!n-}"; }
qpu_pg_known() { case " $QPU_PG_MAJORS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
qpu_pg_bindir() { qpu_pg_known "$1" && _qpu_pg_var "$1" BINDIR; }
qpu_pg_ldpath() { qpu_pg_known "$1" && _qpu_pg_var "$1" LD_LIBRARY_PATH; }
qpu_pg_version() { qpu_pg_known "$1" && _qpu_pg_var "$1" VERSION; }
qpu_pg_has() { case " $(_qpu_pg_var "$1" TOOLS) " in *" $2 "*) return 0 ;; *) return 1 ;; esac; }
# qpu_pg_run MAJOR CMD...: runs CMD with that major's bin dir first on PATH. The bin dir entries
# set their own LD_LIBRARY_PATH where needed (13), so nothing else is required.
qpu_pg_run() {
  local m=$1; shift
  qpu_pg_known "$m" || { echo "pg-env: PostgreSQL $m is not provisioned (have: $QPU_PG_MAJORS)" >&2; return 1; }
  PATH="$(qpu_pg_bindir "$m"):$PATH" "$@"
}

# Sourced: stop here.
(return 0 2>/dev/null) && return 0

set -euo pipefail
if [ $# -eq 0 ]; then
  printf '%-5s %-8s %-40s %s\n' MAJOR VERSION "BIN DIR" TOOLS
  for m in $QPU_PG_MAJORS; do
    printf '%-5s %-8s %-40s %s\n' "$m" "$(qpu_pg_version "$m")" "$(qpu_pg_bindir "$m")" "$(_qpu_pg_var "$m" TOOLS)"
  done
  echo "client tools (pg_dump, pg_restore, psql, pg_upgrade): $QPU_PG_CLIENT_BINDIR"
  exit 0
fi
m=$1; shift
qpu_pg_known "$m" || { echo "pg-env: PostgreSQL $m is not provisioned (have: $QPU_PG_MAJORS)" >&2; exit 1; }
if [ $# -eq 0 ]; then
  printf 'export QPU_PG_BINDIR=%q\n' "$(qpu_pg_bindir "$m")"
  printf 'export QPU_PG_VERSION=%q\n' "$(qpu_pg_version "$m")"
  printf 'export PATH=%q\n' "$(qpu_pg_bindir "$m"):$PATH"
  # Only the real binaries (REAL_BINDIR) need it; the bin dir's entries set it themselves.
  printf 'export QPU_PG_LD_LIBRARY_PATH=%q\n' "$(qpu_pg_ldpath "$m")"
  exit 0
fi
[ "$1" = -- ] && shift
[ $# -gt 0 ] || { echo "pg-env: usage: $0 MAJOR -- CMD ARGS..." >&2; exit 2; }
PATH="$(qpu_pg_bindir "$m"):$PATH"
export PATH
exec "$@"
