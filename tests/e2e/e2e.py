#!/usr/bin/python3
"""End-to-end tests of quay-pg-upgrader on kube-sim with real PostgreSQL (issue 5, item 3).

One case per invocation:  e2e.py --build BUILD_DIR --source SOURCE_DIR CASE
Each case runs in its own temporary folder with its own kube-sim (HTTPS, port 0) and its own
controller, so cases can run in parallel. The folder is removed when the case passes and kept
(path printed) when it fails or QPU_E2E_KEEP=1. Exit status 0 = pass, 1 = fail.

Only the Python standard library and Debian's python3-yaml are used; the API is spoken with
urllib against the kubeconfig kube-sim writes.
"""
import argparse
import base64
import copy
import ctypes
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request

import yaml

from claim_hook import NS, OLD_CLAIM, tree_digest  # beside this file; kube-sim runs it too

REGISTRY = "registry"
DB = "registry-quay-database"
APP = "registry-quay-app"
MIRROR = "registry-quay-mirror"  # a second app Deployment (spec mirror=True)
PG_CACHE = os.environ.get("QPU_PG_CACHE", "/var/cache/quay-pg-upgrader/pg")
PG15 = os.path.join(PG_CACHE, "15", "bin")
PG10_IMAGE = "centos/postgresql-10-centos7@sha256:47783d0838e814e5c541e16dafded5753991db4d436794f7345005f8886a044f"
PG13_IMAGE = "quay.io/sclorg/postgresql-13-c9s"
PG15_IMAGE = "quay.io/sclorg/postgresql-15-c9s"
UPGRADE_IMAGE = "quay.io/quay-pg-upgrader/pg-upgrade:13-15"
RETRY_ANNOTATION = "quay-pg-upgrader.quay.io/retry"

# The exact reasons the failure cases end with (lastError, matched in full): only sizes,
# checksums and the tools' own words are left open.
# A failed Job's reason is its step, then the pod's log from the step lines on (any number of
# them); the log's last lines are the tool's own words.
# The start of a line pg_dump or its workers wrote: fragments of "pg_dump", "pg_dump:" and ": ".
PG_DUMP_LINE = r"(?:pg_dump:? ?)*: ?"
BACKUP_ENOSPC = (r"backup Job quay/registry-pg10-backup-1 failed: BackoffLimitExceeded \(Job has reached the specified "
                 r"backoff limit\); the pod reported: BackupFailed: step 'pg_dump quay' failed \(exit 1\)\n"
                 r"(?:[^\n]*\n)*== [0-9TZ:-]+ pg_dump quay\n"
                 # pg_dump -Fd -j: the file whose write met the full volume first (a table's data
                 # file or the TOC) is named, and its workers may report too; a worker writes its
                 # program name and its message in two writes, so two workers' lines can interleave
                 # ("pg_dumppg_dump: terminated by user\n: terminated by user", and seen in a full run
                 # "pg_dump:pg_dump: error: could not write to output file: No space left on device").
                 rf"(?:{PG_DUMP_LINE}[^\n]*\n)*{PG_DUMP_LINE}error: [^\n]*: No space left on device\n"
                 rf"(?:{PG_DUMP_LINE}[^\n]*\n)*")
JOB_DELETED = (r"the backup Job quay/registry-pg10-backup-1 was deleted before this controller read its outcome "
               r"\(it deletes its Jobs only when rolling back\)")
UPGRADE_ENOSPC = (r"upgrade Job quay/registry-pg15-upgrade-1 failed: BackoffLimitExceeded \(Job has reached the specified "
                  r"backoff limit\); the pod reported: UpgradeFailed: step 'initdb /var/lib/pgsql/data/userdata' failed "
                  r"\(exit 1\)\n(?:[^\n]*\n)*== [0-9TZ:-]+ initdb /var/lib/pgsql/data/userdata\n"
                  r"initdb: error: could not [a-z ]+ \"/var/lib/pgsql/data/userdata[^\"]*\": No space left on device\n"
                  r"initdb: removing contents of data directory \"/var/lib/pgsql/data/userdata\"\n")
BACKUP_CLAIM_TOO_SMALL = (r"the claim quay/registry-quay-database-backup-pg10 already exists with 256Ki, smaller than the "
                          r"1Gi this upgrade needs \(a leftover of an earlier attempt\?\); the controller never deletes or "
                          r"shrinks a claim: delete or resize it, then set the retry annotation")
# --clone-storage-classes names a class whose driver does not clone: rolled back after the stop.
# Either clone may be seen refused first (or both at one look).
CLONE_REFUSED_ONE = (r"the (backup claim quay/registry-quay-database-backup-pg13|new data claim quay/registry-quay-database-pg15) "
                     r"cannot bind \(StorageClass basic\): its Event: Warning ProvisioningFailed: [^;]*volume cloning is not "
                     r"supported")
CLONE_REFUSED = (r"the clones of the stopped old claim quay/registry-quay-database could not be made: " + CLONE_REFUSED_ONE +
                 r"(; " + CLONE_REFUSED_ONE + r")?\. The upgrade rolls back: the old database starts again on its untouched "
                 r"claim\. StorageClass basic is listed in --clone-storage-classes: if its driver does not clone, remove it "
                 r"there \(the copy path needs no clone\); delete the Pending claims and set annotation "
                 r"quay-pg-upgrader\.quay\.io/retry to a new value")
# A StorageClass whose provisioner does not run here: the new claims stay Pending with the
# PersistentVolume controller's Event and the upgrade is refused at --claim-bind-timeout (20 s in
# the case), before anything is stopped.
NEW_CLAIM_PENDING = (r"the new data claim quay/registry-quay-database-pg15 is still Pending after 20 s \(StorageClass "
                     r"ebs-gp3, provisioner ebs\.csi\.aws\.com, binding Immediate; --claim-bind-timeout\); its Event: "
                     r"Normal ExternalProvisioning: Waiting for a volume to be created either by the external provisioner "
                     r"'ebs\.csi\.aws\.com' or manually by the system administrator\. If volume creation is delayed, please "
                     r"verify that the provisioner is running and correctly registered\. Nothing was stopped: Quay kept "
                     r"serving\. Fix the StorageClass \(or choose one with --storage-class\), delete the Pending claim, and "
                     r"set annotation quay-pg-upgrader\.quay\.io/retry to a new value")
# The old database has an extension the target lacks (chkpass, gone since PostgreSQL 11): the
# check Job says so before anything is stopped (the logical restore would fail in the downtime).
CHECK_FAILS = (r"preflight check Job quay/registry-pg-check-1 failed: BackoffLimitExceeded \(Job has reached the specified "
               r"backoff limit\); the pod reported: CheckFailed: step 'report' failed \(exit 1\)\n.*\n"
               r"extension chkpass is not available in PostgreSQL 15\.[0-9]+\. Nothing was stopped: Quay kept serving")
# The real pg_upgrade --check (the live check of the pg_upgrade method) refusing a postfix operator,
# which PostgreSQL 14 removed and no SQL imitation looked for; its report names the file and what
# the file lists.
PG_UPGRADE_CHECK_FAILS = (r"preflight check Job quay/registry-pg-check-1 failed: BackoffLimitExceeded \(Job has reached the "
                          r"specified backoff limit\); the pod reported: CheckFailed: step 'report' failed \(exit 1\)\n"
                          r"(?:[^\n]*\n)*Checking for user-defined postfix operators +fatal\n"
                          r"(?:[^\n]*\n)*-- postfix_ops\.txt:\nIn database: quay\n[^\n]*!##[^\n]*\n"
                          r"(?:[^\n]*\n)*pg_upgrade --check against the running server refused the upgrade \(its report above\)"
                          r"\. Nothing was stopped: Quay kept serving")
LEFTOVER_CLAIM_FULL = (r"preflight check Job quay/registry-pg-check-1 failed: BackoffLimitExceeded \(Job has reached the "
                       r"specified backoff limit\); the pod reported: CheckFailed: step 'report' failed \(exit 1\)\n"
                       r"(?:[^\n]*\n)*the existing claim registry-quay-database-backup-pg10 has [0-9.]+[KM]iB free \(after "
                       r"clearing earlier work\), the backup needs about [0-9.]+MiB: free space on it, or delete it so that a "
                       r"new one is made\. Nothing was stopped: Quay kept serving")
DATABASE_NEVER_STOPS = (r"phase stopping did not finish within 15 s; at the deadline: waiting for the database to stop: "
                        r"1 database pods remain")
VERIFICATION_MISMATCH = (r"verification found differences: table public\.logentry content differs "
                         r"\(checksum -?[0-9]+, expected -?[0-9]+\)")
REVERT_ANNOTATION = "quay-pg-upgrader.quay.io/revert-to-claim"
ROWS = int(os.environ.get("QPU_E2E_ROWS", "2000"))
TERMINAL = {"succeeded", "failed", "uptodate", "refused", "unsupported", "downgraderefused"}
# Phase deadlines (seconds). Generous for the happy paths, so that a hang becomes a rollback and
# a readable condition well inside the CTest timeout. The verify deadline also bounds the ANALYZE
# Job after the resume (two of them at once in the Clair cases): 60 s was passed once in CI.
HAPPY_DEADLINES = "quiesce=60,backup=120,stop=60,upgrade=180,switch=120,verify=120,resume=60,rollback=120"


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def norm(s):
    return re.sub(r"[^a-z0-9]", "", str(s or "").lower())


def die_with_parent():
    """preexec_fn: the child gets SIGTERM when this driver dies (even by SIGKILL)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------
# A minimal Kubernetes REST client (kubeconfig with CA data and a bearer token, as kube-sim writes)

class Kube:
    PATHS = {
        "Namespace": ("/api/v1", "namespaces", False),
        "Secret": ("/api/v1", "secrets", True),
        "ConfigMap": ("/api/v1", "configmaps", True),
        "ServiceAccount": ("/api/v1", "serviceaccounts", True),
        "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims", True),
        "Service": ("/api/v1", "services", True),
        "Pod": ("/api/v1", "pods", True),
        "Event": ("/api/v1", "events", True),
        "Deployment": ("/apis/apps/v1", "deployments", True),
        "Job": ("/apis/batch/v1", "jobs", True),
        "StorageClass": ("/apis/storage.k8s.io/v1", "storageclasses", False),
        "QuayRegistry": ("/apis/quay.redhat.com/v1", "quayregistries", True),
    }

    def __init__(self, kubeconfig):
        with open(kubeconfig) as f:
            cfg = yaml.safe_load(f)
        cluster = cfg["clusters"][0]["cluster"]
        self.server = cluster["server"].rstrip("/")
        self.ctx = None
        if self.server.startswith("https://"):
            self.ctx = ssl.create_default_context(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        self.token = (cfg["users"][0].get("user") or {}).get("token")
        # One kept-alive connection, as client-go keeps one: a TLS handshake per request was a
        # tenth of an end-to-end case's CPU (the harness polls every 0.25 s).
        url = urllib.parse.urlsplit(self.server)
        self.base = url.path
        self.connect = (lambda: http.client.HTTPSConnection(url.hostname, url.port, context=self.ctx, timeout=20)) \
            if self.ctx else (lambda: http.client.HTTPConnection(url.hostname, url.port, timeout=20))
        self.conn = None

    def path(self, kind, name=None, ns=NS):
        prefix, plural, namespaced = self.PATHS[kind]
        p = prefix + (f"/namespaces/{ns}" if namespaced else "") + "/" + plural
        return p + ("/" + name if name else "")

    def request(self, method, path, body=None, content_type="application/json", missing_ok=False):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        last = None
        for attempt in range(5):
            try:
                if self.conn is None:
                    self.conn = self.connect()
                self.conn.request(method, self.base + path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.will_close:
                    self.conn.close()
                    self.conn = None
            except (http.client.HTTPException, OSError) as e:
                # A dropped keep-alive connection (the server restarted, or closed it idle) is
                # opened again; anything else is retried the same way as before.
                if self.conn is not None:
                    self.conn.close()
                    self.conn = None
                last = f"{method} {path}: {e!r}"
                if attempt > 0 or not isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError,
                                                     BrokenPipeError, http.client.CannotSendRequest)):
                    time.sleep(0.5)
                continue
            if 200 <= resp.status < 300:
                return json.loads(raw) if raw else None
            text = raw.decode(errors="replace")
            if resp.status == 404 and missing_ok:
                return None
            if resp.status in (429, 500, 503, 504):
                last = f"{method} {path}: HTTP {resp.status} {text}"
                time.sleep(0.5)
                continue
            raise Failure(f"{method} {path}: HTTP {resp.status} {text}")
        raise Failure(last)

    def get(self, kind, name, ns=NS):
        return self.request("GET", self.path(kind, name, ns), missing_ok=True)

    def list(self, kind, ns=NS, selector=None):
        p = self.path(kind, None, ns)
        if selector:
            p += "?labelSelector=" + urllib.request.quote(selector)
        return (self.request("GET", p) or {}).get("items", [])

    def create(self, obj):
        kind = obj["kind"]
        ns = obj.get("metadata", {}).get("namespace", NS)
        return self.request("POST", self.path(kind, None, ns), obj)

    def merge_patch(self, kind, name, body, ns=NS):
        return self.request("PATCH", self.path(kind, name, ns), body, "application/merge-patch+json")

    def delete(self, kind, name, ns=NS):
        return self.request("DELETE", self.path(kind, name, ns), missing_ok=True)


def cond(obj, ctype):
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def upgrade_status(reg):
    return ((reg or {}).get("status") or {}).get("postgresUpgrade") or {}


def container(deploy):
    return deploy["spec"]["template"]["spec"]["containers"][0]


def claim_of(deploy):
    for v in deploy["spec"]["template"]["spec"].get("volumes") or []:
        if "persistentVolumeClaim" in v:
            return v["persistentVolumeClaim"]["claimName"]
    return None


# ---------------------------------------------------------------------------------------------

SANITIZER_REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|: runtime error: ")


def timer_spin(event_log, seconds):
    """A complaint when the event log holds more timer events than the controller can arm in
    `seconds` without spinning: one requeue per registry at a time, each at least a back-off of
    1 s or a re-check away. A requeue armed in the past fires at once and is armed again (a bug
    found in CI, 215k events in a minute); the bound is far above any honest run."""
    if not event_log or not os.path.exists(event_log):
        return ""
    timers = 0
    with open(event_log, errors="replace") as f:
        for line in f:
            timers += '"type":"timer_fired"' in line
    limit = int(10 * seconds) + 100
    if timers <= limit:
        return ""
    return f"the controller spun on its timers: {timers} timer events in {seconds:.0f} s (at most {limit} expected)"


def sanitizer_reports(folder):
    """The ASan/LSan/UBSan reports in the logs of the processes a case started (the *.log files
    directly in its folder: kube-sim and the controllers; pods' logs are below state/ and come
    from uninstrumented programs). Empty when there are none."""
    out = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if not name.endswith(".log") or not os.path.isfile(path):
            continue
        lines = open(path, errors="replace").read().splitlines()
        for i, line in enumerate(lines):
            if SANITIZER_REPORT.search(line):
                out.append(f"---- sanitizer report in {name}:\n" + "\n".join(lines[i:i + 40]))
                break
    return "\n".join(out)


class Case:
    def __init__(self, args, name, spec):
        self.args = args
        self.name = name
        self.spec = spec
        self.build = os.path.abspath(args.build)
        self.source = os.path.abspath(args.source)
        self.kube_sim_bin = args.kube_sim or os.path.join(self.build, "kube-sim", "kube-sim")
        self.controller_bin = args.controller or os.path.join(self.build, "quay-pg-upgrader")
        self.tmp = tempfile.mkdtemp(prefix=f"qpu-e2e-{name}-")
        os.chmod(self.tmp, 0o755)  # the scratch server runs as qpu-pg and must traverse it
        self.sim = None
        self.ctl = None
        self.kube = None
        self.scratch = None
        self.pods_root = None
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.timeout
        self.phases = []            # (seconds, attempt, phase) as observed
        self.pvcs_seen = set()
        self.jobs_seen = set()
        self.attempt_marks = {}     # attempt -> index of its first claim-hook digest
        self.db_pods_before = set()
        self.manifests = []
        self.passwords = {}
        self.db_image = spec.get("db_image", PG10_IMAGE)
        self.from_major = spec.get("from")
        self.progress_seen = []     # (seconds, phase, status.postgresUpgrade.progress) as it changed
        self.metrics_port = None    # set: observe() also reads the progress gauges from /metrics
        self.metrics_progress = []  # (phase, qpu_upgrade_progress_ratio sample lines)

    # ----- processes -----------------------------------------------------------------------
    def start_kube_sim(self):
        if not os.access(self.kube_sim_bin, os.X_OK):
            raise Failure(f"kube-sim not built: {self.kube_sim_bin}")
        self.kubeconfig = os.path.join(self.tmp, "kubeconfig")
        self.sim_log = os.path.join(self.tmp, "kube-sim.log")
        out = open(self.sim_log, "w")
        self.sim = subprocess.Popen(
            [self.kube_sim_bin, "serve", "--listen", "127.0.0.1:0", "--tls", "--kubeconfig-out", self.kubeconfig,
             "--state-dir", os.path.join(self.tmp, "state")] + self.claim_hook_args()
            + list(self.spec.get("kube_sim_args", [])),
            stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp, preexec_fn=die_with_parent)
        for _ in range(300):
            if self.sim.poll() is not None:
                raise Failure(f"kube-sim exited at start (status {self.sim.returncode}):\n{self.tail(self.sim_log)}")
            if os.path.exists(self.kubeconfig) and "listening on" in open(self.sim_log).read():
                break
            time.sleep(0.05)
        else:
            raise Failure("kube-sim did not print 'listening on' within 15 s")
        self.kube = Kube(self.kubeconfig)
        log(f"kube-sim up: {open(self.sim_log).read().strip().splitlines()[0]}")

    # ----- the old claim at the moments its server stopped and started --------------------------
    def claim_hook_args(self):
        """kube-sim runs these, waiting for them, when a pod's last process is gone and before a
        pod's first process starts: the old claim is digested at exactly those moments (see
        claim_hook below), with the whole simulated cluster held still meanwhile."""
        self.hook_dir = os.path.join(self.tmp, "claim-hooks")
        os.makedirs(self.hook_dir, exist_ok=True)
        hook = os.path.join(os.path.dirname(os.path.abspath(__file__)), "claim_hook.py")
        return [
            "--pod-exit-hook", f"{sys.executable} {hook} exit {self.hook_dir}",
            "--pod-start-hook", f"{sys.executable} {hook} start {self.hook_dir}"]

    def arm_claim_hook(self):
        """From now on the hooks digest the old claim (its host folder, read by the hook)."""
        with open(os.path.join(self.hook_dir, "old-claim-dir"), "w") as f:
            f.write(self.claim_dir(OLD_CLAIM))

    def claim_digests(self):
        """[(kind, pod, digest)] in the order kube-sim ran the hooks."""
        out = []
        for n in sorted(f for f in os.listdir(self.hook_dir) if f.endswith(".json")):
            with open(os.path.join(self.hook_dir, n)) as fh:
                d = json.load(fh)
            out.append((d["kind"], d["pod"], d["digest"]))
        return out

    def start_controller(self, extra=()):
        if not self.attempt_marks and getattr(self, "hook_dir", None):
            self.mark_attempt(1)
        argv, env = self.controller_argv(extra)
        log("controller: " + " ".join(argv[1:]))
        self.ctl = subprocess.Popen(argv, stdout=open(self.ctl_log, "a"), stderr=subprocess.STDOUT, cwd=self.tmp,
                                    preexec_fn=die_with_parent, env=env)

    def controller_argv(self, extra=()):
        """The controller's command line and environment for this case (`run` against kube-sim)."""
        if not os.access(self.controller_bin, os.X_OK):
            raise Failure(f"controller not built: {self.controller_bin}")
        self.event_log = os.path.join(self.tmp, "events.jsonl")
        self.ctl_log = os.path.join(self.tmp, "controller.log")
        # Every namespace when the case needs the Quay operator's Deployment in its own.
        scope = [] if self.spec.get("all_namespaces") else ["--namespace", NS]
        # The target as a deployment gives it (deploy/: RELATED_IMAGE_COMPONENT_POSTGRES in the
        # controller's env, not explicit), or as --target-image.
        env = dict(os.environ)
        if self.spec.get("target_from_env"):
            env["RELATED_IMAGE_COMPONENT_POSTGRES"] = self.spec["target"]
            target = []
        else:
            target = ["--target-image", self.spec["target"]]
        argv = [self.controller_bin, "run", "--kubeconfig", self.kubeconfig, *scope,
                "--event-log", self.event_log, *target,
                "--requeue-seconds", "2", "--no-fsync",
                "--deadlines", self.spec.get("deadlines", HAPPY_DEADLINES)]
        if self.spec.get("target_version"):
            argv += ["--target-version", str(self.spec["target_version"])]
        if self.spec.get("upgrade_image"):
            argv += ["--upgrade-image", UPGRADE_IMAGE, "--upgrade-image-from", "13"]
        argv += list(self.spec.get("controller_args", [])) + list(extra)
        return argv, env

    def stop(self, proc, name, grace):
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"{name} ignored SIGTERM for {grace} s: SIGKILL")
            proc.kill()
            proc.wait()

    def cleanup(self, passed):
        """Stops everything and removes the folder of a passed case. Raises Failure (after the
        cleanup, keeping the folder) when a sanitizer reported in a process we started: in an
        ASan/UBSan build a leak or an error report at exit does not change what the test saw."""
        self.stop(self.ctl, "controller", 15)
        self.stop_scratch()
        self.stop(self.sim, "kube-sim", 60)
        reports = sanitizer_reports(self.tmp)
        spin = timer_spin(getattr(self, "event_log", None), time.monotonic() - self.t0)
        if spin:
            reports = (reports + "\n" + spin).strip()
        if reports:
            print(reports, flush=True)
            passed = False
        # kube-sim unmounts its claims on SIGTERM; anything still mounted below our folder (a
        # killed kube-sim) is detached here so the folder can go.
        leftovers = [mp for mp in self.mount_points() if mp.startswith(self.tmp + "/")]
        for mp in sorted(leftovers, key=len, reverse=True):
            log(f"cleanup: {mp} was still mounted; umount -l")
            subprocess.run(["umount", "-l", mp], check=False)
        if passed and not os.environ.get("QPU_E2E_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            # The images are sparse, but there is no reason to keep them.
            for dirpath, _, files in os.walk(self.tmp):
                for f in files:
                    if f == "disk.img" and not os.environ.get("QPU_E2E_KEEP"):
                        os.remove(os.path.join(dirpath, f))
            log(f"kept {self.tmp} (logs, event log, kube-sim state)")
        if reports:
            raise Failure("a sanitizer reported in a process of this case, or the controller spun on its timers (above)")

    @staticmethod
    def mount_points(pid="self"):
        out = []
        try:
            with open(f"/proc/{pid}/mountinfo") as f:
                for line in f:
                    mp = line.split()[4]
                    out.append(mp.encode().decode("unicode_escape"))
        except OSError:
            pass
        return out

    @staticmethod
    def tail(path, n=40):
        try:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return f"({path}: {e})"

    # ----- waiting ---------------------------------------------------------------------------
    def remaining(self):
        return self.deadline - time.monotonic()

    def wait_for(self, what, pred, timeout, tick=0.25):
        end = min(time.monotonic() + timeout, self.deadline)
        while True:
            self.observe()
            got = pred()
            if got:
                return got
            if time.monotonic() > end:
                raise Failure(f"timed out after {timeout} s waiting for {what}")
            time.sleep(tick)

    def observe(self):
        """Called on every tick: checks the processes, records phases, claims and Jobs, and
        takes the old claim's snapshot the moment its server is gone."""
        if self.sim and self.sim.poll() is not None:
            raise Failure(f"kube-sim died (status {self.sim.returncode}):\n{self.tail(self.sim_log)}")
        # A case that arms the crash hook (tests/reliability) checks its controller's exits itself,
        # before this: a death between its poll and this one is its to record, not a failure.
        if self.ctl and not getattr(self, "expect_crash", False) and self.ctl.poll() is not None:
            raise Failure(f"the controller exited (status {self.ctl.returncode}):\n{self.tail(self.ctl_log)}")
        for p in self.kube.list("PersistentVolumeClaim"):
            self.pvcs_seen.add(p["metadata"]["name"])
        for j in self.kube.list("Job"):
            self.jobs_seen.add(j["metadata"]["name"])
        if not self.ctl:
            return
        reg = self.kube.get("QuayRegistry", REGISTRY)
        st = upgrade_status(reg)
        phase, attempt = st.get("phase"), st.get("attempt")
        if phase and (not self.phases or self.phases[-1][1:] != (attempt, phase)):
            self.phases.append((round(time.monotonic() - self.t0, 1), attempt, phase))
            log(f"phase {phase} (attempt {attempt})")
        prog = st.get("progress")
        if prog and (not self.progress_seen or self.progress_seen[-1][2] != prog):
            self.progress_seen.append((round(time.monotonic() - self.t0, 1), phase, prog))
            log(f"progress in {phase}: {prog.get('text')}")
        if self.metrics_port and phase in ("backing_up", "upgrading"):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
                gauges = [ln for ln in r.read().decode().splitlines() if ln.startswith("qpu_upgrade_progress_ratio{")]
            if gauges:
                self.metrics_progress.append((phase, gauges))

    # ----- host paths of claims and pod logs ---------------------------------------------------
    def claim_dir(self, pvc_name):
        pvc = self.kube.get("PersistentVolumeClaim", pvc_name)
        if not pvc:
            raise Failure(f"claim {pvc_name} does not exist")
        uid = pvc["metadata"]["uid"]
        # Loop-mounted: find the mount point in kube-sim's mount table and read it through its root.
        for mp in self.mount_points(self.sim.pid):
            if mp.endswith(f"/{uid}/mnt"):
                # Read it where we see it mounted, else through kube-sim's own root.
                return mp if mp in self.mount_points() else f"/proc/{self.sim.pid}/root{mp}"
        # Directory mode (no loop devices): <work>/volumes/<uid>/mnt below our folder.
        for dirpath, dirnames, _ in os.walk(self.tmp):
            if os.path.basename(dirpath) == uid and "mnt" in dirnames:
                return os.path.join(dirpath, "mnt")
        raise Failure(f"cannot find the host folder of claim {pvc_name} (uid {uid}) under {self.tmp}")

    def find_pods_root(self):
        if self.pods_root:
            return self.pods_root
        for dirpath, dirnames, _ in os.walk(self.tmp):
            if os.path.basename(dirpath) == "pods" and any(d.startswith(NS + "_") for d in dirnames):
                self.pods_root = dirpath
                return dirpath
        raise Failure(f"no pod folders (pods/{NS}_<pod>_<uid>) under {self.tmp}: where does kube-sim keep pod logs?")

    def pod_logs(self, prefix, container_name):
        """{pod name: log text} for every pod (running or gone) whose name starts with prefix."""
        root = self.find_pods_root()
        out = {}
        for d in sorted(os.listdir(root)):
            parts = d.split("_")
            if len(parts) != 3 or parts[0] != NS or not parts[1].startswith(prefix):
                continue
            f = os.path.join(root, d, container_name + ".log")
            if os.path.exists(f):
                with open(f, errors="replace") as fh:
                    out[parts[1]] = out.get(parts[1], "") + fh.read()
        return out

    def committed(self, prefix=APP + "-", container_name="quay-app"):
        """{pod name: [ids]} of every 'committed <id>' line the app stand-in printed."""
        return {pod: [int(m) for m in re.findall(r"^committed (\d+)\s*$", text, re.M)]
                for pod, text in self.pod_logs(prefix, container_name).items()}

    # ----- scenario ------------------------------------------------------------------------
    def scenario_objects(self, name):
        """Every document of kube-sim/scenarios/NAME, in file order."""
        d = os.path.join(self.source, "kube-sim", "scenarios", name)
        objs = []
        for f in sorted(os.listdir(d)):
            if f.endswith((".yaml", ".yml")):
                with open(os.path.join(d, f)) as fh:
                    objs += [o for o in yaml.safe_load_all(fh) if o]
        return objs

    def load_scenario(self):
        objs = self.scenario_objects("quay-pg10")
        for o in objs:
            kind, name = o["kind"], o["metadata"]["name"]
            if kind == "Secret":
                self.passwords = dict(o.get("stringData") or {})
            if kind == "Deployment" and name == DB:
                c = o["spec"]["template"]["spec"]["containers"][0]
                c["image"] = self.db_image
                c["env"] += self.spec.get("db_env", [])
            if kind == "PersistentVolumeClaim" and name == OLD_CLAIM and self.spec.get("old_claim_size"):
                o["spec"]["resources"]["requests"]["storage"] = self.spec["old_claim_size"]
            if kind == "PersistentVolumeClaim" and name == OLD_CLAIM and self.spec.get("old_claim_class"):
                o["spec"]["storageClassName"] = self.spec["old_claim_class"]
            if kind == "Job" and name == "registry-quay-seed":
                for e in o["spec"]["template"]["spec"]["containers"][0]["env"]:
                    if e["name"] == "ROWS":
                        e["value"] = str(ROWS)
        if self.spec.get("mirror"):  # a second app Deployment, as Quay's repository mirror workers
            mirror = copy.deepcopy(next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == APP))
            mirror["metadata"]["name"] = MIRROR
            for labels in (mirror["metadata"]["labels"], mirror["spec"]["selector"]["matchLabels"],
                           mirror["spec"]["template"]["metadata"]["labels"]):
                labels["quay-component"] = "quay-mirror"
            objs.append(mirror)
        objs += self.spec.get("extra_objects", [])
        return objs

    def create_scenario(self):
        if self.spec.get("old_claim_class") == "basic":
            # Provisioned here like a CSI driver without the CLONE_VOLUME capability.
            self.kube.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "basic"},
                              "provisioner": "kube-sim.io/basic", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
        for o in self.load_scenario():
            self.kube.create(o)

    def set_up(self):
        self.start_kube_sim()
        self.create_scenario()
        log(f"scenario created (database image {self.db_image}, ROWS={ROWS})")
        self.wait_db_ready("the database Deployment to be ready", 120)
        self.wait_for("the seed Job to finish", lambda: self.job_done("registry-quay-seed"), 120)
        if self.job_done("registry-quay-seed") != "Complete":
            raise Failure("the seed Job failed:\n" + json.dumps(self.kube.get("Job", "registry-quay-seed").get("status"), indent=1))
        self.wait_for("the app stand-in to commit rows",
                      lambda: sum(len(v) for v in self.committed().values()) >= 10, 60)
        self.db_ip = self.kube.get("Service", DB)["spec"]["clusterIP"]
        self.orig_db = self.kube.get("Deployment", DB)
        self.orig_app = self.kube.get("Deployment", APP)
        self.db_pods_before = {p["metadata"]["name"] for p in self.kube.list("Pod", selector="quay-component=postgres")}
        self.app_pods_before = {p["metadata"]["name"] for p in self.kube.list("Pod", selector="quay-component=quay-app")}
        major = self.server_major()
        if self.from_major is not None and major != self.from_major:
            raise Failure(f"the scenario's database runs PostgreSQL {major}, expected {self.from_major}")
        log(f"database ready on PostgreSQL {major} at {self.db_ip}, seeded, app committing")
        if self.spec.get("truth", True):
            self.add_cluster_extras()
            self.take_truth()
        self.arm_claim_hook()

    def wait_db_ready(self, what, timeout):
        def ready():
            d = self.kube.get("Deployment", DB)
            for p in self.kube.list("Pod", selector="quay-component=postgres"):
                st = p.get("status") or {}
                for cs in st.get("containerStatuses") or []:
                    w = (cs.get("state") or {}).get("waiting") or {}
                    if w.get("reason") in ("ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"):
                        raise Failure(f"database pod {p['metadata']['name']} cannot start: {w.get('reason')}: {w.get('message')}")
                if st.get("reason") == "ErrImagePull":
                    raise Failure(f"database pod {p['metadata']['name']} cannot start: ErrImagePull: {st.get('message')}")
            return d and (d.get("status") or {}).get("readyReplicas", 0) >= 1
        try:
            self.wait_for(what, ready, timeout)
        except Failure as e:
            if "cannot start" in str(e):
                raise
            pods = self.kube.list("Pod", selector="quay-component=postgres")
            raise Failure(f"{what}: not ready; pods: " + json.dumps([p.get("status") for p in pods], indent=1)[:3000])

    def job_done(self, name):
        j = self.kube.get("Job", name)
        for c in ((j or {}).get("status") or {}).get("conditions") or []:
            if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
                return c["type"]
        return None

    # ----- SQL -------------------------------------------------------------------------------
    def psql(self, sql, admin=False, host=None, db="quay", check=True, timeout=30):
        user = "postgres" if admin else self.passwords.get("database-username", "quay")
        pw = self.passwords.get("database-root-password" if admin else "database-password", "")
        env = dict(os.environ, PGPASSWORD=pw, PGCONNECT_TIMEOUT="5")
        r = subprocess.run([os.path.join(PG15, "psql"), "-X", "-qtA", "-v", "ON_ERROR_STOP=1",
                            "-h", host or self.db_ip, "-U", user, "-d", db, "-c", sql],
                           env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Failure(f"psql {sql!r}: {r.stderr.strip()}")
        return r.stdout.strip()

    def server_major(self):
        return int(self.psql("SHOW server_version_num")) // 10000

    # The harness's own truth: every table of every database counted and hashed by this SQL, not
    # the product's. Settings pin every type's text the same on 10 and 15 (extra_float_digits 0
    # keeps 10's float output on 12+; dates, intervals, bytea and zones fixed).
    TRUTH_SETTINGS = ("SET extra_float_digits = 0; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                      "SET IntervalStyle = 'postgres'; SET bytea_output = 'hex'; ")

    def table_truth(self, logentry_upto):
        """{(database, schema.table): (rows, md5)} of every table with storage in every database
        (logentry only up to id `logentry_upto`: the app keeps appending to it)."""
        out = {}
        dbs = self.psql("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1",
                        admin=True, db="postgres").split()
        for d in dbs:
            tables = self.psql("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
                               "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                               "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1",
                               admin=True, db=d).split()
            if not tables:
                continue
            # One statement per database (a psql and a backend each cost more than the query).
            arms = []
            for i, t in enumerate(tables):
                where = f" WHERE id <= {int(logentry_upto)}" if t.replace('"', "") == "public.logentry" else ""
                arms.append(f"SELECT {i} AS i, count(*) || ' ' || coalesce(md5(string_agg(md5(r::text), '' "
                            f"ORDER BY md5(r::text))), '-') AS truth FROM {t} r{where}")
            got = self.psql(self.TRUTH_SETTINGS + "SELECT truth FROM (" + " UNION ALL ".join(arms) + ") s ORDER BY i",
                            admin=True, db=d).splitlines()
            if len(got) != len(tables):
                raise Failure(f"table truth of {d}: {len(got)} lines for {len(tables)} tables")
            for t, line in zip(tables, got):
                rows, digest = line.split()
                out[(d, t.replace('"', ""))] = (int(rows), digest)
        return out

    # A cluster is more than Quay's tables (issue 19, item 3): roles with attributes, a password,
    # memberships and settings; a database in another encoding with its own owner, grants,
    # connection limit, comment, settings and a table; settings on quay's own database.
    CLUSTER_EXTRAS = """
CREATE ROLE reporting NOLOGIN;
CREATE ROLE auditor LOGIN PASSWORD 'audit-pw' CONNECTION LIMIT 3 VALID UNTIL '2030-01-01 00:00:00+00' IN ROLE reporting;
CREATE DATABASE audit OWNER auditor ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 CONNECTION LIMIT 7;
REVOKE CONNECT, TEMPORARY ON DATABASE audit FROM PUBLIC;
GRANT CONNECT ON DATABASE audit TO reporting;
GRANT CONNECT ON DATABASE quay TO reporting;
ALTER DATABASE audit SET work_mem = '8MB';
COMMENT ON DATABASE audit IS 'audit trail, LATIN1';
ALTER ROLE auditor SET statement_timeout = '5s';
ALTER ROLE auditor IN DATABASE audit SET lock_timeout = '2s';
ALTER DATABASE quay SET default_text_search_config = 'pg_catalog.simple';
"""
    # The harness's own reading of them: every database, role, membership and setting, as a person
    # would compare two clusters. The passwords of the roles the image sets from its Secret (the
    # app user, postgres) are not compared: an image may hash them anew at start.
    CLUSTER_TRUTH = """
SET TimeZone = 'UTC';
SELECT 'database', d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
  d.datconnlimit, array_to_string(ARRAY(SELECT a::text FROM unnest(coalesce(d.datacl, acldefault('d', d.datdba))) a
  ORDER BY 1), ','), shobj_description(d.oid, 'pg_database')
FROM pg_database d WHERE d.datallowconn AND NOT d.datistemplate
UNION ALL
SELECT 'setting', coalesce(r.rolname, '-'), coalesce(db.datname, '-'),
  array_to_string(ARRAY(SELECT unnest(s.setconfig) ORDER BY 1), ','), '', '', 0, '', ''
FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database db ON db.oid = s.setdatabase
UNION ALL
SELECT 'role', rolname, concat_ws(' ', rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication),
  rolvaliduntil::text, CASE WHEN rolname IN ('postgres', '{app}') THEN '' ELSE rolpassword END, '', rolconnlimit, '', ''
FROM pg_authid WHERE rolname !~ '^pg_'
UNION ALL
SELECT 'member', m.rolname, g.rolname, a.admin_option::text, '', '', 0, '', ''
FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.roleid
ORDER BY 1, 2, 3
"""

    def add_cluster_extras(self):
        self.has_extras = True
        for statement in filter(None, (x.strip() for x in self.CLUSTER_EXTRAS.split(";\n"))):
            self.psql(statement, admin=True, db="postgres")  # one by one: CREATE DATABASE runs alone
        self.psql("CREATE TABLE entries (id int PRIMARY KEY, what text); "
                  "INSERT INTO entries SELECT g, 'entry ' || g FROM generate_series(1, 250) g; "
                  "GRANT SELECT ON entries TO reporting", admin=True, db="audit")

    def cluster_truth(self):
        app = self.passwords.get("database-username", "quay")
        return self.psql(self.CLUSTER_TRUTH.replace("{app}", app.replace("'", "''")), admin=True, db="postgres").splitlines()

    def take_truth(self):
        """Before the controller starts: the truth, and the seeded counts checked against the
        seed's own arithmetic (ROWS per main table, ROWS / 10 users)."""
        self.logentry_upto = max(self.logentry_ids() or {0})
        self.truth = self.table_truth(self.logentry_upto)
        self.catalog_truth = self.cluster_truth()
        counts = {t: n for (d, t), (n, _) in self.truth.items() if d == "quay"}
        seeded = {"public.repository": ROWS, "public.imagestorage": ROWS, "public.manifest": ROWS,
                  "public.manifestblob": ROWS, "public.tag": ROWS, "public.user": max(1, ROWS // 10)}
        for t, n in seeded.items():
            self.check(counts.get(t) == n, f"seeded: {t} has {n} rows ({counts.get(t)}, the harness's count)")
        log(f"ok: the harness's truth: {len(self.truth)} tables in "
            f"{len({d for d, _ in self.truth})} databases counted and hashed (logentry up to id {self.logentry_upto})")

    def check_truth(self, when):
        """Every table of every database as the harness saw it before the controller started:
        same tables, rows and hashes (logentry: its rows up to the id seen then)."""
        if not getattr(self, "truth", None):
            raise Failure("no truth was taken before the controller started")
        now = self.table_truth(self.logentry_upto)
        skip = set(self.spec.get("mutated_tables", []))
        before = {k: v for k, v in self.truth.items() if k[1] not in skip}
        after = {k: v for k, v in now.items() if k[1] not in skip}
        missing = sorted(set(before) - set(after))
        extra = sorted(set(after) - set(before))
        differ = sorted(k for k in set(before) & set(after) if before[k] != after[k])
        self.check(not missing and not extra and not differ,
                   f"{when}: every table of every database has the rows and hash the harness measured before "
                   f"({len(before)} tables)" + (f"; MISSING {missing}" if missing else "") + (f"; NEW {extra}" if extra else "")
                   + "".join(f"; {d}/{t}: {before[(d, t)]} -> {after[(d, t)]}" for d, t in differ[:10]))
        catalog = self.cluster_truth()
        lost = [line for line in self.catalog_truth if line not in catalog]
        new = [line for line in catalog if line not in self.catalog_truth]
        self.check(not lost and not new, f"{when}: every database (owner, encoding, locale, limit, grants, comment), "
                                         f"setting, role (attributes, passwords) and membership as before "
                                         f"({len(self.catalog_truth)} lines)"
                   + (f"; LOST {lost[:6]}" if lost else "") + (f"; NEW {new[:6]}" if new else ""))

    def check_manifest_truth(self, manifest):
        """The product's manifest checked against the harness's truth: the same tables of database
        quay, and the same row counts (logentry: at least the rows the truth holds)."""
        truth = {t: n for (d, t), (n, _) in self.truth.items() if d == "quay"}
        named = {t.replace('"', ''): rows for t, rows in manifest.items()}
        self.check(set(named) == set(truth), f"the manifest lists exactly the harness's tables of quay "
                                             f"(manifest only: {sorted(set(named) - set(truth))}, "
                                             f"truth only: {sorted(set(truth) - set(named))})")
        for t, n in sorted(truth.items()):
            got = named.get(t)
            ok = got is not None and (got >= n if t == "public.logentry" else got == n)
            self.check(ok, f"manifest {t}: {got} rows, the harness counted {n}")

    def logentry_ids(self):
        return {int(x) for x in self.psql("SELECT id FROM logentry").split()}

    # ----- controller outcome ----------------------------------------------------------------
    def faults(self, body):
        """kube-sim's fault knobs (POST /_sim/faults, kube-sim/faults.hpp)."""
        req = urllib.request.Request(self.kube.server + "/_sim/faults", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.kube.ctx, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def registry(self):
        return self.kube.get("QuayRegistry", REGISTRY)

    def wait_terminal(self, attempt, timeout):
        def done():
            reg = self.registry()
            st = upgrade_status(reg)
            if st.get("attempt") is not None and int(st["attempt"]) != attempt:
                return None
            if norm(st.get("phase")) in TERMINAL:
                return reg
            c = cond(reg, "PostgresUpgraded")
            if not st and c and c.get("status") in ("True", "False"):
                return reg  # no summary block (up to date / refused may write none)
            return None
        try:
            return self.wait_for(f"attempt {attempt} to end", done, timeout)
        except Failure:
            self.diagnose()
            raise

    def report_conditions(self, reg, label):
        for t in ("PostgresUpgraded", "PostgresUpgradeProgressing"):
            c = cond(reg, t)
            if c:
                log(f"{label}: condition {t}: status={c.get('status')} reason={c.get('reason')} message={c.get('message')!r}")
        st = upgrade_status(reg)
        if st:
            log(f"{label}: status.postgresUpgrade = {json.dumps(st, sort_keys=True)}")
        log(f"{label}: phases observed: {self.phases}")

    def diagnose(self):
        """Prints what a reader of a failed case needs: conditions, the plan, the logs' tails."""
        if getattr(self, "diagnosed", False) or not self.kube:
            return
        self.diagnosed = True
        try:
            reg = self.registry()
            self.report_conditions(reg, "diagnosis")
        except Exception as e:  # noqa: BLE001
            log(f"diagnosis: cannot read the registry: {e}")
        if getattr(self, "event_log", None) and os.path.exists(self.event_log):
            r = subprocess.run([self.controller_bin, "plan", self.event_log], capture_output=True, text=True, timeout=60)
            print("---- quay-pg-upgrader plan events.jsonl\n" + (r.stdout + r.stderr)[-6000:], flush=True)
        if getattr(self, "ctl_log", None):
            print("---- controller log (tail)\n" + self.tail(self.ctl_log, 60), flush=True)
        print("---- kube-sim log (tail)\n" + self.tail(self.sim_log, 30), flush=True)
        try:
            for j in self.kube.list("Job"):
                n = j["metadata"]["name"]
                if n == "registry-quay-seed":
                    continue
                print(f"---- Job {n} status: {json.dumps(j.get('status'))}", flush=True)
                for pod, text in self.pod_logs(n + "-", j["spec"]["template"]["spec"]["containers"][0]["name"]).items():
                    print(f"---- pod {pod} log (tail)\n" + "".join(text.splitlines(True)[-25:]), flush=True)
        except Exception as e:  # noqa: BLE001
            log(f"diagnosis: {e}")

    # ----- checks --------------------------------------------------------------------------
    def check(self, ok, what):
        if not ok:
            raise Failure(what)
        log(f"ok: {what}")

    def check_succeeded(self, reg, attempt):
        c = cond(reg, "PostgresUpgraded")
        st = upgrade_status(reg)
        self.report_conditions(reg, "outcome")
        if not (c and c.get("status") == "True" and c.get("reason") == "Succeeded"):
            self.diagnose()
            raise Failure(f"PostgresUpgraded is not True/Succeeded: {c}")
        log("ok: PostgresUpgraded True, reason Succeeded (the controller verified the data against the backup manifest)")
        self.check(norm(st.get("phase")) == "succeeded", f"status.postgresUpgrade.phase is succeeded ({st.get('phase')})")
        self.check(int(st.get("attempt", 0)) == attempt, f"attempt {attempt} ({st.get('attempt')})")
        self.check(str(st.get("from")) == str(self.from_major), f"status from = {self.from_major} ({st.get('from')})")
        self.check(str(st.get("to")) == str(self.spec["to"]), f"status to = {self.spec['to']} ({st.get('to')})")
        self.check(norm(st.get("method")) == norm(self.spec["method"]), f"method {self.spec['method']} ({st.get('method')})")
        new_claim = f"{OLD_CLAIM}-pg{self.spec['to']}"
        backup_claim = f"{OLD_CLAIM}-backup-pg{self.from_major}"
        self.check(st.get("newClaim") == new_claim, f"newClaim {new_claim} ({st.get('newClaim')})")
        self.check(st.get("previousClaim") == OLD_CLAIM, f"previousClaim {OLD_CLAIM} ({st.get('previousClaim')})")
        self.check(st.get("backupClaim") == backup_claim, f"backupClaim {backup_claim} ({st.get('backupClaim')})")
        clone = self.spec.get("clone")
        # On cloning storage the backup is a clone made at the stop and its archive Job runs after
        # the app is back; otherwise the backup Job ran inside the downtime.
        backup_job = f"registry-pg{self.from_major}-{'archive' if clone else 'backup'}-{attempt}"
        for j in (backup_job, f"registry-pg{self.spec['to']}-upgrade-{attempt}"):
            self.check(self.job_done(j) == "Complete", f"Job {j} Complete")
        if clone:
            self.check_clones(reg, attempt, new_claim, backup_claim)
        else:
            self.check_analyzed_after_resume(reg, attempt)

        db = self.kube.get("Deployment", DB)
        self.check(container(db)["image"] == self.spec["target"], f"database Deployment runs {self.spec['target']} ({container(db)['image']})")
        self.check(claim_of(db) == new_claim, f"database Deployment mounts {new_claim} ({claim_of(db)})")
        self.check((db["spec"].get("replicas") == 1 and (db.get("status") or {}).get("readyReplicas") == 1),
                   "database Deployment back at 1 ready replica")
        major = self.server_major()
        self.check(major == self.spec["to"], f"the server through the Service is PostgreSQL {self.spec['to']} ({major})")
        for name in (OLD_CLAIM, new_claim, backup_claim):
            p = self.kube.get("PersistentVolumeClaim", name)
            self.check(p is not None and (p.get("status") or {}).get("phase") == "Bound"
                       and "deletionTimestamp" not in p["metadata"], f"claim {name} kept and Bound")

        # The app came back (a new pod) and writes to the new database.
        self.wait_for("the app Deployment to be ready again",
                      lambda: (self.kube.get("Deployment", APP).get("status") or {}).get("readyReplicas") == 1, 60)
        app = self.kube.get("Deployment", APP)
        self.check(app["spec"].get("replicas") == self.orig_app["spec"].get("replicas"), "app replicas restored")
        current = {p["metadata"]["name"] for p in self.kube.list("Pod", selector="quay-component=quay-app")
                   if "deletionTimestamp" not in p["metadata"]}
        self.check(current and not (current & self.app_pods_before), f"the app runs in new pod(s) {sorted(current)}")

        def new_lines():
            c = self.committed()
            return all(len(c.get(p, [])) >= 3 for p in current)
        self.wait_for("the app to commit rows on the new database", new_lines, 60)
        committed = self.committed()
        post = sorted(i for p in current for i in committed.get(p, []))
        pre = sorted(i for p, ids in committed.items() if p not in current for i in ids)
        self.check(pre, f"the app committed {len(pre)} rows before the upgrade")
        before_logs = self.pod_logs(APP + "-", "quay-app")
        for p in self.app_pods_before:
            text = before_logs.get(p, "")
            self.check("quay-app: stopped" in text, f"the original app pod {p} wrote until it was stopped (quiesce)")
        self.check(min(post) > max(pre), f"new ids continue the sequence ({min(post)} > {max(pre)})")
        failed_lines = [l for p in current for l in self.pod_logs(p, "quay-app").get(p, "").splitlines() if l.startswith("failed:")]
        self.check(not failed_lines, f"no failed inserts on the new database {failed_lines[:3]}")
        ids = self.logentry_ids()
        missing = sorted(set(pre + post) - ids)
        self.check(not missing, f"every committed id ({len(pre)} before, {len(post)} after) is in the upgraded logentry"
                   + (f"; MISSING {missing[:20]}" if missing else ""))

        # pg_trgm and its GIN index.
        trgm = self.psql("SELECT e.extversion || ' ' || a.default_version FROM pg_extension e "
                         "JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'pg_trgm'")
        self.check(trgm and trgm.split()[0] == trgm.split()[1], f"pg_trgm installed at its default version ({trgm})")
        valid = self.psql("SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = 'repository_name__gin'::regclass")
        self.check(valid == "t", "the GIN trigram index repository_name__gin is valid and ready")
        name17 = self.psql("SELECT name FROM repository WHERE id = 17")
        plan = self.psql(f"SET enable_seqscan = off; EXPLAIN SELECT id FROM repository WHERE name % '{name17}'")
        self.check("repository_name__gin" in plan, "a similarity query (name % 'x') uses the GIN index")
        hits = self.psql(f"SET enable_seqscan = off; SELECT count(*) FROM repository WHERE name % '{name17}'")
        self.check(int(hits) >= 1, f"the similarity query finds the row ({hits} hits)")

        # The harness's own truth, then the manifest against it.
        self.check_truth("after the upgrade")
        backup = self.backup_files(backup_claim)
        # The manifest the upgrade was verified against: the controller's own of the quiet old
        # database (an upgrade's backup Job takes none beside it; the clone's archive Job does).
        manifest = self.controller_manifest(attempt)
        self.check(manifest, f"the controller's manifest of the quiet database lists {len(manifest)} tables")
        if backup["manifest"]:
            archived = self.read_manifest(backup["manifest"])
            self.check(archived == manifest, "the archive's own manifest equals the controller's")
        else:
            self.check(not clone, "the backup folder has no manifest of its own (the controller's is the one read)")
        self.check_manifest_truth(manifest)
        if not self.spec.get("verify_after_resume") and getattr(self, "has_extras", False):
            # The controller's verification covered the whole cluster too: the other database's
            # table and the catalog (databases, roles, settings), the harness's extras among them.
            facts = self.controller_facts(attempt)
            others = {(t["database"], t["table"]): int(t["rows"]) for t in facts.get("tables") or [] if t.get("database")}
            props = {(o, a): v for o, a, v in facts.get("catalog") or []}
            self.check(others.get(("audit", "public.entries")) == 250,
                       f"the controller's manifest covers the other database's table ({others})")
            self.check(props.get(("database audit", "acl")) == "auditor=CTc/auditor reporting=c/auditor"
                       and props.get(("role auditor", "settings in database audit")) == "lock_timeout=2s",
                       f"the controller's catalog holds the other database's grants and the role's settings "
                       f"({props.get(('database audit', 'acl'))!r}, {len(props)} properties)")
            # A role's password is in the log only as the controller's keyed digest.
            self.check(props.get(("role auditor", "password"), "").startswith("qpu-redacted:"),
                       f"the role's password is a keyed digest in the event log ({props.get(('role auditor', 'password'))!r})")
            with open(self.event_log) as f:
                text = f.read()
            hashed = self.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'auditor'", admin=True, db="postgres")
            self.check(hashed and hashed not in text and "audit-pw" not in text,
                       "neither the role's password nor its hash is in the event log")
        for table, rows in manifest.items():
            if table.endswith('"logentry"'):
                # Rows the app wrote after the upgrade have ids beyond every restored one.
                got = int(self.psql(f"SELECT count(*) FROM {table} WHERE id < {min(post)}"))
            else:
                got = int(self.psql(f"SELECT count(*) FROM {table}"))
            if got != rows:
                raise Failure(f"table {table}: {got} rows in the upgraded database, {rows} in the controller's manifest")
        log(f"ok: every table's row count equals the controller's manifest's ({len(manifest)} tables)")

        # The old claim: unchanged from the moment its server stopped (kube-sim's exit hook).
        if self.spec.get("check_old_claim"):
            self.old_claim_unchanged(attempt, tree_digest(self.claim_dir(OLD_CLAIM)))

        # The backup restores into a scratch PostgreSQL 15.
        self.restore_backup(backup, manifest)

    def check_analyzed_after_resume(self, reg, attempt):
        """A copy upgrade: the upgrade Job made no statistics inside the downtime; the analyze Job
        made them after the app was back, and the status quotes its report."""
        job = f"registry-pg{self.spec['to']}-analyze-{attempt}"
        self.check(self.job_done(job) == "Complete", f"Job {job} Complete")
        upgrade_log = self.job_log(f"registry-pg{self.spec['to']}-upgrade-{attempt}")
        # (pg_upgrade's own closing advice names vacuumdb, indented; the Job's steps are "== " lines.)
        steps = [l for l in upgrade_log.splitlines() if l.startswith("== ")]
        self.check(steps and not any("analy" in l.lower() or "vacuumdb" in l for l in steps),
                   f"the upgrade Job did not analyze inside the downtime (its steps: {[l[24:] for l in steps]})")
        stats = self.psql("SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'repository'", admin=True)
        self.check(int(stats) > 0, f"the upgraded database has the planner's statistics ({stats} pg_stats rows of repository)")
        statistics = str(upgrade_status(reg).get("statistics", ""))
        self.check(statistics.startswith("Complete: AnalyzeComplete: statistics made for "),
                   f"status statistics: the analyze Job's report ({statistics})")
        # Created once the upgrade had finished (status finished: the app was back), whatever the
        # status poll saw of a short phase (and a controller restarted there sends no Event of it).
        created = (self.kube.get("Job", job) or {}).get("metadata", {}).get("creationTimestamp", "")
        finished = str(upgrade_status(reg).get("finished", ""))
        self.check(created and finished and created >= finished,
                   f"the analyze Job was created after the app was back (created {created}, upgrade finished {finished})")

    def check_clones(self, reg, attempt, new_claim, backup_claim):
        """The clone path: both claims are clones of the old claim, the upgrade Job mounted only
        its clone and copied nothing, the backup clone holds the old data directory, and the
        status says the logical archive is complete."""
        for name in (new_claim, backup_claim):
            p = self.kube.get("PersistentVolumeClaim", name)
            src = (p.get("spec") or {}).get("dataSource") or {}
            self.check(src.get("kind") == "PersistentVolumeClaim" and src.get("name") == OLD_CLAIM,
                       f"claim {name} is a clone of {OLD_CLAIM} (dataSource {src})")
        job = self.kube.get("Job", f"registry-pg{self.spec['to']}-upgrade-{attempt}")
        claims = [v.get("persistentVolumeClaim", {}).get("claimName") for v in job["spec"]["template"]["spec"]["volumes"]]
        self.check(claims == [new_claim], f"the upgrade Job mounts only the data clone ({claims})")
        text = self.job_log(f"registry-pg{self.spec['to']}-upgrade-{attempt}")
        self.check("move the clone's old cluster aside" in text and not re.search(r"^== \S+ copy ", text, re.M)
                   and "pg_upgrade --link" in text,
                   "the upgrade Job linked in the clone and copied nothing")
        with open(os.path.join(self.claim_dir(backup_claim), "userdata", "PG_VERSION")) as f:
            version = f.read().strip()
        self.check(version == str(self.from_major), f"the backup clone holds the old data directory (PG_VERSION {version})")
        st = upgrade_status(reg)
        archive = str(st.get("backupArchive", ""))
        self.check(archive.startswith("Complete: ArchiveComplete: ") and "the upgraded database: statistics made" in archive,
                   f"backupArchive: the archive Job's report, the live ANALYZE included ({archive})")
        c = cond(reg, "PostgresBackupArchived")
        self.check(c and c.get("status") == "True" and c.get("reason") == "Complete", f"PostgresBackupArchived True ({c})")
        if self.spec.get("verify_after_resume"):
            self.check_verified_after_resume(reg, attempt, new_claim)

    def check_verified_after_resume(self, reg, attempt, new_claim):
        """Verification after the resume: the controller read no row in the downtime; the upgraded
        data was cloned before the switch; the archive Job compared both clones' manifests and the
        controller compared them again from its log."""
        verify_claim = f"{new_claim}-verify-{attempt}"
        p = self.kube.get("PersistentVolumeClaim", verify_claim)
        src = ((p or {}).get("spec") or {}).get("dataSource") or {}
        self.check(src.get("kind") == "PersistentVolumeClaim" and src.get("name") == new_claim,
                   f"claim {verify_claim} is a clone of the upgraded data {new_claim} (dataSource {src})")
        with open(os.path.join(self.claim_dir(verify_claim), "userdata", "PG_VERSION")) as f:
            version = f.read().strip()
        self.check(version == str(self.spec["to"]), f"the verify clone holds the upgraded data directory (PG_VERSION {version})")
        folded = self.folded_upgrade()
        self.check(folded.get("verifyAfterResume") is True and folded.get("verifiedAfterResume"),
                   f"the state records the verification after the resume ({folded.get('verifiedAfterResume')})")
        # No manifest inside the downtime: the controller's inspections read sizes and versions only.
        read_rows = []
        with open(self.event_log) as f:
            for line in f:
                ev = json.loads(line).get("event") or {}
                if (ev.get("type") == "effect_succeeded" and "/inspect-" in ev.get("id", "")
                        and ((ev.get("facts") or {}).get("tables"))):
                    read_rows.append(ev["id"])
        self.check(not read_rows, f"the controller read no table in the downtime (manifests in {read_rows})")
        text = self.job_log(f"registry-pg{self.from_major}-archive-{attempt}")
        self.check("== " in text and "compare the manifests" in text and "verified after the resume:" in text,
                   "the archive Job compared the two clones' manifests")
        c = cond(reg, "PostgresUpgradeVerified")
        self.check(c and c.get("status") == "True" and c.get("reason") == "VerifiedAfterResume",
                   f"PostgresUpgradeVerified True/VerifiedAfterResume ({c})")

    def backup_files(self, claim):
        root = self.claim_dir(claim)
        for dirpath, _, files in os.walk(root):
            if "COMPLETE" in files and "databases.tsv" in files:
                with open(os.path.join(dirpath, "databases.tsv")) as f:
                    dbs = dict(reversed(l.rstrip("\n").split("\t", 1)) for l in f if l.strip())
                n = dbs.get("quay")
                if not n:
                    raise Failure(f"the backup in {dirpath} has no archive of database quay ({dbs})")
                # A directory archive (pg_dump -Fd -j, since 2026-12-03); pg_restore reads it by its path.
                manifest = os.path.join(dirpath, n + ".manifest.tsv")
                out = {"dir": dirpath, "dump": os.path.join(dirpath, n + ".dir"),
                       "manifest": manifest if os.path.exists(manifest) else None,
                       "globals": os.path.join(dirpath, "globals.sql")}
                for k in ("dump", "globals"):
                    if not os.path.exists(out[k]):
                        raise Failure(f"the backup lacks {out[k]}")
                size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out["dump"]) for f in fs)
                log(f"backup found in {dirpath}: {size} byte archive")
                return out
        raise Failure(f"no complete backup (a folder with COMPLETE and databases.tsv) in claim {claim}")

    def controller_facts(self, attempt):
        """The facts of the controller's manifest of Quay's database before attempt `attempt`: its
        inspect-manifest result in the event log (verified after the resume: the old side's
        manifest, read by the archive Job from the backup clone and by the controller from that
        Job's log)."""
        want = f"quay/registry/a{attempt}/" + ("read-manifest/old" if self.spec.get("verify_after_resume") else "inspect-manifest")
        facts = None
        with open(self.event_log) as f:
            for line in f:
                if want not in line:
                    continue
                ev = json.loads(line).get("event") or {}
                if ev.get("type") == "effect_succeeded" and ev.get("id") == want:
                    facts = ev.get("facts") or {}
        if facts is None:
            raise Failure(f"the event log has no result of {want}")
        return facts

    def controller_manifest(self, attempt):
        """Row counts by quoted table name of Quay's own database in that manifest."""
        return {quote_table(t["table"]): int(t["rows"]) for t in self.controller_facts(attempt).get("tables") or []
                if not t.get("database")}

    @staticmethod
    def read_manifest(path):
        out = {}
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 2 or not fields[1].isdigit():
                    continue
                out[quote_table(fields[0])] = int(fields[1])
        return out

    def restore_backup(self, backup, manifest, scratch="scratch", inspect=None):
        """Restores the archive into a scratch PostgreSQL 15 and checks the manifest's row counts;
        `inspect(socket_dir)` may look further before the scratch server stops."""
        d = os.path.join(self.tmp, scratch)
        os.makedirs(d)
        shutil.chown(d, "qpu-pg", "qpu-pg")
        data, sock = os.path.join(d, "data"), d
        run = lambda *a, **kw: subprocess.run(list(a), capture_output=True, text=True, timeout=120, **kw)
        r = run("runuser", "-u", "qpu-pg", "--", os.path.join(PG15, "initdb"), "-D", data, "-U", "postgres",
                "-A", "trust", "-E", "UTF8", "--locale=C")
        if r.returncode:
            raise Failure("scratch initdb: " + r.stderr)
        r = run("runuser", "-u", "qpu-pg", "--", os.path.join(PG15, "pg_ctl"), "-D", data, "-w", "-l",
                os.path.join(d, "server.log"), "-o", f"-c listen_addresses='' -c unix_socket_directories={sock} -c port=5432",
                "start")
        if r.returncode:
            raise Failure("scratch server: " + r.stderr + self.tail(os.path.join(d, "server.log")))
        self.scratch = data
        env = dict(os.environ, PGHOST=sock, PGUSER="postgres")
        r = run(os.path.join(PG15, "psql"), "-X", "-q", "-d", "postgres", "-f", backup["globals"], env=env)
        log(f"scratch: globals.sql applied (status {r.returncode}{', ' + r.stderr.strip()[:200] if r.stderr.strip() else ''})")
        r = run(os.path.join(PG15, "createdb"), "quay", env=env)
        if r.returncode:
            raise Failure("scratch createdb: " + r.stderr)
        r = run(os.path.join(PG15, "pg_restore"), "--exit-on-error", "-d", "quay", backup["dump"], env=env)
        if r.returncode:
            raise Failure("pg_restore of the backup archive into a scratch PostgreSQL 15 failed: " + r.stderr[-2000:])
        for table, rows in manifest.items():
            got = int(self.psql(f"SELECT count(*) FROM {table}", admin=True, host=sock))
            if got != rows:
                raise Failure(f"restored backup: {table} has {got} rows, the manifest says {rows}")
        log(f"ok: the backup archive restores into a scratch PostgreSQL 15 with the manifest's row counts ({len(manifest)} tables)")
        if inspect:
            inspect(sock)
        self.stop_scratch()

    def stop_scratch(self):
        if self.scratch:
            subprocess.run(["runuser", "-u", "qpu-pg", "--", os.path.join(PG15, "pg_ctl"), "-D", self.scratch, "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60)
            self.scratch = None

    def check_rolled_back(self, reg, failed_in, error_pattern, message_tail=""):
        """A failed attempt: the old claim, image and replicas are back, every claim is kept, the
        attempt failed in phase `failed_in` (status failedIn) with a lastError that matches
        `error_pattern` in full (a regular expression: only numbers, checksums and tool output
        left open), and the condition message is that error followed by the rollback's exact
        words and `message_tail`. Returns the condition message."""
        c = cond(reg, "PostgresUpgraded")
        st = upgrade_status(reg)
        self.report_conditions(reg, "failure")
        if not (c and c.get("status") == "False" and c.get("reason") == "Failed"):
            self.diagnose()
            raise Failure(f"PostgresUpgraded is not False/Failed: {c}")
        msg = c.get("message") or ""
        self.record_observed(msg)
        self.check(norm(st.get("phase")) == "failed", f"status.postgresUpgrade.phase is failed ({st.get('phase')})")
        self.check(bool(st.get("lastError")), f"lastError is set ({st.get('lastError')!r})")
        self.wait_for("the database Deployment to be ready on its old claim",
                      lambda: (self.kube.get("Deployment", DB).get("status") or {}).get("readyReplicas") == 1, 90)
        db = self.kube.get("Deployment", DB)
        self.check(container(db)["image"] == container(self.orig_db)["image"], f"database image rolled back ({container(db)['image']})")
        self.check(claim_of(db) == OLD_CLAIM, f"database claim rolled back ({claim_of(db)})")
        self.check(db["spec"].get("replicas") == self.orig_db["spec"].get("replicas"), "database replicas restored")
        self.check(self.server_major() == self.from_major, f"the server is PostgreSQL {self.from_major} again")
        self.wait_for("the app Deployment to be ready again",
                      lambda: (self.kube.get("Deployment", APP).get("status") or {}).get("readyReplicas") == 1, 60)
        app = self.kube.get("Deployment", APP)
        self.check(app["spec"].get("replicas") == self.orig_app["spec"].get("replicas"), "app replicas restored")
        for name in sorted(self.pvcs_seen):
            p = self.kube.get("PersistentVolumeClaim", name)
            self.check(p is not None and "deletionTimestamp" not in p["metadata"], f"claim {name} kept")
        if getattr(self, "truth", None):
            self.check_truth("after the rollback")
        # What the app saw committed first, then the table (an insert in between is in the table only).
        committed = self.committed()
        ids = self.logentry_ids()
        missing = sorted({i for v in committed.values() for i in v} - ids)
        self.check(not missing, "every id the app saw committed is in the rolled-back database"
                   + (f"; MISSING {missing[:20]}" if missing else ""))
        current = [p["metadata"]["name"] for p in self.kube.list("Pod", selector="quay-component=quay-app")
                   if "deletionTimestamp" not in p["metadata"]]
        before = {p: len(v) for p, v in committed.items()}
        self.wait_for("the app to commit on the rolled-back database",
                      lambda: any(len(self.committed().get(p, [])) > before.get(p, 0) for p in current), 60)
        log("ok: the app commits again on the old database")
        # Last, so that a poor message does not hide whether the rollback itself was right.
        folded = self.folded_upgrade()
        if self.spec.get("check_old_claim"):
            attempt = int(st.get("attempt", 0))
            if failed_in in ("detecting", "preflight", "quiescing", "backing_up"):
                hooks = self.claim_digests()[self.attempt_marks.get(attempt, 0):]
                self.check(not [p for k, p, _ in hooks if k == "exit"],
                           f"attempt {attempt} failed before the stop: the old server never stopped ({hooks and [(k, p) for k, p, _ in hooks]})")
            else:
                self.old_claim_unchanged(attempt)
        self.check(folded.get("failedIn") == failed_in,
                   f"the attempt failed in phase {failed_in} (failedIn {folded.get('failedIn')!r}, the event log folded)")
        error = st.get("lastError") or ""
        self.check(re.fullmatch(error_pattern, error, re.S) is not None,
                   f"lastError is exactly the expected reason: {error!r} against {error_pattern!r}")
        # The image is named with the digest the controller resolved from the pod; its repository
        # is the Deployment's.
        old_image = folded.get("oldImage") or ""
        self.check(old_image.split("@")[0] == container(self.orig_db)["image"].split("@")[0],
                   f"the old image it names ({old_image}) is the database's original one ({container(self.orig_db)['image']})")
        rolled_back = (f"; the database runs on its old claim {OLD_CLAIM} and image {old_image}, every claim is kept; "
                       f"set annotation {RETRY_ANNOTATION} to a new value to try again")
        self.check(msg == error + rolled_back + message_tail,
                   f"the condition message is lastError then the rollback's exact words: {msg!r}")
        return msg

    def folded_upgrade(self):
        """The controller's state for this registry, folded from its event log by `replay
        --state-json` (status does not carry failedIn)."""
        r = subprocess.run([self.controller_bin, "replay", "--state-json", self.event_log], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise Failure(f"replay --state-json {self.event_log} failed: {r.stderr[-2000:]}")
        return json.loads(r.stdout)["upgrades"][f"{NS}/{REGISTRY}"]

    def job_log(self, job):
        """Everything the pods of Job `job` wrote (every container, running or gone)."""
        root = self.find_pods_root()
        text = ""
        for d in sorted(os.listdir(root)):
            parts = d.split("_")
            if len(parts) == 3 and parts[0] == NS and parts[1].startswith(job + "-"):
                for f in sorted(os.listdir(os.path.join(root, d))):
                    if f.endswith(".log"):
                        with open(os.path.join(root, d, f), errors="replace") as fh:
                            text += fh.read()
        return text

    def record_observed(self, msg):
        """Prints the condition message and appends it to BUILD/tests/e2e/observed-messages.txt
        (one line per case and attempt) for the notes."""
        print(f"OBSERVED CONDITION MESSAGE [{self.name}]: {msg}", flush=True)
        try:
            out = os.path.join(self.build, "tests", "e2e")
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "observed-messages.txt"), "a") as f:
                f.write(json.dumps({"case": self.name, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "message": msg}) + "\n")
        except OSError:
            pass

    def mark_attempt(self, attempt):
        """The hook digests from here on belong to `attempt`."""
        self.attempt_marks[attempt] = len(self.claim_digests())

    def old_claim_unchanged(self, attempt, now_digest=None):
        """The old claim as its server left it when it stopped in `attempt` (the exit hook) must be
        what the next server on it found (the start hook: the rollback), or, with `now_digest`,
        what it holds now. Every stop in the attempt is checked."""
        hooks = self.claim_digests()[self.attempt_marks.get(attempt, 0):]
        stops = [i for i, (kind, _, _) in enumerate(hooks) if kind == "exit"]
        self.check(stops, f"attempt {attempt}: kube-sim reported the old server's stop (exit hook; hooks seen: "
                          f"{[(k, p) for k, p, _ in hooks]})")
        for i in stops:
            _, pod, before = hooks[i]
            later = [h for h in hooks[i + 1:] if h[0] == "start"]
            after, what = (later[0][2], f"when {later[0][1]} started on it") if later else (now_digest, "now")
            if after is None:
                raise Failure(f"attempt {attempt}: nothing to compare the old claim with after {pod} stopped")
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            self.check(not changed, f"attempt {attempt}: the old claim's {len(before)} entries are byte-identical from "
                                    f"the moment {pod} stopped to {what}" + (f"; CHANGED: {changed[:20]}" if changed else ""))
            self.check(any(k.endswith("PG_VERSION") for k in before), "the digest holds a data directory (PG_VERSION)")

    def retry(self, value="1"):
        log(f"retry: annotation {RETRY_ANNOTATION}={value}")
        self.mark_attempt(max(self.attempt_marks, default=0) + 1)
        self.kube.merge_patch("QuayRegistry", REGISTRY, {"metadata": {"annotations": {RETRY_ANNOTATION: value}}})
        # The app pods now running are the ones this attempt must quiesce.
        self.app_pods_before = {p["metadata"]["name"] for p in self.kube.list("Pod", selector="quay-component=quay-app")}

    def assert_untouched(self, pvcs, jobs, db_gen, app_gen, app_pods):
        now_pvcs = {p["metadata"]["name"] for p in self.kube.list("PersistentVolumeClaim")}
        now_jobs = {j["metadata"]["name"] for j in self.kube.list("Job")}
        self.check(now_pvcs == pvcs and self.pvcs_seen == pvcs, f"no claim created (claims: {sorted(self.pvcs_seen)})")
        self.check(now_jobs == jobs and self.jobs_seen == jobs, f"no Job created (Jobs: {sorted(self.jobs_seen)})")
        db, app = self.kube.get("Deployment", DB), self.kube.get("Deployment", APP)
        self.check(db["metadata"].get("generation") == db_gen and container(db)["image"] == container(self.orig_db)["image"]
                   and db["spec"].get("replicas") == 1, "the database Deployment is untouched")
        self.check(app["metadata"].get("generation") == app_gen and app["spec"].get("replicas") == 1,
                   "the app Deployment is untouched (never scaled)")
        now_app = {p["metadata"]["name"] for p in self.kube.list("Pod", selector="quay-component=quay-app")}
        self.check(now_app == app_pods, "the app's pod is the same one (never quiesced)")
        now_db = {p["metadata"]["name"] for p in self.kube.list("Pod", selector="quay-component=postgres")}
        self.check(now_db == self.db_pods_before, "the database pod is the same one (never stopped)")


# ---------------------------------------------------------------------------------------------
# The cases

def run_upgrade(case, attempt=1, timeout=300):
    reg = case.wait_terminal(attempt, timeout)
    case.check_succeeded(reg, attempt)


def case_happy(case):
    case.set_up()
    case.start_controller()
    run_upgrade(case)
    if case.name == "logical-10-to-15":
        check_kubectl_logs(case)
        check_kubectl_wait(case)
    if case.spec.get("method") == "pg_upgrade":
        # The preflight ran the real pg_upgrade --check against the server while Quay served.
        text = case.job_log("registry-pg-check-1")
        case.check("Performing Consistency Checks on Old Live Server" in text and "*Clusters are compatible*" in text,
                   f"the check Job ran pg_upgrade --check against the live old server ({text[-400:]!r})")


def check_kubectl_wait(case):
    """`kubectl rollout status` and `kubectl wait`, as a person follows an upgrade by hand, answer
    from kube-sim's watches and the status its kubelet and controllers write (issue 18, item 4)."""
    def kubectl(*args):
        return subprocess.run(["kubectl", "--kubeconfig", case.kubeconfig, "-n", NS, *args],
                              capture_output=True, text=True, timeout=90)
    for args, wanted in [(("rollout", "status", f"deployment/{APP}", "--timeout=60s"), f'deployment "{APP}" successfully rolled out'),
                         (("rollout", "status", f"deployment/{DB}", "--timeout=60s"), f'deployment "{DB}" successfully rolled out'),
                         (("wait", "--for=condition=Available", f"deployment/{DB}", "--timeout=60s"), "condition met"),
                         (("wait", "--for=condition=Complete", "job/registry-pg10-backup-1", "--timeout=60s"), "condition met"),
                         (("wait", "--for=condition=Ready", "pod", "-l", "quay-component=postgres", "--timeout=60s"),
                          "condition met")]:
        r = kubectl(*args)
        case.check(r.returncode == 0 and wanted in r.stdout,
                   f"kubectl {' '.join(args)}: {(r.stdout + r.stderr).strip()[:160]!r}")
    # A condition that never comes times out with kubectl's own message and a non-zero status.
    r = kubectl("wait", "--for=condition=Failed", "job/registry-pg10-backup-1", "--timeout=2s")
    case.check(r.returncode != 0 and "timed out" in r.stderr, f"kubectl wait for a condition that never comes times out ({r.stderr.strip()[:120]!r})")


def check_kubectl_logs(case):
    """`kubectl logs`, as the conditions tell a person to run it, answers from kube-sim's pods/log:
    the backup Job's pod whole, its last 2 lines with --tail, and a clear refusal for a container
    the pod does not have."""
    pods = case.kube.list("Pod", selector="job-name=registry-pg10-backup-1")
    case.check(len(pods) == 1, f"the backup Job's pod is listed ({[p['metadata']['name'] for p in pods]})")
    name = pods[0]["metadata"]["name"]
    text = case.job_log("registry-pg10-backup-1")

    def kubectl(*args):
        return subprocess.run(["kubectl", "--kubeconfig", case.kubeconfig, "-n", NS, *args],
                              capture_output=True, text=True, timeout=30)
    whole, tail = kubectl("logs", name), kubectl("logs", name, "--tail=2")
    # Straight to the server (kubectl checks a container name itself before asking).
    wrong = kubectl("get", "--raw", f"/api/v1/namespaces/{NS}/pods/{name}/log?container=nope")
    case.check(whole.returncode == 0 and whole.stdout == text and "BackupComplete" in text,
               f"kubectl logs {name} prints the pod's log ({len(whole.stdout)} bytes, {whole.stderr.strip()!r})")
    case.check(tail.returncode == 0 and tail.stdout == "".join(text.splitlines(keepends=True)[-2:]),
               f"kubectl logs --tail=2 prints its last 2 lines ({tail.stdout!r})")
    case.check(wrong.returncode != 0 and "(BadRequest): container nope is not valid for pod " + name in wrong.stderr,
               f"the log of a container the pod does not have is refused by name ({wrong.stderr.strip()!r})")


def failure_then_retry(case, inject, failed_in, error_pattern, remove_cause, fail_timeout=240):
    case.set_up()
    inject(case)
    case.start_controller()
    reg = case.wait_terminal(1, fail_timeout)
    msg = case.check_rolled_back(reg, failed_in, error_pattern)
    remove_cause(case)
    case.retry("1")
    run_upgrade(case, attempt=2)
    log(f"failure path {case.name}: observed message: {msg}")


def quote_table(name):
    """A manifest's "schema.table" as SQL names it: each part double-quoted (unless it is already)."""
    schema, _, table = name.partition(".")
    q = lambda s: s if s.startswith('"') else '"' + s.replace('"', '""') + '"'
    return f"{q(schema)}.{q(table)}"


def tiny_claim(name):
    """A leftover claim of an earlier attempt: it carries the labels the controller puts on the
    claims it makes (a claim of the name that it did not make is never adopted)."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": NS,
                         "labels": {"app.kubernetes.io/managed-by": "quay-pg-upgrader",
                                    "quay-pg-upgrader.quay.io/registry": "registry",
                                    "quay-pg-upgrader.quay.io/role": "backup" if "backup" in name else "data"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "256Ki"}}}}


def fill_claim(case, name, size="1Gi"):
    """A claim of `name` and the size the controller asks for (1Gi here: the default minimum), left
    nearly full by an earlier user: a Job allocates all but 64 KiB of its real ext4 filesystem to a
    file. The controller would adopt it (same name, big enough): its check Job measures the free
    space before the downtime (a revert, which has no check, adopts it and its Job runs out of
    space for real)."""
    claim = tiny_claim(name)
    claim["spec"]["resources"]["requests"]["storage"] = size
    case.kube.create(claim)
    filler = {"apiVersion": "batch/v1", "kind": "Job",
              "metadata": {"name": f"fill-{name}", "namespace": NS},
              "spec": {"backoffLimit": 0, "template": {"spec": {
                  "restartPolicy": "Never",
                  "containers": [{"name": "fill", "image": PG15_IMAGE, "command": ["bash", "-c",
                                  "set -e; free=$(df -B1 --output=avail /fill | tail -1); "
                                  "fallocate -l $((free - 65536)) /fill/leftover.bin; df -h /fill"],
                                  "volumeMounts": [{"name": "c", "mountPath": "/fill"}]}],
                  "volumes": [{"name": "c", "persistentVolumeClaim": {"claimName": name}}]}}}}
    case.kube.create(filler)

    def filled():
        st = (case.kube.get("Job", f"fill-{name}") or {}).get("status") or {}
        if st.get("failed"):
            raise Failure(f"the Job filling {name} failed")
        return st.get("succeeded")
    case.wait_for(f"{name} to be filled", filled, 60)
    case.kube.delete("Job", f"fill-{name}")


def remove_claim(case, name):
    case.kube.delete("PersistentVolumeClaim", name)
    case.wait_for(f"the claim {name} to go", lambda: case.kube.get("PersistentVolumeClaim", name) is None, 60)


def fill_at_job_start(case, job, claim):
    """Arms the start hook: when the first pod of Job `job` starts, with the simulator held still,
    the claim `claim` it mounts is filled to all but 64 KiB (something else wrote to the volume
    after the checks before the downtime measured it), so the Job runs out of space for real."""
    with open(os.path.join(case.hook_dir, "fill-on-start.arm"), "w") as f:
        json.dump({"job": job, "claim": claim}, f)


def case_backup_job_fails(case):
    # The fault: the backup claim, made and measured before the downtime, fills up as the backup
    # Job starts, and pg_dump fails with a real ENOSPC on the loop-mounted ext4. Removing the
    # cause: delete that claim; the retry creates a fresh one.
    backup_claim = f"{OLD_CLAIM}-backup-pg10"
    def remove(c):
        log_text = c.job_log("registry-pg10-backup-1")
        c.check("No space left on device" in log_text, f"pg_dump failed for want of space (the Job's log: {log_text[-600:]!r})")
        remove_claim(c, backup_claim)

    failure_then_retry(case, lambda c: fill_at_job_start(c, "registry-pg10-backup-1", backup_claim), "backing_up",
                       BACKUP_ENOSPC, remove)


def case_backup_job_deleted(case):
    # Someone runs `kubectl delete job` on the backup Job while it works (kubectl deletes in the
    # background: the garbage collector then removes its pod). The controller fails the phase at
    # once, naming the Job, and rolls back; it does not hold the app down until the phase
    # deadline (90 s here, 4 h by default). The retry then upgrades with nothing lost.
    job = "registry-pg10-backup-1"
    case.set_up()
    case.start_controller()

    def working():
        pods = case.kube.list("Pod", selector=f"job-name={job}")
        return any((p.get("status") or {}).get("phase") == "Running" for p in pods)
    case.wait_for("the backup Job's pod to run", working, 120, tick=0.1)
    case.kube.request("DELETE", case.kube.path("Job", job, NS), {"propagationPolicy": "Background"})
    deleted_at = time.time()
    log(f"deleted the Job {job} with its pod running")
    reg = case.wait_terminal(1, 120)
    msg = case.check_rolled_back(reg, "backing_up", JOB_DELETED)
    took = time.time() - deleted_at
    case.check(took < 60, f"rolled back {took:.0f} s after the delete, well before the backup deadline (90 s)")
    case.retry("1")
    run_upgrade(case, attempt=2)
    log(f"failure path {case.name}: observed message: {msg}")


def case_upgrade_job_fails(case):
    # The fault: the new data claim fills up as the upgrade Job starts, so initdb or the restore runs
    # out of space for real. Removing the cause: delete it.
    new_claim = f"{OLD_CLAIM}-pg15"
    def remove(c):
        log_text = c.job_log("registry-pg15-upgrade-1")
        c.check("No space left on device" in log_text, f"initdb failed for want of space (the Job's log: {log_text[-600:]!r})")
        remove_claim(c, new_claim)

    failure_then_retry(case, lambda c: fill_at_job_start(c, "registry-pg15-upgrade-1", new_claim), "upgrading",
                       UPGRADE_ENOSPC, remove)


def case_leftover_claim_full(case):
    # A claim of the backup's name and size exists already, left nearly full by someone: the
    # controller would adopt it, so the check Job measures its free space before the downtime and
    # refuses, naming the claim and both amounts; nothing is stopped. Removing the cause: delete it.
    backup_claim = f"{OLD_CLAIM}-backup-pg10"

    def remove(c):
        check_refused_before_downtime(c)
        remove_claim(c, backup_claim)

    failure_then_retry(case, lambda c: fill_claim(c, backup_claim), "preflight", LEFTOVER_CLAIM_FULL, remove,
                       fail_timeout=120)


def case_clone_archive_fails(case):
    # On cloning storage the backup clone's logical archive is written after the app is back. The
    # fault: the backup clone fills up as its archive Job starts, so the Job fails for real. The
    # upgrade stands: verified, the app writing to PostgreSQL 15, the old claim untouched; the
    # failure is a loud condition and a Warning Event, nothing rolled back.
    backup_claim = f"{OLD_CLAIM}-backup-pg13"
    case.set_up()
    fill_at_job_start(case, "registry-pg13-archive-1", backup_claim)
    case.start_controller()
    reg = case.wait_terminal(1, 300)
    c = cond(reg, "PostgresUpgraded")
    case.report_conditions(reg, "outcome")
    case.check(c and c.get("status") == "True" and c.get("reason") == "Succeeded", f"PostgresUpgraded True/Succeeded ({c})")
    a = cond(reg, "PostgresBackupArchived")
    msg = (a or {}).get("message", "")
    case.record_observed(msg)
    case.check(a and a.get("status") == "False" and a.get("reason") == "Failed", f"PostgresBackupArchived False/Failed ({a})")
    case.check(msg.startswith("backup archive Job quay/registry-pg13-archive-1 failed: BackoffLimitExceeded")
               and "ArchiveFailed: step " in msg and "No space left on device" in msg
               and "The upgrade stands (verified, the app serves PostgreSQL 15 from claim registry-quay-database-pg15)" in msg,
               f"the archive's failure says what failed and that the upgrade stands ({msg[:600]!r})")
    st = upgrade_status(reg)
    case.check(str(st.get("backupArchive", "")).startswith("Failed: "), f"backupArchive: {st.get('backupArchive', '')[:200]}")
    case.check(case.server_major() == 15, "the upgraded database serves PostgreSQL 15 through the Service")
    db = case.kube.get("Deployment", DB)
    case.check(claim_of(db) == f"{OLD_CLAIM}-pg15", f"the database stays on the upgraded claim ({claim_of(db)})")
    current = {p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=quay-app")
               if "deletionTimestamp" not in p["metadata"]}
    case.wait_for("the app to commit rows on the upgraded database",
                  lambda: all(len(case.committed().get(p, [])) >= 3 for p in current), 60)
    warnings = [e for e in case.kube.list("Event")
                if e.get("type") == "Warning" and e.get("reason") == "PostgresUpgradeSucceeded"]
    case.check(warnings and "its logical archive FAILED" in warnings[-1].get("message", ""),
               f"a Warning Event tells the archive failed ({[e.get('message', '')[:160] for e in warnings]})")
    case.old_claim_unchanged(1, tree_digest(case.claim_dir(OLD_CLAIM)))


def case_verify_after_resume_mismatch(case):
    # Verification after the resume (issue 16, item 3). The fault: the clone of the upgraded data,
    # taken before the switch, loses one logentry row as the archive Job's pod starts (changed
    # behind everybody's back, as a faulty upgrade would have left it). The archive Job finds the
    # difference, the controller reads both manifests from its log: the app is stopped again, the
    # database stays on the upgraded claim with the app's writes since the resume, and the revert
    # is offered; the revert then brings the old data back, verified, with those writes backed up.
    verify_claim = f"{OLD_CLAIM}-pg15-verify-1"
    case.set_up()
    with open(os.path.join(case.hook_dir, "damage-on-start.arm"), "w") as f:
        json.dump({"job": "registry-pg13-archive-1", "claim": verify_claim,
                   "sql": "DELETE FROM logentry WHERE id = (SELECT max(id) FROM logentry)"}, f)
    case.start_controller()
    def verify_failed():
        r = case.registry()
        return r if norm(upgrade_status(r).get("phase")) == norm("verify_failed") else None
    try:
        reg = case.wait_for("the verification after the resume to find the difference", verify_failed, 300)
    except Failure:
        case.diagnose()
        raise
    case.check(os.path.exists(os.path.join(case.hook_dir, "damage-on-start.arm.done")),
               "the hook removed a row from the upgraded data's clone as the archive Job started")
    c = cond(reg, "PostgresUpgraded")
    case.report_conditions(reg, "outcome")
    msg = (c or {}).get("message", "")
    case.record_observed(msg)
    case.check(c and c.get("status") == "False" and c.get("reason") == "VerificationFailedAfterResume",
               f"PostgresUpgraded False/VerificationFailedAfterResume ({c})")
    case.check(re.search(r'the verification after the resume found the upgraded data different from the old data: '
                         r'table "?public"?\."?logentry"? has \d+ rows, expected \d+', msg) is not None,
               f"the message names the table and both counts ({msg[:300]!r})")
    v = cond(reg, "PostgresUpgradeVerified")
    case.check(v and v.get("status") == "False" and v.get("reason") == "Mismatch", f"PostgresUpgradeVerified False/Mismatch ({v})")
    case.check(f"{REVERT_ANNOTATION} to {OLD_CLAIM}" in msg, "the message offers the revert, naming the annotation and the claim")
    text = case.job_log("registry-pg13-archive-1")
    case.check("VerificationMismatch" in text or "the upgraded data differs from the old data" in text,
               "the archive Job reported the difference itself")
    # The app is stopped again; the database stays on the upgraded claim, never rolled back.
    case.wait_for("the app to be stopped again",
                  lambda: not [p for p in case.kube.list("Pod", selector="quay-component=quay-app")
                               if "deletionTimestamp" not in p["metadata"]], 90)
    db = case.kube.get("Deployment", DB)
    case.check(claim_of(db) == f"{OLD_CLAIM}-pg15", f"the database stays on the upgraded claim ({claim_of(db)})")
    case.check(case.server_major() == 15, "PostgreSQL 15 still serves (with the writes made since the resume)")
    after_resume = case.logentry_ids()
    case.old_claim_unchanged(1, tree_digest(case.claim_dir(OLD_CLAIM)))
    # The revert: the old data back, verified against the old side's manifest from the Job's log.
    reg = request_revert(case, "revert")
    c = cond(reg, "PostgresUpgraded")
    case.check(c and c.get("status") == "False" and c.get("reason") == "Reverted", f"PostgresUpgraded False/Reverted ({c})")
    case.check(case.server_major() == 13, "the old PostgreSQL 13 serves again")
    st = upgrade_status(reg)
    revert_backup = st.get("revertBackupClaim", "")
    case.check(bool(revert_backup) and case.kube.get("PersistentVolumeClaim", revert_backup) is not None,
               f"the upgraded data, writes since the resume included ({len(after_resume)} rows of logentry), was backed up "
               f"into {revert_backup}")


def case_clone_refused(case):
    # --clone-storage-classes names a class whose driver does not clone (kube-sim.io/basic, as a
    # CSI driver without CLONE_VOLUME): the clones stay Pending with the provisioner's Warning, the
    # upgrade rolls back to the untouched old claim. Removing the cause: the admin drops the class
    # from the flag (a restarted controller) and deletes the Pending clones; the retry copies.
    case.set_up()
    case.start_controller(["--clone-storage-classes", "basic"])
    reg = case.wait_terminal(1, 240)
    msg = case.check_rolled_back(reg, "upgrading", CLONE_REFUSED)
    case.check(not case.kube.get("Job", "registry-pg15-upgrade-1"), "no upgrade Job ran on a clone that was never made")
    case.stop(case.ctl, "controller", 15)
    case.ctl = None
    for name in (f"{OLD_CLAIM}-backup-pg13", f"{OLD_CLAIM}-pg15"):
        remove_claim(case, name)
    case.start_controller()
    case.retry("1")
    run_upgrade(case, attempt=2)
    log(f"failure path {case.name}: observed message: {msg}")


def case_leftover_claim_too_small(case):
    # A claim of the backup's name exists and is far too small (256 KiB): the controller does not
    # adopt it, refuses before the downtime (preflight), names the claim and its size, and keeps it.
    backup_claim = f"{OLD_CLAIM}-backup-pg10"

    def inject(c):
        c.kube.create(tiny_claim(backup_claim))
        c.wait_for("the tiny backup claim to bind",
                   lambda: (c.kube.get("PersistentVolumeClaim", backup_claim).get("status") or {}).get("phase") == "Bound", 30)

    def remove(c):
        c.check(not [j for j in c.kube.list("Job") if "backup" in j["metadata"]["name"]], "no backup Job was created")
        c.check(c.kube.get("PersistentVolumeClaim", backup_claim) is not None, "the leftover claim was kept")
        remove_claim(c, backup_claim)

    failure_then_retry(case, inject, "preflight", BACKUP_CLAIM_TOO_SMALL, remove)


def rogue_updater():
    """A client the controller does not know about (not Quay's app or mirror), rewriting one
    logentry row every 50 ms through the database Service: row counts never change, contents do."""
    loop = ("n=0; while true; do n=$((n+1)); "
            "v=$(psql -X -qtA -h \"$DB_HOST\" -c \"UPDATE logentry SET metadata_json = '{\\\"rogue\\\": $n}' "
            "WHERE id = (SELECT min(id) FROM logentry) RETURNING current_setting('server_version_num')\" 2>/dev/null) "
            "&& echo \"updated $n on $v\"; sleep 0.05; done")
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "audit-updater", "namespace": NS, "labels": {"app": "audit-updater"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "audit-updater"}},
                     "template": {"metadata": {"labels": {"app": "audit-updater"}},
                                  "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
                                      "name": "updater", "image": PG15_IMAGE, "command": ["bash", "-c", loop],
                                      "env": [{"name": "DB_HOST", "value": DB}] + [
                                          {"name": k, "valueFrom": {"secretKeyRef": {"name": "registry-quay-postgres-config", "key": v}}}
                                          for k, v in (("PGUSER", "database-username"), ("PGPASSWORD", "database-password"),
                                                       ("PGDATABASE", "database-name"))]}]}}}}


def case_verification_mismatch(case):
    # The cause: a client the controller does not quiesce keeps rewriting one logentry row. Row
    # counts never change, so the upgrade Job's own check (counts only) passes and the database is
    # switched; the contents the controller's manifest recorded at the start of the backup are
    # not the ones the new server holds (the dump was taken later, and the rewrites go on against
    # the new server), so the post-switch verification (checksums) fails and rolls back. Removing
    # the cause: scale that client to 0.
    case.spec["extra_objects"] = [rogue_updater()]

    def updates(c):
        """(n, server_version_num) of every update the rogue client saw committed."""
        return [(int(n), int(v)) for text in c.pod_logs("audit-updater-", "updater").values()
                for n, v in re.findall(r"^updated (\d+) on (\d+)\s*$", text, re.M)]

    def inject(c):
        c.wait_for("the rogue updater to commit", lambda: len(updates(c)) >= 5, 60)

    def remove(c):
        on_new = [n for n, v in updates(c) if v // 10000 == c.spec["to"]]
        c.check(on_new, f"the failed attempt had switched to PostgreSQL {c.spec['to']} (so the Job's own count check "
                        f"passed): the rogue client committed {len(on_new)} updates on it")
        c.kube.merge_patch("Deployment", "audit-updater", {"spec": {"replicas": 0}})
        c.wait_for("the rogue updater to stop", lambda: not c.kube.list("Pod", selector="app=audit-updater"), 60)

    failure_then_retry(case, inject, "verifying", VERIFICATION_MISMATCH, remove)


def check_refused_before_downtime(c):
    """A refusal in preflight: the app never stopped (its pods are the ones it had) and no Job but
    the preflight check was created."""
    app_pods = {p["metadata"]["name"] for p in c.kube.list("Pod", selector="quay-component=quay-app")
                if "deletionTimestamp" not in p["metadata"]}
    c.check(app_pods == c.app_pods_before, f"the app never stopped: its pods are the ones it had ({sorted(app_pods)})")
    jobs = sorted(j["metadata"]["name"] for j in c.kube.list("Job", selector="app.kubernetes.io/managed-by=quay-pg-upgrader"))
    c.check(jobs == ["registry-pg-check-1"], f"no Job but the preflight check ({jobs})")


def case_new_claim_pending(case):
    # --storage-class ebs-gp3: a StorageClass whose provisioner (ebs.csi.aws.com) nobody runs here,
    # so the new claims stay Pending with an ExternalProvisioning Event. The backup claim exists
    # already (right-sized, bound in the default class) and is adopted; the new data claim is
    # created in ebs-gp3 before the downtime and never binds: refused at --claim-bind-timeout with
    # the Event's words, while the app never stopped. Removing the cause: the class is recreated
    # with kube-sim's provisioner, which binds the Pending claim; the retry adopts it.
    case.spec["controller_args"] = ["--storage-class", "ebs-gp3", "--claim-bind-timeout", "20"]
    storage_class = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "ebs-gp3"},
                     "provisioner": "ebs.csi.aws.com"}

    def inject(c):
        c.kube.create(storage_class)
        claim = tiny_claim(f"{OLD_CLAIM}-backup-pg10")
        claim["spec"]["resources"]["requests"]["storage"] = "1Gi"
        c.kube.create(claim)
        c.wait_for("the backup claim to bind",
                   lambda: (c.kube.get("PersistentVolumeClaim", claim["metadata"]["name"]).get("status") or {}).get("phase")
                   == "Bound", 30)

    def remove(c):
        check_refused_before_downtime(c)
        c.kube.delete("StorageClass", "ebs-gp3", ns=None)
        c.kube.create(dict(storage_class, provisioner="kube-sim.io/local"))
        c.wait_for("the Pending claim to bind",
                   lambda: (c.kube.get("PersistentVolumeClaim", f"{OLD_CLAIM}-pg15").get("status") or {}).get("phase")
                   == "Bound", 30)

    failure_then_retry(case, inject, "preflight", NEW_CLAIM_PENDING, remove, fail_timeout=120)


def case_claims_wait_for_first_consumer(case):
    # --storage-class late: kube-sim's provisioner with volumeBindingMode WaitForFirstConsumer, as
    # most cloud classes are. Its claims stay Pending until a pod mounts them: not a refusal; the
    # controller reads the class (inspect_claim), quiesces with the claims Pending, and the backup
    # and upgrade Jobs bind them. Every check of the upgrade cases follows.
    case.spec["controller_args"] = ["--storage-class", "late"]
    case.set_up()
    case.kube.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "late"},
                      "provisioner": "kube-sim.io/local", "volumeBindingMode": "WaitForFirstConsumer"})
    case.start_controller()
    pending_at_quiesce = []

    def quiescing():
        phase = norm(upgrade_status(case.registry()).get("phase"))
        if phase in ("quiescing", "backingup") and not pending_at_quiesce:
            c = case.kube.get("PersistentVolumeClaim", f"{OLD_CLAIM}-pg{case.spec['to']}")
            pending_at_quiesce.append(((c or {}).get("status") or {}).get("phase"))
        return phase in ("quiescing", "backingup", "stopping", "upgrading", "switching", "verifying", "resuming",
                         "succeeded", "failed")
    case.wait_for("the downtime to begin", quiescing, 120, tick=0.1)
    run_upgrade(case)
    case.check(pending_at_quiesce == ["Pending"],
               f"the new data claim was still Pending when the app was stopped ({pending_at_quiesce})")
    seen = case.folded_upgrade().get("claimsSeen") or {}
    case.check((seen.get("data") or {}).get("bindingMode") == "WaitForFirstConsumer",
               f"the controller read the class's binding mode ({seen})")


def case_check_fails(case):
    # chkpass, an extension of PostgreSQL 10 that 11 removed, installed in the app's database: the
    # preflight check Job (on by default, the target image's binaries) finds that 15 lacks it and
    # the upgrade is refused while Quay serves; without the check the restore would fail in the
    # downtime. Removing the cause: DROP EXTENSION chkpass, then the retry succeeds.
    def inject(c):
        c.psql("CREATE EXTENSION chkpass", admin=True)

    def remove(c):
        check_refused_before_downtime(c)
        c.psql("DROP EXTENSION chkpass", admin=True)

    failure_then_retry(case, inject, "preflight", CHECK_FAILS, remove, fail_timeout=120)


def case_pg_upgrade_check_fails(case):
    # A user-defined postfix operator in the app's database: PostgreSQL 14 removed them, and only
    # the real pg_upgrade --check, which the check Job runs against the running 13 server (its
    # claim mounted read-only beside it), sees it; the SQL imitation did not look. Refused while
    # Quay serves. Removing the cause: drop the operator, then the retry upgrades.
    def inject(c):
        c.psql("CREATE FUNCTION qpu_fact(bigint) RETURNS numeric LANGUAGE sql AS 'SELECT factorial($1)'; "
               "CREATE OPERATOR !## (LEFTARG = bigint, FUNCTION = qpu_fact)", admin=True)

    def remove(c):
        check_refused_before_downtime(c)
        c.psql("DROP OPERATOR !## (bigint, NONE); DROP FUNCTION qpu_fact(bigint)", admin=True)

    failure_then_retry(case, inject, "preflight", PG_UPGRADE_CHECK_FAILS, remove, fail_timeout=120)


def case_progress(case):
    """Progress of the phases that move data (issue 15, item 2), from the real Jobs on kube-sim: a
    database with a bulk table like Quay's logentry (about 250 MB), the controller reading the
    Jobs' progress every second. The status shows the backup's dump and the upgrade's restore
    rising, with bytes, percent and a time left; Events tell it; /metrics carries the gauges; the
    upgrade ends like every other (every row of every table, the old claim untouched)."""
    case.set_up()
    t = time.monotonic()
    case.psql("CREATE TABLE bulk_log (id bigint PRIMARY KEY, kind int NOT NULL, body text NOT NULL); "
              "INSERT INTO bulk_log SELECT g, g % 7, repeat(md5(g::text), 3) FROM generate_series(1, 1500000) g; "
              "ANALYZE bulk_log", timeout=600)
    size = int(case.psql("SELECT pg_database_size('quay')"))
    log(f"bulk table written in {time.monotonic() - t:.1f} s; database quay is {size / 2**20:.0f} MiB")
    case.take_truth()
    case.start_controller(extra=["--progress-interval", "1", "--metrics-bind-address", "127.0.0.1:0"])
    case.metrics_port = endpoint_port(case.ctl_log)
    run_upgrade(case, timeout=400)
    seen = case.progress_seen
    for phase, stage in (("backing_up", "dump"), ("upgrading", "restore")):
        mine = [p for _, ph, p in seen if ph == phase]
        case.check(len(mine) >= 2 and all(p["stage"] == stage and p["unit"] == "bytes" for p in mine),
                   f"{phase}: the status showed the {stage}'s progress at least twice ({[p['text'] for p in mine]})")
        # The Job's last line replaces the measured (or estimated) total by what was moved: 100 %.
        case.check(all(b["done"] >= a["done"] and (b["total"] == a["total"] or b["done"] == b["total"])
                       for a, b in zip(mine, mine[1:])), f"{phase}: done only rose, against one total until the last line")
        case.check(any(p.get("secondsLeft") is not None for p in mine), f"{phase}: a time left was shown")
        total = mine[0]["total"] if mine else 0
        # The dump's total is the archive's estimate (compressed), the restore's the old size.
        low, high = (size / 50, size * 2) if stage == "dump" else (size / 2, size * 2)
        case.check(low <= total <= high, f"{phase}: the {stage}'s total {total} bytes fits a {size}-byte database")
    told = [e.get("message", "") for e in case.kube.list("Event") if e.get("reason") == "PostgresUpgradeProgress"]
    case.check(any(m.startswith("backing_up: dump: ") for m in told) and any(m.startswith("upgrading: restore: ") for m in told),
               f"Events PostgresUpgradeProgress told the dump and the restore ({told})")
    phases = {ph for ph, _ in case.metrics_progress}
    case.check(phases == {"backing_up", "upgrading"},
               f"/metrics had qpu_upgrade_progress_ratio while the Jobs ran ({case.metrics_progress[:2]})")
    case.check(not upgrade_status(case.registry()).get("progress"), "no progress is shown once the upgrade is over")


def case_dry_run(case):
    """A dry run (issue 15, item 4) against the real cluster stand-in: `run --dry-run` detects,
    runs the real check Job, prints the plan and exits; the app never stopped, no claim was made,
    the check Job is gone again. Then the same controller without --dry-run upgrades (attempt 2)."""
    case.set_up()
    argv, env = case.controller_argv(["--dry-run"])
    log("controller: " + " ".join(argv[1:]))
    with open(case.ctl_log, "a") as err:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, cwd=case.tmp, env=env, text=True, timeout=180)
    log("the dry run printed:\n" + r.stdout)
    case.check(r.returncode == 0, f"run --dry-run exited 0 once every registry planned ({r.returncode})")
    out = r.stdout
    # stdout is the report alone: the controller's log went to stderr (the case's controller log).
    case.check(out.startswith("QuayRegistry quay/registry: planned\n  dry run: PostgreSQL 10 -> 15 by logical"),
               "stdout is the registry's plan alone, starting with its versions and method")
    case.check("watching namespace quay for QuayRegistries" in open(case.ctl_log).read()
               and "watching namespace" not in out, "the controller's log went to stderr, not into the report")
    for part in ("backup claim registry-quay-database-backup-pg10 (", "new data claim registry-quay-database-pg15 (",
                 "the app would be stopped: registry-quay-app (1 replicas)", "estimated downtime about ",
                 "the preflight check Job passed (CheckPassed", "nothing refuses it", "Run without --dry-run to upgrade"):
        case.check(part in out, f"the plan says {part!r}")
    reg = case.registry()
    case.check(upgrade_status(reg).get("phase") == "planned" and cond(reg, "PostgresUpgraded").get("reason") == "Planned",
               "the QuayRegistry's status says planned (PostgresUpgraded reason Planned)")
    app_now = {p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=quay-app")}
    case.check(app_now == case.app_pods_before, f"the app's pods were never replaced ({sorted(app_now)})")
    claims = sorted(p["metadata"]["name"] for p in case.kube.list("PersistentVolumeClaim"))
    case.check(claims == [OLD_CLAIM], f"no claim was created ({claims})")
    case.wait_for("the check Job to be deleted again", lambda: case.kube.get("Job", "registry-pg-check-1") is None, 30)
    case.check(True, "the check Job registry-pg-check-1 is deleted again")
    case.mark_attempt(1)  # the dry run: its server never stopped
    case.mark_attempt(2)
    case.start_controller()
    run_upgrade(case, attempt=2)


def endpoint_port(log_path, timeout=20):
    """The port of the controller's HTTP endpoint (--metrics-bind-address 127.0.0.1:0), from its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(log_path):
            m = re.search(r"/debug/state on port (\d+)", open(log_path, errors="replace").read())
            if m:
                return int(m.group(1))
        time.sleep(0.1)
    raise Failure(f"the controller did not report its HTTP endpoint port in {log_path}")


def case_database_never_stops(case):
    # A finalizer on the database pod (as some backup or policy agent would set) keeps the pod
    # object after its server exited: the controller must not touch the data while a database pod
    # remains, so the stop deadline fires. Removing the cause: drop the finalizer.
    hold = "e2e.quay-pg-upgrader.test/hold"

    def inject(c):
        for p in c.kube.list("Pod", selector="quay-component=postgres"):
            fins = list(p["metadata"].get("finalizers") or []) + [hold]
            c.kube.merge_patch("Pod", p["metadata"]["name"], {"metadata": {"finalizers": fins}})

    def remove(c):
        for p in c.kube.list("Pod", selector="quay-component=postgres"):
            fins = [f for f in p["metadata"].get("finalizers") or [] if f != hold]
            if len(fins) != len(p["metadata"].get("finalizers") or []):
                c.kube.merge_patch("Pod", p["metadata"]["name"], {"metadata": {"finalizers": fins}})
        c.wait_for("the held pod to go", lambda: len(c.kube.list("Pod", selector="quay-component=postgres")) == 1, 60)

    failure_then_retry(case, inject, "stopping", DATABASE_NEVER_STOPS, remove)


def case_untouched(case, expect_status, expect_reason, message_has):
    case.set_up()
    pvcs = {p["metadata"]["name"] for p in case.kube.list("PersistentVolumeClaim")}
    jobs = {j["metadata"]["name"] for j in case.kube.list("Job")}
    db_gen = case.orig_db["metadata"].get("generation")
    app_gen = case.orig_app["metadata"].get("generation")
    ids_before = case.logentry_ids()
    case.start_controller()

    def decided():
        c = cond(case.registry(), "PostgresUpgraded")
        return c if c and c.get("status") in ("True", "False") else None
    try:
        c = case.wait_for("the PostgresUpgraded condition", decided, 90)
    except Failure:
        case.diagnose()
        raise
    case.report_conditions(case.registry(), "outcome")
    case.record_observed(c.get("message"))
    if not (c.get("status") == expect_status and c.get("reason") == expect_reason):
        case.diagnose()
        raise Failure(f"PostgresUpgraded is {c.get('status')}/{c.get('reason')}, expected {expect_status}/{expect_reason}")
    log(f"ok: PostgresUpgraded {expect_status}, reason {expect_reason}")
    for s in message_has:
        case.check(s in (c.get("message") or ""), f"the message mentions {s!r}")
    # Give a wrong decision time to show itself.
    quiet_end = time.monotonic() + 6
    case.wait_for("6 s of quiet", lambda: time.monotonic() >= quiet_end, 20)
    case.assert_untouched(pvcs, jobs, db_gen, app_gen, case.app_pods_before)
    case.check(case.server_major() == case.from_major, f"the server still runs PostgreSQL {case.from_major}")
    case.check(ids_before <= case.logentry_ids(), "every row is still there")


def app_pods(case):
    return {p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=quay-app")
            if "deletionTimestamp" not in p["metadata"]}


def request_revert(case, what, annotations=None):
    """Sets the revert annotation (to the old claim unless `annotations` says otherwise) and waits
    for the revert to end (reverted or revert failed); returns the registry."""
    case.kube.merge_patch("QuayRegistry", REGISTRY, {"metadata": {"annotations": annotations or {REVERT_ANNOTATION: OLD_CLAIM}}})

    def ended():
        reg = case.registry()
        return reg if norm(upgrade_status(reg).get("phase")) in ("reverted", "revertfailed") else None
    try:
        reg = case.wait_for(f"the {what} to end", ended, 300)
    except Failure:
        case.diagnose()
        raise
    case.report_conditions(reg, what)
    return reg


def check_back_on_upgraded(case, reg, upgraded_pods):
    """After a failed revert: RevertFailed, PostgreSQL 15 on the upgraded claim and image, the app
    running again in new pods and committing, no acknowledged id lost. Returns the message."""
    c = cond(reg, "PostgresUpgraded")
    msg = c.get("message") or ""
    case.record_observed(msg)
    if not (c.get("status") == "True" and c.get("reason") == "RevertFailed"):
        case.diagnose()
        raise Failure(f"PostgresUpgraded is not True/RevertFailed: {c}")
    log("ok: PostgresUpgraded True, reason RevertFailed")
    case.wait_db_ready("the upgraded database to be ready again", 60)
    db = case.kube.get("Deployment", DB)
    new_claim = f"{OLD_CLAIM}-pg15"
    case.check(container(db)["image"] == PG15_IMAGE and claim_of(db) == new_claim,
               f"the database runs the upgraded image on the upgraded claim again ({container(db)['image']}, {claim_of(db)})")
    case.check(db["spec"].get("replicas") == 1, "database replicas restored")
    case.check(case.server_major() == 15, "the server is PostgreSQL 15")
    case.wait_for("the app Deployment to be ready again",
                  lambda: (case.kube.get("Deployment", APP).get("status") or {}).get("readyReplicas") == 1, 60)
    current = app_pods(case)
    case.check(current and not (current & upgraded_pods), f"the app runs again in new pod(s) {sorted(current)}")
    case.wait_for("the app to commit again", lambda: all(len(case.committed().get(p, [])) >= 3 for p in current), 60)
    missing = sorted({i for v in case.committed().values() for i in v} - case.logentry_ids())
    case.check(not missing, "every id the app saw committed (before, after the upgrade, after the failed revert) is in the database"
               + (f"; MISSING {missing[:20]}" if missing else ""))
    return msg


def check_reverted(case, reg, pre_ids, upgraded_pods):
    """A revert that ended well: Reverted, PostgreSQL 10 again on the old claim and image with every
    row the app committed before the upgrade (`pre_ids`), every claim kept, the writes made on the
    upgraded database (by `upgraded_pods`) in the revert's own backup, whose archive restores, and
    the app running again in new pods and committing."""
    new_claim = f"{OLD_CLAIM}-pg15"
    c = cond(reg, "PostgresUpgraded")
    st = upgrade_status(reg)
    msg = c.get("message") or ""
    case.record_observed(msg)
    if not (c.get("status") == "False" and c.get("reason") == "Reverted"):
        case.diagnose()
        raise Failure(f"PostgresUpgraded is not False/Reverted: {c}")
    log("ok: PostgresUpgraded False, reason Reverted")
    revert_claim = f"{OLD_CLAIM}-backup-pg15-revert-1-1"
    revert_job = "registry-pg15-revert-backup-1-1"
    case.check(st.get("revertBackupClaim") == revert_claim, f"status revertBackupClaim {revert_claim} ({st.get('revertBackupClaim')})")
    case.check("NOT carried back" in msg and "after the upgrade" in msg and revert_claim in msg,
               "the condition says plainly that writes made after the upgrade are not carried back, and where they are")
    case.check(case.job_done(revert_job) == "Complete", f"Job {revert_job} Complete")
    # Under API faults the Event may still wait out a write's back-off (at most 60 s and half again).
    case.wait_for("an Event PostgresUpgradeReverted",
                  lambda: [e for e in case.kube.list("Event") if e.get("reason") == "PostgresUpgradeReverted"], 100)
    log("ok: an Event PostgresUpgradeReverted was emitted")

    # The database: PostgreSQL 10 again, on the old claim and image, every pre-upgrade row.
    case.wait_db_ready("the reverted database to be ready", 60)
    db = case.kube.get("Deployment", DB)
    case.check(container(db)["image"] == container(case.orig_db)["image"], f"database image is the old one ({container(db)['image']})")
    case.check(claim_of(db) == OLD_CLAIM, f"database claim is the old one ({claim_of(db)})")
    case.check(db["spec"].get("replicas") == 1, "database replicas restored")
    major = case.server_major()
    case.check(major == 10, f"the server through the Service is PostgreSQL 10 again ({major})")
    case.check_truth("after the revert")
    ids = case.logentry_ids()
    missing = sorted(set(pre_ids) - ids)
    case.check(pre_ids and not missing, f"every id the app committed before the upgrade ({len(pre_ids)}) is in the reverted database"
               + (f"; MISSING {missing[:20]}" if missing else ""))
    trgm = case.psql("SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'")
    case.check(bool(trgm), f"pg_trgm is there ({trgm})")
    for name in (OLD_CLAIM, new_claim, f"{OLD_CLAIM}-backup-pg10", revert_claim):
        p = case.kube.get("PersistentVolumeClaim", name)
        case.check(p is not None and (p.get("status") or {}).get("phase") == "Bound" and "deletionTimestamp" not in p["metadata"],
                   f"claim {name} kept and Bound")
    rc = case.kube.get("PersistentVolumeClaim", revert_claim)
    case.check(not rc["metadata"].get("ownerReferences"), "the revert's backup claim has no owner reference (it outlives the registry)")

    # The writes made after the upgrade: not in the reverted database, but in the revert's backup.
    committed = case.committed()
    post_ids = sorted(i for p, ids in committed.items() if p in upgraded_pods for i in ids)
    case.check(post_ids, f"the app committed {len(post_ids)} rows on the upgraded database")
    backup = case.backup_files(revert_claim)
    manifest = case.read_manifest(backup["manifest"])

    def post_ids_in_backup(sock):
        got = {int(x) for x in case.psql("SELECT id FROM logentry", admin=True, host=sock).split()}
        lost = sorted(set(post_ids) - got)
        case.check(not lost, f"every id committed on the upgraded database ({len(post_ids)}) is in the revert's backup"
                   + (f"; MISSING {lost[:20]}" if lost else ""))
    case.restore_backup(backup, manifest, scratch="scratch-revert", inspect=post_ids_in_backup)

    # The app runs again, in new pods, and commits on PostgreSQL 10.
    case.wait_for("the app Deployment to be ready again",
                  lambda: (case.kube.get("Deployment", APP).get("status") or {}).get("readyReplicas") == 1, 60)
    app = case.kube.get("Deployment", APP)
    case.check(app["spec"].get("replicas") == case.orig_app["spec"].get("replicas"), "app replicas restored")
    current = {p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=quay-app")
               if "deletionTimestamp" not in p["metadata"]}
    case.check(current and not (current & upgraded_pods), f"the app runs in new pod(s) {sorted(current)}")
    for p in upgraded_pods:
        case.check("quay-app: stopped" in case.pod_logs(APP + "-", "quay-app").get(p, ""),
                   f"the app pod {p} wrote until it was stopped (quiesce before the revert's backup)")
    case.wait_for("the app to commit on the reverted database",
                  lambda: all(len(case.committed().get(p, [])) >= 3 for p in current), 60)
    log("ok: the app commits again on PostgreSQL 10")


def case_revert(case):
    """Manual revert (issue 6, item 6): a real 10 -> 15 upgrade, then a revert request naming the
    wrong claim (refused, nothing touched), then the right one: the database runs PostgreSQL 10
    again on its old claim with every row the app committed before the upgrade, the writes made
    after the upgrade are in the revert's own backup claim (whose archive restores), the app runs
    again, and the condition says plainly that those writes are not carried back."""
    case.set_up()
    case.start_controller()
    run_upgrade(case)
    pre_upgrade_pods = set(case.app_pods_before)
    committed = case.committed()
    pre_ids = sorted(i for p, ids in committed.items() if p in pre_upgrade_pods for i in ids)
    upgraded_pods = {p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=quay-app")
                     if "deletionTimestamp" not in p["metadata"]}
    new_claim = f"{OLD_CLAIM}-pg15"

    # 1. A value that is not the retained previous claim (here the NEW claim's name): refused.
    pvcs = {p["metadata"]["name"] for p in case.kube.list("PersistentVolumeClaim")}
    jobs = {j["metadata"]["name"] for j in case.kube.list("Job")}
    db0, app0 = case.kube.get("Deployment", DB), case.kube.get("Deployment", APP)
    db_pods0 = {p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=postgres")}
    log(f"revert request with the wrong claim: {REVERT_ANNOTATION}={new_claim}")
    case.kube.merge_patch("QuayRegistry", REGISTRY, {"metadata": {"annotations": {REVERT_ANNOTATION: new_claim}}})

    def reason_is(r):
        def pred():
            c = cond(case.registry(), "PostgresUpgraded")
            return c if c and c.get("reason") == r else None
        return pred
    try:
        c = case.wait_for("PostgresUpgraded reason RevertRefused", reason_is("RevertRefused"), 60)
    except Failure:
        case.diagnose()
        raise
    case.report_conditions(case.registry(), "refusal")
    msg = c.get("message") or ""
    case.record_observed(msg)
    case.check(c.get("status") == "True", f"PostgresUpgraded stays True on a refused revert ({c.get('status')})")
    case.check(new_claim in msg and OLD_CLAIM + " (to revert" in msg and "nothing was changed" in msg,
               "the refusal names the wrong value, the right claim, and says nothing was changed")
    quiet_end = time.monotonic() + 6
    case.wait_for("6 s of quiet", lambda: time.monotonic() >= quiet_end, 20)
    now_pvcs = {p["metadata"]["name"] for p in case.kube.list("PersistentVolumeClaim")}
    now_jobs = {j["metadata"]["name"] for j in case.kube.list("Job")}
    case.check(now_pvcs == pvcs, f"no claim created by the refused request ({sorted(now_pvcs - pvcs)})")
    case.check(now_jobs == jobs, f"no Job created by the refused request ({sorted(now_jobs - jobs)})")
    db1, app1 = case.kube.get("Deployment", DB), case.kube.get("Deployment", APP)
    case.check(db1["metadata"].get("generation") == db0["metadata"].get("generation") and claim_of(db1) == new_claim
               and container(db1)["image"] == PG15_IMAGE, "the database Deployment is untouched (15, upgraded claim)")
    case.check(app1["metadata"].get("generation") == app0["metadata"].get("generation"), "the app Deployment is untouched")
    case.check({p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=postgres")} == db_pods0,
               "the database pod is the same one")
    case.check({p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=quay-app")} == upgraded_pods,
               "the app pod is the same one")
    case.check(case.server_major() == 15, "the server still runs PostgreSQL 15")

    # 2. The right value: the revert runs.
    log(f"revert request: {REVERT_ANNOTATION}={OLD_CLAIM}")
    reg = request_revert(case, "revert")
    check_reverted(case, reg, pre_ids, upgraded_pods)

    # 3. The same annotation applied again (and any other change of the registry): no new revert.
    gen = case.kube.get("Deployment", DB)["metadata"].get("generation")
    jobs = {j["metadata"]["name"] for j in case.kube.list("Job")}
    case.kube.merge_patch("QuayRegistry", REGISTRY, {"metadata": {"annotations": {REVERT_ANNOTATION: OLD_CLAIM,
                                                                                  "e2e.quay-pg-upgrader.test/touch": "1"}}})
    quiet_end = time.monotonic() + 8
    case.wait_for("8 s of quiet", lambda: time.monotonic() >= quiet_end, 20)
    st = upgrade_status(case.registry())
    case.check(norm(st.get("phase")) == "reverted", f"still reverted after the annotation was applied again ({st.get('phase')})")
    case.check(case.kube.get("Deployment", DB)["metadata"].get("generation") == gen, "the database Deployment was not touched again")
    case.check({j["metadata"]["name"] for j in case.kube.list("Job")} == jobs, "no new Job")
    case.check(case.server_major() == 10, "the server still runs PostgreSQL 10")
    log(f"revert: observed message: {msg}")


def case_revert_backup_fails(case):
    """A revert that fails (its backup of the upgraded data hits a real ENOSPC: a right-sized claim
    of the revert claim's name exists, left nearly full, and is adopted) goes back to the upgraded
    claim and image with the real reason and loses no acknowledged write; removing the annotation
    and setting it again (after deleting the leftover) retries as revert 2 and succeeds."""
    case.set_up()
    case.start_controller()
    run_upgrade(case)
    tiny = f"{OLD_CLAIM}-backup-pg15-revert-1-1"
    fill_claim(case, tiny)
    upgraded_pods = app_pods(case)
    log(f"revert request: {REVERT_ANNOTATION}={OLD_CLAIM} (with a full claim {tiny} in the way)")
    reg = request_revert(case, "failed revert")
    case.check(norm(upgrade_status(reg).get("lastError")) != "", "lastError carries the revert's failure")
    msg = check_back_on_upgraded(case, reg, upgraded_pods)
    hits = [w for w in ("No space left on device", "ENOSPC") if w in msg]
    case.check(hits and "registry-pg15-revert-backup-1-1" in msg,
               "the condition names the failed Job and the real reason (No space left on device)")

    # Remove the cause, then ask again: remove the annotation and set it again.
    remove_claim(case, tiny)
    case.kube.merge_patch("QuayRegistry", REGISTRY, {"metadata": {"annotations": {REVERT_ANNOTATION: None}}})
    case.wait_for("succeeded again once the annotation is removed",
                  lambda: norm(upgrade_status(case.registry()).get("phase")) == "succeeded", 60)
    log("ok: removing the annotation returns the registry to succeeded")
    pre_post = {i for v in case.committed().values() for i in v}
    reg = request_revert(case, "second revert")
    c = cond(reg, "PostgresUpgraded")
    case.record_observed(c.get("message") or "")
    case.check(c.get("reason") == "Reverted", f"the second revert succeeds ({c.get('reason')})")
    second = f"{OLD_CLAIM}-backup-pg15-revert-1-2"
    case.check(upgrade_status(reg).get("revertBackupClaim") == second, f"revert 2 backs up into its own claim {second}")
    case.wait_db_ready("the reverted database to be ready", 60)
    case.check(case.server_major() == 10, "the server is PostgreSQL 10 again")
    backup = case.backup_files(second)
    manifest = case.read_manifest(backup["manifest"])

    def all_ids_in_backup(sock):
        got = {int(x) for x in case.psql("SELECT id FROM logentry", admin=True, host=sock).split()}
        lost = sorted(pre_post - got)
        case.check(not lost, f"every id committed before the second revert ({len(pre_post)}) is in its backup"
                   + (f"; MISSING {lost[:20]}" if lost else ""))
    case.restore_backup(backup, manifest, scratch="scratch-revert", inspect=all_ids_in_backup)


def case_revert_old_claim_damaged(case):
    """A revert that fails AFTER the switch: the old claim was damaged after the upgrade (its
    PG_VERSION says 9.6, so PostgreSQL 10 refuses to start on it). The switch back never becomes
    ready, the phase deadline fires, and the controller puts the database back on the upgraded
    claim and image: PostgreSQL 15 serves again with every acknowledged row, the app runs again,
    the condition says the revert failed and where the database is."""
    case.set_up()
    case.start_controller()
    run_upgrade(case)
    new_claim = f"{OLD_CLAIM}-pg15"
    root = case.claim_dir(OLD_CLAIM)
    top = os.path.join(root, "userdata", "PG_VERSION")
    case.check(os.path.exists(top), f"the old claim holds a data directory ({top})")
    with open(top, "w") as f:
        f.write("9.6\n")
    log(f"damaged the old claim: {top} now says 9.6")
    upgraded_pods = app_pods(case)
    reg = request_revert(case, "failed revert")
    # The Events, in order: a poll can miss a short phase (the rollback of a revert can take less
    # than one poll period).
    reasons = [e.get("reason") for e in sorted(case.kube.list("Event"), key=lambda e: e.get("firstTimestamp") or "")
               if (e.get("involvedObject") or {}).get("kind") == "QuayRegistry"]
    revert = [r for r in reasons if r.startswith("PostgresUpgradeRevert")]
    case.check("PostgresUpgradeRevertSwitching" in revert and "PostgresUpgradeRevertRollingBack" in revert
               and revert.index("PostgresUpgradeRevertSwitching") < revert.index("PostgresUpgradeRevertRollingBack"),
               f"the revert switched, then rolled back (Events {revert})")
    msg = check_back_on_upgraded(case, reg, upgraded_pods)
    case.check("revert_switching did not finish" in msg and new_claim in msg and "as before the revert" in msg
               and "log of the database pod" in msg,
               "the condition says the switch back did not finish, where to read why, and that the database is on the "
               "upgraded claim again")


def case_partial_resume(case):
    """No rollback that drops acknowledged writes (issue 19, item 2). The registry has two app
    Deployments; once the upgrade runs, kube-sim refuses every PATCH of the mirror's (403, as an
    admission policy would), so at the resume the app scales up on the new database and writes to
    it while the mirror stays at 0. Past the resume deadline the upgrade must not switch the
    database back: it says so (status, Warning Event) and keeps scaling the mirror up; once the
    refusal is lifted it finishes, and every row the app committed, before the upgrade and on the
    new database while the mirror was refused, is in the upgraded database."""
    case.set_up()
    case.start_controller()
    mirror_patch = f"PATCH /apis/apps/v1/namespaces/{NS}/deployments/{MIRROR}"
    case.wait_for("the upgrade Job (the app is stopped)", lambda: any(p[2] == "upgrading" for p in case.phases), 180)
    case.faults({"failRate": 1, "failCode": 403, "failRequest": mirror_patch})
    log(f"refusing every {mirror_patch}")
    held = "part of the app already runs on the upgraded database"

    def holding():
        st = upgrade_status(case.registry())
        c = cond(case.registry(), "PostgresUpgraded") or {}
        return norm(st.get("phase")) == "resuming" and held in (c.get("message") or "") and c
    c = case.wait_for("the resume to hold, part of the app scaled up", holding, 120)
    case.check("Still to scale up: quay/registry-quay-mirror" in c["message"] and "Forbidden" in c["message"],
               f"the condition names the Deployment still to scale up and why ({c['message'][:300]}...)")
    # Past the resume deadline (20 s), still resuming, still on the new claim.
    time.sleep(25)
    st = upgrade_status(case.registry())
    case.check(norm(st.get("phase")) == "resuming", f"past the resume deadline the phase is still resuming ({st.get('phase')})")
    case.check(claim_of(case.kube.get("Deployment", DB)) == f"{OLD_CLAIM}-pg15", "the database still runs on the new claim")
    case.check(not any(p[2] in ("rolling_back", "failed") for p in case.phases), f"no rollback ({case.phases})")
    reasons = [e.get("reason") for e in case.kube.list("Event")]
    case.check(reasons.count("PostgresUpgradePartlyResumed") == 1, "one Warning Event PostgresUpgradePartlyResumed")
    mirror = case.kube.get("Deployment", MIRROR)
    case.check(mirror["spec"].get("replicas") == 0, "the mirror is still at 0 (its scale-up refused)")
    current = {p["metadata"]["name"] for p in case.kube.list("Pod", selector="quay-component=quay-app")
               if "deletionTimestamp" not in p["metadata"] and p["metadata"]["name"] not in case.app_pods_before}
    case.wait_for("the app to commit on the new database while the mirror is refused",
                  lambda: current and all(len(case.committed().get(p, [])) >= 5 for p in current), 60)
    during = sorted(i for p in current for i in case.committed().get(p, []))
    log(f"the app committed {len(during)} rows on the new database while held")
    case.faults({"failRate": 0, "failRequest": ""})
    log("the refusal is lifted")
    run_upgrade(case, timeout=180)
    missing = sorted(set(during) - case.logentry_ids())
    case.check(during and not missing, f"every row committed while the resume held ({len(during)}) is in the upgraded database"
               + (f"; MISSING {missing[:20]}" if missing else ""))
    case.check(case.kube.get("Deployment", MIRROR)["spec"].get("replicas") == 1, "the mirror is back at its replica count")
    case.check(not any(p[2] in ("rolling_back", "failed") for p in case.phases), f"never rolled back ({case.phases})")


CASES = {
    "logical-10-to-15": (case_happy, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True)),
    # Docker Hub's postgres:14 reads $PGDATA (default /var/lib/postgresql/data): the database
    # container points it into the sclorg layout the upgrade writes (the PostgreSQL 10 image's own
    # scripts ignore it), as an installation moving to that image must.
    "logical-10-to-14": (case_happy, dict(from_=10, to=14, method="logical", target="postgres:14", check_old_claim=True,
                                          db_env=[{"name": "PGDATA", "value": "/var/lib/pgsql/data/userdata"}])),
    "pg-upgrade-13-to-15": (case_happy, dict(from_=13, to=15, method="pg_upgrade", db_image=PG13_IMAGE, target=PG15_IMAGE,
                                             upgrade_image=True, check_old_claim=True)),
    "logical-11-to-15": (case_happy, dict(from_=11, to=15, method="logical", db_image="centos/postgresql-11-centos7",
                                          target=PG15_IMAGE, check_old_claim=True)),
    "logical-12-to-15": (case_happy, dict(from_=12, to=15, method="logical", db_image="centos/postgresql-12-centos7",
                                          target=PG15_IMAGE, check_old_claim=True)),
    # No sclorg 14 image is mapped: Docker Hub's postgres:14 keeps its data elsewhere, so this
    # Deployment keeps the Quay operator's mount (/var/lib/pgsql/data) and points PGDATA into it,
    # as an installation on that image must.
    "logical-14-to-15": (case_happy, dict(from_=14, to=15, method="logical", db_image="postgres:14", target=PG15_IMAGE,
                                          check_old_claim=True,
                                          db_env=[{"name": "PGDATA", "value": "/var/lib/pgsql/data/userdata"}])),
    "backup-job-fails": (case_backup_job_fails, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
                                                     deadlines="quiesce=60,backup=90,stop=60,upgrade=120,switch=90,verify=60,resume=60,rollback=90")),
    "backup-job-deleted": (case_backup_job_deleted, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
                                                         deadlines="quiesce=60,backup=90,stop=60,upgrade=120,switch=90,verify=60,resume=60,rollback=90")),
    "upgrade-job-fails": (case_upgrade_job_fails, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
                                                       deadlines="quiesce=60,backup=90,stop=60,upgrade=120,switch=90,verify=60,resume=60,rollback=90")),
    "leftover-claim-too-small": (case_leftover_claim_too_small, dict(from_=10, to=15, method="logical", target=PG15_IMAGE,
                                                                     check_old_claim=True)),
    "verification-mismatch": (case_verification_mismatch, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
                                                               mutated_tables=["public.logentry"])),
    "new-claim-pending": (case_new_claim_pending, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
                                                       deadlines="quiesce=60,backup=40,stop=60,upgrade=40,switch=90,verify=60,resume=60,rollback=90")),
    "claims-wait-for-first-consumer": (case_claims_wait_for_first_consumer, dict(from_=10, to=15, method="logical",
                                                                                  target=PG15_IMAGE, check_old_claim=True)),
    "dry-run": (case_dry_run, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True)),
    "progress": (case_progress, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
                                     truth=False, old_claim_size="3Gi")),
    "check-fails": (case_check_fails, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True)),
    "pg-upgrade-check-fails": (case_pg_upgrade_check_fails, dict(from_=13, to=15, method="pg_upgrade", db_image=PG13_IMAGE,
                                                                 target=PG15_IMAGE, upgrade_image=True, check_old_claim=True)),
    # On cloning storage (issue 16, item 2): clones of the stopped old claim, pg_upgrade --link in
    # the data clone, the archive after the app is back; its failure; storage that does not clone.
    "clone-13-to-15": (case_happy, dict(from_=13, to=15, method="pg_upgrade", db_image=PG13_IMAGE, target=PG15_IMAGE,
                                        upgrade_image=True, check_old_claim=True, clone=True,
                                        controller_args=["--clone-storage-classes", "standard"])),
    "clone-archive-fails": (case_clone_archive_fails, dict(from_=13, to=15, method="pg_upgrade", db_image=PG13_IMAGE,
                                                           target=PG15_IMAGE, upgrade_image=True, check_old_claim=True,
                                                           clone=True, controller_args=["--clone-storage-classes", "standard"])),
    # Verification after the resume (issue 16, item 3): both manifests from clones, read by the
    # archive Job while the app serves; a difference stops the app again and the revert follows.
    "clone-verify-after-resume": (case_happy, dict(from_=13, to=15, method="pg_upgrade", db_image=PG13_IMAGE, target=PG15_IMAGE,
                                                   upgrade_image=True, check_old_claim=True, clone=True, verify_after_resume=True,
                                                   controller_args=["--clone-storage-classes", "standard",
                                                                    "--verify", "after-resume"])),
    "clone-verify-mismatch": (case_verify_after_resume_mismatch,
                              dict(from_=13, to=15, method="pg_upgrade", db_image=PG13_IMAGE, target=PG15_IMAGE,
                                   upgrade_image=True, check_old_claim=True, clone=True, verify_after_resume=True,
                                   controller_args=["--clone-storage-classes", "standard", "--verify", "after-resume"])),
    "clone-refused": (case_clone_refused, dict(from_=13, to=15, method="pg_upgrade", db_image=PG13_IMAGE, target=PG15_IMAGE,
                                               upgrade_image=True, check_old_claim=True, old_claim_class="basic")),
    "leftover-claim-full": (case_leftover_claim_full, dict(from_=10, to=15, method="logical", target=PG15_IMAGE,
                                                           check_old_claim=True)),
    "database-never-stops": (case_database_never_stops, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
                                                             deadlines="quiesce=60,backup=90,stop=15,upgrade=120,switch=90,verify=60,resume=60,rollback=60")),
    "partial-resume": (case_partial_resume, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
                                                 mirror=True,
                                                 deadlines="quiesce=60,backup=90,stop=60,upgrade=120,switch=90,verify=60,resume=20,rollback=90")),
    "revert-10-to-15": (case_revert, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True)),
    "revert-backup-fails": (case_revert_backup_fails, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True)),
    "revert-old-claim-damaged": (case_revert_old_claim_damaged, dict(
        from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True,
        deadlines="quiesce=60,backup=120,stop=60,upgrade=180,switch=30,verify=60,resume=60,rollback=120")),
    "up-to-date": (lambda c: case_untouched(c, "True", "UpToDate", ["15"]),
                   dict(from_=15, to=15, db_image=PG15_IMAGE, target=PG15_IMAGE)),
    "downgrade-refused": (lambda c: case_untouched(c, "False", "DowngradeRefused", ["15", "13"]),
                          dict(from_=15, to=13, db_image=PG15_IMAGE, target=PG13_IMAGE)),
    # Without PGDATA, postgres:14 would look in /var/lib/postgresql/data and start empty after the
    # switch: refused before anything is touched.
    "target-layout-differs": (lambda c: case_untouched(c, "False", "Unsupported", ["/var/lib/postgresql/data", "PGDATA="]),
                              dict(from_=10, to=14, target="postgres:14")),
}


def change_stopped_cluster(pgdata, sql):
    """Runs `sql` in database quay of the stopped PostgreSQL 15 cluster in `pgdata` (as the user that
    owns it, on a private socket, with a scratch configuration), then stops it again: a change made
    behind everybody's back, as a fault a verification must catch."""
    owner = pwd.getpwuid(os.stat(pgdata).st_uid).pw_name
    conf = tempfile.mkdtemp(prefix="qpu-damage-")
    with open(os.path.join(conf, "pg_hba.conf"), "w") as f:
        f.write("local all all trust\n")
    open(os.path.join(conf, "pg_ident.conf"), "w").close()
    shutil.chown(conf, owner)
    for n in os.listdir(conf):
        shutil.chown(os.path.join(conf, n), owner)
    as_owner = ["runuser", "-u", owner, "--"]
    opts = (f"-c listen_addresses='' -c unix_socket_directories={conf} -c port=5432 -c autovacuum=off "
            f"-c hba_file={conf}/pg_hba.conf -c ident_file={conf}/pg_ident.conf")
    subprocess.run(as_owner + [os.path.join(PG15, "pg_ctl"), "-D", pgdata, "-w", "-l", os.path.join(conf, "server.log"),
                               "-o", opts, "start"], check=True, capture_output=True, timeout=120)
    try:
        user = subprocess.run(as_owner + [os.path.join(PG15, "psql"), "-X", "-At", "-h", conf, "-d", "template1", "-U", owner,
                                          "-c", "SELECT rolname FROM pg_roles WHERE oid = 10"],
                              capture_output=True, text=True, timeout=60)
        superuser = user.stdout.strip() or "postgres"
        subprocess.run(as_owner + [os.path.join(PG15, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", conf, "-d", "quay",
                                   "-U", superuser, "-c", sql], check=True, capture_output=True, timeout=60)
    finally:
        subprocess.run(as_owner + [os.path.join(PG15, "pg_ctl"), "-D", pgdata, "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--kube-sim", help="the kube-sim binary (default: BUILD/kube-sim/kube-sim)")
    ap.add_argument("--controller", help="the quay-pg-upgrader binary (default: BUILD/quay-pg-upgrader)")
    ap.add_argument("--timeout", type=int, default=540, help="give up (and clean up) after this many seconds")
    ap.add_argument("case", choices=sorted(CASES) + ["list"])
    args = ap.parse_args()
    if args.case == "list":
        print("\n".join(sorted(CASES)))
        return 0
    if os.geteuid() != 0:
        print("e2e: needs root (kube-sim loop-mounts claims and runs pods in mount namespaces)")
        return 1
    fn, spec = CASES[args.case]
    spec = dict(spec)
    spec["from"] = spec.pop("from_")
    # A case may name its own harness class (a subclass of the module's Case).
    case = spec.pop("case_class", Case)(args, args.case, spec)
    # CTest's timeout and Ctrl-C: clean up on SIGTERM/SIGINT as on failure.
    def on_signal(signum, _):
        raise Failure(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    passed = False
    try:
        log(f"case {args.case} in {case.tmp}")
        fn(case)
        passed = True
        log(f"PASS {args.case} in {time.monotonic() - case.t0:.0f} s")
    except Failure as e:
        log(f"FAIL {args.case}: {e}")
        try:
            case.diagnose()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        log(f"FAIL {args.case}: unexpected error")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            case.cleanup(passed)
        except Failure as e:
            log(f"FAIL {args.case}: {e}")
            passed = False
        except Exception:  # noqa: BLE001
            # A cleanup that broke (the sanitizer-log scan included) did not show the case clean.
            traceback.print_exc()
            log(f"FAIL {args.case}: cleanup raised an unexpected error (above)")
            passed = False
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
