#!/usr/bin/env bash
# Regenerates the golden scenarios: their logs (from tests/unit/scenario.cpp) and expectations.
# Review the diff before committing: a changed expectation is a changed behaviour.
#   tests/replay/regenerate.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build}
cmake --build "$build" --target scenario_gen quay-pg-upgrader
"$build/tests/unit/scenario_gen" "$root/tests/replay"
for dir in "$root"/tests/replay/*/; do
  bash "$root/tests/replay/check.sh" "$build/quay-pg-upgrader" "${dir%/}" --update
done
