#!/usr/bin/python3
"""Secrets never written (issue 19, item 1), with the real controller on kube-sim.

A Quay installation whose database Deployment carries its passwords as literal env values
(POSTGRESQL_PASSWORD, POSTGRESQL_ADMIN_PASSWORD: `value:` instead of `secretKeyRef`) and, as
`kubectl apply` leaves it, the whole applied object again in the
kubectl.kubernetes.io/last-applied-configuration annotation; its pod repeats the env. The real
controller (`quay-pg-upgrader run`) watches it.

Checked:
  - neither password appears anywhere the controller writes: the event log, the controller's own
    log, /debug/state, the QuayRegistry's status, the Events, any Job or pod the controller made;
  - the event log holds keyed tokens in their place (the line is printed), the same after a restart
    (the key file, mode 0600, is kept beside the log), and the values the reducers read
    (POSTGRESQL_USER) as they were;
  - the upgrade is blocked (LiteralPassword) with the fix in the status, and nothing is created;
  - once the password is moved into a Secret the block is lifted by itself.

  redaction_test.py --build BUILD_DIR
"""
import argparse
import copy
import json
import os
import shutil
import stat
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import cluster_bench as cb  # noqa: E402  (the kube-sim and controller harness of the benchmarks)
from checks import Checks, read, wait_for, write_objects  # noqa: E402

PASSWORD = "Lit3ral-Pa55word-7d1c"
ADMIN_PASSWORD = "Lit3ral-Admin-Pa55word-93ab"
NS = "quay"
DB = "registry-quay-database"


def database_env():
    return [{"name": "POSTGRESQL_USER", "value": "quayuser"},
            {"name": "POSTGRESQL_PASSWORD", "value": PASSWORD},
            {"name": "POSTGRESQL_DATABASE", "value": "quay"},
            {"name": "POSTGRESQL_ADMIN_PASSWORD", "value": ADMIN_PASSWORD}]


def objects():
    reg = cb.registry(NS, "registry")
    reg["spec"]["components"][0]["managed"] = True
    db = cb.deployment(NS, DB, "postgres", 1)
    db["spec"]["template"]["spec"]["containers"][0]["env"] = database_env()
    applied = copy.deepcopy(db)
    del applied["status"], applied["metadata"]["managedFields"]
    db["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)}
    pod = cb.pod(NS, DB + "-1", "postgres")
    pod["spec"]["containers"][0]["env"] = database_env()
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, reg, db, pod,
            cb.deployment(NS, "registry-quay-app", "quay-app", 2), cb.claim(NS, DB)]


def get(url):
    return urllib.request.urlopen(url, timeout=30).read().decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    check = Checks()

    def leaks(text):
        return [p for p in (PASSWORD, ADMIN_PASSWORD) if p in text]

    tmp = tempfile.mkdtemp(prefix="qpu-redaction-")
    try:
        apply_dir = os.path.join(tmp, "apply")
        write_objects(apply_dir, objects())
        c = cb.Cluster(args.build, tmp, apply_dir)
        try:
            c.start_controller()
            c.wait_synced(timeout=120)

            def state():
                return json.loads(get(f"http://{c.metrics}/debug/state"))

            def quay_upgrade(s):
                for key, u in s.get("upgrades", {}).items():
                    if key.startswith(f"{NS}/registry") and "clair" not in key:
                        return u
                return None

            blocked = wait_for("the LiteralPassword block", lambda: (
                lambda u: u if u and u.get("blockReason") == "LiteralPassword" else None)(quay_upgrade(state())))
            check("POSTGRESQL_PASSWORD and POSTGRESQL_ADMIN_PASSWORD as a literal value" in blocked.get("lastError", ""),
                  f"the block names both variables: {blocked.get('lastError', '')[:160]}")
            check("create secret generic" in blocked.get("lastError", ""), "the block says how to fix it")

            served = json.dumps(c.api.request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/{DB}"))
            check(len(leaks(served)) == 2, "control: the Deployment as the API serves it holds both passwords")
            log = read(c.event_log)
            db_lines = [line for line in log.splitlines() if f'"name":"{DB}"' in line and '"kind":"Deployment"' in line]
            check(bool(db_lines), "the database Deployment is in the event log")
            check(not leaks(log), f"no password in the event log ({len(log)} bytes; found {leaks(log)})")
            line = db_lines[0]
            at = line.find('"name":"POSTGRESQL_PASSWORD"')
            print("the database Deployment's env as logged: " + line[line.rfind('"env":', 0, at):][:420], flush=True)
            tokens = [json.loads(line_) for line_ in db_lines]
            obj = tokens[0].get("object") or tokens[0]["watch"]["object"]
            env = {e["name"]: e.get("value") for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
            check(env["POSTGRESQL_USER"] == "quayuser" and env["POSTGRESQL_DATABASE"] == "quay",
                  "the user and database names the reducers read are kept")
            token = env["POSTGRESQL_PASSWORD"]
            check(token.startswith("qpu-redacted:") and len(token) == len("qpu-redacted:") + 32,
                  f"the password is a keyed token: {token}")
            check(env["POSTGRESQL_ADMIN_PASSWORD"].startswith("qpu-redacted:") and env["POSTGRESQL_ADMIN_PASSWORD"] != token,
                  "the admin password has a token of its own")
            annotation = obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            check(annotation.startswith("qpu-redacted:"), f"the last-applied annotation is a token: {annotation}")
            key = c.event_log + ".key"
            check(os.path.exists(key) and stat.S_IMODE(os.stat(key).st_mode) == 0o600,
                  "the redaction key is beside the event log, mode 0600")

            debug = get(f"http://{c.metrics}/debug/state")
            check(not leaks(debug), "no password in /debug/state")
            reg = c.api.request("GET", f"/apis/quay.redhat.com/v1/namespaces/{NS}/quayregistries/registry")
            status = json.dumps(reg.get("status", {}))
            check("LiteralPassword" in status and not leaks(status),
                  "the registry's status says LiteralPassword, without the password")
            events = json.dumps(c.api.request("GET", f"/api/v1/namespaces/{NS}/events"))
            check(not leaks(events), "no password in the Events")
            jobs = c.api.request("GET", f"/apis/batch/v1/namespaces/{NS}/jobs")["items"]
            check(not jobs, f"no Job was created ({[j['metadata']['name'] for j in jobs]})")
            pods = c.api.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app.kubernetes.io/managed-by%3Dquay-pg-upgrader")
            check(not leaks(json.dumps(pods)), "no password in a pod the controller made")

            # A restart keeps the key, so the same value has the same token.
            c.ctl.terminate()
            c.ctl.wait(30)
            before = len(read(c.event_log))
            c.start_controller()
            wait_for("the relists after the restart", lambda: read(c.event_log)[before:].count('"relist":"done"') >= cb.STREAMS)
            again = read(c.event_log)[before:]
            check(token in again, "after a restart the password has the same token")
            check(not leaks(read(c.event_log)), "no password in the event log after the restart")

            # The admin moves the passwords into a Secret: the block lifts by itself.
            c.api.request("POST", f"/api/v1/namespaces/{NS}/secrets",
                          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": DB + "-credentials"},
                           "stringData": {"password": PASSWORD, "admin": ADMIN_PASSWORD}})
            d = c.api.request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/{DB}")
            for e in d["spec"]["template"]["spec"]["containers"][0]["env"]:
                if e["name"] in ("POSTGRESQL_PASSWORD", "POSTGRESQL_ADMIN_PASSWORD"):
                    k = "password" if e["name"] == "POSTGRESQL_PASSWORD" else "admin"
                    e.pop("value")
                    e["valueFrom"] = {"secretKeyRef": {"name": DB + "-credentials", "key": k}}
            d["metadata"]["annotations"].pop("kubectl.kubernetes.io/last-applied-configuration")
            c.api.request("PUT", f"/apis/apps/v1/namespaces/{NS}/deployments/{DB}", d)
            lifted = wait_for("the block to lift", lambda: (
                lambda u: u if u and u.get("blockReason") != "LiteralPassword" else None)(quay_upgrade(state())))
            check(lifted.get("phase") != "blocked" or lifted.get("blockReason") not in ("", "LiteralPassword"),
                  f"the block lifted once the passwords are in a Secret (phase {lifted.get('phase')})")
            for what, text in [("event log", read(c.event_log)), ("controller log", read(c.ctl_log)),
                               ("/debug/state", get(f"http://{c.metrics}/debug/state"))]:
                check(not leaks(text), f"no password in the {what} at the end")
        finally:
            c.close()
        check(not leaks(read(c.ctl_log)), "no password in the controller's log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
