#!/usr/bin/python3
"""deploy/ loads into kube-sim: the kustomization's resources (rendered by `kubectl kustomize`
when kubectl is installed, else read in the kustomization's order with its namespace applied) are
created through the API, read back, and the Deployment's production settings are asserted. The
CRD replaces kube-sim's seeded one, and a QuayRegistry with a status write works under it.
Usage: manifests_test.py KUBE_SIM SOURCE_DIR"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e import Kube, Failure  # noqa: E402

PATHS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "QuayRegistry": ("/apis/quay.redhat.com/v1", "quayregistries", True),
}


def render(deploy):
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "kustomize", deploy], capture_output=True, text=True)
        if out.returncode != 0:
            raise Failure("kubectl kustomize deploy/: " + out.stderr)
        print("rendered with kubectl kustomize")
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    k = yaml.safe_load(open(os.path.join(deploy, "kustomization.yaml")))
    docs = []
    for f in k["resources"]:
        for d in yaml.safe_load_all(open(os.path.join(deploy, f))):
            if d and d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"):
                d["metadata"]["namespace"] = k["namespace"]
            if d:
                docs.append(d)
    return docs


def check(ok, what):
    if not ok:
        raise Failure(what)
    print("ok:", what)


def main():
    kube_sim, source = sys.argv[1], sys.argv[2]
    deploy = os.path.join(source, "deploy")
    docs = render(deploy)
    kinds = sorted({d["kind"] for d in docs})
    check(set(kinds) >= {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                         "Deployment", "CustomResourceDefinition"}, f"the base holds {kinds}")
    tmp = tempfile.mkdtemp(prefix="qpu-deploy-")
    kubeconfig = os.path.join(tmp, "kubeconfig")
    sim = subprocess.Popen([kube_sim, "serve", "--listen", "127.0.0.1:0", "--tls", "--no-runtime", "--kubeconfig-out", kubeconfig],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = sim.stdout.readline()
        check("listening on" in line, f"kube-sim started ({line.strip()})")
        kube = Kube(kubeconfig)
        kube.PATHS = PATHS

        def path(d, name=True):
            prefix, plural, namespaced = PATHS[d["kind"]]
            p = prefix + (f"/namespaces/{d['metadata']['namespace']}" if namespaced else "") + "/" + plural
            return p + ("/" + d["metadata"]["name"] if name else "")
        # Namespaces and the CRD first, as kubectl apply orders them.
        order = {"Namespace": 0, "CustomResourceDefinition": 1}
        for d in sorted(docs, key=lambda d: order.get(d["kind"], 2)):
            if d["kind"] == "CustomResourceDefinition":
                kube.request("DELETE", path(d), missing_ok=True)  # kube-sim seeds a looser one
                time.sleep(0.2)
            kube.request("POST", path(d, name=False), d)
            got = kube.request("GET", path(d))
            check(got and got["metadata"]["name"] == d["metadata"]["name"], f"{d['kind']} {d['metadata']['name']} created and read back")

        dep = next(d for d in docs if d["kind"] == "Deployment")
        got = kube.request("GET", path(dep))
        pod = got["spec"]["template"]["spec"]
        c = pod["containers"][0]
        sc = c.get("securityContext", {})
        check(pod["securityContext"].get("runAsNonRoot") is True, "pod runs as non-root")
        check(sc.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
        check(sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], "all capabilities dropped")
        check(all(k in c["resources"].get(x, {}) for x in ("requests", "limits") for k in ("cpu", "memory")),
              "resource requests and limits set")
        check(c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz",
              "liveness /healthz and readiness /readyz probes")
        check(any(e["name"] == "RELATED_IMAGE_COMPONENT_POSTGRES" for e in c["env"]), "RELATED_IMAGE_COMPONENT_POSTGRES env")
        check("--leader-elect" in c["args"] and any(a.startswith("--metrics-bind-address=") for a in c["args"]),
              "leader election and the metrics endpoint on")
        check(pod["serviceAccountName"] == "quay-pg-upgrader", "runs as the quay-pg-upgrader service account")
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        event_log = next(a.split("=", 1)[1] for a in c["args"] if a.startswith("--event-log="))
        check(any(event_log.startswith(m + "/") for m in mounts), f"the event log {event_log} is on a mounted volume")

        # The CRD serves QuayRegistry with a status subresource.
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "quay"}}
        kube.request("POST", "/api/v1/namespaces", ns)
        reg = {"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "metadata": {"name": "r", "namespace": "quay"},
               "spec": {"components": [{"kind": "postgres", "managed": True}]}}
        kube.request("POST", "/apis/quay.redhat.com/v1/namespaces/quay/quayregistries", reg)
        kube.request("PATCH", "/apis/quay.redhat.com/v1/namespaces/quay/quayregistries/r/status",
                     {"status": {"postgresUpgrade": {"phase": "succeeded"}}}, content_type="application/merge-patch+json")
        got = kube.request("GET", "/apis/quay.redhat.com/v1/namespaces/quay/quayregistries/r")
        check(got["status"]["postgresUpgrade"]["phase"] == "succeeded", "QuayRegistry status subresource writable")

        cf = open(os.path.join(deploy, "Containerfile")).read()
        # Base images are build arguments; their defaults before the first FROM are the public names a
        # real pipeline builds from (scripts/image.sh passes local ones).
        lines = cf.splitlines()
        first_from = next(i for i, l in enumerate(lines) if l.startswith("FROM "))
        defaults = dict(re.match(r"ARG (\w+)=(\S+)$", l).groups() for l in lines[:first_from] if re.match(r"ARG \w+=\S+$", l))
        stages = [re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), l) for l in lines if l.startswith("FROM ")]
        check(len(stages) == 2 and "docker.io/library/debian:12 AS build" in stages[0], f"Containerfile: build stage on Debian 12 ({stages[:1]})")
        check("distroless" in stages[1], f"Containerfile: runtime stage on a distroless base by default ({stages[1:]})")
        runtime = "\n".join(lines[next(i for i, l in enumerate(lines) if l.startswith("FROM ") and i > first_from):])
        check(not re.search(r"^RUN ", runtime, re.M), "Containerfile: the runtime stage runs nothing (it needs no shell)")
        check("USER 65532" in cf and "--from=build" in cf, "Containerfile: runtime stage copies only the build's output, non-root")
        print("PASS")
        return 0
    except Failure as e:
        print("FAIL:", e)
        return 1
    finally:
        sim.terminate()
        sim.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
