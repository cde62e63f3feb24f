#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (idempotently) and runs every test: unit tests, golden
# replays, the simulator and client tests, the real-PostgreSQL end-to-end, kuttl, reliability and
# short fuzz runs.
#   scripts/test.sh [extra ctest arguments for the whole suite]
# Two trees, built once each:
#   build       RelWithDebInfo (-O2, -Werror; line tables only), the tree scripts/demo.sh uses:
#               the WHOLE suite runs here, so the end-to-end cases drive the binaries that ship;
#   build-asan  ASan + UBSan (-O0), built beside that suite at the lowest priority: every test
#               that runs our code in its own process (unit, replay, watch, effects, kube-sim and
#               its runtime and operator stand-in, bad input, refusals) runs here again, and the
#               end-to-end cases in QPU_ASAN_E2E, which put the instrumented controller and
#               kube-sim through a whole upgrade of each kind. Every instrumented process stops
#               at its first report and fails its test. The whole suite ran under ASan until
#               its 163 tests took CI 72 min (docs/RELIABILITY.md section 6).
#   QPU_SANITIZE=OFF scripts/test.sh   the whole suite in the plain tree only (faster at home)
#   QPU_SANITIZE=ON  scripts/test.sh   the whole suite in the sanitized tree only
#   QPU_TEST_JOBS=N                    ctest's parallelism (default: cores + 1; the end-to-end
#                                      cases wait on pods and PostgreSQL much of the time)
# A skipped test proved nothing, so any skip fails the run (CI runs this script). On a machine
# that legitimately lacks a prerequisite (no loop devices: not root), QPU_ALLOW_SKIPS=1 lists the
# skips and lets the run pass.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
mode=${QPU_SANITIZE:-BOTH}
plain=${QPU_BUILD_DIR:-$root/build}
sanitized=${QPU_ASAN_BUILD_DIR:-$root/build-asan}
# The plain tree keeps the build type's -O2 but writes line tables only (-g1, as the sanitized tree
# does): debug information never changes the generated code, and full -g is about a third of the
# compile time of our heaviest files (kube/http_client.cpp on a busy machine: 70 s with -g, 44 s
# with -g0).
configure() {
  local flags=()
  [ "$2" = ON ] || flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
  cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQPU_SANITIZE="$2" "${flags[@]}" >/dev/null
}
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
jobs=${QPU_TEST_JOBS:-$(($(nproc) + 1))}
whole_suite() { run_ctest "$1" -j "$jobs" --output-on-failure --timeout 900 "${@:2}"; }
# What the sanitized tree runs in BOTH mode: every test but the end-to-end, kuttl, deploy and
# fuzz ones (the fuzz targets build their own ASan + UBSan binaries with clang, in either tree),
# then these end-to-end cases: the logical path, the clone path with verification after the
# resume, the operator stand-in path, the controller killed mid-upgrade and replayed from its
# log, and the API's error bursts.
asan_e2e=${QPU_ASAN_E2E:-e2e/logical-10-to-15 e2e/clone-verify-after-resume e2e/operator-10-to-13 reliability/crash-after-log reliability/faults-errors}

case $mode in
  OFF)
    configure "$plain" OFF && cmake --build "$plain" -j "$(nproc)" && whole_suite "$plain" "$@" ;;
  ON)
    configure "$sanitized" ON && cmake --build "$sanitized" -j "$(nproc)" && whole_suite "$sanitized" "$@" ;;
  BOTH)
    configure "$plain" OFF
    configure "$sanitized" ON
    cmake --build "$plain" -j "$(nproc)"
    # The suite waits on pods and PostgreSQL much of the time (about 1.3 of 2 cores busy), so
    # the sanitized tree builds beside it at the lowest priority instead of before it.
    asan_log=$sanitized/build-beside-suite.log
    (nice -n 19 cmake --build "$sanitized" -j "$(nproc)" >"$asan_log" 2>&1) &
    asan_build=$!
    echo "== the whole suite in the shipped build ($plain); the sanitized tree builds beside it ($asan_log)"
    suite_rc=0
    whole_suite "$plain" "$@" || suite_rc=$?
    asan_rc=0
    wait "$asan_build" || asan_rc=$?
    if [ "$asan_rc" != 0 ]; then
      tail -50 "$asan_log"
      echo "== the sanitized tree did not build (exit $asan_rc)" >&2
      exit "$asan_rc"
    fi
    echo "== under ASan + UBSan ($sanitized): every test but e2e, kuttl, deploy and fuzz"
    whole_suite "$sanitized" -LE '^(e2e|kuttl|deploy|fuzz)$' || suite_rc=$?
    e2e_regex="^($(echo "$asan_e2e" | xargs | sed 's/ /|/g'))\$"
    echo "== under ASan + UBSan ($sanitized): $asan_e2e"
    whole_suite "$sanitized" -R "$e2e_regex" || suite_rc=$?
    exit "$suite_rc" ;;
  *) echo "QPU_SANITIZE must be ON, OFF or unset (both trees), not '$mode'" >&2; exit 2 ;;
esac
