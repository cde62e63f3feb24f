#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (idempotently) and runs every test: unit tests, golden
# replays, the simulator and client tests, the real-PostgreSQL end-to-end, kuttl, reliability and
# short fuzz runs.
#   scripts/test.sh [extra ctest arguments]
# Two trees, built once each:
#   build-asan  ASan + UBSan (-O0): the WHOLE suite runs here, so every instrumented process
#               (tests, kube-sim, the controllers the e2e tests start) stops at its first report
#               and fails its test;
#   build       the shipped flags (RelWithDebInfo, -O2, -Werror), as scripts/demo.sh builds it:
#               the controller, kube-sim and the unit tests, then the unit tests and the golden
#               replays again (the replays must give the same bytes in the optimised binary).
#   QPU_SANITIZE=OFF scripts/test.sh   the whole suite in the plain tree only (faster at home)
#   QPU_SANITIZE=ON  scripts/test.sh   the whole suite in the sanitized tree only
# A skipped test proved nothing, so any skip fails the run (CI runs this script). On a machine
# that legitimately lacks a prerequisite (no loop devices: not root), QPU_ALLOW_SKIPS=1 lists the
# skips and lets the run pass.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
mode=${QPU_SANITIZE:-BOTH}
plain=${QPU_BUILD_DIR:-$root/build}
sanitized=${QPU_ASAN_BUILD_DIR:-$root/build-asan}
configure() { cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQPU_SANITIZE="$2" >/dev/null; }
# In a sanitized build every instrumented process stops at its first report, with a stack trace.
# The pods' programs (PostgreSQL, shells) are not instrumented and ignore these.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# ctest in tree $1 with the remaining arguments; fails on a failed test, and on a skipped one
# (SKIP_RETURN_CODE, a missing prerequisite) unless QPU_ALLOW_SKIPS=1.
run_ctest() {
  local log=$1/ctest-output.log rc=0
  (cd "$1" && ctest "${@:2}") 2>&1 | tee "$log" || rc=$?
  local skipped
  skipped=$(grep -E '^[[:space:]]*[0-9]+ - .* \((Skipped|Disabled)\)$' "$log" || true)
  if [ -n "$skipped" ]; then
    echo "== skipped tests (a skip proves nothing):"
    echo "$skipped"
    if [ "${QPU_ALLOW_SKIPS:-0}" != 1 ]; then
      echo "== refusing the run: provide the prerequisites (scripts/setup.sh), or QPU_ALLOW_SKIPS=1 on a machine that lacks them" >&2
      [ "$rc" != 0 ] || rc=1
    fi
  fi
  return "$rc"
}
whole_suite() { run_ctest "$1" -j "$(nproc)" --output-on-failure --timeout 900 "${@:2}"; }

case $mode in
  OFF)
    configure "$plain" OFF && cmake --build "$plain" -j "$(nproc)" && whole_suite "$plain" "$@" ;;
  ON)
    configure "$sanitized" ON && cmake --build "$sanitized" -j "$(nproc)" && whole_suite "$sanitized" "$@" ;;
  BOTH)
    configure "$sanitized" ON
    configure "$plain" OFF
    cmake --build "$sanitized" -j "$(nproc)"
    # The suite waits on pods and PostgreSQL much of the time (about 1.2 of 2 cores busy on
    # average), so the plain tree builds beside it at the lowest priority instead of before it.
    plain_log=$plain/build-beside-suite.log
    (nice -n 19 cmake --build "$plain" -j "$(nproc)" --target quay-pg-upgrader unit_tests reliability_bad_input_test \
       >"$plain_log" 2>&1) &
    plain_build=$!
    echo "== the whole suite under ASan + UBSan ($sanitized); the plain tree builds beside it ($plain_log)"
    suite_rc=0
    whole_suite "$sanitized" "$@" || suite_rc=$?
    plain_rc=0
    wait "$plain_build" || plain_rc=$?
    if [ "$plain_rc" != 0 ]; then
      tail -50 "$plain_log"
      echo "== the plain tree did not build (exit $plain_rc)" >&2
      exit "$plain_rc"
    fi
    echo "== unit tests and golden replays in the shipped build ($plain)"
    run_ctest "$plain" -j "$(nproc)" --output-on-failure --timeout 900 -L '^(unit|replay)$'
    exit "$suite_rc" ;;
  *) echo "QPU_SANITIZE must be ON, OFF or unset (both trees), not '$mode'" >&2; exit 2 ;;
esac
