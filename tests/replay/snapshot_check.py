#!/usr/bin/python3
"""Log compaction with the real CLI (issue 17, item 4), over every golden log of tests/replay/.

For each log, with `quay-pg-upgrader snapshot`:
  - a snapshot at a line in the middle (`--until`): `replay --snapshot` prints exactly the effects a
    replay of the whole log prints after that line, and the same final state, byte for byte;
  - the whole log archived (`--archive`): the log's lines move to LOG.upto-<seq>, LOG is left empty,
    and `replay --snapshot` of the empty log gives the whole log's final state;
  - a snapshot whose log lost lines after it is refused, naming the missing sequence number.

  snapshot_check.py BINARY REPLAY_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def main():
    binary, replay_dir = sys.argv[1], sys.argv[2]
    failures, checked = [], 0
    tmp = tempfile.mkdtemp(prefix="qpu-snapshot-check-")
    try:
        for name in sorted(os.listdir(replay_dir)):
            log = os.path.join(replay_dir, name, "events.jsonl")
            if not os.path.exists(log):
                continue
            work = os.path.join(tmp, name)
            os.makedirs(work)
            copy = os.path.join(work, "events.jsonl")
            shutil.copy(log, copy)
            rc, effects, _ = run(binary, "replay", log)
            rc2, state, _ = run(binary, "replay", "--state-json", log)
            if rc or rc2:
                failures.append(f"{name}: the whole log does not replay")
                continue
            lines = [json.loads(line) for line in open(log) if line.strip()]
            # The middle of the log, or the nearest line after it where no relist is under way.
            made = None
            for line in lines[len(lines) // 2:]:
                rc, out, err = run(binary, "snapshot", copy, "--until", str(line["seq"]))
                if rc == 0:
                    made = line["seq"]
                    break
                if "middle of a relist" not in err:
                    failures.append(f"{name}: snapshot --until {line['seq']} failed: {err.strip()}")
                    break
            if made is None:
                failures.append(f"{name}: no snapshot could be made after the middle")
                continue
            snap = copy + ".snapshot"
            rc, rest, err = run(binary, "replay", "--snapshot", snap, copy)
            rc2, rest_state, _ = run(binary, "replay", "--snapshot", snap, "--state-json", copy)
            after = "".join(e + "\n" for e in effects.splitlines() if json.loads(e)["seq"] > made)
            if rc or rest != after:
                failures.append(f"{name}: from the snapshot at seq {made} the effects differ ({err.strip()[:200]})")
            if rc2 or rest_state != state:
                failures.append(f"{name}: from the snapshot at seq {made} the final state differs")
            # Archived: the snapshot alone carries the whole log.
            os.remove(snap)
            rc, out, err = run(binary, "snapshot", "--archive", copy)
            archived = [f for f in os.listdir(work) if f.startswith("events.jsonl.upto-")]
            rc2, only_state, err2 = run(binary, "replay", "--snapshot", snap, "--state-json", copy)
            if rc or os.path.getsize(copy) != 0 or len(archived) != 1:
                failures.append(f"{name}: --archive left {os.path.getsize(copy)} bytes in the log, {archived} ({err.strip()})")
            elif rc2 or only_state != state:
                failures.append(f"{name}: the archived snapshot's state differs from the whole log's ({err2.strip()[:200]})")
            # A log that lost the lines after its snapshot is refused, not folded with a gap.
            if len(lines) > 3 and name == "logical-10-to-15":
                gap = os.path.join(work, "gap.jsonl")
                with open(gap, "w") as f:
                    f.writelines(line for line in open(log) if line.strip() and json.loads(line)["seq"] != made + 1)
                rc, _, _ = run(binary, "snapshot", gap, "--until", str(made))
                rc2, _, err = run(binary, "replay", "--snapshot", gap + ".snapshot", gap)
                if rc or rc2 != 2 or f"must be followed by {made + 1}" not in err:
                    failures.append(f"{name}: a gap after the snapshot was not refused (exit {rc2}: {err.strip()[:300]})")
                else:
                    print(f"ok: a log missing seq {made + 1} after its snapshot is refused: {err.strip()[:200]}")
            checked += 1
            print(f"ok: {name}: snapshot at seq {made} of {lines[-1]['seq']}; the rest replays to the same effects and "
                  f"state; archived, the snapshot alone gives that state", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f)
    if failures or checked < 40:
        print(f"FAIL: {len(failures)} failures, {checked} logs checked")
        return 1
    print(f"PASS: {checked} logs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
