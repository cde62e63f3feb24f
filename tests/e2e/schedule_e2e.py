#!/usr/bin/python3
"""End-to-end: one downtime at a time across registries (issue 15, item 5), on kube-sim with real
PostgreSQL.

One case per invocation:  schedule_e2e.py --build BUILD_DIR --source SOURCE_DIR CASE
The installation is kube-sim/scenarios/quay-pg10 twice: in namespace quay (with every check of
e2e.py's upgrade cases) and in namespace quay-second, each with its own database on PostgreSQL 10,
seed and app. One controller watches every namespace with the default --max-concurrent-upgrades.

Cases:
  two-registries-one-at-a-time  both upgraded to 15; their downtimes (quiescing .. resuming)
                                never overlap; the one that waited showed phase queued with its
                                place in the queue and the registry it waited for; the second
                                registry's tables hold every row they held before
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import NS, PG15_IMAGE, REGISTRY, Case, Failure, claim_of, cond, container, log, norm, upgrade_status  # noqa: E402

SECOND_NS = "quay-second"
DOWN = {"quiescing", "backingup", "stopping", "upgrading", "switching", "verifying", "resuming", "rollingback"}
SEEDED = ("user", "repository", "imagestorage", "manifest", "manifestblob", "tag")


class TwoRegistriesCase(Case):
    def load_scenario(self):
        objs = super().load_scenario()
        second = []
        for o in self.scenario_objects("quay-pg10"):
            if o["kind"] == "Namespace":
                o["metadata"]["name"] = SECOND_NS
            else:
                o["metadata"]["namespace"] = SECOND_NS
            if o["kind"] == "Job" and o["metadata"]["name"] == "registry-quay-seed":
                for e in o["spec"]["template"]["spec"]["containers"][0]["env"]:
                    if e["name"] == "ROWS":
                        e["value"] = str(e2e.ROWS)
            second.append(o)
        return objs + second

    def second_db_ip(self):
        return self.kube.get("Service", e2e.DB, ns=SECOND_NS)["spec"]["clusterIP"]

    def second_counts(self):
        ip = self.second_db_ip()
        return {t: int(self.psql(f'SELECT count(*) FROM "{t}"', host=ip)) for t in SEEDED}

    def set_up(self):
        super().set_up()

        def second_ready():
            d = self.kube.get("Deployment", e2e.DB, ns=SECOND_NS)
            j = self.kube.get("Job", "registry-quay-seed", ns=SECOND_NS)
            done = any(c.get("type") == "Complete" and c.get("status") == "True"
                       for c in ((j or {}).get("status") or {}).get("conditions") or [])
            return d and (d.get("status") or {}).get("readyReplicas", 0) >= 1 and done
        self.wait_for("the second registry's database to be ready and seeded", second_ready, 180)
        self.second_before = self.second_counts()
        self.check(all(n > 0 for n in self.second_before.values()),
                   f"the second registry is seeded: {self.second_before}")


def phase_of(reg):
    return norm(upgrade_status(reg).get("phase"))


def case_two_registries(case):
    case.set_up()
    case.start_controller()
    seen = {NS: [], SECOND_NS: []}       # (seconds, phase, message) when it changed
    overlap = []
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        now = {}
        for ns in (NS, SECOND_NS):
            reg = case.kube.get("QuayRegistry", REGISTRY, ns=ns)
            ph = phase_of(reg)
            msg = (cond(reg, "PostgresUpgradeProgressing") or {}).get("message", "")
            now[ns] = ph
            if not seen[ns] or seen[ns][-1][1] != ph or (ph == "queued" and seen[ns][-1][2] != msg):
                seen[ns].append((round(time.monotonic() - case.t0, 1), ph, msg))
                log(f"{ns}/{REGISTRY}: {ph}" + (f": {msg}" if ph == "queued" else ""))
        if now[NS] in DOWN and now[SECOND_NS] in DOWN:
            overlap.append(dict(now))
        if all(p in ("succeeded", "failed") for p in now.values()):
            break
        time.sleep(0.2)
    else:
        case.diagnose()
        raise Failure(f"both registries did not finish within 420 s: {seen}")

    case.check(not overlap, f"the two downtimes never overlapped (both down at once: {overlap[:3]})")
    for ns in (NS, SECOND_NS):
        case.check(seen[ns][-1][1] == "succeeded", f"{ns}/{REGISTRY} succeeded (phases {[p for _, p, _ in seen[ns]]})")
    first_down = {ns: next((t for t, p, _ in seen[ns] if p in DOWN), None) for ns in seen}
    waited = max(seen, key=lambda ns: first_down[ns] or 0)
    other = NS if waited == SECOND_NS else SECOND_NS
    queued = [m for _, p, m in seen[waited] if p == "queued"]
    case.check(queued and "place 1 in the queue" in queued[0] and f"{other}/{REGISTRY}" in queued[0]
               and "--max-concurrent-upgrades is 1" in queued[0],
               f"{waited} said it waited, its place and for whom: {queued[:1]}")
    # Over once its app is back: the analyze Job after the resume holds no downtime slot.
    other_done = next(t for t, p, _ in seen[other] if p in ("analyzing", "archiving", "succeeded"))
    case.check(first_down[waited] >= other_done - 0.5,
               f"{waited}'s downtime began ({first_down[waited]} s) once {other}'s upgrade was over ({other_done} s)")

    # The first registry: every check of the upgrade cases.
    case.check_succeeded(case.registry(), 1)
    # The second: target image, new claim, PostgreSQL 15, every seeded row.
    d = case.kube.get("Deployment", e2e.DB, ns=SECOND_NS)
    case.check(container(d)["image"] == PG15_IMAGE and claim_of(d) == "registry-quay-database-pg15",
               f"{SECOND_NS}: the database runs {container(d)['image']} on {claim_of(d)}")
    case.wait_for(f"{SECOND_NS}'s database to be ready", lambda: (case.kube.get("Deployment", e2e.DB, ns=SECOND_NS)
                                                                  .get("status") or {}).get("readyReplicas", 0) >= 1, 60)
    major = int(case.psql("SHOW server_version_num", host=case.second_db_ip())) // 10000
    case.check(major == 15, f"{SECOND_NS}: the server is PostgreSQL {major}")
    after = case.second_counts()
    case.check(after == case.second_before, f"{SECOND_NS}: every seeded table has its rows ({case.second_before} -> {after})")
    app = case.kube.get("Deployment", e2e.APP, ns=SECOND_NS)
    case.check((app.get("spec") or {}).get("replicas") == 1, f"{SECOND_NS}: the app is back at 1 replica")


CASES = {
    "two-registries-one-at-a-time": (case_two_registries, dict(from_=10, to=15, method="logical", target=PG15_IMAGE,
                                                               all_namespaces=True, check_old_claim=True,
                                                               case_class=TwoRegistriesCase)),
}

if __name__ == "__main__":
    e2e.CASES = CASES
    sys.exit(e2e.main())
