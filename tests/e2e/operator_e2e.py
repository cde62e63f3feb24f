#!/usr/bin/python3
"""End-to-end: the controller beside kube-sim's Quay operator stand-in (issue 13, item 3).

One case per invocation:  operator_e2e.py --build BUILD_DIR --source SOURCE_DIR CASE
The installation is kube-sim/scenarios/quay-operator-pg10: the database as the operator rendered
it for PostgreSQL 10, and the operator's Deployment, upgraded to the 3.9 release that expects
quay.io/sclorg/postgresql-13-c9s (its own trigger for a pg_dumpall | psql migration). kube-sim runs
the stand-in (`--quay-operator`) held until the scenario is seeded and the controller runs, as an
operator would be racing the controller on a real cluster; the hold is released once the controller
has recorded and scaled the operator to 0 (or at once, for the refusal case). The harness keeps its
own truth: it counts and hashes every seeded table before and after.

Cases:
  operator-10-to-13      paused, upgraded to 13 on the claim the operator renders, resumed; the
                         operator then reconciles at least three times and changes nothing, and
                         never creates its migration Job
  operator-13-to-15      the same from 13 (claim registry-quay-postgres-13) with an operator
                         expecting postgresql-15-c9s: on registry-quay-postgres-15
  operator-controller-killed  the controller is SIGKILLed while the operator is paused; the operator
                         stays paused; a new process carries on and resumes it
  operator-already-migrating  the operator started its own migration before the controller: the
                         controller stands aside (blocked), then finds the database up to date
  operator-pause-off     --pause-operator=false with the operator running: refused, nothing touched
  operator-rollback-holds  the upgrade Job runs out of space: rolled back, and the operator kept
                         paused (resumed, it would take the failed claim for its own migration)
  operator-quay-and-clair  both databases rendered by the operator (issue 14): Quay's 10 -> 13 on
                         registry-quay-postgres-13, then Clair's 13 -> 15 on
                         registry-clair-postgres-15 while Quay's app keeps serving; the resumed
                         operator changes nothing of either and never starts a migration
"""
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import DB, NS, Case, Failure, claim_of, cond, container, log, norm, upgrade_status  # noqa: E402
from clair_e2e import CLAIR_DB, ClairCase, clair_status  # noqa: E402

OPERATOR_NS, OPERATOR = "quay-operator", "quay-operator"
MIGRATION_JOB = "registry-quay-postgres-upgrade"
CLAIR_MIGRATION_JOB = "registry-clair-postgres-upgrade"
# What the stand-in's operator (scenarios/quay-operator-pg10) expects for Clair's database.
CLAIR_OPERATOR_IMAGE = "quay.io/sclorg/postgresql-15-c9s:latest"
QUAY_TABLES = ("user", "repository", "imagestorage", "manifest", "manifestblob", "tag", "seed_done")


class OperatorCase(Case):
    def __init__(self, args, name, spec):
        super().__init__(args, name, spec)
        self.from_major = spec["from"]
        # The operator's RELATED_IMAGE_COMPONENT_POSTGRES and the claim it renders for it.
        self.operator_image = f"quay.io/sclorg/postgresql-{spec['to']}-c9s:latest"
        self.operator_claim = f"registry-quay-postgres-{spec['to']}"
        self.old_claim = "registry-quay-database" if spec["from"] < 13 else f"registry-quay-postgres-{spec['from']}"

    def load_scenario(self):
        objs = self.scenario_objects(f"quay-operator-pg{self.from_major}")
        for o in objs:
            if o["kind"] == "Secret" and o["metadata"]["name"] == "registry-postgres-config-secret":
                self.passwords = dict(o.get("stringData") or {})
            if o["kind"] == "Job":
                for e in o["spec"]["template"]["spec"]["containers"][0]["env"]:
                    if e["name"] == "ROWS":
                        e["value"] = str(e2e.ROWS)
        return objs

    def create_scenario(self):
        """As kube-sim's apply_manifests does: an ownerReference without a uid (a scenario cannot
        know it) gets the uid of the QuayRegistry it names, created by an earlier document."""
        uids = {}
        for o in self.load_scenario():
            for ref in o.get("metadata", {}).get("ownerReferences") or []:
                if not ref.get("uid"):
                    ref["uid"] = uids[(ref["kind"], ref["name"])]
            created = self.kube.create(o)
            uids[(o["kind"], o["metadata"]["name"])] = created["metadata"]["uid"]

    def arm_claim_hook(self):
        """e2e.py's hooks digest a claim named registry-quay-database; from 13 the old claim has
        the operator's name, and these cases compare the tables instead."""
        if self.from_major < 13:
            super().arm_claim_hook()

    # ----- the stand-in's admin routes ------------------------------------------------------
    def sim_http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.kube.server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.kube.ctx, timeout=20) as resp:
            return resp.read().decode()

    def operator_status(self):
        return json.loads(self.sim_http("GET", "/_sim/quay-operator/status"))

    def journal(self, since=0):
        text = self.sim_http("GET", f"/_sim/quay-operator?since={since}")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def hold(self, on):
        log(f"operator stand-in: hold {on}")
        self.sim_http("POST", "/_sim/quay-operator", {"hold": on})

    def operator(self):
        return self.kube.get("Deployment", OPERATOR, ns=OPERATOR_NS)

    # ----- the harness's own truth ----------------------------------------------------------
    def seeded_truth(self):
        return {t: self.psql(f'SET TimeZone = \'UTC\'; SELECT count(*) || \' \' || '
                             f'coalesce(md5(string_agg(r::text, \'|\' ORDER BY r::text)), \'-\') FROM "{t}" r')
                for t in QUAY_TABLES}


class OperatorClairCase(OperatorCase, ClairCase):
    """Quay's database and Clair's, both rendered by the operator: quay-operator-pg10 with the
    registry's clairpostgres component managed, Clair's database as the operator rendered it for 13
    (scenarios/quay-operator-clair-pg13), and Clair's seed and app (scenarios/clair). ClairCase
    gives the observation of Clair's phases and its SQL and app checks."""

    def load_scenario(self):
        objs = OperatorCase.load_scenario(self)
        for o in objs:
            if o["kind"] == "QuayRegistry":
                for c in o["spec"]["components"]:
                    if c["kind"] == "clairpostgres":
                        c["managed"] = True
        return objs + self.clair_objects("quay-operator-clair-pg13")

    def set_up(self):
        Case.set_up(self)
        self.wait_for("Clair's database to be ready",
                      lambda: ((self.kube.get("Deployment", CLAIR_DB) or {}).get("status") or {}).get("readyReplicas", 0) >= 1, 120)
        self.wait_for("Clair's seed Job to finish", lambda: self.job_done("registry-clair-seed"), 120)
        if self.job_done("registry-clair-seed") != "Complete":
            raise Failure("Clair's seed Job failed")
        self.clair_ip = self.kube.get("Service", CLAIR_DB)["spec"]["clusterIP"]
        major = int(self.sql("clair", "SHOW server_version_num")) // 10000
        if major != 13:
            raise Failure(f"Clair's database runs PostgreSQL {major}, expected 13")
        self.clair_truth = ClairCase.seeded_truth(self, "clair")
        self.check(int(self.clair_truth["vuln"].split()[0]) == e2e.ROWS,
                   f"Clair's seed holds {e2e.ROWS} vulnerabilities (counted by the harness)")

    def seeded_truth(self):
        return OperatorCase.seeded_truth(self)


def pause_and_release(case):
    """Starts the controller, waits until it recorded and scaled the operator to 0, releases the
    stand-in's hold; returns the journal position after which every registry entry is a reconcile
    of the resumed operator (it is at 0 until the controller gives it back)."""
    case.check(case.operator_status().get("held") is True, "the operator stand-in is held while the scenario was seeded")
    case.start_controller()

    def paused():
        op = case.operator()
        return op and op["spec"].get("replicas") == 0 and \
            (op["metadata"].get("annotations") or {}).get("quay-pg-upgrader.quay.io/original-replicas") == "1"
    case.wait_for("the controller to record and scale the operator to 0", paused, 60)
    log(f"operator paused by the controller at {time.monotonic() - case.t0:.1f} s; releasing the stand-in's hold")
    case.hold(False)
    return case.operator_status().get("seq", 0)


def check_quay_upgraded(case, reg, truth):
    st = upgrade_status(reg)
    c = cond(reg, "PostgresUpgraded")
    case.report_conditions(reg, "outcome")
    case.record_observed((c or {}).get("message", ""))
    case.check(c and c.get("status") == "True" and c.get("reason") == "Succeeded", f"PostgresUpgraded True, Succeeded ({c})")
    frm, to = case.from_major, case.spec["to"]
    case.check(str(st.get("from")) == str(frm) and str(st.get("to")) == str(to), f"{frm} -> {to}, the operator's version ({st})")
    case.check(st.get("previousClaim") == case.old_claim, f"the previous claim is {case.old_claim} ({st.get('previousClaim')})")
    case.check(st.get("newClaim") == case.operator_claim, f"the new claim is the one the operator renders ({st.get('newClaim')})")
    case.check(st.get("quayOperator") == f"{OPERATOR_NS}/{OPERATOR}", f"the status names the operator ({st.get('quayOperator')})")
    # The Events say what happened in order (polls can miss short phases).
    reasons = [e.get("reason") for e in sorted(case.kube.list("Event"), key=lambda e: e.get("firstTimestamp") or "")
               if (e.get("involvedObject") or {}).get("kind") == "QuayRegistry"]
    log(f"Events on the QuayRegistry: {reasons}")
    for r in ("PostgresUpgradePausingOperator", "PostgresUpgradeResumingOperator", "PostgresUpgradeSucceeded"):
        case.check(r in reasons, f"Event {r}")
    db = case.kube.get("Deployment", DB)
    case.check(container(db)["image"] == case.operator_image and claim_of(db) == case.operator_claim,
               f"the database runs {container(db)['image']} on {claim_of(db)}, as the operator renders it")
    case.wait_for("the database to be ready", lambda: (case.kube.get("Deployment", DB).get("status") or {}).get("readyReplicas") == 1, 60)
    case.check(case.server_major() == to, f"the server through the Service is PostgreSQL {to}")
    after = case.seeded_truth()
    for t, before in truth.items():
        case.check(after[t] == before, f"table {t} holds the same rows ({before.split()[0]}) and the same hash")
    for name in (case.old_claim, case.operator_claim, f"registry-quay-database-backup-pg{frm}"):
        p = case.kube.get("PersistentVolumeClaim", name)
        case.check(p is not None and (p.get("status") or {}).get("phase") == "Bound", f"claim {name} kept and Bound")
    committed_before = sum(len(v) for v in case.committed().values())
    case.wait_for("the app to commit on the upgraded database",
                  lambda: sum(len(v) for v in case.committed().values()) > committed_before + 2, 60)
    committed = {i for v in case.committed().values() for i in v}
    ids = case.logentry_ids()
    missing = sorted(committed - ids)
    case.check(not missing, f"every id the app saw committed ({len(committed)}) is in the upgraded logentry"
               + (f"; MISSING {missing[:20]}" if missing else ""))


def check_operator_left_alone(case, since, migration_jobs):
    """The operator is back and leaves the result alone: at least three reconciles after the resume,
    none of substance, and none of its migration Jobs (`migration_jobs`) ever created."""
    case.wait_for("the operator to run again", lambda: (case.operator().get("status") or {}).get("readyReplicas") == 1, 60)
    op = case.operator()
    case.check(op["spec"].get("replicas") == 1, "the operator's Deployment is back at 1 replica")
    case.check("quay-pg-upgrader.quay.io/original-replicas" not in (op["metadata"].get("annotations") or {}),
               "the controller's record on the operator's Deployment is gone")

    def reconciles():
        return [e for e in case.journal(since) if e.get("registry") == f"{NS}/registry"]
    case.wait_for("three reconciles of the resumed operator", lambda: len(reconciles()) >= 3, 60)
    entries = reconciles()
    for e in case.journal(since):
        if "operator" in e:
            print("OPERATOR STATE " + json.dumps(e, sort_keys=True), flush=True)
    for e in entries:
        print("OPERATOR RECONCILE " + json.dumps(e, sort_keys=True), flush=True)
    case.check(len(entries) >= 3, f"the resumed operator reconciled the registry {len(entries)} times")
    changed = [e for e in entries if e.get("result") not in ("no change", "metadata only")]
    case.check(not changed, "none of its reconciles changed anything of substance" + (f": {changed[:2]}" if changed else ""))
    for job in migration_jobs:
        case.check(job not in case.jobs_seen, f"the operator never created its migration Job {job}")
    for d in (DB + "-old", CLAIR_DB + "-old"):
        case.check(case.kube.get("Deployment", d) is None, f"no {d} Deployment of an operator migration")


def case_operator_upgrade(case):
    case.set_up()
    truth = case.seeded_truth()
    log(f"harness truth before: {sum(int(v.split()[0]) for v in truth.values())} rows in {len(truth)} tables")
    since = pause_and_release(case)
    if case.spec.get("kill_while_paused"):
        # The controller dies (SIGKILL: no flush, no goodbye) while the operator is at 0, and
        # stays down long enough for the operator to have acted were it running; a new process
        # on the same event log must carry on and give the operator back.
        case.ctl.kill()
        case.ctl.wait()
        log("controller killed (SIGKILL) while the operator is paused")
        case.ctl = None
        ticks = case.operator_status().get("ticks", 0)
        case.wait_for("three resync periods of the stand-in", lambda: case.operator_status().get("ticks", 0) >= ticks + 3, 30)
        op = case.operator()
        case.check(op["spec"].get("replicas") == 0, "the operator stays paused while no controller runs")
        case.check(not [e for e in case.journal(since) if e.get("registry")], "the paused operator did not reconcile")
        case.start_controller()
    reg = case.wait_terminal(1, 300)
    check_quay_upgraded(case, reg, truth)
    check_operator_left_alone(case, since, [MIGRATION_JOB])


def case_operator_rollback_holds(case):
    """The upgrade Job runs out of space in the new claim (the operator's name; it fills up as the
    Job starts, after the checks before the downtime): the controller rolls back and keeps the operator paused,
    because a resumed operator, still expecting 13, would start its own migration at once and take
    that claim's failed data for its result. The stand-in, released, stays at 0 and migrates nothing."""
    case.set_up()
    e2e.fill_at_job_start(case, "registry-pg13-upgrade-1", case.operator_claim)
    since = pause_and_release(case)
    reg = case.wait_terminal(1, 300)
    held = (f". The Quay operator {OPERATOR_NS}/{OPERATOR} stays paused (its 1 replicas recorded on its Deployment): "
            f"resumed now, it would start its own migration and take claim {case.operator_claim}, which holds this failed "
            f"attempt's data, for its result. A successful retry resumes it; to let the operator migrate instead, delete "
            f"claim {case.operator_claim} and scale {OPERATOR_NS}/{OPERATOR} back to 1 replicas")
    case.check_rolled_back(reg, "upgrading", e2e.UPGRADE_ENOSPC.replace("registry-pg15-upgrade-1", "registry-pg13-upgrade-1"),
                           message_tail=held)
    ticks = case.operator_status().get("ticks", 0)
    case.wait_for("five resync periods of the stand-in", lambda: case.operator_status().get("ticks", 0) >= ticks + 5, 30)
    op = case.operator()
    case.check(op["spec"].get("replicas") == 0 and
               (op["metadata"].get("annotations") or {}).get("quay-pg-upgrader.quay.io/original-replicas") == "1",
               "the operator stays at 0 with its replicas recorded")
    case.check(not [e for e in case.journal(since) if e.get("registry")], "the paused operator reconciled nothing")
    case.check(MIGRATION_JOB not in case.jobs_seen, f"the operator never created its migration Job {MIGRATION_JOB}")


def case_operator_quay_and_clair(case):
    """Both databases under the operator (issue 14, item 4): Quay's 10 -> 13 and Clair's 13 -> 15,
    one after the other, each on the claim the operator renders; Quay's app serves all through
    Clair's downtime; the resumed operator changes nothing of either."""
    case.set_up()
    truth = case.seeded_truth()
    since = pause_and_release(case)
    reg = case.wait_both_terminal(480)
    check_quay_upgraded(case, reg, truth)

    reg = case.registry()
    st, c = clair_status(reg), cond(reg, "ClairPostgresUpgraded")
    log(f"outcome: condition ClairPostgresUpgraded: {c}")
    log(f"outcome: status.clairPostgresUpgrade = {st}")
    case.record_observed((c or {}).get("message", ""))
    case.check(c and c.get("status") == "True" and c.get("reason") == "Succeeded", f"ClairPostgresUpgraded True, Succeeded ({c})")
    case.check(str(st.get("from")) == "13" and str(st.get("to")) == "15", f"Clair's database 13 -> 15 ({st})")
    case.check(st.get("previousClaim") == f"{CLAIR_DB}-13" and st.get("newClaim") == f"{CLAIR_DB}-15",
               f"Clair's claims by the operator's rule: {st.get('previousClaim')} -> {st.get('newClaim')}")
    d = case.kube.get("Deployment", CLAIR_DB)
    case.check(container(d)["image"] == CLAIR_OPERATOR_IMAGE and claim_of(d) == f"{CLAIR_DB}-15",
               f"Clair's database runs {container(d)['image']} on {claim_of(d)}, as the operator renders it")
    case.wait_for("Clair's database to be ready",
                  lambda: (case.kube.get("Deployment", CLAIR_DB).get("status") or {}).get("readyReplicas") == 1, 60)
    major = int(case.sql("clair", "SHOW server_version_num")) // 10000
    case.check(major == 15, f"Clair's server through its Service is PostgreSQL 15 ({major})")
    after = ClairCase.seeded_truth(case, "clair")
    for t, before in case.clair_truth.items():
        case.check(after[t] == before, f"Clair's table {t} holds the same rows ({before.split()[0]}) and the same hash")
    for name in (f"{CLAIR_DB}-13", f"{CLAIR_DB}-15", f"{CLAIR_DB}-backup-pg13"):
        p = case.kube.get("PersistentVolumeClaim", name)
        case.check(p is not None and (p.get("status") or {}).get("phase") == "Bound", f"claim {name} kept and Bound")
    case.check_clair_app_rows("upgraded")
    clair = [p for _, p in case.clair_phases]
    case.check("queued" in clair, f"Clair's database waited for Quay's (phases {clair})")
    case.check_quay_served_through_clair_downtime()
    check_operator_left_alone(case, since, [MIGRATION_JOB, CLAIR_MIGRATION_JOB])


def case_operator_pause_off(case):
    case.set_up()
    # The operator runs (its Deployment has a Ready pod; the stand-in stays held so that it does
    # not start its own migration meanwhile, which would be a different case: the controller
    # stands aside, reason OperatorMigrating). With pausing off the controller refuses and
    # touches nothing.
    case.start_controller(["--pause-operator", "false"])

    def refused():
        c = cond(case.registry(), "PostgresUpgraded")
        st = upgrade_status(case.registry())
        return c if c and norm(st.get("phase")) == "blocked" and "--pause-operator" in (c.get("message") or "") else None
    c = case.wait_for("a refusal condition", refused, 90)
    case.record_observed(c.get("message", ""))
    log(f"observed: PostgresUpgraded={c.get('status')} {c.get('reason')}: {c.get('message')}")
    case.check("operator" in c.get("message", "").lower(), "the message names the operator")
    op = case.operator()
    case.check(op["spec"].get("replicas") == 1, "the operator was not scaled")
    case.check(not any(j.startswith(("registry-pg", "registry-quay-database")) for j in case.jobs_seen),
               f"the controller created no Job ({sorted(case.jobs_seen)})")
    case.check(not any(p.startswith("registry-quay-database-") for p in case.pvcs_seen),
               f"the controller created no claim ({sorted(case.pvcs_seen)})")


def case_operator_already_migrating(case):
    case.set_up()
    # The operator is released first and starts its own migration (10 -> 13, pg_dumpall | psql);
    # the controller, started while it runs, stands aside, reports it, and touches nothing.
    case.hold(False)

    def started():
        return [m for e in case.journal() for m in e.get("migrations") or [] if m.get("event") == "started"]
    case.wait_for("the operator to start its own migration", started, 60)
    case.start_controller()

    def standing_aside():
        st = upgrade_status(case.registry())
        c = cond(case.registry(), "PostgresUpgraded")
        return c if norm(st.get("phase")) == "blocked" and c and "migrating this database itself" in (c.get("message") or "") else None
    c = case.wait_for("the controller to stand aside", standing_aside, 60)
    case.record_observed(c.get("message", ""))
    log(f"observed: PostgresUpgraded={c.get('status')} {c.get('reason')}: {c.get('message')}")

    def finished():
        return [m for e in case.journal() for m in e.get("migrations") or [] if m.get("event") == "finished"]
    case.wait_for("the operator's migration to finish", finished, 240)
    reg = case.wait_for("the controller to find the database up to date",
                        lambda: case.registry() if (cond(case.registry(), "PostgresUpgraded") or {}).get("reason") == "UpToDate"
                        else None, 120)
    c = cond(reg, "PostgresUpgraded")
    case.record_observed(c.get("message", ""))
    log(f"observed after the operator's migration: PostgresUpgraded={c.get('status')} {c.get('reason')}: {c.get('message')}")
    case.check(not any(j.startswith("registry-pg") for j in case.jobs_seen), f"the controller created no Job ({sorted(case.jobs_seen)})")
    case.check(not any(p.startswith("registry-quay-database-") for p in case.pvcs_seen),
               f"the controller created no claim ({sorted(case.pvcs_seen)})")
    op = case.operator()
    case.check(op["spec"].get("replicas") == 1 and "quay-pg-upgrader.quay.io/original-replicas" not in
               (op["metadata"].get("annotations") or {}), "the operator was never scaled by the controller")


def spec(frm, to, **extra):
    """A case on the stand-in's scenario from `frm`, the operator expecting `to`: the stand-in held
    at start, resyncing every second; the controller on every namespace (the operator's included),
    deployed as deploy/ deploys it: its own target (15) in RELATED_IMAGE_COMPONENT_POSTGRES, which
    the operator's expected image must win over."""
    return dict(from_=frm, to=to, method="logical", target="quay.io/sclorg/postgresql-15-c9s", target_from_env=True,
                all_namespaces=True,
                kube_sim_args=["--quay-operator", "--quay-operator-hold", "--quay-operator-resync-ms", "1000"], **extra)


CASES = {
    "operator-10-to-13": (case_operator_upgrade, spec(10, 13)),
    "operator-13-to-15": (case_operator_upgrade, spec(13, 15)),
    "operator-controller-killed": (case_operator_upgrade, spec(10, 13, kill_while_paused=True)),
    "operator-already-migrating": (case_operator_already_migrating, spec(10, 13)),
    "operator-pause-off": (case_operator_pause_off, spec(10, 13)),
    "operator-quay-and-clair": (case_operator_quay_and_clair, spec(10, 13, case_class=OperatorClairCase)),
    "operator-rollback-holds": (case_operator_rollback_holds, spec(10, 13)),
}

if __name__ == "__main__":
    e2e.CASES = CASES
    e2e.Case = OperatorCase
    sys.exit(e2e.main())
