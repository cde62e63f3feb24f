#!/usr/bin/env bash
# Runs clang-tidy-19 (Debian's package clang-tidy-19) with the repository's .clang-tidy over the
# product folders, two files at a time, against the compile commands of a build tree.
#   scripts/tidy.sh [BUILD_DIR] [FILE...]     exit 1 when any check fires
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
shift || true
tidy=${QPU_CLANG_TIDY:-clang-tidy-19}
command -v "$tidy" >/dev/null || { echo "tidy.sh: $tidy not found (apt-get install clang-tidy-19)" >&2; exit 2; }
[ -f "$build/compile_commands.json" ] || { echo "tidy.sh: no $build/compile_commands.json (configure the build first)" >&2; exit 2; }
cd "$root"
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(git ls-files 'core/*.cpp' 'reducers/*.cpp' 'kube/*.cpp' 'watch/*.cpp' 'effects/*.cpp' 'app/*.cpp'); fi
# Boost 1.74 finds co_await under clang only through the Coroutines TS header, which libstdc++ 12
# lacks; g++ builds with the C++20 <coroutine>, and so does clang when told to.
coroutines=(--extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE=1)
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 1 "$tidy" -p "$build" --quiet "${coroutines[@]}" 2>/dev/null | tee "$build/tidy.log" | grep -E "(warning|error):" && exit 1
echo "tidy.sh: ${#files[@]} files clean"
