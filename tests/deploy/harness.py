"""Shared pieces of the tests/deploy suites: an e2e Case built from tests/e2e/e2e.py (imported,
not copied), a request-logging proxy in front of kube-sim, and a Prometheus text parser.
Standard library and Debian's python3-yaml only."""
import argparse
import base64
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import e2e  # noqa: E402  (the e2e driver's Case, Kube, checks)


def arg_parser(doc):
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--kube-sim")
    ap.add_argument("--controller")
    ap.add_argument("--timeout", type=int, default=480)
    return ap


def make_case(args, name, base="logical-10-to-15", **overrides):
    spec = dict(e2e.CASES[base][1])
    spec["from"] = spec.pop("from_")
    spec.update(overrides)
    return e2e.Case(args, name, spec)


class RequestLog:
    """A plain-HTTP proxy on 127.0.0.1 in front of kube-sim's HTTPS port that records the method
    and target of every request passing through (the controller's own view of the API). Requests
    on one connection are sequential (HTTP/1.1 without pipelining), so the client side is parsed
    request by request and the server side is piped back as it comes (watch streams included)."""

    def __init__(self, kubeconfig, out_kubeconfig):
        with open(kubeconfig) as f:
            cfg = yaml.safe_load(f)
        cluster = cfg["clusters"][0]["cluster"]
        m = re.match(r"https?://([^:/]+):(\d+)", cluster["server"])
        self.upstream = (m.group(1), int(m.group(2)))
        self.tls = cluster["server"].startswith("https://")
        self.ctx = None
        if self.tls:
            self.ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        self.requests = []  # (method, target)
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        cluster["server"] = f"http://127.0.0.1:{self.port}"
        cluster.pop("certificate-authority-data", None)
        with open(out_kubeconfig, "w") as f:
            yaml.safe_dump(cfg, f)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, client):
        # One thread per connection, both directions in one select() loop: an SSL socket must not
        # be read and written from two threads at once.
        import select
        try:
            raw = socket.create_connection(self.upstream)
            up = self.ctx.wrap_socket(raw, server_hostname=self.upstream[0]) if self.tls else raw
        except OSError:
            client.close()
            return
        buf = b""
        try:
            while True:
                pending = self.tls and up.pending() > 0
                readable = [up] if pending else select.select([client, up], [], [], 5)[0]
                if up in readable:
                    # Non-blocking: a readable TLS socket may carry only a record with no data
                    # (a TLS 1.3 session ticket); a blocking read would then wait forever.
                    up.setblocking(False)
                    try:
                        data = up.recv(65536)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        data = None
                    finally:
                        up.setblocking(True)
                    if data == b"":
                        break
                    if data:
                        client.sendall(data)
                if client in readable:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                    buf = self._forward_complete(buf, up)
        except (OSError, ValueError):
            pass
        finally:
            for s in (client, up):
                try:
                    s.close()
                except OSError:
                    pass

    def _forward_complete(self, buf, up):
        """Logs and forwards every complete request in buf; returns the incomplete rest."""
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            length = 0
            for h in lines[1:]:
                k, _, v = h.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            if len(rest) < length:
                return buf
            with self.lock:
                self.requests.append((method, target))
            up.sendall(head + b"\r\n\r\n" + rest[:length])
            buf = rest[length:]
        return buf

    def snapshot(self):
        with self.lock:
            return list(self.requests)


def attributes(method, target):
    """(verb, group, resource[/subresource]) of an API request, as the RBAC authorizer sees it;
    None for a non-resource URL."""
    path, _, query = target.partition("?")
    params = dict(p.partition("=")[::2] for p in query.split("&") if p)
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        rest = rest[2:]  # namespaced: drop namespaces/<ns>
    if not rest:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource += "/" + rest[2]
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}.get(method)
    if method == "GET":
        verb = "watch" if params.get("watch") in ("1", "true", "True") else ("get" if name else "list")
    return verb, group, resource


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value}; raises on a line that is not the text format."""
    out, types = {}, {}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
    lab = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("#"):
            continue
        m = sample.match(line)
        if not m:
            raise ValueError(f"not Prometheus text format: {line!r}")
        labels = frozenset(lab.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out, types


def metric(samples, metric_name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == metric_name and want <= set(ls))


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


endpoint_port = e2e.endpoint_port


def run_main(doc, body):
    """Runs body(args) with the e2e driver's cleanup discipline; exit status 0 = pass."""
    args = arg_parser(doc).parse_args()
    if os.geteuid() != 0:
        print("needs root (kube-sim loop-mounts claims and runs pods in mount namespaces)")
        return 1
    import signal
    import traceback

    def on_signal(signum, _):
        raise e2e.Failure(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        body(args)
        e2e.log("PASS")
        return 0
    except e2e.Failure as e:
        e2e.log(f"FAIL: {e}")
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        e2e.log("FAIL: unexpected error")
    return 1
