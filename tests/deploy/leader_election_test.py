#!/usr/bin/python3
"""Leader election on kube-sim: two controller processes (--leader-elect, one Lease, one event log
on a shared volume as deploy/ mounts it), a real PostgreSQL 10 -> 15 upgrade. The leader is killed
with SIGKILL in the middle of the upgrade (while the upgrade Job runs); the follower, which has
performed nothing so far, must take the Lease once it expired (never before: two leaders), refold
the log, and finish the upgrade, which the e2e driver's checks then verify (data, claims, app). No
duration is measured here: the Lease's own renewTime and acquireTime (written by the controllers,
on one machine's clock) show the order of events."""
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import harness
from harness import e2e

LEASE = "quay-pg-upgrader"


def lease(case):
    return case.kube.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{e2e.NS}/leases/{LEASE}", missing_ok=True)


def micro_time(text):
    """A Lease's MicroTime (RFC 3339, microseconds, Z)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def expiry(spec):
    """When the Lease in `spec` expires unless renewed: its last renewal plus its duration."""
    return micro_time(spec["renewTime"]) + timedelta(seconds=spec["leaseDurationSeconds"])


def start(case, name):
    os.environ["POD_NAME"] = name
    case.start_controller(extra=["--leader-elect", "--leader-election-namespace", e2e.NS,
                                 "--metrics-bind-address", "127.0.0.1:0"])
    log_path = os.path.join(case.tmp, f"controller-{name}.log")
    os.rename(case.ctl_log, log_path)  # the process keeps writing to the renamed file
    case.ctl_log = log_path
    return case.ctl, log_path, harness.endpoint_port(log_path)


def metrics(port):
    code, text = harness.http_get(f"http://127.0.0.1:{port}/metrics")
    return harness.parse_metrics(text)[0] if code == 200 else {}


def body(args):
    case = harness.make_case(args, "leader", check_old_claim=False)
    procs = {}
    passed = False
    try:
        case.set_up()
        procs["ctl-a"] = start(case, "ctl-a")
        case.wait_for("ctl-a to hold the Lease", lambda: (lease(case) or {}).get("spec", {}).get("holderIdentity", "").startswith("ctl-a"), 30)
        procs["ctl-b"] = start(case, "ctl-b")
        l0 = lease(case)["spec"]
        case.check(l0["leaseDurationSeconds"] == 15 and l0["holderIdentity"].startswith("ctl-a_"),
                   f"Lease held by ctl-a for 15 s ({l0})")
        time.sleep(3)
        mb = metrics(procs["ctl-b"][2])
        case.check(harness.metric(mb, "qpu_leader") == 0, "ctl-b is a follower (qpu_leader 0)")
        code, text = harness.http_get(f"http://127.0.0.1:{procs['ctl-b'][2]}/readyz")
        case.check(code == 200 and "standby" in text, f"the follower's /readyz is 200 standby ({code} {text.strip()})")

        def upgrading():
            st = e2e.upgrade_status(case.registry())
            return e2e.norm(st.get("phase")) in ("upgrading", "switching")
        case.wait_for("the upgrade to reach the upgrade Job", upgrading, 240)
        b_log = open(procs["ctl-b"][1], errors="replace").read()
        case.check("create_job" not in b_log and "scale_deployment" not in b_log,
                   "the follower performed no effect while ctl-a led")
        ctl_a = procs["ctl-a"][0]
        e2e.log(f"SIGKILL ctl-a (pid {ctl_a.pid}) in phase {e2e.upgrade_status(case.registry()).get('phase')}")
        ctl_a.send_signal(signal.SIGKILL)
        ctl_a.wait()
        dead = lease(case)["spec"]  # ctl-a's last renewal: a dead process renews no more
        case.check(dead["holderIdentity"].startswith("ctl-a_"), f"the Lease still names ctl-a after its death ({dead})")
        case.wait_for("ctl-b to take the Lease",
                      lambda: (lease(case) or {}).get("spec", {}).get("holderIdentity", "").startswith("ctl-b"), 60)
        l1 = lease(case)["spec"]
        case.check(micro_time(l1["acquireTime"]) >= expiry(dead),
                   f"ctl-b acquired the Lease at {l1['acquireTime']}, not before ctl-a's expired "
                   f"(renewed {dead['renewTime']} + {dead['leaseDurationSeconds']} s): never two leaders")
        case.check(l1["leaseTransitions"] == l0["leaseTransitions"] + 1, f"leaseTransitions {l0['leaseTransitions']} -> {l1['leaseTransitions']}")
        case.ctl = procs["ctl-b"][0]
        case.ctl_log = procs["ctl-b"][1]
        e2e.run_upgrade(case, timeout=300)
        mb = metrics(procs["ctl-b"][2])
        case.check(harness.metric(mb, "qpu_leader") == 1, "ctl-b is the leader (qpu_leader 1)")
        case.check(harness.metric(mb, "qpu_upgrades_total", result="succeeded") == 1, "ctl-b finished the upgrade (qpu_upgrades_total succeeded 1)")
        b_log = open(procs["ctl-b"][1], errors="replace").read()
        case.check("refolded" in b_log, "ctl-b refolded ctl-a's event log before acting")

        # A clean shutdown gives the Lease up (client-go's ReleaseOnCancel): the next candidate
        # takes over at its next retry (2 s), not after the 15 s lease.
        procs["ctl-c"] = start(case, "ctl-c")
        time.sleep(3)
        ctl_b = procs["ctl-b"][0]
        held = lease(case)["spec"]  # ctl-b's renewals from here on only move its expiry later
        case.check(held["holderIdentity"].startswith("ctl-b_"), f"ctl-b holds the Lease before SIGTERM ({held})")
        ctl_b.send_signal(signal.SIGTERM)
        ctl_b.wait(20)
        case.check(ctl_b.returncode == 0, f"ctl-b exited 0 on SIGTERM ({ctl_b.returncode})")
        case.wait_for("ctl-c to take the released Lease",
                      lambda: (lease(case) or {}).get("spec", {}).get("holderIdentity", "").startswith("ctl-c"), 60)
        l2 = lease(case)["spec"]
        case.check(micro_time(l2["acquireTime"]) < expiry(held),
                   f"ctl-c acquired the Lease at {l2['acquireTime']}, before ctl-b's could have expired "
                   f"(renewed {held['renewTime']} + {held['leaseDurationSeconds']} s): only a release allows that")
        case.ctl = procs["ctl-c"][0]
        case.ctl_log = procs["ctl-c"][1]
        case.wait_for("ctl-c to be ready (reflectors synced)",
                      lambda: harness.http_get(f"http://127.0.0.1:{procs['ctl-c'][2]}/readyz")[0] == 200, 30)
        mc = metrics(procs["ctl-c"][2])
        case.check(harness.metric(mc, "qpu_effects_performed_total") <= 2,
                   f"ctl-c, refolding a finished upgrade, performs nothing new ({harness.metric(mc, 'qpu_effects_performed_total')})")
        passed = True
    finally:
        for name, (p, _, _) in procs.items():
            if p.poll() is None and p is not case.ctl:
                p.kill()
                p.wait()
        case.cleanup(passed)


if __name__ == "__main__":
    sys.exit(harness.run_main(__doc__, body))
