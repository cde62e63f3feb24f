#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of tests/fuzz/ with Debian's clang 14 (ASan + UBSan).
#
#   scripts/fuzz.sh [--seconds N] [--build DIR] [--jobs J] [TARGET...]
#
# TARGET: watch_line, event_log, image_ref, kubeconfig (default: all). Each target runs N seconds
# (default 300: the long run; CI runs 20 through CTest, label `fuzz`) on a corpus seeded from the
# tests (tests/replay/*/events.jsonl lines and their watch payloads, the image references of
# tests/unit/image_ref_test.cpp, the kubeconfigs of tests/watch/kube_config_test.cpp, and every
# input that once failed, under tests/fuzz/regressions/<target>/). The corpus
# grows in DIR/corpus/<target>; crashes land in DIR/artifacts/<target>/ and fail the script.
#
# The project build (g++ 12) cannot build these: libFuzzer needs clang. clang 14 cannot compile
# libstdc++ 12's <expected>, so tests/fuzz/compat/ supplies one for this build only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=300
build="$root/build-fuzz"
jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(watch_line event_log image_ref kubeconfig)
cxx=${QPU_FUZZ_CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }

flags=(-std=c++2b -O1 -g -fno-omit-frame-pointer -isystem "$root/tests/fuzz/compat" -I "$root"
       -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wno-unused-command-line-argument)
case "$(uname -m)" in x86_64) flags+=(-msse4.2 -mpclmul) ;; esac
objdir="$build/obj"
mkdir -p "$objdir"

# The sources the targets need: core (decoder, event log, image refs and what they use) and the
# kubeconfig loader. Compiled once with coverage; rebuilt when a source is newer than its object.
sources=("$root"/core/codec.cpp "$root"/core/config.cpp "$root"/core/decode.cpp "$root"/core/effect_id.cpp "$root"/core/effects.cpp
         "$root"/core/event_log.cpp "$root"/core/image_ref.cpp "$root"/core/istr.cpp "$root"/core/pg_version.cpp "$root"/core/quantity.cpp
         "$root"/core/resources.cpp "$root"/core/state.cpp "$root"/core/time.cpp "$root"/kube/kube_config.cpp)
objs=()
pids=()
for src in "${sources[@]}"; do
  obj="$objdir/$(basename "$(dirname "$src")")_$(basename "${src%.cpp}").o"
  objs+=("$obj")
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find "$root/core" "$root/kube" "$root/tests/fuzz/compat" -name '*.hpp' -newer "$obj" -o -name expected -newer "$obj" | head -1)" ]; then
    "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$(nproc)" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

seed() {
  local t=$1 dir=$2
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir")" ] && return 0
  python3 - "$t" "$dir" "$root" <<'EOF'
import glob, hashlib, json, os, re, sys
t, d, root = sys.argv[1:]
seeds = []
logs = sorted(glob.glob(os.path.join(root, "tests/replay/*/events.jsonl")))
if t == "event_log":
    for f in logs:
        lines = open(f, encoding="utf-8", errors="replace").read().splitlines(True)
        seeds.append("".join(lines[:40]))
        seeds += lines[:200:7]
elif t == "watch_line":
    for f in logs:
        for line in open(f, encoding="utf-8", errors="replace"):
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "watch" in o:
                seeds.append(json.dumps(o["watch"], separators=(",", ":")))
            elif o.get("relist") == "item":
                seeds.append(json.dumps({"type": "ADDED", "object": o["object"]}, separators=(",", ":")))
            elif "malformed" in o:
                seeds.append(o["malformed"])
    seeds = seeds[::3][:400]
elif t == "image_ref":
    src = open(os.path.join(root, "tests/unit/image_ref_test.cpp")).read()
    seeds = sorted(set(re.findall(r'"([^"\\]{1,200})"', src)))
elif t == "kubeconfig":
    src = open(os.path.join(root, "tests/watch/kube_config_test.cpp")).read()
    seeds = [s for s in re.findall(r'R"\((.*?)\)"', src, re.S) if "apiVersion" in s or "clusters" in s]
    seeds.append("apiVersion: v1\nkind: Config\ncurrent-context: sim\nclusters:\n- name: sim\n  cluster:\n"
                 "    server: https://127.0.0.1:6443\n    certificate-authority-data: Q0E=\ncontexts:\n"
                 "- name: sim\n  context: {cluster: sim, user: sim, namespace: quay}\nusers:\n- name: sim\n"
                 "  user:\n    token: abcdef0123456789\n")
for s in seeds:
    b = s.encode()
    open(os.path.join(d, hashlib.sha1(b).hexdigest()), "wb").write(b)
# Inputs that once failed a target (kept as found, named crash-<sha1>): every run tries them again.
for f in sorted(glob.glob(os.path.join(root, "tests/fuzz/regressions", t, "*"))):
    b = open(f, "rb").read()
    open(os.path.join(d, hashlib.sha1(b).hexdigest()), "wb").write(b)
print(f"fuzz.sh: {t}: {len(seeds)} seeds", file=sys.stderr)
EOF
}

status=0
for t in "${targets[@]}"; do
  src="$root/tests/fuzz/fuzz_$t.cpp"
  [ -f "$src" ] || { echo "fuzz.sh: no target $t ($src)" >&2; exit 2; }
  bin="$build/fuzz_$t"
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ -n "$(find "${objs[@]}" -newer "$bin" | head -1)" ]; then
    "$cxx" "${flags[@]}" -fsanitize=fuzzer "$src" "${objs[@]}" -lsimdjson -lyaml-cpp -o "$bin"
  fi
  # -jobs makes libFuzzer fork workers that log to fuzz-N.log in the current directory: only on request.
  parallel=()
  [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t/"
  seed "$t" "$corpus"
  mkdir -p "$artifacts"
  echo "fuzz.sh: $t for ${seconds}s (corpus $corpus)"
  # -max_len covers the largest seed (a whole replay prefix); -rss_limit_mb guards against a
  # decoder that buffers without bound. Time-outs per input (-timeout) count as failures.
  # The file-reading targets write each input to a file under QPU_FUZZ_TMP (one per process).
  export QPU_FUZZ_TMP="$build/tmp/$t"
  rm -rf "$QPU_FUZZ_TMP" && mkdir -p "$QPU_FUZZ_TMP"
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$bin" -max_total_time="$seconds" -max_len=262144 \
      -timeout=10 -rss_limit_mb=2048 "${parallel[@]}" -artifact_prefix="$artifacts" \
      -print_final_stats=1 "$corpus" > "$build/$t.log" 2>&1; then
    echo "fuzz.sh: $t FAILED; the input is in $artifacts, the log in $build/$t.log" >&2
    tail -40 "$build/$t.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$build/$t.log" | tr '\n' ' '
    echo
  fi
  rm -rf "$QPU_FUZZ_TMP"
done
exit $status
