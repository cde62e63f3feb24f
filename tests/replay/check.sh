#!/usr/bin/env bash
# Replays one golden scenario with the real CLI and compares, byte for byte, everything the
# scenario keeps beside its log: the decided effects, the final state, what `plan` says, and the
# warnings the replay printed; replays twice to prove determinism.
#   check.sh BINARY DIR            compare
#   check.sh BINARY DIR --update   rewrite DIR's expected_effects.jsonl, final_state.json,
#                                  plan.txt and expected_warnings.txt
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") dir=$2 mode=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Run from inside the scenario so that warnings name "events.jsonl:LINE" whatever path the
# caller used.
cd "$dir"
"$bin" replay events.jsonl > "$tmp/effects.jsonl" 2> "$tmp/warnings.txt"
"$bin" replay --state-json events.jsonl > "$tmp/state.json" 2>/dev/null
"$bin" replay events.jsonl > "$tmp/effects-again.jsonl" 2>/dev/null
"$bin" plan events.jsonl > "$tmp/plan.txt" 2>/dev/null
if ! cmp -s "$tmp/effects.jsonl" "$tmp/effects-again.jsonl"; then
  echo "FAIL $dir: two replays of the same log decided different effects" >&2
  exit 1
fi
if [ "$mode" = "--update" ]; then
  cp "$tmp/effects.jsonl" expected_effects.jsonl
  cp "$tmp/state.json" final_state.json
  cp "$tmp/plan.txt" plan.txt
  cp "$tmp/warnings.txt" expected_warnings.txt
  echo "updated $dir ($(wc -l < expected_effects.jsonl) effects, $(wc -l < expected_warnings.txt) warnings)"
  exit 0
fi
status=0
compare() {  # compare EXPECTED ACTUAL WHAT
  if [ ! -f "$1" ]; then
    echo "FAIL $dir: $1 is missing (tests/replay/regenerate.sh writes it)" >&2
    status=1
  elif ! diff -u "$1" "$2" > "$tmp/diff"; then
    echo "FAIL $dir: $3 differ from $1:" >&2
    head -40 "$tmp/diff" >&2
    status=1
  fi
}
compare expected_effects.jsonl "$tmp/effects.jsonl" "the decided effects"
compare final_state.json "$tmp/state.json" "the final state"
compare plan.txt "$tmp/plan.txt" "plan's explanation"
compare expected_warnings.txt "$tmp/warnings.txt" "the replay's warnings"
[ $status -eq 0 ] && echo "ok $dir ($(wc -l < "$tmp/effects.jsonl") effects, $(wc -l < "$tmp/warnings.txt") warnings, plan compared)"
exit $status
