#!/usr/bin/env bash
# Sets up (idempotently), builds, and runs the main job. Until the live demo on the simulated
# cluster lands, the main job replays a recorded upgrade: PostgreSQL 10 -> 15 by the logical
# method, and explains each step the controller took and would take.
#   scripts/demo.sh [SCENARIO]     (a folder name under tests/replay/, default logical-10-to-15)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
build=${QPU_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target quay-pg-upgrader -j "$(nproc)"
scenario=${1:-logical-10-to-15}
log="$root/tests/replay/$scenario/events.jsonl"
bin="$build/quay-pg-upgrader"
echo "== Replaying $log"
echo "== Decided effects (phase by phase):"
"$bin" replay "$log" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    kind = e["effect"]
    if kind == "update_registry_status":
        s = e["postgresUpgrade"]
        print(f"  seq {e[\"seq\"]:>4}  status  {s[\"phase\"]:<13} {e[\"conditions\"][1][\"message\"][:150]}")
    elif kind not in ("emit_event", "requeue_after"):
        print(f"  seq {e[\"seq\"]:>4}  {kind:<26} {e[\"id\"]}")
'
echo "== Where it ended, in plain words:"
"$bin" plan "$log"
