#!/usr/bin/python3
"""RBAC test: deploy/'s rules against every request the controller makes.

1. A real PostgreSQL 10 -> 15 upgrade on kube-sim (the e2e driver's scenario and checks), the
   controller run with --leader-elect and talking through a proxy that records each request;
   every request becomes (verb, group, resource) as the RBAC authorizer sees it.
2. STATIC: requests the code can make that a happy upgrade does not exercise, each with the code
   path that makes it.
3. Fails when a request (observed or static) is not allowed by the ClusterRole / Role, and when a
   rule grants a (verb, group, resource) that nothing uses.
Also checks /metrics, /readyz, /debug/state on the same run, and that no Secret value or token
reached the controller's log.
"""
import json
import os
import sys

import yaml

import harness
from harness import e2e

# (verb, group, resource) -> the code path; requests a happy-path upgrade does not make.
STATIC = {
    ("delete", "batch", "jobs"): "effects/k8s_effects.cpp perform(delete_job): a failed Job is removed before a retry",
    ("get", "", "persistentvolumeclaims"): "effects/k8s_effects.cpp perform(create_claim): on 409 AlreadyExists, the existing claim's size is read",
    ("get", "quay.redhat.com", "quayregistries"): "effects/k8s_effects.cpp perform(update_registry_status): the registry is read when the copy the watch showed is missing or the write on it got 409 Conflict",
    ("get", "coordination.k8s.io", "leases"): "app/leader_election.cpp try_acquire_or_renew (observed too)",
    ("get", "storage.k8s.io", "storageclasses"): "effects/k8s_effects.cpp perform(inspect_claim): a new claim seen Pending before the downtime (observed when kube-sim has not bound it yet)",
    ("get", "", "pods/log"): "effects/k8s_effects.cpp perform(read_job_progress): a running Job's progress (observed when its pod ran long enough to be read)",
    ("list", "", "events"): "effects/k8s_effects.cpp perform(inspect_claim): the Events on a new claim seen Pending",
    ("create", "coordination.k8s.io", "leases"): "app/leader_election.cpp: the first candidate creates the Lease",
    ("update", "coordination.k8s.io", "leases"): "app/leader_election.cpp: renew / take over / release (PUT with resourceVersion)",
}


def rules(source):
    granted = {}
    for f in ("clusterrole.yaml", "leader-election-role.yaml"):
        for doc in yaml.safe_load_all(open(os.path.join(source, "deploy", f))):
            if not doc or doc["kind"] not in ("ClusterRole", "Role"):
                continue
            for r in doc["rules"]:
                for g in r["apiGroups"]:
                    for res in r["resources"]:
                        for v in r["verbs"]:
                            if "*" in (g, res, v):
                                raise e2e.Failure(f"{f}: wildcard in {r} (least privilege wants each verb named)")
                            granted[(v, g, res)] = f"{f} {doc['kind']}/{doc['metadata']['name']}"
    return granted


def body(args):
    granted = rules(os.path.abspath(args.source))
    case = harness.make_case(args, "rbac")
    passed = False
    try:
        case.set_up()
        proxy = harness.RequestLog(case.kubeconfig, os.path.join(case.tmp, "kubeconfig-proxy"))
        case.kubeconfig = proxy_kubeconfig = os.path.join(case.tmp, "kubeconfig-proxy")
        case.start_controller(extra=["--leader-elect", "--leader-election-namespace", e2e.NS,
                                     "--metrics-bind-address", "127.0.0.1:0"])
        port = harness.endpoint_port(case.ctl_log)
        e2e.run_upgrade(case)
        check_endpoint(case, port)
        observed = {}
        for method, target in proxy.snapshot():
            a = harness.attributes(method, target)
            if a is None:
                raise e2e.Failure(f"the controller requested a non-resource URL {method} {target} (no rule grants it)")
            observed.setdefault(a, f"{method} {target}")
        e2e.log(f"{len(proxy.snapshot())} requests, {len(observed)} distinct (verb, group, resource) via {proxy_kubeconfig}")
        for a, example in sorted(observed.items()):
            e2e.log(f"  observed {a}: e.g. {example[:120]}")
        needed = dict(observed)
        for a, why in STATIC.items():
            needed.setdefault(a, why)
        uncovered = sorted(a for a in needed if a not in granted)
        unused = sorted(a for a in granted if a not in needed)
        if uncovered:
            raise e2e.Failure("requests no rule allows: " + "; ".join(f"{a} ({needed[a][:100]})" for a in uncovered))
        if unused:
            raise e2e.Failure("rules nothing uses (drop them): " + "; ".join(f"{a} from {granted[a]}" for a in unused))
        e2e.log(f"ok: all {len(needed)} (verb, group, resource) needed are granted, and all {len(granted)} granted are needed")
        check_no_secrets(case)
        passed = True
    finally:
        case.cleanup(passed)


def check_endpoint(case, port):
    base = f"http://127.0.0.1:{port}"
    code, text = harness.http_get(base + "/healthz")
    case.check(code == 200 and text.strip() == "ok", f"/healthz 200 ok ({code} {text.strip()})")
    code, text = harness.http_get(base + "/readyz")
    case.check(code == 200, f"/readyz 200 once every reflector synced ({code} {text.strip()})")
    code, text = harness.http_get(base + "/metrics")
    case.check(code == 200, "/metrics 200")
    samples, types = harness.parse_metrics(text)
    m = harness.metric
    case.check(m(samples, "qpu_leader") == 1, "qpu_leader 1 (elected)")
    case.check(m(samples, "qpu_upgrades_total", result="succeeded") == 1, "qpu_upgrades_total{result=succeeded} 1")
    case.check(m(samples, "qpu_upgrades_total", result="failed") == 0, "qpu_upgrades_total{result=failed} 0")
    case.check(m(samples, "qpu_upgrade_phase", namespace=e2e.NS, name=e2e.REGISTRY, phase="succeeded") == 1,
               "qpu_upgrade_phase{phase=succeeded} 1 for quay/registry")
    for p in ("quiescing", "backing_up", "stopping", "upgrading", "switching", "verifying", "resuming"):
        case.check(m(samples, "qpu_phase_duration_seconds_count", phase=p) >= 1, f"a duration observed for phase {p}")
    case.check(types.get("qpu_phase_duration_seconds") == "histogram", "phase durations are a histogram")
    case.check(m(samples, "qpu_watch_events_total", resource="jobs", type="MODIFIED") > 0, "watch events counted (jobs MODIFIED)")
    case.check(m(samples, "qpu_relists_total", resource="quayregistries") >= 1, "relists counted")
    case.check(m(samples, "qpu_api_requests_total", verb="POST", code="201") > 0, "API requests counted by verb and code (POST 201)")
    case.check(m(samples, "qpu_api_requests_total", verb="PATCH", code="200") > 0, "API requests counted (PATCH 200)")
    case.check(m(samples, "qpu_effect_duration_seconds_count", effect="create_job") >= 2, "effect latency observed (create_job)")
    size = os.path.getsize(case.event_log)
    case.check(m(samples, "qpu_event_log_size_bytes") == size, f"qpu_event_log_size_bytes = the file's {size}")
    case.check(0 < m(samples, "qpu_event_log_bytes_written_total") <= size, "event-log bytes written counted")
    code, text = harness.http_get(base + "/debug/state")
    state = json.loads(text)
    dumped = json.dumps(state)
    case.check(code == 200 and "succeeded" in dumped and e2e.REGISTRY in dumped, "/debug/state is the state dump (JSON)")


def check_no_secrets(case):
    text = open(case.ctl_log, errors="replace").read()
    with open(os.path.join(case.tmp, "kubeconfig")) as f:
        token = (yaml.safe_load(f)["users"][0].get("user") or {}).get("token")
    secrets = [v for v in case.passwords.values() if len(v) >= 6] + ([token] if token else [])
    leaked = [s[:3] + "..." for s in secrets if s in text]
    case.check(not leaked, f"no password or token in the controller's log ({len(secrets)} values checked)")
    elog = open(case.event_log, errors="replace").read()
    leaked = [s[:3] + "..." for s in secrets if s in elog]
    case.check(not leaked, "no password or token in the event log")


if __name__ == "__main__":
    sys.exit(harness.run_main(__doc__, body))
