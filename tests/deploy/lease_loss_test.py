#!/usr/bin/python3
"""A leader that cannot renew its Lease stops: kube-sim (API only) answers every request with 503
after the controller was elected; the controller must keep trying to renew until the renew
deadline (10 s, a retry every 2 s) and only then report the loss, perform nothing more, and exit
with status 1. How long it tried is read from kube-sim's fault counts (its failed Lease requests),
not from a clock.
Usage: lease_loss_test.py KUBE_SIM CONTROLLER"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e import Kube  # noqa: E402


def main():
    kube_sim, controller = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="qpu-lease-loss-")
    kubeconfig = os.path.join(tmp, "kubeconfig")
    sim = subprocess.Popen([kube_sim, "serve", "--listen", "127.0.0.1:0", "--no-runtime", "--kubeconfig-out", kubeconfig],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ctl = None
    try:
        line = sim.stdout.readline()
        server = line.strip().rsplit(" ", 1)[-1]
        kube = Kube(kubeconfig)
        log_path = os.path.join(tmp, "controller.log")
        ctl = subprocess.Popen([controller, "run", "--kubeconfig", kubeconfig, "--event-log", os.path.join(tmp, "events.jsonl"),
                                "--target-image", "quay.io/sclorg/postgresql-15-c9s", "--no-fsync", "--leader-elect",
                                "--leader-election-namespace", "default"],
                               stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=dict(os.environ, POD_NAME="solo"))
        lease_path = "/apis/coordination.k8s.io/v1/namespaces/default/leases/quay-pg-upgrader"
        for _ in range(100):
            lease = kube.request("GET", lease_path, missing_ok=True)
            if lease and lease["spec"]["holderIdentity"].startswith("solo_"):
                break
            time.sleep(0.1)
        else:
            print("FAIL: the controller never took the Lease")
            return 1
        print("ok: elected:", json.dumps(lease["spec"]))
        for _ in range(300):  # until one renewal; giving up after 30 s is a bound, not a measurement
            renewed = kube.request("GET", lease_path)["spec"]["renewTime"]
            if renewed != lease["spec"]["renewTime"]:
                break
            time.sleep(0.1)
        else:
            print("FAIL: the leader never renewed its Lease")
            return 1
        print("ok: renewed at", renewed)
        req = urllib.request.Request(server + "/_sim/faults", data=json.dumps({"failRate": 1.0, "failCode": 503}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        try:
            rc = ctl.wait(60)  # a bound on waiting (a controller that never gives up), not a measurement
        except subprocess.TimeoutExpired:
            print("FAIL: the controller kept running without its Lease")
            return 1
        text = open(log_path).read()
        if rc != 1 or "leader election lost" not in text:
            print(f"FAIL: exit status {rc}; log:\n{text[-2000:]}")
            return 1
        with urllib.request.urlopen(server + "/_sim/fault-counts", timeout=5) as r:
            clients = json.loads(r.read())["clients"]
        mine = [v for k, v in clients.items() if k.startswith("quay-pg-upgrader/")]
        renewals = sum(v["failedByResource"].get("leases", 0) for v in mine)
        # One failed renewal per 2 s retry until the 10 s deadline: at least 4 before giving up
        # (one that gave up at the first failure made 1).
        if renewals < 4:
            print(f"FAIL: gave up after {renewals} failed Lease renewal(s), before the 10 s renew deadline could have "
                  f"passed (retry 2 s); fault counts: {json.dumps(clients)}")
            return 1
        print(f"ok: lost the Lease and exited 1 after {renewals} failed renewals without the API (renew deadline 10 s, retry 2 s)")
        print("PASS")
        return 0
    finally:
        if ctl and ctl.poll() is None:
            ctl.kill()
            ctl.wait()
        sim.terminate()
        sim.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
