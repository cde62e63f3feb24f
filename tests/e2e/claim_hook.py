#!/usr/bin/python3
"""The hook kube-sim runs (--pod-exit-hook / --pod-start-hook) at every pod's last exit and first
start, with the simulated cluster held still: it digests the old claim, and fills or damages a
claim when the harness armed that (tests/e2e/e2e.py, claim_hook_args).

Kept apart from e2e.py and light to start (standard library only), because kube-sim runs it about
fifteen times per case: importing the whole harness each time cost about 0.15 s of CPU per run.

    claim_hook.py exit|start HOOK_DIR
"""
import hashlib
import json
import os
import stat
import subprocess
import sys
import traceback

NS = "quay"
OLD_CLAIM = "registry-quay-database"


def tree_digest(root):
    """Every entry below root (not root itself, whose owner the kubelet sets on each mount):
    type, mode, owner and, for files, size and SHA-256 of the content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            entry = [kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid]
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                entry += [st.st_size, h.hexdigest()]
            elif stat.S_ISLNK(st.st_mode):
                entry += [os.readlink(p)]
            out[rel] = entry
    return out


def claim_hook(kind, hook_dir):
    """Run by kube-sim (--pod-exit-hook / --pod-start-hook) with the simulator waiting: when the
    pod is a database pod on the old claim and the harness armed the hook, the old claim's digest
    is written to hook_dir as <seq>.json; when the pod starting is the Job fill_at_job_start
    named, its claim is filled (once). Never fails: kube-sim ignores its status anyway."""
    try:
        labels = json.loads(os.environ.get("KUBE_SIM_POD_LABELS") or "{}")
        claims = (os.environ.get("KUBE_SIM_POD_CLAIMS") or "").split()
        def armed_for_this_pod(name):
            """The hook armed as `name` when this pod is its Job's and mounts its claim: (spec, the
            claim's host folder, the arm file), else None."""
            path = os.path.join(hook_dir, name)
            if kind != "start" or not os.path.exists(path):
                return None
            with open(path) as f:
                spec = json.load(f)
            dirs = dict(d.split("=", 1) for d in (os.environ.get("KUBE_SIM_POD_CLAIM_DIRS") or "").split())
            if labels.get("job-name") != spec["job"] or spec["claim"] not in dirs:
                return None
            return spec, dirs[spec["claim"]], path

        if (hit := armed_for_this_pod("fill-on-start.arm")):
            _, d, path = hit
            st = os.statvfs(d)
            subprocess.run(["fallocate", "-l", str(st.f_bavail * st.f_frsize - 65536), os.path.join(d, "filled-at-start.bin")],
                           check=True)
            os.rename(path, path + ".done")
        if (hit := armed_for_this_pod("damage-on-start.arm")):
            spec, d, path = hit
            from e2e import change_stopped_cluster  # only here: it needs the whole harness
            change_stopped_cluster(os.path.join(d, "userdata"), spec["sql"])
            os.rename(path, path + ".done")
        armed = os.path.join(hook_dir, "old-claim-dir")
        # Only the harness's own registry (a case may run a second one in another namespace).
        if (labels.get("quay-component") != "postgres" or OLD_CLAIM not in claims or not os.path.exists(armed)
                or os.environ.get("KUBE_SIM_POD_NAMESPACE", NS) != NS):
            return 0
        with open(armed) as f:
            root = f.read().strip()
        entry = {"kind": kind, "pod": os.environ.get("KUBE_SIM_POD_NAME", "?"), "digest": tree_digest(root)}
        seq = len([n for n in os.listdir(hook_dir) if n.endswith(".json")])
        tmp = os.path.join(hook_dir, f"{seq:04d}.tmp")
        with open(tmp, "w") as f:
            json.dump(entry, f)
        os.rename(tmp, os.path.join(hook_dir, f"{seq:04d}.json"))
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("exit", "start"):
        sys.exit("usage: claim_hook.py exit|start HOOK_DIR")
    sys.exit(claim_hook(sys.argv[1], sys.argv[2]))
