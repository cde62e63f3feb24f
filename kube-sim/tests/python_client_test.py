#!/usr/bin/python3
"""Debian's python3-kubernetes against kube-sim: list, watch over a change, and a watch whose
resourceVersion the admin endpoint expired (the client raises ApiException 410).
Usage: python_client_test.py KUBE_SIM_BINARY plain|tls"""
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from kubernetes import client, config, watch

sim_binary, mode = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="kube-sim-py-")
kubeconfig = os.path.join(work, "kubeconfig")
args = [sim_binary, "serve", "--listen", "127.0.0.1:0", "--kubeconfig-out", kubeconfig]
if mode == "tls":
    args.append("--tls")
sim = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
failures = []


def check(what, got, wanted):
    if got == wanted:
        print(f"ok: {what}")
    else:
        failures.append(what)
        print(f"FAIL: {what}: got {got!r}, wanted {wanted!r}")


def admin(path, body):
    """POSTs to kube-sim's admin endpoint (no Kubernetes client uses /_sim)."""
    context = None
    if url.startswith("https://"):
        with open(kubeconfig) as f:
            ca = next(l.split(":", 1)[1].strip() for l in f if "certificate-authority-data" in l)
        context = ssl.create_default_context(cadata=base64.b64decode(ca).decode())
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return json.load(response)


try:
    line = sim.stdout.readline().strip()
    assert line.startswith("kube-sim listening on "), line
    url = line[len("kube-sim listening on "):]
    check("scheme", url.split(":")[0], "https" if mode == "tls" else "http")

    config.load_kube_config(kubeconfig)
    v1 = client.CoreV1Api()
    v1.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings", labels={"app": "quay"}), data={"key": "one"}))
    listed = v1.list_namespaced_config_map("default")
    check("list_namespaced_config_map", [c.metadata.name for c in listed.items], ["settings"])
    rv = listed.metadata.resource_version

    # A watch from the list's RV sees the change made while it runs, then ends at timeoutSeconds.
    def change_soon():
        time.sleep(0.5)
        v1.patch_namespaced_config_map("settings", "default", {"data": {"key": "two"}})

    changer = threading.Thread(target=change_soon)
    changer.start()
    # No client-side timeout is set, so the loop below ends only when the server closes the
    # stream: without timeoutSeconds honoured it never ends (CTest's timeout fails the test).
    seen = [(e["type"], e["object"].metadata.name, e["object"].data["key"])
            for e in watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                          resource_version=rv, timeout_seconds=2)]
    changer.join()
    check("watch over a change, then the server ends the stream at timeoutSeconds", seen, [("MODIFIED", "settings", "two")])

    # Expire the history: resuming from the old RV is a 410. With timeout_seconds the client
    # does not retry and raises at once; without it, it retries once and then raises.
    old_rv = v1.list_namespaced_config_map("default").metadata.resource_version
    admin("/_sim/faults", {"expireHistory": True})
    for kwargs in ({"timeout_seconds": 2}, {}):
        try:
            events = list(watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                               resource_version=old_rv, **kwargs))
            check(f"410 raised {kwargs}", f"stream ended with {events}", "ApiException")
        except client.exceptions.ApiException as e:
            check(f"410 raised {kwargs}", (e.status, e.reason.split(":")[0]), (410, "Expired"))

    # A relist gives a usable RV again.
    fresh = v1.list_namespaced_config_map("default").metadata.resource_version
    events = list(watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                       resource_version=fresh, timeout_seconds=1))
    check("watch from a relisted RV", events, [])
finally:
    sim.terminate()
    sim.wait()
    shutil.rmtree(work, ignore_errors=True)

if failures:
    sys.exit(f"python-kubernetes against kube-sim ({mode}): {len(failures)} failed")
print(f"python-kubernetes against kube-sim ({mode}): all checks passed")
