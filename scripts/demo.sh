#!/usr/bin/env bash
# The main job: sets up a fresh Debian 12 machine (idempotently: Debian packages, PostgreSQL
# 10..17), builds, and runs `quay-pg-upgrader demo`: a real PostgreSQL 10 -> 15 upgrade of a
# Quay-like database on the embedded simulated cluster, with live progress and a summary.
# Runs as root (the simulated cluster mounts volumes and runs servers as an unprivileged user).
#   scripts/demo.sh [demo flags, e.g. --rows 100000]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
build=${QPU_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target quay-pg-upgrader kube-sim -j "$(nproc)"
exec "$build/quay-pg-upgrader" demo "$@"
