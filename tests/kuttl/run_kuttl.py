#!/usr/bin/python3
"""Runs a kuttl suite (kuttl-test.yaml + test directories) against kube-sim, following kuttl's
rules, so the suite a real cluster runs with `kubectl kuttl test` is exercised in CI here.

What is followed (https://kuttl.dev/docs/testing/steps.html, asserts.html):
- test case = a directory under a testDirs entry; steps = files `NN-<name>.yaml` grouped by NN,
  run in numeric order; `NN-assert.yaml` asserts, `NN-errors.yaml` errors, any other file applies.
- each test case runs in a fresh namespace `kuttl-test-<random>`; objects without a namespace go there.
- apply: create, or merge-patch when the object exists. A `TestStep` document may list `delete`
  (objects to delete first) and `commands` (run with $NAMESPACE and $KUBECONFIG set).
- assert: every object in the file must match an object in the cluster: by name when the
  expected object has one, else any object of that kind in the namespace. Matching is kuttl's
  subset rule: every field of the expected object must be present with an equal value; maps are
  compared key by key (extra keys in the cluster are fine); arrays must have the same length and
  match element by element in order. errors: no object in the file may match.
- a step is retried (1 s) until asserts hold and errors do not, up to the TestAssert `timeout`
  in the assert file, else the suite's `timeout` (default 30 s).
Cases that only kube-sim can run (tests/kuttl/kube-sim/, given with --extra-test-dir; outside
kuttl-test.yaml's testDirs, so a real cluster never sees them) carry a `kube-sim.yaml` beside their
steps: `args` for kube-sim serve ($NAMESPACE is the case's namespace) and `fillOwnerUids` (an
ownerReference without a uid gets the uid of the object it names in the namespace, as a real
operator's objects carry it).
Not followed: the suite's `commands` (they install deploy/ in a real cluster; here the
controller runs as a process with deploy/deployment.yaml's args and env, and deploy/'s other
objects are loaded into kube-sim), `kubectl`/`script` steps, `apply` lists in TestStep, and
collectors.

  run_kuttl.py --kube-sim BIN --controller BIN --source DIR [--config tests/kuttl/kuttl-test.yaml]
               [--extra-test-dir DIR ...] [TEST ...]
Exit status 0 when every selected test case passed.
"""
import argparse
import json
import os
import random
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e import Kube, Failure, die_with_parent, sanitizer_reports  # noqa: E402

STEP = re.compile(r"^(\d+)-([^.]+)\.ya?ml$")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----- kuttl's subset match ------------------------------------------------------------------
def subset(expected, actual, path="$"):
    """None when `expected` is a subset of `actual` (kuttl's IsSubset), else why not."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected a map, got {json.dumps(actual)[:80]}"
        for k, v in expected.items():
            if k not in actual:
                return f"{path}.{k}: missing"
            why = subset(v, actual[k], f"{path}.{k}")
            if why:
                return why
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected {len(expected)} items, got {json.dumps(actual)[:120]}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            why = subset(e, a, f"{path}[{i}]")
            if why:
                return why
        return None
    # Scalars: YAML 10 and JSON "10" are different values to kuttl too; ints and floats compare by value.
    if expected == actual and type(expected) is not bool or (isinstance(expected, bool) and expected is actual):
        return None
    return f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}"


# ----- the API, by apiVersion/kind, through discovery ----------------------------------------
class Api:
    def __init__(self, kubeconfig, fill_owner_uids=False):
        self.kube = Kube(kubeconfig)
        self.resources = {}
        self.fill_owner_uids = fill_owner_uids

    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key not in self.resources:
            base = "/api/v1" if api_version == "v1" else "/apis/" + api_version
            doc = self.kube.request("GET", base)
            for r in doc.get("resources", []):
                if "/" not in r["name"]:
                    self.resources[(api_version, r["kind"])] = (base, r["name"], r["namespaced"])
        if key not in self.resources:
            raise Failure(f"the cluster serves no {api_version} {kind}")
        return self.resources[key]

    def path(self, obj, ns, named=True):
        base, plural, namespaced = self.resource(obj["apiVersion"], obj["kind"])
        p = base + (f"/namespaces/{obj.get('metadata', {}).get('namespace') or ns}" if namespaced else "") + "/" + plural
        name = obj.get("metadata", {}).get("name")
        return p + ("/" + urllib.parse.quote(name) if named and name else "")

    def apply(self, obj, ns):
        if self.fill_owner_uids:
            for ref in obj.get("metadata", {}).get("ownerReferences") or []:
                if not ref.get("uid"):
                    owner = self.kube.request("GET", self.path({"apiVersion": ref["apiVersion"], "kind": ref["kind"],
                                                                "metadata": {"name": ref["name"]}}, ns), missing_ok=True)
                    if owner is None:
                        raise Failure(f"{obj['kind']} {obj['metadata'].get('name')}: its owner {ref['kind']} {ref['name']} "
                                      "does not exist (apply it first)")
                    ref["uid"] = owner["metadata"]["uid"]
        existing = self.kube.request("GET", self.path(obj, ns), missing_ok=True) if obj["metadata"].get("name") else None
        if existing is None:
            self.kube.request("POST", self.path(obj, ns, named=False), obj)
        else:
            self.kube.request("PATCH", self.path(obj, ns), obj, content_type="application/merge-patch+json")

    def delete(self, obj, ns):
        self.kube.request("DELETE", self.path(obj, ns), missing_ok=True)

    def candidates(self, obj, ns):
        if obj.get("metadata", {}).get("name"):
            got = self.kube.request("GET", self.path(obj, ns), missing_ok=True)
            return [got] if got else []
        return self.kube.request("GET", self.path(obj, ns, named=False)).get("items", [])


# ----- one test case -------------------------------------------------------------------------
def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def steps_of(test_dir):
    steps = {}
    for f in sorted(os.listdir(test_dir)):
        m = STEP.match(f)
        if m:
            steps.setdefault(int(m.group(1)), []).append((m.group(2), os.path.join(test_dir, f)))
    return [steps[k] for k in sorted(steps)]


def run_step(api, files, ns, default_timeout, env):
    asserts, errors, timeout = [], [], default_timeout
    for kind, path in files:
        docs = load(path)
        if kind == "assert":
            for d in docs:
                if d.get("kind") == "TestAssert":
                    timeout = d.get("timeout", timeout)
                else:
                    asserts.append(d)
        elif kind == "errors":
            errors += docs
        else:
            for d in docs:
                if d.get("kind") == "TestStep" and d.get("apiVersion", "").startswith("kuttl.dev/"):
                    for o in d.get("delete", []):
                        api.delete(o, ns)
                    for c in d.get("commands", []):
                        r = subprocess.run(c["command"], shell=True, env=env, cwd=os.path.dirname(path))
                        if r.returncode != 0 and not c.get("ignoreFailure"):
                            raise Failure(f"{path}: command {c['command']!r} exited {r.returncode}")
                    continue
                api.apply(d, ns)
            log(f"  applied {os.path.basename(path)}")
    deadline = time.monotonic() + timeout
    while True:
        problems = []
        for want in asserts:
            found = api.candidates(want, ns)
            whys = [subset({k: v for k, v in want.items() if k != "metadata"} | {"metadata": {k: v for k, v in want.get("metadata", {}).items() if k != "namespace"}}, got) for got in found]
            if not any(w is None for w in whys):
                problems.append(f"{want['kind']} {want.get('metadata', {}).get('name', '*')}: " + (whys[0] if whys else "not found"))
        for unwanted in errors:
            for got in api.candidates(unwanted, ns):
                if subset({k: v for k, v in unwanted.items() if k != "metadata"}, got) is None:
                    problems.append(f"{unwanted['kind']} {got['metadata']['name']} exists and matches an errors entry")
        if not problems:
            return
        if time.monotonic() > deadline:
            raise Failure(f"step did not hold within {timeout} s:\n    " + "\n    ".join(problems))
        time.sleep(1)


# ----- the cluster: kube-sim + deploy/ + the controller ---------------------------------------
class Cluster:
    def __init__(self, args, tmp, sim_config=None, ns=""):
        self.args, self.tmp = args, tmp
        self.sim = self.ctl = None
        # The case's kube-sim.yaml: extra kube-sim arguments, and whether owners' uids are filled in.
        self.sim_config = sim_config or {}
        self.ns = ns

    def start(self):
        a = self.args
        extra = [str(x).replace("$NAMESPACE", self.ns) for x in self.sim_config.get("args", [])]
        self.kubeconfig = os.path.join(self.tmp, "kubeconfig")
        image_map = self.image_map()
        self.sim_log = os.path.join(self.tmp, "kube-sim.log")
        self.sim = subprocess.Popen([a.kube_sim, "serve", "--listen", "127.0.0.1:0", "--tls", "--kubeconfig-out", self.kubeconfig,
                                     "--state-dir", os.path.join(self.tmp, "state"), "--image-map", image_map, *extra],
                                    stdout=open(self.sim_log, "w"), stderr=subprocess.STDOUT, cwd=self.tmp, preexec_fn=die_with_parent)
        for _ in range(300):
            if os.path.exists(self.kubeconfig) and "listening on" in open(self.sim_log).read():
                break
            if self.sim.poll() is not None:
                raise Failure("kube-sim exited: " + open(self.sim_log).read()[-2000:])
            time.sleep(0.05)
        self.api = Api(self.kubeconfig, bool(self.sim_config.get("fillOwnerUids")))
        deployment = self.load_deploy()
        self.start_controller(deployment)

    def image_map(self):
        """kube-sim's image map plus postgres:16 (a server from the provisioned cache, 15's client
        tools), so that the downgrade case can run a database newer than the target."""
        src = os.path.join(self.args.source, "kube-sim", "images", "image-map.json")
        doc = json.load(open(src))
        images_dir = os.path.dirname(os.path.abspath(src))
        text = json.dumps(doc).replace("{images}", images_dir)
        doc = json.loads(text)
        if not any("postgres:16" in e.get("repositories", []) for e in doc["images"]):
            doc["images"].append({"repositories": ["postgres:16"], "path": [images_dir + "/bin", "{pg}/16/bin", "{pg}/15/bin"],
                                  "env": {"PG_MAJOR": "16", "PG_SERVER_BINDIR": "{pg}/16/bin", "PG_CLIENT_BINDIR": "{pg}/15/bin",
                                          "PGDATA": "/var/lib/postgresql/data"}, "cmd": ["run-postgresql"]})
        out = os.path.join(self.tmp, "image-map.json")
        json.dump(doc, open(out, "w"))
        return out

    def load_deploy(self):
        """deploy/'s objects into kube-sim (the Deployment excepted: its image is the controller,
        which runs here as a process); returns the Deployment."""
        deploy = os.path.join(self.args.source, "deploy")
        k = yaml.safe_load(open(os.path.join(deploy, "kustomization.yaml")))
        docs, deployment = [], None
        for f in k["resources"]:
            docs += load(os.path.join(deploy, f))
        docs.sort(key=lambda d: {"Namespace": 0, "CustomResourceDefinition": 1}.get(d["kind"], 2))
        for d in docs:
            if d["kind"] == "Deployment":
                deployment = d
                continue
            if d["kind"] == "CustomResourceDefinition":
                self.api.delete(d, "")  # kube-sim seeds its own; deploy/'s replaces it
                time.sleep(0.3)
            self.api.apply(d, k.get("namespace", "default"))
        return deployment

    def start_controller(self, deployment):
        c = deployment["spec"]["template"]["spec"]["containers"][0]
        args = []
        for x in c["args"]:
            if x.startswith("--event-log="):
                x = "--event-log=" + os.path.join(self.tmp, "events.jsonl")
            elif x.startswith("--metrics-bind-address="):
                x = "--metrics-bind-address=127.0.0.1:0"
            args.append(x)
        env = dict(os.environ)
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
        env["POD_NAME"] = "kuttl-controller"
        env["POD_NAMESPACE"] = deployment["metadata"]["namespace"]
        argv = [self.args.controller] + args + ["--kubeconfig", self.kubeconfig, "--no-fsync", "--requeue-seconds", "5"]
        log("controller: " + " ".join(argv[1:]))
        self.ctl_log = os.path.join(self.tmp, "controller.log")
        self.ctl = subprocess.Popen(argv, stdout=open(self.ctl_log, "w"), stderr=subprocess.STDOUT, env=env, cwd=self.tmp,
                                    preexec_fn=die_with_parent)

    def stop(self):
        for p, grace in ((self.ctl, 15), (self.sim, 60)):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(grace)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for line in reversed(open("/proc/self/mounts").read().splitlines()):
            mp = line.split()[1].replace("\\040", " ")
            if mp.startswith(self.tmp + "/"):
                subprocess.run(["umount", "-l", mp], check=False)


def check_json_log(cluster):
    """deploy/ runs the controller with --log-format=json: every line it logged must be one JSON
    object with ts, level, logger and msg (a log shipper parses them)."""
    if "--log-format=json" not in cluster.ctl.args:
        return
    lines = open(cluster.ctl_log, errors="replace").read().splitlines()
    for i, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except ValueError:
            raise Failure(f"controller.log:{i} is not JSON: {line[:200]}")
        if not {"ts", "level", "logger", "msg"} <= set(rec):
            raise Failure(f"controller.log:{i} lacks ts/level/logger/msg: {line[:200]}")
    log(f"  the controller's {len(lines)} log lines are JSON objects")


def run_test(args, suite, test_dir):
    name = os.path.basename(test_dir)
    tmp = tempfile.mkdtemp(prefix=f"qpu-kuttl-{name}-")
    os.chmod(tmp, 0o755)
    ns = "kuttl-test-" + "".join(random.choices(string.ascii_lowercase, k=8))
    sim_yaml = os.path.join(test_dir, "kube-sim.yaml")
    cluster = Cluster(args, tmp, load(sim_yaml)[0] if os.path.exists(sim_yaml) else None, ns)
    passed = False
    try:
        cluster.start()
        cluster.api.kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        log(f"{name}: namespace {ns}")
        env = dict(os.environ, NAMESPACE=ns, KUBECONFIG=cluster.kubeconfig)
        for files in steps_of(test_dir):
            names = ", ".join(os.path.basename(p) for _, p in files)
            log(f"{name}: step {names}")
            run_step(cluster.api, files, ns, suite.get("timeout", 30), env)
            log(f"{name}: step held")
        check_json_log(cluster)
        passed = True
        log(f"PASS {name}")
    except Failure as e:
        log(f"FAIL {name}: {e}")
        sim = getattr(cluster, "sim", None)
        if sim is not None and sim.poll() is not None:
            rc = sim.returncode
            log(f"kube-sim is gone: " + (f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"))
        for f in ("controller.log", "kube-sim.log"):
            p = os.path.join(tmp, f)
            if os.path.exists(p):
                print(f"--- last lines of {f}:\n" + "".join(open(p, errors="replace").readlines()[-25:]))
    finally:
        cluster.stop()
        reports = sanitizer_reports(tmp)
        if reports:
            print(reports, flush=True)
            log(f"FAIL {name}: a sanitizer reported in kube-sim or the controller (above)")
            passed = False
        if passed and not os.environ.get("QPU_KUTTL_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")
    return passed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kube-sim", required=True)
    ap.add_argument("--controller", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--config", help="the suite (default: SOURCE/tests/kuttl/kuttl-test.yaml)")
    ap.add_argument("--extra-test-dir", action="append", default=[],
                    help="a folder of test cases only kube-sim can run (relative to SOURCE), beside the suite's testDirs")
    ap.add_argument("tests", nargs="*", help="test case names (default: all)")
    args = ap.parse_args()
    args.source = os.path.abspath(args.source)
    config = args.config or os.path.join(args.source, "tests", "kuttl", "kuttl-test.yaml")
    suite = load(config)[0]
    if suite.get("kind") != "TestSuite":
        print(f"{config}: not a kuttl TestSuite")
        return 2
    dirs = []
    for td in suite.get("testDirs", []) + args.extra_test_dir:
        root = os.path.join(args.source, td)
        dirs += [os.path.join(root, d) for d in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, d))]
    if args.tests:
        dirs = [d for d in dirs if os.path.basename(d) in args.tests]
        if len(dirs) != len(args.tests):
            print(f"unknown test case in {args.tests}")
            return 2
    import signal

    def on_signal(signum, _):  # CTest's timeout, Ctrl-C: fail the test and clean up as on failure
        raise Failure(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    results = [run_test(args, suite, d) for d in dirs]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
