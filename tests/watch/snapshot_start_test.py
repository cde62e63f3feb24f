#!/usr/bin/python3
"""A controller starts from its snapshot (issue 17, item 4), with the real controller on kube-sim.

  - `run --snapshot-every 5` writes LOG.snapshot as events come and on stop; the snapshot's seq is
    the log's last line's;
  - a restart restores it and folds only the lines after it ("folded 0 events after it"), and its
    upgrades are the ones the first process had;
  - `quay-pg-upgrader snapshot --archive` moves the log's lines away: the next start reads the
    snapshot alone and the log continues at the next sequence number;
  - a damaged snapshot is not trusted: the controller says so and folds the whole log.

  snapshot_start_test.py --build BUILD_DIR
"""
import argparse
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import cluster_bench as cb  # noqa: E402
from checks import Checks, cluster_holding, read, wait_for  # noqa: E402

NS = "quay"


def objects():
    reg = cb.registry(NS, "registry")
    reg["spec"]["components"][0]["managed"] = True
    db = cb.deployment(NS, "registry-quay-database", "postgres", 1)
    db["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": n, "valueFrom": {"secretKeyRef": {"name": "registry-quay-postgres-config", "key": k}}}
        for n, k in [("POSTGRESQL_USER", "database-username"), ("POSTGRESQL_PASSWORD", "database-password"),
                     ("POSTGRESQL_DATABASE", "database-name")]]
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, reg, db,
            cb.pod(NS, "registry-quay-database-1", "postgres"), cb.deployment(NS, "registry-quay-app", "quay-app", 2),
            cb.claim(NS, "registry-quay-database")]


def seqs(path):
    return [json.loads(line)["seq"] for line in open(path) if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    binary = os.path.join(args.build, "quay-pg-upgrader")
    check = Checks()
    with cluster_holding(args.build, objects(), "qpu-snapshot-start-") as c:
        def start():
            c.start_controller(["--snapshot-every", "5"])

            def ready():
                try:
                    return urllib.request.urlopen(f"http://{c.metrics}/readyz", timeout=5).status == 200
                except OSError:
                    return False
            wait_for("the controller to sync", ready, 60)

        def upgrades():
            state = json.loads(urllib.request.urlopen(f"http://{c.metrics}/debug/state", timeout=30).read())
            return {k: (u.get("attempt"), u.get("phase")) for k, u in state.get("upgrades", {}).items()}

        def stop():
            c.ctl.terminate()
            c.ctl.wait(30)

        start()
        snap = c.event_log + ".snapshot"
        wait_for("a snapshot", lambda: os.path.exists(snap))
        first = wait_for("the registry's upgrade record", upgrades)
        stop()
        s = json.loads(read(snap))
        check(s["seq"] == seqs(c.event_log)[-1], f"on stop the snapshot holds the log's last line (seq {s['seq']})")
        check("wrote a snapshot of the state at seq" in read(c.ctl_log), "the controller says when it writes one")

        start()
        check(f"restored the snapshot at seq {s['seq']} and folded 0 events after it" in read(c.ctl_log),
              "a restart restores the snapshot and reads nothing before it")
        again = wait_for("the registry's upgrade record", upgrades)
        check(set(again) == set(first) and all(again[k][0] == first[k][0] for k in first),
              f"the restarted controller has the same upgrades and attempts ({first} -> {again})")
        stop()

        # A damaged snapshot is not trusted: the whole log is folded instead.
        with open(snap, "w") as f:
            f.write('{"format":1,"seq":')
        start()
        text = read(c.ctl_log)
        check("folding the whole event log instead" in text and f"{snap}: not JSON" in text,
              "a damaged snapshot is reported and the whole log folded instead")
        check("refolded" in text and set(wait_for("the upgrades", upgrades)) == set(first), "with the same upgrades")
        stop()

        # Archive the log: the snapshot alone carries it.
        last = seqs(c.event_log)[-1]
        r = subprocess.run([binary, "snapshot", "--archive", c.event_log], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and os.path.getsize(c.event_log) == 0 and os.path.exists(f"{c.event_log}.upto-{last}"),
              f"snapshot --archive moved the log's lines to events.jsonl.upto-{last}: {r.stdout.strip()} {r.stderr.strip()}")
        start()
        check(f"restored the snapshot at seq {last} and folded 0 events after it" in read(c.ctl_log),
              "after the archive a start reads the snapshot alone")
        check(seqs(c.event_log)[0] == last + 1, f"the log continues at seq {last + 1} ({seqs(c.event_log)[:1]})")
        after_archive = wait_for("the registry's upgrade record", upgrades)
        check(set(after_archive) == set(first), f"the upgrades are still known ({after_archive})")
        stop()

        # An archived log without its snapshot cannot be folded whole: the start is refused.
        os.remove(snap)
        c.start_controller(["--snapshot-every", "5"])
        try:
            c.ctl.wait(30)
        except subprocess.TimeoutExpired:
            pass
        text = read(c.ctl_log)
        check(c.ctl.returncode not in (None, 0) and f"starts at seq {last + 1}" in text,
              f"without its snapshot an archived log is refused (exit {c.ctl.returncode}: {text.strip()[-240:]})")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
