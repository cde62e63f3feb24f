#!/usr/bin/env bash
# Stands in for the controller binary in tests/e2e/e2e.py (--controller): runs the controller from
# its image (scripts/image.sh), with buildah's chroot isolation and the host's network, /tmp
# shared, as the image's own user 65532. The case's folder (0700, root's) is opened to that user.
#   QPU_IMAGE (default localhost/quay-pg-upgrader:0.1.0)
set -uo pipefail
image=${QPU_IMAGE:-localhost/quay-pg-upgrader:0.1.0}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[i]}" = --event-log ]; then chmod -R a+rwX "$(dirname "${args[i + 1]}")"; fi
done
ctr=$(buildah from "$image") || exit 1
buildah run --isolation chroot --network host -v /tmp:/tmp "$ctr" -- /usr/local/bin/quay-pg-upgrader "${args[@]}" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"; rc=$?
if [ "$rc" -gt 128 ]; then wait "$child"; rc=$?; fi  # a signal woke the first wait: the exit status
buildah rm "$ctr" >/dev/null 2>&1
exit "$rc"
