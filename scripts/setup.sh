#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need. Idempotent: packages
# already present are not touched, and nothing is downloaded when everything is there.
# Usage: scripts/setup.sh [PACKAGE ...]   (as root, or with sudo available); the PACKAGEs, if
#        given, are installed as well (scripts/image.sh adds buildah and mmdebstrap)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

mapfile -t wanted < <(grep -vE '^\s*(#|$)' "$here/apt-packages.txt")
wanted+=("$@")
missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# kubectl is preinstalled on these machines; Debian's kubernetes-client is the fallback.
if ! command -v kubectl >/dev/null 2>&1; then missing+=(kubernetes-client); fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#wanted[@]} Debian packages present"
fi

# The PostgreSQL builds the simulator and the end-to-end tests run (when the script exists).
if [ -x "$here/provision-postgres.sh" ]; then
  "$here/provision-postgres.sh"
fi
