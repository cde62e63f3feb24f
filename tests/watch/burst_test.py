#!/usr/bin/python3
"""A burst of decisions is performed in full, through the gate on API effects (the real controller
on kube-sim).

Right after its first sync across N registries the controller decides a status write and an Event
for each: 2 x N effects that only talk to the API server. At most 32 run at once, the rest wait as
values in the order decided (app/controller.hpp, api_backlog_). Here N = 300:
  - the gate held effects back (qpu_effects_waiting_peak > 0 on /metrics);
  - every effect was performed and its result logged (an effect_succeeded for each registry's
    status write and Event), and nothing waits afterwards (qpu_effects_waiting 0);
  - every registry carries the status the controller wrote.
The memory this saves is measured by scripts/bench.sh (initial_sync_rss), not here.

  burst_test.py --build BUILD_DIR
"""
import argparse
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import cluster_bench as cb  # noqa: E402
from checks import Checks, cluster_holding, wait_for  # noqa: E402

REGISTRIES = 300


def metric(c, name):
    text = urllib.request.urlopen(f"http://{c.metrics}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    check = Checks()
    objs = []
    for n in range(REGISTRIES):
        ns = f"tenant-{n}"
        objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        objs += cb.namespace_objects(ns, 10)
    with cluster_holding(args.build, objs, "qpu-burst-") as c:
        c.start_controller()

        def results():
            ok = set()
            if not os.path.exists(c.event_log):
                return None
            for line in open(c.event_log):
                e = json.loads(line)
                if e.get("source") == "effect" and e["event"].get("type") == "effect_succeeded":
                    parts = e["event"]["id"].split("/")
                    if len(parts) > 3 and (parts[3].startswith("status@") or parts[3].startswith("event@")):
                        ok.add((parts[0], parts[3].split("@")[0]))
            return ok if len(ok) >= 2 * REGISTRIES else None
        done = wait_for(f"a status write and an Event performed for each of {REGISTRIES} registries", results, 120)
        check(len(done) == 2 * REGISTRIES, f"{len(done)} status writes and Events performed, one of each per registry")
        peak = metric(c, "qpu_effects_waiting_peak")
        check(peak is not None and peak > 0, f"the gate held effects back: at most {peak} waited at once")
        check(metric(c, "qpu_effects_waiting") == 0, "none waits once the burst is performed")
        items = c.api.request("GET", "/apis/quay.redhat.com/v1/quayregistries")["items"]
        written = [r for r in items if any(k.get("type") == "PostgresUpgraded"
                                           for k in (r.get("status") or {}).get("conditions") or [])]
        check(len(written) == REGISTRIES, f"{len(written)} of {REGISTRIES} registries carry the controller's status")
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
