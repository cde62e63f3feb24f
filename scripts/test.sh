#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (idempotently) and runs every test: unit tests, golden
# replays, the simulator and client tests, and the real-PostgreSQL tests.
#   scripts/test.sh [extra ctest arguments]
#   QPU_SANITIZE=ON scripts/test.sh   the one build with ASan + UBSan (-O1): the whole suite under the
#                                     sanitizers (not CI's default yet: docs/RELIABILITY.md section 6)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
build=${QPU_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQPU_SANITIZE="${QPU_SANITIZE:-OFF}"
cmake --build "$build" -j "$(nproc)"
cd "$build"
# In a sanitized build every instrumented process (tests, kube-sim, the controllers the e2e tests
# start) stops at its first report, with a stack trace, and its test fails. The pods' programs
# (PostgreSQL, shells) are not instrumented and ignore these.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest -j "$(nproc)" --output-on-failure --timeout 900 "$@"
