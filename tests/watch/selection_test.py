#!/usr/bin/python3
"""The controller watches only what the upgrade reads (issue 17, item 1).

kube-sim (API only, HTTPS) starts with one Quay installation rendered the operator's way (labels
quay-component), the Quay operator's Deployment with OLM's labels, a claim and a Job of this
controller (app.kubernetes.io/managed-by=quay-pg-upgrader), and N unrelated pods (default 50,000)
in 100 other namespaces, with unrelated Deployments, Jobs and claims beside them. The real
controller (`quay-pg-upgrader run`) starts, syncs, and then sees churn: unrelated pods created and
deleted, and one relevant pod created.

Checked:
  - the event log holds no line about an unrelated object, neither from the initial lists nor
    from the churn (each unrelated name is looked for in the log's text);
  - every relevant object is in it: the registry's Deployments, pods and claim, the operator's
    Deployment, this controller's Job and claim, and the pod created during the churn;
  - each kind's relists say how many streams it has, and the controller's state is synced;
  - the same cluster watched with --watch-all logs the unrelated objects (so the check can fail).

  selection_test.py --build BUILD_DIR [--unrelated 50000]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import cluster_bench as cb  # noqa: E402  (the kube-sim and controller harness of the benchmarks)
from checks import Checks, read, write_objects  # noqa: E402

OLM = {"olm.owner": "quay-operator.v3.9.0", "olm.owner.kind": "ClusterServiceVersion", "olm.owner.namespace": "quay"}
MANAGED = {"app.kubernetes.io/managed-by": "quay-pg-upgrader", "quay-pg-upgrader.quay.io/registry": "registry"}


def with_labels(obj, labels):
    obj["metadata"]["labels"] = dict(labels)
    return obj


def relevant_objects():
    ns = "quay"
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    objs += [o for o in cb.namespace_objects(ns, 7)]  # registry, its Deployments, pods and claims
    objs[-1]["metadata"]["labels"] = {"quay-component": "postgres"}  # the database claim, as the operator labels it
    objs.append(with_labels(cb.job(ns, "registry-pg10-backup-1"), MANAGED))
    objs.append(with_labels(cb.claim(ns, "registry-quay-database-backup-pg10"), MANAGED))
    op = cb.deployment(ns, "quay-operator-tng", "x", 1)
    op["metadata"]["labels"] = dict(OLM)
    op["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RELATED_IMAGE_COMPONENT_POSTGRES", "value": "quay.io/sclorg/postgresql-13-c9s:latest"}]
    objs.append(op)
    return objs


def unrelated_objects(count, namespaces=100):
    objs, names = [], []
    for n in range(namespaces):
        objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"tenant-{n}"}})
    for i in range(count):
        ns = f"tenant-{i % namespaces}"
        p = cb.pod(ns, f"unrelated-pod-{i}", "x")
        p["metadata"]["labels"] = {"app": "web"}
        objs.append(p)
        names.append(f"unrelated-pod-{i}")
    for n in range(namespaces):  # other kinds too, with labels of their own
        ns = f"tenant-{n}"
        d = cb.deployment(ns, f"unrelated-deploy-{n}", "x", 1)
        d["metadata"]["labels"] = {"app": "web"}
        j, c = cb.job(ns, f"unrelated-job-{n}"), cb.claim(ns, f"unrelated-claim-{n}")
        objs += [d, j, c]
        names += [f"unrelated-deploy-{n}", f"unrelated-job-{n}", f"unrelated-claim-{n}"]
    return objs, names


def run(build, tmp, objects, unrelated_names, watch_all, churn):
    apply_dir = os.path.join(tmp, "apply")
    write_objects(apply_dir, objects)
    c = cb.Cluster(build, tmp, apply_dir)
    try:
        c.start_controller(["--watch-all"] if watch_all else [])
        c.wait_synced(timeout=300, streams=5 if watch_all else None)
        if churn:
            for i in range(churn):  # unrelated pods come and go
                p = cb.pod("tenant-0", f"churn-pod-{i}", "x")
                p["metadata"]["labels"] = {"app": "web"}
                c.api.request("POST", "/api/v1/namespaces/tenant-0/pods", p)
                c.api.request("DELETE", f"/api/v1/namespaces/tenant-0/pods/churn-pod-{i}")
            c.api.request("POST", "/api/v1/namespaces/quay/pods", cb.pod("quay", "registry-quay-app-3", "quay-app"))
            deadline = time.time() + 30
            while "registry-quay-app-3" not in read(c.event_log):
                if time.time() > deadline:
                    raise AssertionError("the relevant pod created during the churn never reached the event log")
                time.sleep(0.05)
        state = json.loads(urllib.request.urlopen(f"http://{c.metrics}/debug/state", timeout=30).read())
        return read(c.event_log), state
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--unrelated", type=int, default=50000)
    ap.add_argument("--churn", type=int, default=200)
    args = ap.parse_args()
    check = Checks()

    tmp = tempfile.mkdtemp(prefix="qpu-selection-")
    try:
        unrelated, names = unrelated_objects(args.unrelated)
        relevant = relevant_objects()
        started = time.time()
        text, state = run(args.build, os.path.join(tmp, "selected"), relevant + unrelated, names, False, args.churn)
        lines = text.count("\n")
        print(f"selected: {lines} log lines, {len(text)} bytes, {time.time() - started:.1f} s "
              f"({args.unrelated} unrelated pods, {args.churn} churned)", flush=True)
        leaked = [n for n in names if f'"{n}"' in text]
        check(not leaked, f"no unrelated object in the event log ({len(leaked)} of {len(names)} found: {leaked[:3]})")
        churned = [i for i in range(args.churn) if f'"churn-pod-{i}"' in text]
        check(not churned, f"no churned unrelated pod in the event log ({len(churned)} of {args.churn} found)")
        for name in ["registry", "registry-quay-database", "registry-quay-app", "registry-quay-database-1",
                     "registry-quay-app-1", "registry-pg10-backup-1", "registry-quay-database-backup-pg10",
                     "quay-operator-tng", "registry-quay-app-3"]:
            check(f'"{name}"' in text, f"{name} is in the event log")
        for kind, streams in [("deployments", 2), ("pods", 2), ("jobs", 2), ("persistentvolumeclaims", 2)]:
            check(f'"source":"watch/{kind}","stream":1,"relist":"done"' in text and f'"streams":{streams}' in text,
                  f"{kind} relisted as {streams} streams")
        check(all(state["cluster"]["synced"].values()), f"every store synced: {state['cluster']['synced']}")
        check("quay/quay-operator-tng" in state["cluster"]["deployments"], "the operator's Deployment is in the store")
        check(not any(k.startswith("tenant-") for kind in ("pods", "deployments", "jobs", "persistentvolumeclaims")
                      for k in state["cluster"][kind]), "no unrelated object in the stores")

        # Control: the same objects watched without selectors are logged (a small cluster suffices).
        small, small_names = unrelated_objects(200, namespaces=10)
        text_all, _ = run(args.build, os.path.join(tmp, "all"), relevant + small, small_names, True, 0)
        found = [n for n in small_names if f'"{n}"' in text_all]
        check(len(found) == len(small_names), f"--watch-all logs the unrelated objects ({len(found)} of {len(small_names)})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
