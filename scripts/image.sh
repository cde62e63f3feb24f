#!/usr/bin/env bash
# Builds the controller's image and the pg_upgrade method's image here, where no container
# registry is reachable (issue 18):
#   scripts/image.sh [--tag NAME] [--smoke]   (as root; installs buildah and mmdebstrap if missing)
# 1. A local Debian 12 base image, localhost/qpu-debian:12, made once with mmdebstrap from the
#    Debian mirror (deb.debian.org, as this machine's apt sources; the tarball is kept in
#    /var/cache/quay-pg-upgrader/image).
# 2. deploy/Containerfile built with `buildah bud --isolation chroot`, with that base as
#    BUILD_BASE and an empty runtime base (RUNTIME_BASE=scratch): the runtime stage brings its own
#    file system (the binary, its libraries, CA certificates, the non-root user), so nothing of a
#    distroless base is missing. A real pipeline builds the same file with its public defaults.
# 3. Checks the image: it runs as user 65532, holds no shell and no package manager, and its binary
#    starts (`--help`, run with `buildah run --isolation chroot`); prints its size and the line
#    `image_size_mib VALUE <40 met|missed`.
# 4. deploy/Containerfile.pg-upgrade on the same base (localhost/pg-upgrade:13-15), checked for
#    real: as uid 26 it initialises a PostgreSQL 13 and a 15 cluster with its own binaries
#    (PG_OLD_BINDIR, PG_NEW_BINDIR) and runs `pg_upgrade --check` from the one to the other.
# 5. --smoke: the end-to-end case logical-10-to-15 on kube-sim with the controller run from its
#    image (tests/e2e/in_image.sh: chroot isolation, host network, user 65532); needs the plain
#    tree `build` (kube-sim and the harness's tools; scripts/test.sh or scripts/demo.sh make it).
# Layers are cached (--layers): a second run rebuilds only from the changed sources on.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(sed -n 's/^project(quay_pg_upgrader VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
tag=localhost/quay-pg-upgrader:$version
smoke=0
while [ $# -gt 0 ]; do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "image.sh: run as root (buildah with chroot isolation)" >&2; exit 2; }

# The project's packages and PostgreSQL builds (--smoke runs an end-to-end case), and the two tools.
"$root/scripts/setup.sh" buildah mmdebstrap

base=localhost/qpu-debian:12
cache=/var/cache/quay-pg-upgrader/image
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  mkdir -p "$cache"
  tarball=$cache/debian-12.tar
  if [ ! -s "$tarball" ]; then
    echo "image.sh: making the Debian 12 base with mmdebstrap ($tarball)"
    mmdebstrap --variant=apt --format=tar bookworm "$tarball.part" \
      "deb http://deb.debian.org/debian bookworm main" \
      "deb http://deb.debian.org/debian bookworm-updates main" \
      "deb http://deb.debian.org/debian-security bookworm-security main"
    mv "$tarball.part" "$tarball"
  fi
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$tarball" / >/dev/null
  buildah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --rm "$ctr" "$base" >/dev/null
  echo "image.sh: base image $base"
fi

started=$(date +%s)
buildah bud --isolation chroot --layers --force-rm -f "$root/deploy/Containerfile" \
  --build-arg BUILD_BASE="$base" --build-arg RUNTIME_BASE=scratch -t "$tag" "$root"
echo "image.sh: built $tag in $(($(date +%s) - started)) s"

# What is inside: the user, no shell, no package manager, a binary that starts.
user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")
[ "$user" = "65532:65532" ] || { echo "image.sh: the image runs as '$user', not 65532:65532" >&2; exit 1; }
ctr=$(buildah from "$tag")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(buildah mount "$ctr")
for f in bin/sh bin/bash usr/bin/sh usr/bin/bash usr/bin/apt-get usr/bin/dpkg; do
  [ ! -e "$mnt/$f" ] || { echo "image.sh: the image holds /$f" >&2; exit 1; }
done
files=$(cd "$mnt" && find . -type f | wc -l)
bytes=$(du -sb "$mnt" | cut -f1)  # the image's whole file system, uncompressed
buildah umount "$ctr" >/dev/null
buildah run --isolation chroot "$ctr" -- /usr/local/bin/quay-pg-upgrader --help | sed -n 1,3p

listed=$(buildah images --format '{{.Size}}' "$tag")
python3 - "$bytes" "$files" "$tag" "$listed" <<'EOF'
import sys
size, files, tag, listed = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
mib = size / 2**20
print(f"image.sh: {tag}: {mib:.1f} MiB of files uncompressed ({files} files; buildah lists {listed})")
print(f"image_size_mib {mib:.1f} <40 {'met' if mib < 40 else 'missed'}")
EOF

# The pg_upgrade image: its binaries, run where the Jobs run them, upgrade-check a real 13 cluster.
pgu=localhost/pg-upgrade:13-15
started=$(date +%s)
buildah bud --isolation chroot --layers --force-rm -f "$root/deploy/Containerfile.pg-upgrade" --build-arg BASE="$base" -t "$pgu" "$root/deploy"
echo "image.sh: built $pgu in $(($(date +%s) - started)) s"
ctr2=$(buildah from "$pgu")
trap 'buildah rm "$ctr" "$ctr2" >/dev/null 2>&1 || true' EXIT
buildah run --isolation chroot "$ctr2" -- bash -ec '
  [ "$(id -u):$(id -g)" = 26:26 ] || { echo "runs as $(id -u):$(id -g), not 26:26"; exit 1; }
  work=$(mktemp -d); cd "$work"
  "$PG_OLD_BINDIR/initdb" -D old -U postgres -E UTF8 --locale=en_US.UTF-8 >/dev/null
  "$PG_NEW_BINDIR/initdb" -D new -U postgres -E UTF8 --locale=en_US.UTF-8 >/dev/null
  "$PG_OLD_BINDIR/postgres" --version; "$PG_NEW_BINDIR/pg_upgrade" --version
  "$PG_NEW_BINDIR/pg_upgrade" --check -U postgres -b "$PG_OLD_BINDIR" -B "$PG_NEW_BINDIR" -d old -D new
  rm -rf "$work"'
echo "image.sh: $pgu: $(buildah images --format '{{.Size}}' "$pgu"); pg_upgrade --check 13 -> 15 passed"

if [ "$smoke" = 1 ]; then
  b=$root/build
  [ -x "$b/kube-sim/kube-sim" ] || { echo "image.sh: --smoke needs $b/kube-sim/kube-sim (scripts/demo.sh builds it)" >&2; exit 2; }
  QPU_IMAGE=$tag python3 "$root/tests/e2e/e2e.py" --build "$b" --source "$root" --kube-sim "$b/kube-sim/kube-sim" \
    --controller "$root/tests/e2e/in_image.sh" --timeout 500 logical-10-to-15
  echo "image.sh: $tag upgraded logical-10-to-15 on kube-sim from inside its container"
fi
