# pg_upgrade Job (job_role::upgrade_pg_upgrade), run with an image holding both versions' bin
# dirs. The old claim is mounted READ-ONLY and never written: its stopped data directory is
# copied into the new claim (one sequential copy at disk speed), and `pg_upgrade --link` then
# works between that copy and a new cluster on the same filesystem, so no second copy is made.
# With QPU_CLONED=1 the new claim is a clone of the stopped old claim (the storage made it in
# constant time): its data directory is the old cluster, moved aside instead of copied, and the
# old claim is not mounted at all.
#
# env:  QPU_OLD_PGDATA  the old data directory (on the read-only old claim; cloned: QPU_PGDATA)
#       QPU_OLD_COPY    where the copy goes, inside the new claim; removed at the end
#       QPU_PGDATA      the new data directory inside the new claim (the image's PGDATA)
#       QPU_WORK_DIR    pg_upgrade's working directory (its logs), inside the new claim
#       PG_OLD_BINDIR, PG_NEW_BINDIR (the image's convention), QPU_JOBS (default 2),
#       QPU_SOCKET_DIR (default /tmp); QPU_OLD_ENCODING, QPU_OLD_LC_COLLATE, QPU_OLD_LC_CTYPE and
#       QPU_OLD_INSTALL_USER when the controller read them before the downtime (else read here
#       from the stopped cluster, started once)
QPU_FAILURE_REASON=UpgradeFailed
require_env QPU_OLD_PGDATA QPU_OLD_COPY QPU_PGDATA QPU_WORK_DIR PG_OLD_BINDIR PG_NEW_BINDIR
old=$QPU_OLD_PGDATA copy=$QPU_OLD_COPY new=$QPU_PGDATA work=$QPU_WORK_DIR
sock=$(private_socket_dir)
jobs=${QPU_JOBS:-2}
unset PGPASSWORD PGSERVICE PGDATABASE PGUSER
export PGHOST=$sock

cloned=${QPU_CLONED:-0}

step "inspect the old cluster $old"
[ -s "$old/PG_VERSION" ] || { echo "$old holds no PostgreSQL data directory (no PG_VERSION)" >&2; exit 1; }
old_version=$(cat "$old/PG_VERSION")
echo "old data directory: PostgreSQL $old_version, old binaries $("$PG_OLD_BINDIR/postgres" -V)"
"$PG_OLD_BINDIR/pg_controldata" "$old" >/tmp/qpu-controldata.txt
state=$(sed -n 's/^Database cluster state: *//p' /tmp/qpu-controldata.txt)
if [ "$state" != "shut down" ]; then
  echo "the old cluster was not shut down cleanly (state: $state); start and stop the old server once" >&2
  exit 1
fi
checksums=$(sed -n 's/^Data page checksum version: *//p' /tmp/qpu-controldata.txt)

# The old cluster's own configuration, as it was: the new cluster gets its client authentication
# back at the end (in the clone the old directory itself becomes the copy, which is edited).
conf=/tmp/qpu-old-conf
rm -rf "$conf"
mkdir -p "$conf"
for f in pg_hba.conf pg_ident.conf postgresql.conf; do
  if [ -f "$old/$f" ]; then cp "$old/$f" "$conf/$f"; fi
done

if [ "$cloned" = 1 ]; then
  step "move the clone's old cluster aside to $copy"
  rm -rf "$copy" "$work"
  mkdir -p "$work"
  mv "$old" "$copy"
else
  step "clear the new claim's work folders"
  rm -rf "$new" "$copy" "$work"
  mkdir -p "$work" "$(dirname "$new")"

  step "copy $old to $copy"
  old_dir_bytes() { du -sb "$old" | cut -f1; }
  copy_bytes() { du -sb "$copy" 2>/dev/null | cut -f1; }
  progress_begin copy old_dir_bytes copy_bytes
  cp -a "$old" "$copy"
  progress_end
  chmod -R u+w "$copy"
fi
chmod 0700 "$copy"
rm -f "$copy/postmaster.pid" "$copy/postmaster.opts"
# The copy is ours: make it start without the image's extra files (an `include` of a file only
# the old image has fails the start) and let the local install user in without a password, which
# pg_upgrade needs. The new cluster gets the ORIGINAL pg_hba.conf back at the end.
sed -i "$qpu_loose_includes" "$copy/postgresql.conf"
printf 'local all all trust\n' >"$copy/pg_hba.conf"
echo "copied $(du -sh "$copy" | cut -f1)"

if [ -n "${QPU_OLD_INSTALL_USER:-}" ] && [ -n "${QPU_OLD_ENCODING:-}" ] && [ -n "${QPU_OLD_LC_COLLATE:-}" ] &&
   [ -n "${QPU_OLD_LC_CTYPE:-}" ]; then
  # Read by the controller from the running server before the downtime: no start of the stopped
  # cluster here (about 0.7 s of the downtime). Had they changed since (they cannot without
  # recreating template0 or the install user), pg_upgrade's own checks refuse the new cluster.
  superuser=$QPU_OLD_INSTALL_USER encoding=$QPU_OLD_ENCODING collate=$QPU_OLD_LC_COLLATE ctype=$QPU_OLD_LC_CTYPE
  echo "as read before the downtime:"
else
  step "read the old cluster's encoding, locale and install user"
  start_server "$PG_OLD_BINDIR" "$copy" "$sock"
  superuser=$(install_user)
  IFS=$'\t' read -r encoding collate ctype < <(psql_at -F $'\t' -U "$superuser" -d template1 -c \
    "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = 'template0'")
  stop_server
fi
echo "install user $superuser, encoding $encoding, collate $collate, ctype $ctype, checksums version $checksums"

step "initdb $new"
checksum_flag=()
[ "$checksums" != 0 ] && checksum_flag=(--data-checksums)
mkdir -p "$new"
chmod 0700 "$new"
# --no-sync: pg_upgrade writes most of this cluster again and syncs it when it ends (and this Job
# syncs the claim's filesystem last), so initdb's own pass over every file would be done twice.
"$PG_NEW_BINDIR/initdb" --no-sync -D "$new" -U "$superuser" -E "$encoding" --lc-collate="$collate" --lc-ctype="$ctype" \
  --auth-local=trust --auth-host=md5 "${checksum_flag[@]}" >/dev/null

cd "$work"
upgrade_args=(-b "$PG_OLD_BINDIR" -B "$PG_NEW_BINDIR" -d "$copy" -D "$new" -U "$superuser" --socketdir "$sock"
              -p 50432 -P 50433)
# pg_upgrade ends by fsyncing every file of the new cluster, one by one; from 15 on it can leave
# that to us, and one syncfs of the claim's filesystem at the end of this Job makes the same
# guarantee (and also covers what the steps after pg_upgrade write).
new_major=$("$PG_NEW_BINDIR/pg_upgrade" --version | awk '{print $NF}')
[ "${new_major%%.*}" -ge 15 ] && upgrade_args+=(--no-sync)
# No separate `--check` run: pg_upgrade performs the same consistency checks first and stops
# before it changes anything, and the preflight check Job ran the real `--check` against the live
# server already; a second run only started and stopped both clusters once more.
step "pg_upgrade --link --jobs $jobs"
"$PG_NEW_BINDIR/pg_upgrade" --link --jobs "$jobs" "${upgrade_args[@]}"

step "remove the copy of the old cluster"
# After --link the copy shares its relation files with the new cluster and must never start
# again; removing it only drops link counts.
rm -rf "$copy"

step "carry over client authentication and settings"
cp "$conf/pg_hba.conf" "$new/pg_hba.conf"
[ -f "$conf/pg_ident.conf" ] && cp "$conf/pg_ident.conf" "$new/pg_ident.conf"
grep -q '^[[:space:]]*local[[:space:]].*trust' "$new/pg_hba.conf" || sed -i '1i local all all trust' "$new/pg_hba.conf"
{
  printf "\n# quay-pg-upgrader: carried over from the old cluster's postgresql.conf\nlisten_addresses = '*'\n"
  sed -n "s/^[[:space:]]*include\(_if_exists\)\{0,1\}[[:space:]]\+\(.*\)$/include_if_exists \2/p" "$conf/postgresql.conf"
} >>"$new/postgresql.conf"

# No ANALYZE here: the statistics are made after the app is back, on the live server, as
# pg_upgrade recommends (the analyze Job; on cloning storage the archive Job), so the downtime
# does not wait for them.
step "update extensions"
start_server "$PG_NEW_BINDIR" "$new" "$sock"
export PGUSER=$superuser
update_extensions
stop_server
cd /
rm -rf "$work"
# Durable before the Job reports success (pg_upgrade --no-sync and initdb --no-sync left it to this).
sync -f "$new" 2>/dev/null || sync
if [ "$cloned" = 1 ]; then
  QPU_RESULT="UpgradeComplete: pg_upgrade --link $old_version -> $(cat "$new/PG_VERSION") in a clone of the old claim at $new (old claim not mounted)"
else
  QPU_RESULT="UpgradeComplete: pg_upgrade $old_version -> $(cat "$new/PG_VERSION") at $new (old claim untouched)"
fi
echo "$QPU_RESULT"
