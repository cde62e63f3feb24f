#!/usr/bin/python3
"""End-to-end: Clair's database beside Quay's (issue 14), on kube-sim with real PostgreSQL.

One case per invocation:  clair_e2e.py --build BUILD_DIR --source SOURCE_DIR CASE
The installation is kube-sim/scenarios/quay-pg10 plus scenarios/clair-pg10 and scenarios/clair: Quay's
database with its app writing, and Clair's database (a schema shaped like Clair v4's: vulnerability
rows with jsonb and GIN indexes) with Clair's app writing. The harness keeps its own truth: before
the controller starts it counts and hashes every seeded table of both databases with its own SQL,
and compares after the upgrade or the rollback. It reuses e2e.py's Case (processes, kube-sim,
claims, Quay's checks).

Cases:
  clair-10-to-15             both upgraded, one after the other (Quay's first); Quay's app keeps
                             committing all through Clair's downtime
  clair-fails-quay-succeeds  Clair's new claim is full (real ENOSPC): Clair's rolls back alone
  quay-fails-clair-succeeds  the reverse
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import (APP, NS, PG15, PG15_IMAGE, TERMINAL, Case, Failure, claim_of, cond, container,  # noqa: E402
                 log, norm, upgrade_status)

CLAIR_DB = "registry-clair-postgres"
CLAIR_APP = "registry-clair-app"
QUAY_TABLES = ("user", "repository", "imagestorage", "manifest", "manifestblob", "tag", "seed_done")
CLAIR_TABLES = ("vuln", "enrichment", "package", "manifest_index")
# The phases in which Clair's database is down (or being put back).
CLAIR_DOWN = {"quiescing", "backingup", "stopping", "upgrading", "switching", "verifying", "resuming", "rollingback"}


def clair_status(reg):
    return ((reg or {}).get("status") or {}).get("clairPostgresUpgrade") or {}


class ClairCase(Case):
    def __init__(self, args, name, spec):
        super().__init__(args, name, spec)
        self.clair_passwords = {}
        self.clair_phases = []          # (seconds, phase) as observed
        self.quay_commits_at = {}       # Clair's phase -> Quay app's committed rows when it began
        self.quay_app_stopped_during_clair = False

    # ----- scenario ------------------------------------------------------------------------
    def load_scenario(self):
        return super().load_scenario() + self.clair_objects("clair-pg10")

    def clair_objects(self, database_folder):
        """Clair's database (scenarios/DATABASE_FOLDER) with its seed and app (scenarios/clair),
        seeded with e2e.ROWS vulnerabilities; remembers Clair's passwords."""
        objs = self.scenario_objects(database_folder) + self.scenario_objects("clair")
        for o in objs:
            if o["kind"] == "Secret" and o["metadata"]["name"] == "registry-clairpostgres-config-secret":
                self.clair_passwords = dict(o.get("stringData") or {})
            if o["kind"] == "Job":
                for e in o["spec"]["template"]["spec"]["containers"][0]["env"]:
                    if e["name"] == "ROWS":
                        e["value"] = str(e2e.ROWS)
        return objs

    def set_up(self):
        super().set_up()

        def clair_ready():
            d = self.kube.get("Deployment", CLAIR_DB)
            return d and (d.get("status") or {}).get("readyReplicas", 0) >= 1
        self.wait_for("Clair's database to be ready", clair_ready, 120)
        self.wait_for("Clair's seed Job to finish", lambda: self.job_done("registry-clair-seed"), 120)
        if self.job_done("registry-clair-seed") != "Complete":
            raise Failure("Clair's seed Job failed")
        self.wait_for("Clair's app to commit rows", lambda: self.total_commits(CLAIR_APP, "clair-app") >= 5, 60)
        self.clair_ip = self.kube.get("Service", CLAIR_DB)["spec"]["clusterIP"]
        self.orig_clair_db = self.kube.get("Deployment", CLAIR_DB)
        self.own_truth = {"quay": self.seeded_truth("quay"), "clair": self.seeded_truth("clair")}
        rows = {db: sum(int(v.split()[0]) for v in t.values()) for db, t in self.own_truth.items()}
        self.check(int(self.own_truth["clair"]["vuln"].split()[0]) == e2e.ROWS,
                   f"Clair's seed holds {e2e.ROWS} vulnerabilities (counted by the harness)")
        log(f"harness truth before the upgrade: {rows['quay']} rows in Quay's {len(QUAY_TABLES)} tables, "
            f"{rows['clair']} in Clair's {len(CLAIR_TABLES)}")

    # ----- SQL, the harness's own -----------------------------------------------------------
    def sql(self, which, query):
        quay = which == "quay"
        pw = (self.passwords if quay else self.clair_passwords).get("database-password", "")
        user = (self.passwords if quay else self.clair_passwords).get("database-username", "")
        env = dict(os.environ, PGPASSWORD=pw, PGCONNECT_TIMEOUT="5", PGTZ="UTC")
        r = subprocess.run([os.path.join(PG15, "psql"), "-X", "-qtA", "-v", "ON_ERROR_STOP=1",
                            "-h", self.db_ip if quay else self.clair_ip, "-U", user, "-d", "quay" if quay else "clair",
                            "-c", query], env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Failure(f"psql ({which}) {query!r}: {r.stderr.strip()}")
        return r.stdout.strip()

    def seeded_truth(self, which):
        """{table: "<rows> <md5 of every row's text, in order>"} for the seeded tables."""
        out = {}
        for t in QUAY_TABLES if which == "quay" else CLAIR_TABLES:
            out[t] = self.sql(which, f'SELECT count(*) || \' \' || coalesce(md5(string_agg(r::text, \'|\' ORDER BY r::text)), \'-\') '
                                     f'FROM "{t}" r')
        return out

    def total_commits(self, app, container_name):
        return sum(len(v) for v in self.committed(app + "-", container_name).values())

    # ----- observing ------------------------------------------------------------------------
    def observe(self):
        super().observe()
        if not self.ctl:
            return
        phase = norm(clair_status(self.registry()).get("phase"))
        if phase and (not self.clair_phases or self.clair_phases[-1][1] != phase):
            self.clair_phases.append((round(time.monotonic() - self.t0, 1), phase))
            self.quay_commits_at[phase] = self.total_commits(APP, "quay-app")
            log(f"Clair's database: phase {phase} (Quay's app has committed {self.quay_commits_at[phase]} rows)")
        if phase in CLAIR_DOWN and phase != "rollingback":
            app = self.kube.get("Deployment", APP)
            if app["spec"].get("replicas", 1) == 0:
                self.quay_app_stopped_during_clair = True

    def wait_both_terminal(self, timeout):
        def done():
            reg = self.registry()
            q, c = norm(upgrade_status(reg).get("phase")), norm(clair_status(reg).get("phase"))
            return reg if q in TERMINAL and c in TERMINAL else None
        try:
            return self.wait_for("both databases to end", done, timeout)
        except Failure:
            self.diagnose()
            raise

    # ----- checks ---------------------------------------------------------------------------
    def check_seeded_truth(self, which, label):
        after = self.seeded_truth(which)
        for t, before in self.own_truth[which].items():
            self.check(after[t] == before, f"{label}: {which} table {t} holds the same rows ({before.split()[0]}) and the same hash")

    def check_clair_succeeded(self, reg):
        st = clair_status(reg)
        c = cond(reg, "ClairPostgresUpgraded")
        log(f"outcome: condition ClairPostgresUpgraded: {c}")
        log(f"outcome: status.clairPostgresUpgrade = {st}")
        self.record_observed((c or {}).get("message", ""))
        self.check(c and c.get("status") == "True" and c.get("reason") == "Succeeded", "ClairPostgresUpgraded True, Succeeded")
        self.check(norm(st.get("phase")) == "succeeded", "status.clairPostgresUpgrade.phase is succeeded")
        self.check(str(st.get("from")) == "10" and str(st.get("to")) == "15", f"Clair's database 10 -> 15 ({st.get('from')} -> {st.get('to')})")
        self.check(st.get("newClaim") == f"{CLAIR_DB}-pg15", f"Clair's newClaim {st.get('newClaim')}")
        self.check(st.get("backupClaim") == f"{CLAIR_DB}-backup-pg10", f"Clair's backupClaim {st.get('backupClaim')}")
        self.check(st.get("previousClaim") == CLAIR_DB, f"Clair's previousClaim {st.get('previousClaim')}")
        for j in ("registry-clair-pg10-backup-1", "registry-clair-pg15-upgrade-1"):
            self.check(self.job_done(j) == "Complete", f"Job {j} Complete")
        d = self.kube.get("Deployment", CLAIR_DB)
        self.check(container(d)["image"] == PG15_IMAGE and claim_of(d) == f"{CLAIR_DB}-pg15",
                   f"Clair's Deployment runs {container(d)['image']} on {claim_of(d)}")
        self.wait_for("Clair's database to be ready again",
                      lambda: (self.kube.get("Deployment", CLAIR_DB).get("status") or {}).get("readyReplicas") == 1, 60)
        major = int(self.sql("clair", "SHOW server_version_num")) // 10000
        self.check(major == 15, f"Clair's server through its Service is PostgreSQL 15 ({major})")
        for name in (CLAIR_DB, f"{CLAIR_DB}-pg15", f"{CLAIR_DB}-backup-pg10"):
            p = self.kube.get("PersistentVolumeClaim", name)
            self.check(p is not None and (p.get("status") or {}).get("phase") == "Bound", f"claim {name} kept and Bound")
        self.check_seeded_truth("clair", "after Clair's upgrade")
        valid = self.sql("clair", "SELECT bool_and(indisvalid AND indisready) FROM pg_index "
                                  "WHERE indexrelid IN ('vuln_links_gin'::regclass, 'enrichment_tags_gin'::regclass)")
        self.check(valid == "t", "Clair's GIN indexes (jsonb_path_ops on vuln.links, tags) are valid and ready")
        plan = self.sql("clair", "SET enable_seqscan = off; EXPLAIN SELECT id FROM vuln WHERE links @> '{\"cve\": \"CVE-2026-17\"}'")
        self.check("vuln_links_gin" in plan, "a jsonb containment query uses the GIN index")
        self.check_clair_app_rows("upgraded")

    def check_clair_app_rows(self, label):
        self.wait_for("Clair's app to be ready again",
                      lambda: (self.kube.get("Deployment", CLAIR_APP).get("status") or {}).get("readyReplicas") == 1, 60)
        before = self.total_commits(CLAIR_APP, "clair-app")
        self.wait_for(f"Clair's app to commit on the {label} database",
                      lambda: self.total_commits(CLAIR_APP, "clair-app") > before, 60)
        # What the app saw committed first, then the table: a row committed in between is in the
        # table and not yet in the set, never the other way round.
        committed = {i for v in self.committed(CLAIR_APP + "-", "clair-app").values() for i in v}
        ids = {int(x) for x in self.sql("clair", "SELECT id FROM clair_app_writes").split()}
        missing = sorted(committed - ids)
        self.check(not missing, f"every id Clair's app saw committed ({len(committed)}) is in the {label} database"
                   + (f"; MISSING {missing[:20]}" if missing else ""))

    def check_clair_rolled_back(self, reg, expect_in_message):
        st = clair_status(reg)
        c = cond(reg, "ClairPostgresUpgraded")
        msg = (c or {}).get("message", "")
        self.record_observed(msg)
        self.check(c and c.get("status") == "False" and c.get("reason") == "Failed", f"ClairPostgresUpgraded False, Failed ({c})")
        self.check(norm(st.get("phase")) == "failed", "status.clairPostgresUpgrade.phase is failed")
        self.wait_for("Clair's database to be ready on its old claim",
                      lambda: (self.kube.get("Deployment", CLAIR_DB).get("status") or {}).get("readyReplicas") == 1, 90)
        d = self.kube.get("Deployment", CLAIR_DB)
        self.check(container(d)["image"] == container(self.orig_clair_db)["image"] and claim_of(d) == CLAIR_DB,
                   f"Clair's database is back on {claim_of(d)} with its old image")
        major = int(self.sql("clair", "SHOW server_version_num")) // 10000
        self.check(major == 10, f"Clair's server is PostgreSQL 10 again ({major})")
        self.check_seeded_truth("clair", "after Clair's rollback")
        self.check_clair_app_rows("rolled-back")
        error = st.get("lastError") or ""
        self.check(re.fullmatch(expect_in_message, error, re.S) is not None,
                   f"Clair's lastError is exactly the expected reason: {error!r}")
        self.check(msg.startswith(error) and "registry-clair-postgres" in msg[len(error):],
                   f"Clair's condition message is lastError, then the rollback onto its old claim: {msg!r}")

    def check_quay_served_through_clair_downtime(self):
        self.check(not self.quay_app_stopped_during_clair, "Quay's app was never scaled down while Clair's database was down")
        # From the first poll that saw Clair's server stopped (stopping, or any later phase of the
        # downtime or its rollback: under load a poll can come 10 s after the last and skip short
        # phases; CI saw backing_up, then rolling_back) to the one that saw Clair's database end.
        down = ("stopping", "upgrading", "switching", "verifying", "resuming", "rollingback")
        first = next((p for p in down if p in self.quay_commits_at), None)
        start = self.quay_commits_at.get(first) if first else None
        end = self.quay_commits_at.get(self.clair_phases[-1][1]) if self.clair_phases else None
        self.check(start is not None and end is not None and end > start,
                   f"Quay's app kept committing while Clair's database was down ({start} rows at {first} -> {end})")


def quay_phase_time(case, phase):
    for t, _, p in case.phases:
        if norm(p) == phase:
            return t
    return None


def case_both(case):
    case.set_up()
    case.start_controller()
    reg = case.wait_both_terminal(420)
    case.check_succeeded(reg, 1)
    case.check_seeded_truth("quay", "after Quay's upgrade")
    case.check_clair_succeeded(case.registry())
    clair = [p for _, p in case.clair_phases]
    case.check("queued" in clair, f"Clair's database waited for its turn (phases {clair})")
    # Quay's upgrade is over once its app is back: its analyze Job then runs beside Clair's turn.
    quay_done = min((t for t in (quay_phase_time(case, "analyzing"), quay_phase_time(case, "succeeded")) if t is not None),
                    default=None)
    clair_down = next((t for t, p in case.clair_phases if p in CLAIR_DOWN), None)
    case.check(quay_done is not None and clair_down is not None and clair_down >= quay_done,
               f"Clair's downtime began after Quay's upgrade ended ({clair_down} s >= {quay_done} s)")
    case.check_quay_served_through_clair_downtime()


def case_clair_fails(case):
    case.set_up()
    # Clair's new claim fills up as its upgrade Job starts (a real ENOSPC in the downtime).
    e2e.fill_at_job_start(case, "registry-clair-pg15-upgrade-1", f"{CLAIR_DB}-pg15")
    case.start_controller()
    reg = case.wait_both_terminal(420)
    case.check_succeeded(reg, 1)
    case.check_seeded_truth("quay", "after Quay's upgrade")
    case.check_clair_rolled_back(case.registry(),
                                 e2e.UPGRADE_ENOSPC.replace("quay/registry-pg15-upgrade-1", "quay/registry-clair-pg15-upgrade-1"))
    case.check_quay_served_through_clair_downtime()


def case_quay_fails(case):
    case.set_up()
    e2e.fill_at_job_start(case, "registry-pg15-upgrade-1", "registry-quay-database-pg15")
    case.start_controller()
    reg = case.wait_both_terminal(420)
    case.check_rolled_back(reg, "upgrading", e2e.UPGRADE_ENOSPC)
    case.check_seeded_truth("quay", "after Quay's rollback")
    case.check_clair_succeeded(case.registry())


CASES = {
    "clair-10-to-15": (case_both, dict(from_=10, to=15, method="logical", target=PG15_IMAGE, check_old_claim=True)),
    "clair-fails-quay-succeeds": (case_clair_fails, dict(from_=10, to=15, method="logical", target=PG15_IMAGE,
                                                          check_old_claim=True)),
    "quay-fails-clair-succeeds": (case_quay_fails, dict(from_=10, to=15, method="logical", target=PG15_IMAGE,
                                                         check_old_claim=True)),
}

if __name__ == "__main__":
    e2e.CASES = {name: (fn, spec) for name, (fn, spec) in CASES.items()}
    e2e.Case = ClairCase
    sys.exit(e2e.main())
