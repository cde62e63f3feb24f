"""What the watch layer's Python tests share: named checks that print and count, waiting for a
condition, reading a file, and writing objects where `kube-sim --apply` reads them."""
import json
import os
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
