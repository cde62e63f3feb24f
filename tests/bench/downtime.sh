#!/bin/bash
# Upgrade downtime on one PostgreSQL 13 database (pgbench -i -s SCALE plus a Quay-like table with
# a pg_trgm index), upgraded to 15 four ways, each run RUNS times on fresh copies:
#   hand_logical      pg_dump -Fd -j2 (15's tools) + initdb + pg_restore -j2: the best hand-run steps
#   jobs_logical      the controller's backup Job script (beside the controller's manifest query) + logical upgrade Job script
#                     (loading server, no ANALYZE: that runs after the resume, timed apart as analyze_after_resume)
#   hand_pg_upgrade   initdb + pg_upgrade --jobs 2 (copy mode: 15 has no --copy flag, copy is its default)
#   jobs_pg_upgrade   the controller's pg_upgrade Job script (copy of the stopped directory + --link)
#   copy              cp -a of the stopped data directory (the copy-speed limit)
#   quay_way          the Quay operator's own migration: initdb, pg_dumpall | psql into the new server
#   hand_link_read    initdb + pg_upgrade --link in place + one full read (the manifest on the new
#                     server): the fastest a person gets while still proving every row
#   jobs_clone        on cloning storage (issue 16): the controller's manifest of the quiet old
#                     database + the backup and data clones (an ext4 claim image reflinked on an
#                     XFS pool and mounted, as kube-sim clones) + the cloned pg_upgrade Job + the
#                     new server's start and the verifying read; the archive Job after resume is
#                     timed apart (archive_after_resume: not in the downtime)
#   jobs_clone_after  the same with --verify after-resume: no manifest in the downtime; the two
#                     clones, the cloned pg_upgrade Job, the upgraded data's clone, the new
#                     server's start and its version check; the archive Job that then verifies
#                     both clones and writes the archive is timed apart (verify_archive_after_resume)
# The Job scripts run as processes with exactly the script and environment of the Job bodies the
# controller builds (effects_k8s_job_body), as tests/effects/k8s/job_scripts_test.sh does. What
# this does NOT include: the controller's orchestration on kube-sim (quiesce, pod starts, the
# database switch, verify, resume); see docs/BENCHMARKS.md.
# With PROGRESS_ETA_TOOL (tests/bench/progress_eta) it also measures, on the same Job runs (their
# progress lines every 0.5 s), how right the time left shown at 50 % of the dump, the restore and
# the copy is: `metric eta_error_<stage> ...` (|shown - actual| / actual).
#   downtime.sh JOB_BODY_TOOL SCALE RUNS [PROGRESS_ETA_TOOL] [TAG]
# Prints `metric NAME MEDIAN MIN MAX s` lines and the ratios of each run, side by side; with TAG
# every metric name ends in _TAG (two sizes in one benchmark run). The clone methods need root,
# loop devices and mkfs.xfs; without them they are left out, saying why.
set -euo pipefail
job_body=$1 scale=$2 runs=$3 eta_tool=${4:-} tag=${5:+_$5}
PG=${QPU_PG_CACHE:-/var/cache/quay-pg-upgrader/pg}
for m in 13 15; do
  [ -x "$PG/$m/bin/pg_upgrade" ] || { echo "SKIP: PostgreSQL $m with pg_upgrade not provisioned in $PG" >&2; exit 3; }
done
tmp=$(mktemp -d /var/tmp/qpu-bench-downtime-XXXXXX)
chmod 755 "$tmp"
if [ "$(id -u)" = 0 ]; then
  chown qpu-pg: "$tmp"
  as_pg() { runuser -u qpu-pg -- "$@"; }
else
  as_pg() { "$@"; }
fi
servers=()
mounts=()
cleanup() {
  for d in "${servers[@]}"; do as_pg "$PG/15/bin/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true; done
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  chmod -R u+w "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { as_pg "$1/pg_ctl" -D "$2" -w -l "$2.log" -o "-p $3 -k $tmp -c listen_addresses=127.0.0.1" start >/dev/null; servers+=("$2"); }
stop() { as_pg "$1/pg_ctl" -D "$2" -m fast -w stop >/dev/null; }
psql15() { as_pg "$PG/15/bin/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$tmp" "$@"; }
now() { date +%s.%N; }
mkd() { mkdir -p "$@" && chown --reference="$tmp" "$@"; }

# Job bodies -> script + env, as job_scripts_test.sh does.
extract() {
  local role=$1 out=$2
  shift 2
  "$job_body" "$role" | python3 -c '
import json, sys
out, overrides = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
secret = {"database-username": "quay", "database-password": "quay-pw", "database-name": "quay", "database-root-password": "root-pw"}
c = json.load(sys.stdin)["spec"]["template"]["spec"]["containers"][0]
open(out + ".sh", "w").write(c["command"][2])
env = {e["name"]: e["value"] if "value" in e else secret[e["valueFrom"]["secretKeyRef"]["key"]] for e in c["env"]}
env.update(overrides)
open(out + ".env", "w").write("".join(f"{k}={v}\0" for k, v in env.items()))
' "$out" "$@"
  chmod 644 "$out.sh" "$out.env"
}
run_job() {
  local out=$1 envs=()
  while IFS= read -r -d '' kv; do envs+=("$kv"); done <"$out.env"
  local began ended
  began=$(date -u +%s)
  as_pg env -i HOME=/tmp "${envs[@]}" /bin/bash -c "$(cat "$out.sh")" qpu-job >"$out.out" 2>&1 || { tail -20 "$out.out" >&2; return 1; }
  ended=$(date -u +%s)
  job_steps "$(basename "$out")" "$out.out" "$ended"
}
# Where a Job's time goes: the scripts print `== <UTC time> <step>` as each step begins (1 s
# resolution), so each step lasts until the next one begins (the last until the Job ended).
job_steps() {
  python3 - "$@" >&2 <<'PY'
import datetime, re, sys
name, log, ended = sys.argv[1], sys.argv[2], int(sys.argv[3])
steps = []
for line in open(log, errors="replace"):
    m = re.match(r"== (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (.*)", line)
    if m:
        at = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        steps.append((int(at.timestamp()), m.group(2).strip()))
parts = [f"{step[:40]} {((steps[i + 1][0] if i + 1 < len(steps) else ended) - at)} s" for i, (at, step) in enumerate(steps)]
print(f"steps of {name}: " + "; ".join(parts))
PY
}

# --- the database ----------------------------------------------------------------------------------
mkd "$tmp/gold"
as_pg "$PG/13/bin/initdb" -D "$tmp/gold/userdata" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=md5 >/dev/null
p=$(free_port)
start "$PG/13/bin" "$tmp/gold/userdata" "$p"
psql15 -p "$p" -U postgres -d postgres -c "ALTER USER postgres PASSWORD 'root-pw'" -c "CREATE USER quay PASSWORD 'quay-pw'" \
  -c "CREATE DATABASE quay OWNER quay"
as_pg "$PG/15/bin/pgbench" -q -i -s "$scale" -h "$tmp" -p "$p" -U postgres quay >/dev/null 2>&1
psql15 -p "$p" -U postgres -d quay <<'SQL'
CREATE EXTENSION pg_trgm;
CREATE TABLE repository (id serial PRIMARY KEY, namespace_user_id int NOT NULL, name text NOT NULL, description text);
INSERT INTO repository (namespace_user_id, name, description)
  SELECT i % 500, 'repo-' || i || '-' || md5(i::text), repeat('quay ', 20) FROM generate_series(1, 50000) i;
CREATE INDEX repository_name_trgm ON repository USING gin (name gin_trgm_ops);
ALTER TABLE repository OWNER TO quay;
SQL
size=$(psql15 -p "$p" -U postgres -d quay -c "SELECT pg_database_size('quay')")
stop "$PG/13/bin" "$tmp/gold/userdata"
# The manifest SQL the controller sends (a revert's backup Job carries the same text; an upgrade's
# backup Job takes no manifest of its own since 2026-12-03).
extract backup-with-manifest "$tmp/manifest-src"
python3 -c 'import sys; env = dict(kv.split("=", 1) for kv in open(sys.argv[1]).read().split("\0") if kv)
open(sys.argv[2], "w").write(env["QPU_MANIFEST_SQL"])' "$tmp/manifest-src.env" "$tmp/manifest.sql"
chmod 644 "$tmp/manifest.sql"

# Cloning storage as kube-sim has it: each claim an ext4 image on an XFS pool with reflink, a
# clone one `cp --reflink=always` of the stopped claim's image, then mounted.
clones=""
if [ "$(id -u)" != 0 ]; then clones="not root: no loop mounts"
elif ! command -v mkfs.xfs >/dev/null; then clones="mkfs.xfs missing (xfsprogs)"
else
  truncate -s 256G "$tmp/pool.img"
  mkfs.xfs -q -m reflink=1 "$tmp/pool.img"
  mkdir -p "$tmp/pool"
  mount -o loop "$tmp/pool.img" "$tmp/pool" && mounts+=("$tmp/pool") || clones="mount -o loop of the XFS pool failed"
fi
if [ -z "$clones" ]; then
  dir_mb=$(du -sm "$tmp/gold/userdata" | cut -f1)
  truncate -s "$(( (dir_mb * 2 + 2048) * 1048576 ))" "$tmp/pool/old.img"
  mkfs.ext4 -q -F -m 0 "$tmp/pool/old.img"
  mkdir -p "$tmp/old-claim"
  mount -o loop "$tmp/pool/old.img" "$tmp/old-claim"
  cp -a "$tmp/gold/userdata" "$tmp/old-claim/userdata"
  chown --reference="$tmp" "$tmp/old-claim"
  umount "$tmp/old-claim"
fi
# clone NAME: a clone of the stopped old claim, mounted at $tmp/NAME (the time it takes is the
# caller's to count).
clone() {
  cp --reflink=always "$tmp/pool/old.img" "$tmp/pool/$1.img"
  mkdir -p "$tmp/$1"
  mount -o loop "$tmp/pool/$1.img" "$tmp/$1"
  mounts+=("$tmp/$1")
}
# clone_of SOURCE NAME: a clone of claim SOURCE (unmounted for the copy, as a claim no pod mounts),
# mounted at $tmp/NAME.
clone_of() {
  umount "$tmp/$1"
  cp --reflink=always "$tmp/pool/$1.img" "$tmp/pool/$2.img"
  mount -o loop "$tmp/pool/$1.img" "$tmp/$1"
  mkdir -p "$tmp/$2"
  mount -o loop "$tmp/pool/$2.img" "$tmp/$2"
  mounts+=("$tmp/$2")
}
unclone() {
  umount "$tmp/$1"
  rm -f "$tmp/pool/$1.img"
  rmdir "$tmp/$1"
}
echo "database: PostgreSQL 13, pgbench scale $scale + Quay-like table, $((size / 1000000)) MB (pg_database_size), data directory $(du -sm "$tmp/gold/userdata" | cut -f1) MB"
echo "metric downtime_database_mb$tag $((size / 1000000)) $((size / 1000000)) $((size / 1000000)) MB"

declare -A t
record() { t[$1]="${t[$1]:-} $2"; }
# The time left at 50 % of a stage, from a Job's output (progress_eta prints "eta_at_half STAGE SHOWN ACTUAL ERROR").
eta() {
  [ -n "$eta_tool" ] || return 0
  local line
  line=$("$eta_tool" "$1" <"$2") || { echo "eta: no $1 progress at 50 % in $2" >&2; return 0; }
  echo "run $r: $1: time left shown at 50 % $(echo "$line" | cut -d' ' -f3) s, the stage took $(echo "$line" | cut -d' ' -f4) s more" >&2
  record "eta_$1" "$(echo "$line" | cut -d' ' -f5)"
}
for r in $(seq 1 "$runs"); do
  sync
  # copy limit
  a=$(now); as_pg cp -a "$tmp/gold/userdata" "$tmp/copy"; sync; b=$(now)
  record copy "$(echo "$b - $a" | bc)"; rm -rf "$tmp/copy"

  # hand: pg_upgrade --copy
  mkd "$tmp/hpu"
  a=$(now)
  as_pg "$PG/15/bin/initdb" -D "$tmp/hpu/userdata" -U postgres -E UTF8 --locale=C >/dev/null
  (cd "$tmp/hpu" && as_pg "$PG/15/bin/pg_upgrade" -b "$PG/13/bin" -B "$PG/15/bin" -d "$tmp/gold/userdata" -D "$tmp/hpu/userdata" \
     -U postgres --jobs 2 -s "$tmp" >/dev/null)
  sync; b=$(now)
  record hand_pg_upgrade "$(echo "$b - $a" | bc)"; rm -rf "$tmp/hpu"

  # jobs: the pg_upgrade Job (old directory read-only, as the controller mounts it), with the old
  # cluster's settings the controller read before the downtime (the gold cluster's initdb above)
  mkd "$tmp/jpu" "$tmp/sock-jpu"
  chmod -R a-w "$tmp/gold"
  extract upgrade-pg-upgrade "$tmp/jpu-job" QPU_OLD_ENCODING=UTF8 QPU_OLD_LC_COLLATE=C QPU_OLD_LC_CTYPE=C QPU_OLD_INSTALL_USER=postgres \
    QPU_OLD_PGDATA="$tmp/gold/userdata" QPU_OLD_COPY="$tmp/jpu/pg13-copy" \
    QPU_PGDATA="$tmp/jpu/userdata" QPU_WORK_DIR="$tmp/jpu/work" QPU_SOCKET_DIR="$tmp/sock-jpu" \
    PG_OLD_BINDIR="$PG/13/bin" PG_NEW_BINDIR="$PG/15/bin" QPU_TERMINATION_LOG="$tmp/jpu.term" QPU_LOG="$tmp/jpu.log" \
    PATH="$PG/15/bin:/usr/bin:/bin" QPU_PROGRESS_SECONDS=0.5
  a=$(now); run_job "$tmp/jpu-job"; sync; b=$(now)
  eta copy "$tmp/jpu-job.out"
  chmod -R u+w "$tmp/gold"
  record jobs_pg_upgrade "$(echo "$b - $a" | bc)"; rm -rf "$tmp/jpu" "$tmp/sock-jpu"

  if [ -z "$clones" ]; then
    # hand: pg_upgrade --link in place (on a clone, uncounted: the gold copy must stay) + one full read
    clone hand
    p15=$(free_port)
    a=$(now)
    as_pg "$PG/15/bin/initdb" -D "$tmp/hand/new" -U postgres -E UTF8 --locale=C >/dev/null
    (cd "$tmp/hand" && as_pg "$PG/15/bin/pg_upgrade" -b "$PG/13/bin" -B "$PG/15/bin" -d "$tmp/hand/userdata" -D "$tmp/hand/new" \
       -U postgres --link --jobs 2 -s "$tmp" >/dev/null)
    start "$PG/15/bin" "$tmp/hand/new" "$p15"
    psql15 -p "$p15" -U postgres -d quay -f "$tmp/manifest.sql" >/dev/null
    stop "$PG/15/bin" "$tmp/hand/new"
    sync; b=$(now)
    record hand_link_read "$(echo "$b - $a" | bc)"
    unclone hand

    # jobs: the two clones, the cloned pg_upgrade Job, the new server's start and the verifying read
    mkd "$tmp/sock-jc"
    a=$(now)
    clone backup
    clone data
    c=$(now)
    extract upgrade-pg-upgrade-cloned "$tmp/jc-job" QPU_OLD_PGDATA="$tmp/data/userdata" QPU_OLD_COPY="$tmp/data/pg13-copy" \
      QPU_PGDATA="$tmp/data/userdata" QPU_WORK_DIR="$tmp/data/pg_upgrade-work" QPU_SOCKET_DIR="$tmp/sock-jc" \
      PG_OLD_BINDIR="$PG/13/bin" PG_NEW_BINDIR="$PG/15/bin" QPU_TERMINATION_LOG="$tmp/jc.term" QPU_LOG="$tmp/jc.log" \
      PATH="$PG/15/bin:/usr/bin:/bin" QPU_PROGRESS_SECONDS=0.5
    run_job "$tmp/jc-job"
    sync; d=$(now)
    # --verify after-resume: the upgraded data's clone before the server starts on it (not part
    # of the before-resume path's downtime, which goes from d to the start directly)
    clone_of data verify
    e=$(now)
    p15=$(free_port)
    start "$PG/15/bin" "$tmp/data/userdata" "$p15"
    psql15 -p "$p15" -U postgres -d quay -c "SELECT current_setting('server_version_num')" >/dev/null
    f=$(now)
    psql15 -p "$p15" -U postgres -d quay -f "$tmp/manifest.sql" >/dev/null
    b=$(now)
    record clone_parts "$(echo "$d - $a + $b - $e" | bc)"
    record jobs_clone_after "$(echo "$f - $a" | bc)"
    record clone_make "$(echo "$c - $a" | bc)"
    # After resume, not in the downtime, with the new server serving: the archive Job's ANALYZE
    # of it, then the backup clone's logical archive.
    extract archive "$tmp/ja-job" QPU_OLD_PGDATA="$tmp/backup/userdata" QPU_BACKUP_DIR="$tmp/backup/pg13" \
      QPU_SOCKET_DIR="$tmp/sock-jc" PG_OLD_BINDIR="$PG/13/bin" PG_NEW_BINDIR="$PG/15/bin" PGHOST="$tmp" PGPORT="$p15" \
      QPU_TERMINATION_LOG="$tmp/ja.term" QPU_LOG="$tmp/ja.log" PATH="/usr/bin:/bin" QPU_PROGRESS_SECONDS=0.5
    a=$(now); run_job "$tmp/ja-job"; sync; b=$(now)
    record archive_after_resume "$(echo "$b - $a" | bc)"
    # --verify after-resume: the archive Job that first compares the two clones' manifests (on a
    # fresh backup clone: the one above holds an archive now)
    unclone backup
    clone backup
    extract archive-verify "$tmp/jv-job" QPU_OLD_PGDATA="$tmp/backup/userdata" QPU_BACKUP_DIR="$tmp/backup/pg13" \
      QPU_VERIFY_PGDATA="$tmp/verify/userdata" \
      QPU_SOCKET_DIR="$tmp/sock-jc" PG_OLD_BINDIR="$PG/13/bin" PG_NEW_BINDIR="$PG/15/bin" PGHOST="$tmp" PGPORT="$p15" \
      QPU_TERMINATION_LOG="$tmp/jv.term" QPU_LOG="$tmp/jv.log" PATH="/usr/bin:/bin" QPU_PROGRESS_SECONDS=0.5
    a=$(now); run_job "$tmp/jv-job"; sync; b=$(now)
    grep -q "verified after the resume:" "$tmp/jv.log" || { echo "the archive Job did not verify: $(cat "$tmp/jv.term")" >&2; exit 1; }
    record verify_archive_after_resume "$(echo "$b - $a" | bc)"
    stop "$PG/15/bin" "$tmp/data/userdata"
    unclone backup
    unclone verify
    unclone data
    rm -rf "$tmp/sock-jc"
  fi

  # a live copy of the old server for the logical paths (pg_dump needs a running server)
  as_pg cp -a "$tmp/gold/userdata" "$tmp/live"
  p=$(free_port)
  start "$PG/13/bin" "$tmp/live" "$p"

  # the Quay operator's own way: pg_dumpall of the old server piped into psql on a new 15
  mkd "$tmp/qw"
  p15=$(free_port)
  a=$(now)
  as_pg "$PG/15/bin/initdb" -D "$tmp/qw/userdata" -U postgres -E UTF8 --locale=C >/dev/null
  start "$PG/15/bin" "$tmp/qw/userdata" "$p15"
  as_pg "$PG/15/bin/pg_dumpall" -h "$tmp" -p "$p" -U postgres |
    as_pg "$PG/15/bin/psql" -X -q -h "$tmp" -p "$p15" -U postgres -d postgres >/dev/null 2>&1
  stop "$PG/15/bin" "$tmp/qw/userdata"
  sync; b=$(now)
  record quay_way "$(echo "$b - $a" | bc)"; rm -rf "$tmp/qw"

  # hand: pg_dump -Fd -j + pg_restore -j into a new 15
  mkd "$tmp/hl"
  p15=$(free_port)
  a=$(now)
  as_pg "$PG/15/bin/pg_dumpall" -h "$tmp" -p "$p" -U postgres --globals-only -f "$tmp/hl/globals.sql"
  as_pg "$PG/15/bin/pg_dump" -h "$tmp" -p "$p" -U postgres -Fd -j 2 -f "$tmp/hl/dump" quay
  as_pg "$PG/15/bin/initdb" -D "$tmp/hl/userdata" -U postgres -E UTF8 --locale=C >/dev/null
  start "$PG/15/bin" "$tmp/hl/userdata" "$p15"
  sed '/^CREATE ROLE postgres;$/d' "$tmp/hl/globals.sql" | psql15 -p "$p15" -U postgres -d postgres >/dev/null 2>&1
  psql15 -p "$p15" -U postgres -d postgres -c "CREATE DATABASE quay OWNER quay"
  as_pg "$PG/15/bin/pg_restore" -h "$tmp" -p "$p15" -U postgres -j 2 -d quay "$tmp/hl/dump"
  stop "$PG/15/bin" "$tmp/hl/userdata"
  sync; b=$(now)
  record hand_logical "$(echo "$b - $a" | bc)"; rm -rf "$tmp/hl"

  # jobs: backup Job + logical upgrade Job
  mkd "$tmp/jl-backup" "$tmp/jl-new" "$tmp/sock-jl"
  extract backup "$tmp/jl-b" PGHOST=127.0.0.1 PGPORT="$p" QPU_BACKUP_DIR="$tmp/jl-backup/pg13" \
    QPU_TERMINATION_LOG="$tmp/jlb.term" QPU_LOG="$tmp/jlb.log" PATH="$PG/15/bin:/usr/bin:/bin" QPU_PROGRESS_SECONDS=0.5
  extract upgrade-logical "$tmp/jl-u" QPU_BACKUP_DIR="$tmp/jl-backup/pg13" QPU_PGDATA="$tmp/jl-new/userdata" \
    QPU_SOCKET_DIR="$tmp/sock-jl" QPU_TERMINATION_LOG="$tmp/jlu.term" QPU_LOG="$tmp/jlu.log" \
    PATH="$PG/15/bin:/usr/bin:/bin" QPU_EXTRA_CONFIG="$tmp/none.conf" QPU_PROGRESS_SECONDS=0.5
  # The controller's own manifest of the quiet database (the same SQL the backup Job carries; the
  # controller sends it through libpq) runs beside the backup Job, as the controller does since
  # 2026-11-24; the backing-up phase ends when both are done. Alone first, for the record.
  rm -f "$tmp/manifest.end"
  a=$(now); psql15 -p "$p" -U postgres -d quay -f "$tmp/manifest.sql" >/dev/null; b=$(now)
  record controller_manifest "$(echo "$b - $a" | bc)"
  a=$(now)
  (psql15 -p "$p" -U postgres -d quay -f "$tmp/manifest.sql" >/dev/null && now >"$tmp/manifest.end") &
  manifest_pid=$!
  run_job "$tmp/jl-b"
  wait "$manifest_pid"
  m=$(python3 -c 'import sys; print(max(float(sys.argv[1]), float(open(sys.argv[2]).read())))' "$(now)" "$tmp/manifest.end")
  run_job "$tmp/jl-u"; sync; b=$(now)
  record jobs_logical "$(echo "$b - $a" | bc)"
  eta dump "$tmp/jl-b.out"
  eta restore "$tmp/jl-u.out"
  echo "run $r: jobs_logical = backup Job beside the controller's manifest $(echo "$m - $a" | bc) s + upgrade Job $(echo "$b - $m" | bc) s (the manifest alone: ${t[controller_manifest]##* } s)" >&2
  # After the resume, not in the downtime: the analyze Job against the new server.
  p15=$(free_port)
  start "$PG/15/bin" "$tmp/jl-new/userdata" "$p15"
  extract analyze "$tmp/jl-a" PGHOST="$tmp" PGPORT="$p15" QPU_TERMINATION_LOG="$tmp/jla.term" QPU_LOG="$tmp/jla.log" \
    PATH="$PG/15/bin:/usr/bin:/bin"
  a=$(now); run_job "$tmp/jl-a"; b=$(now)
  record analyze_after_resume "$(echo "$b - $a" | bc)"
  stop "$PG/15/bin" "$tmp/jl-new/userdata"
  rm -rf "$tmp/jl-backup" "$tmp/jl-new" "$tmp/sock-jl"
  stop "$PG/13/bin" "$tmp/live"
  rm -rf "$tmp/live" "$tmp/live.log"
  echo "run $r: copy ${t[copy]##* } s, hand_pg_upgrade ${t[hand_pg_upgrade]##* } s, jobs_pg_upgrade ${t[jobs_pg_upgrade]##* } s, hand_logical ${t[hand_logical]##* } s, jobs_logical ${t[jobs_logical]##* } s, quay_way ${t[quay_way]##* } s" >&2
  # The clone path's downtime: the controller's manifest of the quiet old database (this run's,
  # measured alone above) and the steps after the stop. The best hand-run logical steps: -j or
  # Quay's pipe, whichever was faster in this run.
  if [ -z "$clones" ]; then
    record jobs_clone "$(echo "${t[controller_manifest]##* } + ${t[clone_parts]##* }" | bc)"
    echo "run $r: jobs_clone ${t[jobs_clone]##* } s (manifest ${t[controller_manifest]##* } s + clones ${t[clone_make]##* } s + Job, start, verify); hand_link_read ${t[hand_link_read]##* } s; archive after resume ${t[archive_after_resume]##* } s" >&2
    echo "run $r: jobs_clone_after ${t[jobs_clone_after]##* } s (clones, Job, the upgraded data's clone, start, version); verification + archive after resume ${t[verify_archive_after_resume]##* } s" >&2
  fi
  record hand_logical_best "$(python3 -c 'import sys; print(min(float(sys.argv[1]), float(sys.argv[2])))' "${t[hand_logical]##* }" "${t[quay_way]##* }")"
done
[ -n "$clones" ] && echo "the clone methods were not measured: $clones" >&2

stats() { python3 -c '
import statistics, sys
name, unit, v = sys.argv[1], sys.argv[2], sorted(float(x) for x in sys.argv[3:])
print(f"metric {name} {statistics.median(v):.6g} {v[0]:.6g} {v[-1]:.6g} {unit}")' "$@"; }
for k in copy hand_pg_upgrade jobs_pg_upgrade hand_logical jobs_logical analyze_after_resume controller_manifest quay_way hand_logical_best \
  hand_link_read jobs_clone clone_make archive_after_resume jobs_clone_after verify_archive_after_resume; do
  # shellcheck disable=SC2086
  [ -n "${t[$k]:-}" ] && stats "downtime_${k}_s$tag" s ${t[$k]}
done
ratios() {  # per run: a / b
  python3 -c '
import statistics, sys
name, a, b = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
v = sorted(float(x) / float(y) for x, y in zip(a, b))
print(f"metric {name} {statistics.median(v):.6g} {v[0]:.6g} {v[-1]:.6g} x")' "$@"
}
ratios "downtime_logical_vs_hand$tag" "${t[jobs_logical]}" "${t[hand_logical]}"
ratios "downtime_logical_vs_best_hand$tag" "${t[jobs_logical]}" "${t[hand_logical_best]}"
ratios "downtime_logical_vs_quay_way$tag" "${t[jobs_logical]}" "${t[quay_way]}"
if [ -z "$clones" ]; then
  ratios "downtime_clone_vs_hand_link_read$tag" "${t[jobs_clone]}" "${t[hand_link_read]}"
  ratios "downtime_quay_way_vs_clone$tag" "${t[quay_way]}" "${t[jobs_clone]}"
  ratios "downtime_quay_way_vs_clone_after$tag" "${t[quay_way]}" "${t[jobs_clone_after]}"
fi
for k in dump restore copy; do
  # shellcheck disable=SC2086
  [ -n "${t[eta_$k]:-}" ] && stats "eta_error_$k$tag" x ${t[eta_$k]}
done
ratios "downtime_pg_upgrade_vs_hand$tag" "${t[jobs_pg_upgrade]}" "${t[hand_pg_upgrade]}"
ratios "downtime_pg_upgrade_vs_copy$tag" "${t[jobs_pg_upgrade]}" "${t[copy]}"
