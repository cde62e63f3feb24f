#!/usr/bin/python3
"""A leader that cannot renew its Lease stops: kube-sim (API only) answers every request with 503
after the controller was elected; within the renew deadline (10 s) plus one retry and one request
timeout the controller must report the loss, perform nothing more, and exit with status 1.
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
        time.sleep(2.5)  # at least one renewal
        renewed = kube.request("GET", lease_path)["spec"]["renewTime"]
        if renewed == lease["spec"]["renewTime"]:
            print("FAIL: the leader did not renew within 2.5 s")
            return 1
        print("ok: renewed at", renewed)
        req = urllib.request.Request(server + "/_sim/faults", data=json.dumps({"failRate": 1.0, "failCode": 503}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        cut = time.monotonic()
        try:
            rc = ctl.wait(10 + 2 + 4 + 3)
        except subprocess.TimeoutExpired:
            print("FAIL: the controller kept running without its Lease")
            return 1
        took = time.monotonic() - cut
        text = open(log_path).read()
        if rc != 1 or "leader election lost" not in text:
            print(f"FAIL: exit status {rc}; log:\n{text[-2000:]}")
            return 1
        if took < 7:
            print(f"FAIL: gave up after {took:.1f} s, before the 10 s renew deadline could have passed")
            return 1
        print(f"ok: lost the Lease and exited 1 after {took:.1f} s without the API (renew deadline 10 s)")
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
