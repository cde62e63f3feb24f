"""What the watch layer's Python tests share: named checks that print and count, waiting for a
condition, reading a file, writing objects where `kube-sim --apply` reads them, and a kube-sim
holding them."""
import contextlib
import json
import os
import shutil
import tempfile
import time


class Checks:
    def __init__(self):
        self.failures = []

    def __call__(self, ok, what):
        print(("ok: " if ok else "FAIL: ") + what, flush=True)
        if not ok:
            self.failures.append(what)

    def exit_code(self):
        if self.failures:
            print(f"FAIL: {len(self.failures)} check(s)")
            return 1
        print("PASS")
        return 0


def wait_for(what, predicate, timeout=60, tick=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(tick)
    raise AssertionError("timed out waiting for " + what)


def read(path):
    with open(path) as f:
        return f.read()


def write_objects(apply_dir, objects):
    os.makedirs(apply_dir, exist_ok=True)
    with open(os.path.join(apply_dir, "objects.yaml"), "w") as f:
        for o in objects:
            f.write(json.dumps(o) + "\n---\n")


@contextlib.contextmanager
def cluster_holding(build, objects, prefix):
    """A kube-sim (cluster_bench.Cluster) that starts with `objects`, in a temporary directory of
    its own; kube-sim, the controller if one was started, and the directory go at the end."""
    import cluster_bench as cb  # beside this file's callers on sys.path (tests/bench)
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        apply_dir = os.path.join(tmp, "apply")
        write_objects(apply_dir, objects)
        c = cb.Cluster(build, tmp, apply_dir)
        try:
            yield c
        finally:
            c.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
