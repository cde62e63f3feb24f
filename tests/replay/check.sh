#!/usr/bin/env bash
# Replays one golden scenario with the real CLI and compares, byte for byte, the decided effects
# and the final state with the expectations beside the log; replays twice to prove determinism
# and checks that `plan` explains the log.
#   check.sh BINARY DIR            compare
#   check.sh BINARY DIR --update   rewrite DIR/expected_effects.jsonl and DIR/final_state.json
set -euo pipefail
bin=$1 dir=$2 mode=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" replay "$dir/events.jsonl" > "$tmp/effects.jsonl" 2> "$tmp/warnings.txt"
"$bin" replay --state-json "$dir/events.jsonl" > "$tmp/state.json" 2>/dev/null
"$bin" replay "$dir/events.jsonl" > "$tmp/effects-again.jsonl" 2>/dev/null
"$bin" plan "$dir/events.jsonl" > "$tmp/plan.txt" 2>/dev/null
if ! cmp -s "$tmp/effects.jsonl" "$tmp/effects-again.jsonl"; then
  echo "FAIL $dir: two replays of the same log decided different effects" >&2
  exit 1
fi
grep -q "QuayRegistry" "$tmp/plan.txt" || { echo "FAIL $dir: plan names no QuayRegistry" >&2; cat "$tmp/plan.txt" >&2; exit 1; }
if [ "$mode" = "--update" ]; then
  cp "$tmp/effects.jsonl" "$dir/expected_effects.jsonl"
  cp "$tmp/state.json" "$dir/final_state.json"
  cp "$tmp/plan.txt" "$dir/plan.txt"
  echo "updated $dir ($(wc -l < "$dir/expected_effects.jsonl") effects)"
  exit 0
fi
status=0
if ! diff -u "$dir/expected_effects.jsonl" "$tmp/effects.jsonl" > "$tmp/effects.diff"; then
  echo "FAIL $dir: effects differ from expected_effects.jsonl:" >&2
  head -40 "$tmp/effects.diff" >&2
  status=1
fi
if ! diff -u "$dir/final_state.json" "$tmp/state.json" > "$tmp/state.diff"; then
  echo "FAIL $dir: final state differs from final_state.json:" >&2
  head -40 "$tmp/state.diff" >&2
  status=1
fi
[ $status -eq 0 ] && echo "ok $dir ($(wc -l < "$tmp/effects.jsonl") effects, $(wc -l < "$tmp/warnings.txt") warnings)"
exit $status
