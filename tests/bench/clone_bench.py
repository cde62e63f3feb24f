#!/usr/bin/env python3
"""Benchmark (issue 16, item 1; not a test): how long kube-sim takes to clone, snapshot and restore
a stopped claim holding SIZE of data, and how much of its copy-on-write pool each takes.

  python3 tests/bench/clone_bench.py --build BUILD [--gib 5] [--runs 3]

Starts kube-sim with its runtime (root: loop mounts) and the snapshot CRDs, fills a claim with
SIZE written by a Job (real blocks, not a sparse file), then per run: a claim cloned from it
(dataSource PersistentVolumeClaim), a VolumeSnapshot of it and a claim restored from that
snapshot; each timed from the create until Bound / readyToUse, as a client sees it (the
runtime's pass every 200 ms included). The pool's free space is read before and after each.
Prints `metric NAME MEDIAN MIN MAX UNIT` lines as the other benchmarks do."""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_bench import Api, die_with_parent  # noqa: E402

import subprocess  # noqa: E402

NS = "bench"


def metric(name, values, unit):
    values = sorted(values)
    print(f"metric {name} {statistics.median(values):.6g} {values[0]:.6g} {values[-1]:.6g} {unit}", flush=True)


def wait(what, ready, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} not done within {timeout} s")


def claim(name, gib, source=None):
    c = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{gib}Gi"}}}}
    if source:
        c["spec"]["dataSource"] = source
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--gib", type=int, default=5, help="data written into the source claim, GiB")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("clone_bench: needs root (loop mounts)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="qpu-clone-bench-")
    os.chmod(tmp, 0o755)
    kubeconfig, log = os.path.join(tmp, "kubeconfig"), os.path.join(tmp, "kube-sim.log")
    src_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sim = subprocess.Popen([os.path.join(args.build, "kube-sim", "kube-sim"), "serve", "--listen", "127.0.0.1:0", "--tls",
                            "--kubeconfig-out", kubeconfig, "--state-dir", os.path.join(tmp, "state"),
                            "--apply", os.path.join(src_dir, "kube-sim", "scenarios", "snapshot-crds")],
                           stdout=open(log, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        wait("kube-sim", lambda: os.path.exists(kubeconfig) and "listening on" in open(log).read(), 120)
        api = Api(kubeconfig)
        pool = os.path.join(tmp, "state", "runtime", "volumes")

        def free():
            st = os.statvfs(pool)
            return st.f_bavail * st.f_frsize

        def get(path):
            try:
                return api.request("GET", path)
            except RuntimeError as e:  # not there yet
                if "HTTP 404" in str(e):
                    return None
                raise

        def phase(name):
            c = get(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/{name}") or {}
            return (c.get("status") or {}).get("phase")

        api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        size = args.gib + 1
        api.request("POST", f"/api/v1/namespaces/{NS}/persistentvolumeclaims", claim("src", size))
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "fill", "namespace": NS},
               "spec": {"backoffLimit": 0, "template": {"spec": {
                   "restartPolicy": "Never",
                   "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "src"}}],
                   "containers": [{"name": "fill", "image": "busybox", "volumeMounts": [{"name": "d", "mountPath": "/d"}],
                                   "command": ["sh", "-c", f"dd if=/dev/zero of=/d/data bs=4M count={args.gib * 256} && sync"]}]}}}}
        t = time.monotonic()
        api.request("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", job)
        wait("the fill Job", lambda: ((get(f"/apis/batch/v1/namespaces/{NS}/jobs/fill") or {}).get("status") or {}).get("succeeded"),
             1800)
        print(f"# source claim: {args.gib} GiB written in {time.monotonic() - t:.1f} s; the Job is done (nothing mounts it)",
              flush=True)
        clone_s, clone_mib, snap_s, snap_mib, restore_s, restore_mib = [], [], [], [], [], []
        for run in range(args.runs):
            before = free()
            t = time.monotonic()
            api.request("POST", f"/api/v1/namespaces/{NS}/persistentvolumeclaims",
                        claim(f"clone-{run}", size, {"kind": "PersistentVolumeClaim", "name": "src"}))
            wait("the clone", lambda: phase(f"clone-{run}") == "Bound", 600)
            clone_s.append(time.monotonic() - t)
            clone_mib.append((before - free()) / 2**20)

            before = free()
            t = time.monotonic()
            api.request("POST", f"/apis/snapshot.storage.k8s.io/v1/namespaces/{NS}/volumesnapshots",
                        {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                         "metadata": {"name": f"snap-{run}", "namespace": NS},
                         "spec": {"source": {"persistentVolumeClaimName": "src"}}})
            wait("the snapshot", lambda: ((get(f"/apis/snapshot.storage.k8s.io/v1/namespaces/{NS}/volumesnapshots/snap-{run}")
                                           or {}).get("status") or {}).get("readyToUse"), 600)
            snap_s.append(time.monotonic() - t)
            snap_mib.append((before - free()) / 2**20)

            before = free()
            t = time.monotonic()
            api.request("POST", f"/api/v1/namespaces/{NS}/persistentvolumeclaims",
                        claim(f"restored-{run}", size,
                              {"kind": "VolumeSnapshot", "apiGroup": "snapshot.storage.k8s.io", "name": f"snap-{run}"}))
            wait("the restore", lambda: phase(f"restored-{run}") == "Bound", 600)
            restore_s.append(time.monotonic() - t)
            restore_mib.append((before - free()) / 2**20)
        metric(f"clone_s_{args.gib}gib", clone_s, "s")
        metric(f"clone_pool_mib_{args.gib}gib", clone_mib, "MiB")
        metric(f"snapshot_s_{args.gib}gib", snap_s, "s")
        metric(f"snapshot_pool_mib_{args.gib}gib", snap_mib, "MiB")
        metric(f"restore_s_{args.gib}gib", restore_s, "s")
        metric(f"restore_pool_mib_{args.gib}gib", restore_mib, "MiB")
        return 0
    finally:
        sim.terminate()
        try:
            sim.wait(60)
        except subprocess.TimeoutExpired:
            sim.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
