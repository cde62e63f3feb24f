#!/bin/bash
# Runs the Job scripts for real, as processes: the script and the environment come from the Job
# body the controller builds (effects_k8s_job_body), secretKeyRefs are resolved from a local map,
# the mount paths are remapped to temp folders, and the servers and scripts run as qpu-pg (as
# root; as the current user otherwise) with the provisioned PostgreSQL builds.
#   1. backup of a PostgreSQL 10 server with 15's tools (two databases, pg_trgm, globals, manifest)
#   2. a backup with a wrong password fails with "BackupFailed: step ..." and libpq's reason
#   3. logical restore of that backup into 15 (backup folder read-only), then a 15 server on it
#      serves the rows to the app user over TCP with its password
#   4. pg_upgrade 13 -> 15 (with data checksums) from a read-only old data directory, which is
#      byte-identical afterwards; the upgraded 15 serves the rows with checksums on
set -euo pipefail
job_body=$1
PG=${QPU_PG_CACHE:-/var/cache/quay-pg-upgrader/pg}
for m in 10 13 15; do
  # 77 is this test's SKIP_RETURN_CODE: CTest reports a skip, and scripts/test.sh refuses it.
  [ -x "$PG/$m/bin/postgres" ] || { echo "SKIP: PostgreSQL $m not provisioned in $PG (scripts/provision-postgres.sh)"; exit 77; }
done
tmp=$(mktemp -d /tmp/qpu-job-scripts-XXXXXX)
chmod 755 "$tmp"
if [ "$(id -u)" = 0 ]; then
  chown qpu-pg: "$tmp"
  as_pg() { runuser -u qpu-pg -- "$@"; }
else
  as_pg() { "$@"; }
fi
servers=()
cleanup() {
  for d in "${servers[@]}"; do as_pg "$PG/15/bin/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true; done
  chmod -R u+w "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {  # bindir datadir port
  as_pg "$1/pg_ctl" -D "$2" -w -l "$2.log" -o "-p $3 -k $tmp -c listen_addresses=127.0.0.1" start >/dev/null
  servers+=("$2")
}
stop() { as_pg "$1/pg_ctl" -D "$2" -m fast -w stop >/dev/null; }
psql15() { as_pg "$PG/15/bin/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$tmp" "$@"; }

# Writes $tmp/<role>.sh (the container's script) and $tmp/<role>.env (NUL-separated NAME=value,
# secretKeyRefs resolved from the scenario's Secret), with overrides given as NAME=value args.
extract() {
  local role=$1
  shift
  "$job_body" "$role" | python3 -c '
import json, sys
role, tmp, overrides = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
secret = {"database-username": "quay", "database-password": "quay-pw", "database-name": "quay",
          "database-root-password": overrides.pop("ROOT_PASSWORD", "root-pw")}
job = json.load(sys.stdin)
c = job["spec"]["template"]["spec"]["containers"][0]
assert c["command"][:2] == ["/bin/bash", "-c"], c["command"][:2]
open(f"{tmp}/{role}.sh", "w").write(c["command"][2])
env = {}
for e in c["env"]:
    env[e["name"]] = e["value"] if "value" in e else secret[e["valueFrom"]["secretKeyRef"]["key"]]
env.update(overrides)
open(f"{tmp}/{role}.env", "w").write("".join(f"{k}={v}\0" for k, v in env.items()))
' "$role" "$tmp" "$@"
  chmod 644 "$tmp/$role.sh" "$tmp/$role.env"
}
run_job() {  # role: runs the script with exactly its env (plus PATH), as qpu-pg
  local role=$1 envs=()
  while IFS= read -r -d '' kv; do envs+=("$kv"); done <"$tmp/$role.env"
  as_pg env -i HOME=/tmp "${envs[@]}" /bin/bash -c "$(cat "$tmp/$role.sh")" "qpu-$role" >"$tmp/$role.out" 2>&1
}

# --- 1. backup of PostgreSQL 10 with 15's tools ---------------------------------------------------
port10=$(free_port)
as_pg "$PG/10/bin/initdb" -D "$tmp/pg10" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=md5 >/dev/null
start "$PG/10/bin" "$tmp/pg10" "$port10"
psql15 -p "$port10" -U postgres -d postgres <<'SQL'
ALTER USER postgres PASSWORD 'root-pw';
CREATE USER quay PASSWORD 'quay-pw';
CREATE DATABASE quay OWNER quay;
-- A cluster is more than the app's tables (issue 19, item 3): roles with attributes, passwords,
-- memberships and settings; a database in another encoding with its own owner, ACL, connection
-- limit, comment and settings; settings on the app's and on the postgres database.
CREATE ROLE readers NOLOGIN;
CREATE ROLE auditor LOGIN PASSWORD 'audit-pw' CONNECTION LIMIT 3 VALID UNTIL '2030-01-01 00:00:00+00' IN ROLE readers;
GRANT readers TO quay WITH ADMIN OPTION;
CREATE DATABASE extra OWNER auditor ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 CONNECTION LIMIT 7;
REVOKE CONNECT, TEMPORARY ON DATABASE extra FROM PUBLIC;
GRANT CONNECT, CREATE ON DATABASE extra TO readers;
ALTER DATABASE extra SET work_mem = '8MB';
ALTER DATABASE extra SET search_path = "$user", public, "b c";
COMMENT ON DATABASE extra IS 'a LATIN1 database';
ALTER ROLE auditor SET statement_timeout = '5s';
ALTER ROLE auditor IN DATABASE extra SET lock_timeout = '2s';
ALTER DATABASE quay SET default_text_search_config = 'pg_catalog.simple';
ALTER DATABASE postgres SET idle_in_transaction_session_timeout = '1h';
SQL
psql15 -p "$port10" -U postgres -d quay <<'SQL'
CREATE EXTENSION pg_trgm;
SET ROLE quay;
CREATE TABLE repository (id serial PRIMARY KEY, name text NOT NULL, size float8);
INSERT INTO repository (name, size) SELECT 'repo-' || i || '-' || md5(i::text), i / 3.0 FROM generate_series(1, 5000) i;
CREATE INDEX repository_name_gin ON repository USING gin (name gin_trgm_ops);
SQL
psql15 -p "$port10" -U postgres -d extra -c "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 10);
  CREATE SCHEMA audit AUTHORIZATION auditor; GRANT SELECT ON t TO readers"
# The cluster as a person would compare it, in this test's own words (TimeZone pinned for VALID UNTIL).
cluster_catalog() {  # port
  psql15 -p "$1" -U postgres -d postgres -F ' | ' <<'SQL'
SET TimeZone = 'UTC';
SELECT 'database', d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
  d.datconnlimit, array_to_string(ARRAY(SELECT a::text FROM unnest(coalesce(d.datacl, acldefault('d', d.datdba))) a ORDER BY 1), ','),
  shobj_description(d.oid, 'pg_database')
FROM pg_database d WHERE d.datallowconn AND NOT d.datistemplate ORDER BY 2;
SELECT 'setting', coalesce(r.rolname, '-'), coalesce(db.datname, '-'), array_to_string(ARRAY(SELECT unnest(s.setconfig) ORDER BY 1), ',')
FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database db ON db.oid = s.setdatabase ORDER BY 2, 3;
SELECT 'role', rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolconnlimit, rolvaliduntil,
  rolpassword FROM pg_authid WHERE rolname !~ '^pg_' ORDER BY 2;
SELECT 'member', m.rolname, g.rolname, a.admin_option
FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.roleid ORDER BY 2, 3;
SQL
}
catalog10=$(cluster_catalog "$port10")
grep -q "^database | extra | auditor | LATIN1 | C | C | 7 | " <<<"$catalog10" || fail "the test's catalog query: $catalog10"
mkdir -p "$tmp/backup-claim" && chown --reference="$tmp" "$tmp/backup-claim"
as_pg mkdir -p "$tmp/backup-claim/pg10" && as_pg touch "$tmp/backup-claim/pg10/stale-file"
extract backup PGHOST=127.0.0.1 PGPORT="$port10" QPU_BACKUP_DIR="$tmp/backup-claim/pg10" \
  QPU_TERMINATION_LOG="$tmp/backup.termination" QPU_LOG="$tmp/backup.log" PATH="$PG/15/bin:/usr/bin:/bin" QPU_PROGRESS_SECONDS=0.2
run_job backup || { cat "$tmp/backup.out"; fail "backup job exited non-zero"; }
b=$tmp/backup-claim/pg10
[ ! -e "$b/stale-file" ] || fail "the backup folder was not cleared first"
for f in COMPLETE cluster.tsv databases.tsv globals.sql; do [ -s "$b/$f" ] || fail "backup lacks $f"; done
[ "$(cut -f2 "$b/databases.tsv" | tr '\n' ' ')" = "extra postgres quay " ] || fail "databases: $(cat "$b/databases.tsv")"
n=$(awk -F'\t' '$2 == "quay" {print $1}' "$b/databases.tsv")
grep -q "TABLE DATA public repository" "$b/$n.list" || fail "the archive's list has no repository data"
# An upgrade's backup reads every row once, for the dump: the manifest is the controller's.
[ ! -e "$b/$n.manifest.tsv" ] && ! grep -q "^== .* manifest of " "$tmp/backup.out" ||
  fail "the upgrade's backup Job took a manifest of its own beside the controller's"
grep -q "CREATE ROLE quay" "$b/globals.sql" || fail "globals lack the app role"
grep -q "^BackupComplete: 3 database(s)" "$tmp/backup.termination" || fail "termination: $(cat "$tmp/backup.termination")"
! grep -rq "root-pw\|quay-pw" "$tmp/backup.sh" || fail "a password is in the script text"
# Progress for the controller: the last line is the dump's end, done = total = the archives' bytes.
last_progress() { grep '^QPU_PROGRESS ' "$1" | tail -1 | cut -d' ' -f3-; }
# Directory archives (pg_dump -Fd -j): one folder per database, one file per table's data.
[ "$(find "$b" -maxdepth 1 -name '*.dir' -type d | wc -l)" = 3 ] || fail "not one directory archive per database: $(ls "$b")"
[ -s "$b/$n.dir/toc.dat" ] || fail "the quay archive has no toc.dat"
archives=$(find "$b"/*.dir -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
[ "$(last_progress "$tmp/backup.out")" = "dump bytes $archives $archives" ] ||
  fail "backup progress: $(grep QPU_PROGRESS "$tmp/backup.out") (archives $archives bytes)"
[ "$(wc -l <"$b/sizes.tsv")" = 3 ] && ! awk -F'\t' '$2 !~ /^[1-9][0-9]*$/ { bad = 1 } END { exit !bad }' "$b/sizes.tsv" ||
  fail "sizes.tsv has no size for every database: $(cat "$b/sizes.tsv")"
ok "backup of 10 with 15's tools: 3 archives, globals, no manifest of its own, $(cat "$tmp/backup.termination"); last progress line: $(last_progress "$tmp/backup.out")"

# --- 1b. a revert's backup also writes a manifest beside each archive --------------------------------
mkdir -p "$tmp/backup-claim-m" && chown --reference="$tmp" "$tmp/backup-claim-m"
extract backup-with-manifest PGHOST=127.0.0.1 PGPORT="$port10" QPU_BACKUP_DIR="$tmp/backup-claim-m/pg10" \
  QPU_TERMINATION_LOG="$tmp/backup-m.termination" QPU_LOG="$tmp/backup-m.log" PATH="$PG/15/bin:/usr/bin:/bin"
run_job backup-with-manifest || { cat "$tmp/backup-with-manifest.out"; fail "backup job with a manifest exited non-zero"; }
grep -q $'^public.repository\t5000\t' "$tmp/backup-claim-m/pg10/$n.manifest.tsv" ||
  fail "manifest: $(cat "$tmp/backup-claim-m/pg10/$n.manifest.tsv")"
grep -q "^quay: 1 tables, archive " "$tmp/backup-with-manifest.out" || fail "$(tail -5 "$tmp/backup-with-manifest.out")"
ok "a revert's backup: the manifest beside the archive ($(grep -c . "$tmp/backup-claim-m/pg10/$n.manifest.tsv") table of quay)"

# --- 2. a failing backup says why -----------------------------------------------------------------
extract backup PGHOST=127.0.0.1 PGPORT="$port10" QPU_BACKUP_DIR="$tmp/backup-claim/bad" ROOT_PASSWORD=wrong \
  QPU_TERMINATION_LOG="$tmp/bad.termination" QPU_LOG="$tmp/bad.log" PATH="$PG/15/bin:/usr/bin:/bin"
mv "$tmp/backup.sh" "$tmp/bad.sh"; mv "$tmp/backup.env" "$tmp/bad.env"
if run_job bad; then fail "a backup with a wrong password succeeded"; fi
head -1 "$tmp/bad.termination" | grep -q "^BackupFailed: step 'read the cluster's settings' failed" ||
  fail "termination: $(cat "$tmp/bad.termination")"
grep -q "password authentication failed" "$tmp/bad.termination" || fail "no reason in: $(cat "$tmp/bad.termination")"
[ ! -e "$tmp/backup-claim/bad/COMPLETE" ] || fail "a failed backup is marked COMPLETE"
ok "failed backup: $(head -1 "$tmp/bad.termination")"
stop "$PG/10/bin" "$tmp/pg10"

# --- 3. logical restore into 15 -------------------------------------------------------------------
chmod -R a-w "$tmp/backup-claim"
mkdir -p "$tmp/new15" "$tmp/sock-logical" && chown --reference="$tmp" "$tmp/new15" "$tmp/sock-logical"
extract upgrade-logical QPU_BACKUP_DIR="$b" QPU_PGDATA="$tmp/new15/userdata" QPU_SOCKET_DIR="$tmp/sock-logical" \
  QPU_TERMINATION_LOG="$tmp/logical.termination" QPU_LOG="$tmp/logical.log" PATH="$PG/15/bin:/usr/bin:/bin" \
  QPU_EXTRA_CONFIG="$tmp/none.conf"
run_job upgrade-logical || { cat "$tmp/upgrade-logical.out"; fail "logical upgrade job exited non-zero"; }
grep -q "^UpgradeComplete: restored 3 database(s)" "$tmp/logical.termination" || fail "termination: $(cat "$tmp/logical.termination")"
[ "$(cat "$tmp/new15/userdata/PG_VERSION")" = 15 ] || fail "not a 15 cluster"
port15=$(free_port)
start "$PG/15/bin" "$tmp/new15/userdata" "$port15"
rows=$(PGPASSWORD=quay-pw psql15 -h 127.0.0.1 -p "$port15" -U quay -d quay -c "SELECT count(*) FROM repository WHERE name LIKE '%-4999-%'")
[ "$rows" = 1 ] || fail "trigram query on 15 returned $rows"
[ "$(psql15 -p "$port15" -U postgres -d quay -c "SELECT count(*) FROM repository")" = 5000 ] || fail "rows lost"
[ "$(psql15 -p "$port15" -U postgres -d extra -c "SELECT sum(x) FROM t")" = 55 ] || fail "database extra lost"
catalog15=$(cluster_catalog "$port15")
[ "$catalog15" = "$catalog10" ] || fail "the cluster's databases and roles differ after the restore:
$(diff <(echo "$catalog10") <(echo "$catalog15"))"
[ "$(psql15 -p "$port15" -U postgres -d extra -c "SELECT has_table_privilege('readers', 't', 'SELECT'), pg_get_userbyid(nspowner)
  FROM pg_namespace WHERE nspname = 'audit'")" = "t|auditor" ] || fail "extra's objects lost their grants or owners"
ok "the cluster came back whole: $(grep -c . <<<"$catalog15") lines of databases (owner, encoding, locale, limit, ACL, comment), settings, roles (attributes, password hashes), memberships"
[ "$(psql15 -p "$port15" -U postgres -d quay -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'")" = 1.6 ] ||
  fail "pg_trgm not updated"
restored=$(psql15 -p "$port15" -U postgres -d postgres -c "SELECT sum(pg_database_size(oid)) FROM pg_database WHERE NOT datistemplate")
# The loading server's settings (fsync off, wal_level minimal) were the Job's alone: the cluster
# starts with its own, and the clean shutdown left it consistent.
[ "$(psql15 -p "$port15" -U postgres -d quay -c "SHOW fsync")" = on ] &&
  [ "$(psql15 -p "$port15" -U postgres -d quay -c "SHOW wal_level")" = replica ] ||
  fail "the restore's loading settings stayed in the cluster"
# No statistics yet: the restore leaves ANALYZE out of the downtime, to the analyze Job.
stats_of() { psql15 -p "$port15" -U postgres -d "$1" -c "SELECT count(*) FROM pg_stats WHERE schemaname = 'public'"; }
[ "$(stats_of quay)" = 0 ] || fail "the logical upgrade Job analyzed inside the downtime"

# --- 3a. the analyze Job, after the app is back, against the live server --------------------------
extract analyze PGHOST="$tmp" PGPORT="$port15" QPU_TERMINATION_LOG="$tmp/analyze.termination" QPU_LOG="$tmp/analyze.log" \
  PATH="$PG/15/bin:/usr/bin:/bin"
run_job analyze || { cat "$tmp/analyze.out"; fail "analyze job exited non-zero"; }
[ "$(stats_of quay)" -gt 0 ] && [ "$(stats_of extra)" -gt 0 ] || fail "the analyze Job left a database without statistics"
grep -q "^AnalyzeComplete: statistics made for every database on 15" "$tmp/analyze.termination" ||
  fail "termination: $(cat "$tmp/analyze.termination")"
ok "analyze after the resume: every database has statistics; $(cat "$tmp/analyze.termination")"
stop "$PG/15/bin" "$tmp/new15/userdata"
# A server that does not answer: the Job fails, saying where it waited.
extract analyze PGHOST="$tmp" PGPORT="$port15" QPU_WAIT_SECONDS=2 QPU_TERMINATION_LOG="$tmp/analyze-down.termination" \
  QPU_LOG="$tmp/analyze-down.log" PATH="$PG/15/bin:/usr/bin:/bin"
mv "$tmp/analyze.sh" "$tmp/analyze-down.sh"; mv "$tmp/analyze.env" "$tmp/analyze-down.env"
if run_job analyze-down; then fail "an analyze Job without a server succeeded"; fi
head -1 "$tmp/analyze-down.termination" | grep -q "^AnalyzeFailed: step 'wait for the upgraded database at $tmp:$port15' failed" ||
  fail "termination: $(cat "$tmp/analyze-down.termination")"
ok "analyze without a server: $(head -1 "$tmp/analyze-down.termination")"
# The restore's last progress line: the new cluster's databases, measured by the Job while its
# server ran (the size seen by the test's server afterwards is the same files).
read -r stage unit done total < <(last_progress "$tmp/upgrade-logical.out")
[ "$stage $unit" = "restore bytes" ] && [ "$done" = "$total" ] && [ "$done" -gt 0 ] ||
  fail "restore progress: $(grep QPU_PROGRESS "$tmp/upgrade-logical.out")"
[ $((done * 10)) -ge $((restored * 9)) ] && [ $((done * 10)) -le $((restored * 11)) ] ||
  fail "restore progress says $done bytes, the restored databases hold $restored"
ok "logical 10 -> 15: 5000 rows, trigram index, app login over TCP, pg_trgm 1.6; $(cat "$tmp/logical.termination")"

# --- 4. pg_upgrade 13 -> 15, the old directory read-only and untouched -----------------------------
port13=$(free_port)
mkdir -p "$tmp/old-claim" && chown --reference="$tmp" "$tmp/old-claim"
as_pg "$PG/13/bin/initdb" -D "$tmp/old-claim/userdata" -U postgres -E UTF8 --locale=C --data-checksums \
  --auth-local=trust --auth-host=md5 >/dev/null
start "$PG/13/bin" "$tmp/old-claim/userdata" "$port13"
psql15 -p "$port13" -U postgres -d postgres -c "CREATE USER quay PASSWORD 'quay-pw'" -c "CREATE DATABASE quay OWNER quay"
psql15 -p "$port13" -U postgres -d quay <<'SQL'
CREATE EXTENSION pg_trgm;
CREATE TABLE repository (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO repository (name) SELECT 'repo-' || i FROM generate_series(1, 20000) i;
CREATE INDEX repository_name_gin ON repository USING gin (name gin_trgm_ops);
ALTER TABLE repository OWNER TO quay;
SQL
stop "$PG/13/bin" "$tmp/old-claim/userdata"
servers=("${servers[@]/$tmp\/old-claim\/userdata}")
fingerprint() { (cd "$1" && find . -printf '%p %m %s %T@\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(fingerprint "$tmp/old-claim")
chmod -R a-w "$tmp/old-claim"
mkdir -p "$tmp/new15b" "$tmp/sock-upgrade" && chown --reference="$tmp" "$tmp/new15b" "$tmp/sock-upgrade"
extract upgrade-pg-upgrade QPU_OLD_PGDATA="$tmp/old-claim/userdata" QPU_OLD_COPY="$tmp/new15b/pg13-copy" \
  QPU_PGDATA="$tmp/new15b/userdata" QPU_WORK_DIR="$tmp/new15b/pg_upgrade-work" QPU_SOCKET_DIR="$tmp/sock-upgrade" \
  PG_OLD_BINDIR="$PG/13/bin" PG_NEW_BINDIR="$PG/15/bin" QPU_TERMINATION_LOG="$tmp/pgu.termination" \
  QPU_LOG="$tmp/pgu.log" PATH="$PG/15/bin:/usr/bin:/bin"
run_job upgrade-pg-upgrade || { cat "$tmp/upgrade-pg-upgrade.out"; fail "pg_upgrade job exited non-zero"; }
chmod -R u+w "$tmp/old-claim"
after=$(fingerprint "$tmp/old-claim")
[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") | head; fail "the old data directory changed"; }
[ ! -e "$tmp/new15b/pg13-copy" ] || fail "the copy of the old cluster was not removed"
read -r stage unit done total < <(last_progress "$tmp/upgrade-pg-upgrade.out")
old_size=$(du -sb "$tmp/old-claim/userdata" | cut -f1)
[ "$stage $unit" = "copy bytes" ] && [ "$done" = "$total" ] && [ "$done" -ge "$old_size" ] ||
  fail "copy progress: $(grep QPU_PROGRESS "$tmp/upgrade-pg-upgrade.out") (old directory $old_size bytes)"
grep -q "^UpgradeComplete: pg_upgrade 13 -> 15" "$tmp/pgu.termination" || fail "termination: $(cat "$tmp/pgu.termination")"
port15b=$(free_port)
start "$PG/15/bin" "$tmp/new15b/userdata" "$port15b"
[ "$(psql15 -p "$port15b" -U postgres -d quay -c "SHOW data_checksums")" = on ] || fail "checksums not carried over"
rows=$(PGPASSWORD=quay-pw psql15 -h 127.0.0.1 -p "$port15b" -U quay -d quay -c "SELECT count(*) FROM repository WHERE name LIKE '%o-1999'")
[ "$rows" = 1 ] || fail "trigram query after pg_upgrade returned $rows"
[ "$(psql15 -p "$port15b" -U postgres -d quay -c "SELECT count(*) FROM repository")" = 20000 ] || fail "rows lost"
stop "$PG/15/bin" "$tmp/new15b/userdata"
ok "pg_upgrade 13 -> 15: old directory byte-identical ($(echo "$before" | wc -l) entries), checksums on, 20000 rows; $(cat "$tmp/pgu.termination")"

# --- 5. pg_upgrade --link in a clone of the stopped old claim -------------------------------------
# `cp -a` stands in for the storage's clone (the runtime e2e cases use real reflink clones). The
# Job is given only the clone: the old claim is not in its environment at all.
chmod -R u+w "$tmp/old-claim"
cp -a "$tmp/old-claim" "$tmp/clone15"
chmod -R a-w "$tmp/old-claim"
grep -q '"QPU_CLONED"' <("$job_body" upgrade-pg-upgrade-cloned) || fail "the cloned Job body does not say so"
if "$job_body" upgrade-pg-upgrade-cloned | grep -q '/var/lib/pgsql/old'; then fail "the cloned Job mounts the old claim"; fi
extract upgrade-pg-upgrade-cloned QPU_OLD_PGDATA="$tmp/clone15/userdata" QPU_OLD_COPY="$tmp/clone15/pg13-copy" \
  QPU_PGDATA="$tmp/clone15/userdata" QPU_WORK_DIR="$tmp/clone15/pg_upgrade-work" QPU_SOCKET_DIR="$tmp/sock-upgrade" \
  PG_OLD_BINDIR="$PG/13/bin" PG_NEW_BINDIR="$PG/15/bin" QPU_TERMINATION_LOG="$tmp/clone.termination" \
  QPU_LOG="$tmp/clone.log" PATH="$PG/15/bin:/usr/bin:/bin"
run_job upgrade-pg-upgrade-cloned || { cat "$tmp/upgrade-pg-upgrade-cloned.out"; fail "cloned pg_upgrade job exited non-zero"; }
chmod -R u+w "$tmp/old-claim"
[ "$before" = "$(fingerprint "$tmp/old-claim")" ] || fail "the old data directory changed during the clone's upgrade"
[ ! -e "$tmp/clone15/pg13-copy" ] || fail "the clone's old cluster was not removed after --link"
if grep -q '^QPU_PROGRESS .* copy ' "$tmp/upgrade-pg-upgrade-cloned.out"; then fail "the clone's upgrade copied"; fi
# The old cluster's settings: the cloned body carries them (read before the downtime), so the Job
# did not start the stopped cluster for them; the copy-path body carries none and read them itself.
grep -q '^as read before the downtime:$' "$tmp/upgrade-pg-upgrade-cloned.out" &&
  ! grep -q "read the old cluster's encoding" "$tmp/upgrade-pg-upgrade-cloned.out" ||
  fail "the cloned Job did not take the settings it was given: $(grep -n 'install user\|read the old' "$tmp/upgrade-pg-upgrade-cloned.out")"
grep -q "read the old cluster's encoding" "$tmp/upgrade-pg-upgrade.out" || fail "the copy-path Job did not read the settings itself"
grep -q '^install user postgres, encoding UTF8, collate C, ctype C' "$tmp/upgrade-pg-upgrade.out" ||
  fail "the copy-path Job read other settings: $(grep 'install user' "$tmp/upgrade-pg-upgrade.out")"
grep -q "^UpgradeComplete: pg_upgrade --link 13 -> 15 in a clone of the old claim" "$tmp/clone.termination" ||
  fail "termination: $(cat "$tmp/clone.termination")"
# The old cluster's client authentication came over (the clone's own, saved before it was edited).
cmp -s "$tmp/old-claim/userdata/pg_hba.conf" "$tmp/clone15/userdata/pg_hba.conf" || fail "pg_hba.conf not carried over"
port15c=$(free_port)
start "$PG/15/bin" "$tmp/clone15/userdata" "$port15c"
[ "$(psql15 -p "$port15c" -U postgres -d quay -c "SELECT count(*) FROM repository")" = 20000 ] || fail "rows lost in the clone"
[ "$(psql15 -p "$port15c" -U postgres -d quay -c "SHOW server_version_num")" -ge 150000 ] || fail "the clone does not run 15"
# No statistics yet: the clone's Job leaves ANALYZE to the archive Job, after resume.
[ "$(psql15 -p "$port15c" -U postgres -d quay -c "SELECT count(*) FROM pg_stats WHERE tablename = 'repository'")" = 0 ] ||
  fail "the cloned upgrade Job analyzed inside the downtime"
ok "pg_upgrade --link in a clone: no copy, old directory byte-identical, 20000 rows on 15; $(cat "$tmp/clone.termination")"

# --- 6. the backup clone's logical archive, after the app is back ---------------------------------
cp -a "$tmp/old-claim" "$tmp/backup-clone"
chmod -R a-w "$tmp/old-claim"
conf_before=$(cd "$tmp/backup-clone/userdata" && sha256sum postgresql.conf pg_hba.conf)
# The upgraded server of section 5 serves (the app is back): the archive Job analyzes it first.
extract archive QPU_OLD_PGDATA="$tmp/backup-clone/userdata" QPU_BACKUP_DIR="$tmp/backup-clone/pg13" \
  QPU_SOCKET_DIR="$tmp/sock-upgrade" PG_OLD_BINDIR="$PG/13/bin" PG_NEW_BINDIR="$PG/15/bin" \
  PGHOST="$tmp" PGPORT="$port15c" QPU_TERMINATION_LOG="$tmp/archive.termination" QPU_LOG="$tmp/archive.log" PATH="/usr/bin:/bin"
run_job archive || { cat "$tmp/archive.out"; fail "archive job exited non-zero"; }
stats=$(psql15 -p "$port15c" -U postgres -d quay -c "SELECT count(*) FROM pg_stats WHERE tablename = 'repository'")
[ "$stats" -gt 0 ] || fail "the archive Job did not analyze the upgraded database"
grep -q "the upgraded database: statistics made" "$tmp/archive.termination" || fail "termination: $(cat "$tmp/archive.termination")"
stop "$PG/15/bin" "$tmp/clone15/userdata"
grep -q "^ArchiveComplete: 2 database(s)" "$tmp/archive.termination" || fail "termination: $(cat "$tmp/archive.termination")"
[ -s "$tmp/backup-clone/pg13/COMPLETE" ] || fail "the archive has no COMPLETE"
quay_n=$(awk -F'\t' '$2 == "quay" { print $1 }' "$tmp/backup-clone/pg13/databases.tsv")
grep -q 'TABLE DATA public repository' "$tmp/backup-clone/pg13/$quay_n.list" || fail "the archive lacks the table's data"
grep -q "^public.repository	20000	" "$tmp/backup-clone/pg13/$quay_n.manifest.tsv" || fail "manifest: $(cat "$tmp/backup-clone/pg13/$quay_n.manifest.tsv")"
grep -q 'pg_dump (PostgreSQL) 15' "$tmp/archive.out" || fail "the archive did not use 15's pg_dump"
[ ! -e "$tmp/backup-clone/userdata/postmaster.pid" ] || fail "the old server on the clone was left running"
[ "$conf_before" = "$(cd "$tmp/backup-clone/userdata" && sha256sum postgresql.conf pg_hba.conf)" ] ||
  fail "the clone's configuration files were edited"
chmod -R u+w "$tmp/old-claim"
[ "$before" = "$(fingerprint "$tmp/old-claim")" ] || fail "the old data directory changed during the archive"
ok "archive of the backup clone: 15's pg_dump of the old server started on the clone, 20000 rows in the manifest; $(cat "$tmp/archive.termination")"

# --- 7. verification after the resume (--verify after-resume) ------------------------------------
# The upgraded data's clone (taken before the switch: section 5's cluster, stopped) and a fresh
# backup clone of the old claim: the archive Job starts both servers, compares the manifests of
# the app's database, prints them for the controller, and only then writes the archive.
chmod -R u+w "$tmp/old-claim"
cp -a "$tmp/clone15" "$tmp/verify15"
cp -a "$tmp/old-claim" "$tmp/backup-clone-v"
chmod -R a-w "$tmp/old-claim"
grep -q '"QPU_VERIFY_PGDATA"' <("$job_body" archive-verify) || fail "the archive-verify Job body does not carry the verify clone"
start "$PG/15/bin" "$tmp/clone15/userdata" "$port15c"
verify_job() {  # NAME BACKUP VERIFY: the archive Job with verification, its files named NAME
  extract archive-verify QPU_OLD_PGDATA="$2/userdata" QPU_BACKUP_DIR="$2/pg13" QPU_VERIFY_PGDATA="$3/userdata" \
    QPU_SOCKET_DIR="$tmp/sock-upgrade" PG_OLD_BINDIR="$PG/13/bin" PG_NEW_BINDIR="$PG/15/bin" \
    PGHOST="$tmp" PGPORT="$port15c" QPU_TERMINATION_LOG="$tmp/$1.termination" QPU_LOG="$tmp/$1.log" PATH="/usr/bin:/bin"
  cp "$tmp/archive-verify.sh" "$tmp/$1.sh"
  cp "$tmp/archive-verify.env" "$tmp/$1.env"
  run_job "$1"
}
verify_job verify "$tmp/backup-clone-v" "$tmp/verify15" || { cat "$tmp/verify.out"; fail "the verifying archive Job exited non-zero"; }
grep -q "verified after the resume: 1 tables, 20000 rows, every checksum equal" "$tmp/verify.termination" ||
  fail "termination: $(cat "$tmp/verify.termination")"
for side in old new; do
  grep -q "^QPU_MANIFEST $side public.repository	20000	" "$tmp/verify.out" || fail "no $side manifest line in the log"
  grep -q "^QPU_MANIFEST_END $side 1$" "$tmp/verify.out" || fail "no closing $side manifest line in the log"
done
grep -q "^quay: 1 tables (the verification's), archive " "$tmp/verify.out" || fail "the archive read the app's database again: $(grep '^quay:' "$tmp/verify.out")"
[ -s "$tmp/backup-clone-v/pg13/COMPLETE" ] || fail "the archive after the verification has no COMPLETE"
[ ! -e "$tmp/verify15/userdata/postmaster.pid" ] || fail "the new server on the verify clone was left running"
ok "verification after the resume: both clones' manifests equal and printed, the archive reuses the old side's; $(head -c 300 "$tmp/verify.termination")"

# A difference: one row gone from the upgraded data's clone. The Job fails at once, before the archive.
stop "$PG/15/bin" "$tmp/clone15/userdata"
cp -a "$tmp/clone15" "$tmp/verify15-bad"
port15d=$(free_port)
start "$PG/15/bin" "$tmp/verify15-bad/userdata" "$port15d"
psql15 -p "$port15d" -U postgres -d quay -c "DELETE FROM repository WHERE id = (SELECT max(id) FROM repository)" >/dev/null
stop "$PG/15/bin" "$tmp/verify15-bad/userdata"
start "$PG/15/bin" "$tmp/clone15/userdata" "$port15c"
chmod -R u+w "$tmp/old-claim"
cp -a "$tmp/old-claim" "$tmp/backup-clone-w"
chmod -R a-w "$tmp/old-claim"
if verify_job verify-bad "$tmp/backup-clone-w" "$tmp/verify15-bad" 2>/dev/null; then fail "the Job passed a clone missing a row"; fi
stop "$PG/15/bin" "$tmp/clone15/userdata"
grep -q "^VerificationMismatch: step 'compare the manifests' failed" "$tmp/verify-bad.termination" ||
  fail "termination: $(cat "$tmp/verify-bad.termination")"
grep -q "^> public.repository	19999	" "$tmp/verify-bad.termination" || fail "the difference is not shown: $(cat "$tmp/verify-bad.termination")"
grep -q "^QPU_MANIFEST_END new 1$" "$tmp/verify-bad.out" || fail "the manifests were not printed before the failure"
[ ! -e "$tmp/backup-clone-w/pg13/COMPLETE" ] || fail "the archive was written after a difference"
chmod -R u+w "$tmp/old-claim"
[ "$before" = "$(fingerprint "$tmp/old-claim")" ] || fail "the old data directory changed during the verification"
ok "a row missing from the upgraded clone: VerificationMismatch before the archive; $(head -n 3 "$tmp/verify-bad.termination" | tr '\n' ' ')"

echo "$pass passed"
