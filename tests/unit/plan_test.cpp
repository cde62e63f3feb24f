// Dry runs (issue 15, item 4): detection and the pre-downtime checks, then phase `planned` with a
// plan; nothing stopped, no claim created, the check Job deleted again; lifting the dry run
// upgrades for real as a new attempt; the downtime estimate comes from this cluster's last upgrade.
#include <algorithm>

#include "core/progress.hpp"
#include "reducers/plan.hpp"
#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

scenario_options dry_run_by_annotation() {
  scenario_options o;
  o.dry_run_annotation = "true";
  return o;
}

// Nothing stopped, and not even a claim made.
void check_nothing_touched(const session& s) {
  check_nothing_stopped(s);
  CHECK(s.all<create_claim>().empty());
}

}  // namespace

TEST_CASE("dry run: the annotation plans the upgrade and stops, touching nothing but the check Job") {
  auto s = fold(run_scenario(dry_run_by_annotation()));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::planned);
  check_nothing_touched(s);
  // The check ran and was deleted again.
  REQUIRE(s.all<create_job>().size() == 1);
  CHECK(s.all<create_job>()[0].role == job_role::check);
  REQUIRE(s.all<delete_job>().size() == 1);
  CHECK(s.all<delete_job>()[0].key.name == "registry-pg-check-1");
  // The plan: method, claims and sizes, what stops, the estimate, the check, the way on.
  CHECK_THAT(u.plan, Catch::StartsWith("dry run: PostgreSQL 10 -> 15 by logical (the database measures "));
  CHECK_THAT(u.plan, Catch::Contains("backup claim registry-quay-database-backup-pg10 ("));
  CHECK_THAT(u.plan, Catch::Contains("new data claim registry-quay-database-pg15 ("));
  CHECK_THAT(u.plan, Catch::Contains("in StorageClass standard (provisioner kube-sim.io/local, binding Immediate)"));
  CHECK_THAT(u.plan,
             Catch::Contains("the app would be stopped: registry-quay-app (2 replicas), registry-quay-mirror (1 replicas)"));
  CHECK_THAT(u.plan, Catch::Contains("estimated downtime about "));
  CHECK_THAT(u.plan, Catch::Contains("no logical upgrade of this cluster is on record: the default, 60 s + 40 MB/s"));
  CHECK_THAT(u.plan, Catch::Contains("the preflight check Job passed"));
  CHECK_THAT(u.plan, Catch::Contains("nothing refuses it"));
  CHECK_THAT(u.plan, Catch::EndsWith("Remove annotation quay-pg-upgrader.quay.io/dry-run to upgrade (a new attempt)"));
  // Reported: condition reason Planned with the plan, an Event, a dry run holds no place.
  const auto st = s.all<update_registry_status>().back();
  CHECK(st.summary.phase == "planned");
  CHECK(st.conditions[1].reason == "Planned");
  CHECK(st.conditions[1].status == "False");
  CHECK(st.conditions[0].message == u.plan);
  bool told = false;
  for (const auto& e : s.all<emit_event>()) told = told || (e.reason == "PostgresUpgradePlanned" && e.message == u.plan);
  CHECK(told);
  CHECK_THAT(reducers::dry_run_report(s.s), Catch::Contains("QuayRegistry quay/registry: planned\n  dry run: PostgreSQL 10"));
}

TEST_CASE("dry run: a failing check and a missing StorageClass are in the plan as refusals, nothing fails") {
  auto o = dry_run_by_annotation();
  o.check_fails = true;
  o.claim_class_missing = true;
  o.storage_class = "fast-ssd";
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::planned);
  check_nothing_touched(s);
  CHECK(u.last_error.empty());
  CHECK_THAT(u.plan, Catch::Contains("it would be REFUSED: "));
  CHECK_THAT(u.plan, Catch::Contains("preflight check Job quay/registry-pg-check-1 failed"));
  CHECK_THAT(u.plan, Catch::Contains("extension chkpass is not available in PostgreSQL 15"));
  CHECK_THAT(u.plan, Catch::Contains("StorageClass fast-ssd does not exist: the backup claim could not bind"));
  CHECK_THAT(u.plan, Catch::Contains("StorageClass fast-ssd does not exist: the new data claim could not bind"));
}

TEST_CASE("dry run: lifted, the upgrade runs for real as attempt 2; its downtime becomes the next estimate's basis") {
  auto o = dry_run_by_annotation();
  o.lift_dry_run_after_plan = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  CHECK(u.attempt == 2);
  CHECK_FALSE(u.dry_run);
  const auto phases = s.phases();
  CHECK(phases.front() == "detecting");
  CHECK(std::count(phases.begin(), phases.end(), "planned") == 1);
  REQUIRE(s.s.downtimes.contains("logical"));
  const auto& d = s.s.downtimes.at("logical");
  CHECK(d.database == database_key{{"quay", "registry"}, db_component::quay});
  CHECK(d.database_bytes == u.before->database_bytes);
  CHECK(d.took > 0);
  CHECK(d.took < *u.finished - *u.started);  // the downtime is part of the attempt, not all of it
  // The estimate for the next one: that downtime, in proportion above its size, never below it.
  const auto same = reducers::estimate_downtime(s.s, upgrade_method::logical, d.database_bytes);
  CHECK(same.took == d.took);
  CHECK_THAT(same.basis, Catch::StartsWith("from this cluster's last logical upgrade (quay/registry: "));
  CHECK(reducers::estimate_downtime(s.s, upgrade_method::logical, d.database_bytes * 10).took == d.took * 10);
  CHECK(reducers::estimate_downtime(s.s, upgrade_method::logical, 1).took == d.took);
  // None on record for pg_upgrade: the default.
  CHECK(reducers::estimate_downtime(s.s, upgrade_method::pg_upgrade, 150'000'000).took == 61'000);
}

TEST_CASE("dry run: --dry-run plans every registry at once, none waits for a place or opens a downtime") {
  scenario_options o;
  o.dry_run = true;
  o.more_registries = {"second"};
  o.max_concurrent_upgrades = 1;
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::planned);
  CHECK(s.upgrade("quay", "second").current == phase::planned);
  CHECK_THAT(s.upgrade().plan, Catch::EndsWith("Run without --dry-run to upgrade (a new attempt)"));
  check_nothing_touched(s);
  for (const auto& st : s.all<update_registry_status>()) CHECK(st.summary.phase != "queued");
}

TEST_CASE("dry run: --dry-run travels in the logged configuration") {
  check_logged_setting(&config::dry_run, "dryRun", false, true);
}
