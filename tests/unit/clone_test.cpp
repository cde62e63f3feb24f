// The upgrade on cloning storage (issue 16, item 2): after the old server stopped, the backup and
// the new data claims are clones of the old claim, `pg_upgrade --link` runs in the data clone
// (the old claim is not mounted), and the backup's logical archive is written after the app is
// back; a clone the storage refuses rolls back, an archive that fails leaves the upgrade standing.
#include <algorithm>

#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

scenario_options cloning() {
  scenario_options o;
  use_pg_upgrade_13(o);
  o.clone_storage_classes = {"standard"};
  return o;
}

std::vector<create_claim> clones(const session& s) {
  auto claims = s.all<create_claim>();
  std::erase_if(claims, [](const create_claim& c) { return c.source_claim.empty(); });
  return claims;
}

// The condition of that type in a status write (end() when there is none).
std::vector<condition>::const_iterator named(const std::vector<condition>& conditions, const std::string& type) {
  return std::ranges::find_if(conditions, [&](const condition& c) { return c.type == type; });
}

}  // namespace

TEST_CASE("clone: both claims are clones made after the stop; pg_upgrade links in the data clone; the archive follows") {
  auto s = fold(run_scenario(cloning()));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  CHECK(u.clone);
  CHECK(u.clone_note.empty());
  // No claim before the downtime: the two clones, of the old claim, once the database stopped.
  const auto claims = s.all<create_claim>();
  REQUIRE(claims.size() == 2);
  REQUIRE(clones(s).size() == 2);
  for (const auto& c : claims) {
    CHECK(c.source_claim == "registry-quay-database");
    CHECK(c.storage_class == "standard");
  }
  // The backup clone holds the old claim's whole copy and the archive beside it.
  CHECK(claims[0].key.name == "registry-quay-database-backup-pg13");
  CHECK(claims[0].size_bytes > (10LL << 30));
  CHECK(claims[1].key.name == "registry-quay-database-pg15");
  CHECK(claims[1].size_bytes >= (10LL << 30));
  const auto work = s.work();
  const auto at = [&](const std::string& id) { return std::ranges::find(work, id) - work.begin(); };
  CHECK(at("quay/registry/a1/scale-down/database") < at("quay/registry/a1/create-claim/backup"));
  CHECK(at("quay/registry/a1/create-claim/data") < at("quay/registry/a1/create-job/upgrade-pg-upgrade"));
  // No backup Job inside the downtime: the upgrade Job, then the archive after the app is back.
  const auto jobs = s.upgrade_jobs();
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].role == job_role::upgrade_pg_upgrade);
  CHECK(jobs[0].cloned);
  // The old cluster's settings, read before the downtime, so the Job starts no server for them.
  CHECK(jobs[0].old_cluster == old_cluster_settings{"UTF8", "en_US.utf8", "en_US.utf8", "postgres"});
  CHECK(jobs[1].role == job_role::archive);
  CHECK(jobs[1].image == "quay.io/quay-pg-upgrader/pg-upgrade:13-15");
  CHECK(jobs[1].backup_claim == "registry-quay-database-backup-pg13");
  CHECK(at("quay/registry/a1/scale-up/registry-quay-app") < at("quay/registry/a1/create-job/archive"));
  // The phases: the archive after resuming, then succeeded; the manifest was still taken.
  const auto phases = s.phases();
  const auto resuming = std::ranges::find(phases, "resuming");
  REQUIRE(resuming != phases.end());
  CHECK(*(resuming + 1) == "archiving");
  CHECK(phases.back() == "succeeded");
  REQUIRE(u.before);
  CHECK(u.before->has_manifest);
  CHECK(u.archived);
  CHECK(u.archive_error.empty());
  const auto st = s.all<update_registry_status>().back();
  CHECK_THAT(st.summary.backup_archive, Catch::StartsWith("Complete: "));
  const auto archived = named(st.conditions, "PostgresBackupArchived");
  REQUIRE(archived != st.conditions.end());
  CHECK(archived->status == "True");
  CHECK_THAT(st.conditions[1].message, Catch::Contains("on clones of the old claim"));
  // The downtime is on record as a clone upgrade's, apart from the copy path's.
  CHECK(s.s.downtimes.contains("pg_upgrade+clone"));
  CHECK_FALSE(s.s.downtimes.contains("pg_upgrade"));
}

TEST_CASE("clone: an inspection that read no cluster settings (a log from before) leaves the Job to read them") {
  auto o = cloning();
  o.no_cluster_settings = true;
  auto s = fold(run_scenario(o));
  REQUIRE(s.upgrade().current == phase::succeeded);
  const auto jobs = s.upgrade_jobs();
  REQUIRE_FALSE(jobs.empty());
  CHECK(jobs[0].role == job_role::upgrade_pg_upgrade);
  CHECK(jobs[0].old_cluster.empty());
  // And only the pg_upgrade Job carries them when they were read.
  auto with = fold(run_scenario(cloning()));
  for (const auto& j : with.upgrade_jobs()) CHECK(j.old_cluster.empty() == (j.role != job_role::upgrade_pg_upgrade));
}

TEST_CASE("clone: the archive Job fails after the app is back: reported loudly, the upgrade stands") {
  auto o = cloning();
  o.archive_fails = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  CHECK_FALSE(u.archived);
  CHECK_THAT(u.archive_error, Catch::Contains("backup archive Job quay/registry-pg13-archive-1 failed"));
  CHECK_THAT(u.archive_error, Catch::Contains("pg_dump: error: could not write to file: No space left on device"));
  CHECK_THAT(u.archive_error, Catch::Contains("The upgrade stands"));
  CHECK(u.last_error.empty());
  // Never rolled back: the database stays on the upgraded claim, no restore was issued.
  CHECK(ids_with(s, "/restore/").empty());
  const auto st = s.all<update_registry_status>().back();
  CHECK(st.conditions[1].status == "True");
  CHECK_THAT(st.summary.backup_archive, Catch::StartsWith("Failed: "));
  const auto archived = named(st.conditions, "PostgresBackupArchived");
  REQUIRE(archived != st.conditions.end());
  CHECK(archived->status == "False");
  CHECK(archived->reason == "Failed");
  const auto events = s.all<emit_event>();
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().type == "Warning");
  CHECK_THAT(events.back().message, Catch::Contains("its logical archive FAILED"));
}

TEST_CASE("clone: storage that does not clone leaves the clone Pending with a Warning: rolled back to the old claim") {
  auto o = cloning();
  o.clone_refused = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::failed);
  CHECK(u.failed_in == phase::upgrading);
  CHECK_THAT(u.last_error, Catch::Contains("the clones of the stopped old claim quay/registry-quay-database could not be made"));
  CHECK_THAT(u.last_error, Catch::Contains("volume cloning is not supported"));
  CHECK_THAT(u.last_error, Catch::Contains("--clone-storage-classes"));
  // No upgrade Job ran; the database was put back on its old claim and the app restored.
  CHECK(s.upgrade_jobs().empty());
  CHECK_FALSE(ids_with(s, "/restore/database").empty());
  CHECK_FALSE(ids_with(s, "/restore/registry-quay-app").empty());
}

TEST_CASE("clone: when a clone is not taken, the copy path runs and the plan says why") {
  SECTION("the class is not listed") {
    auto o = cloning();
    o.clone_storage_classes = {"fast"};
    auto s = fold(run_scenario(o));
    CHECK_FALSE(s.upgrade().clone);
    CHECK(s.upgrade().clone_note.empty());
    CHECK(clones(s).empty());
  }
  SECTION("* lists every class") {
    auto o = cloning();
    o.clone_storage_classes = {"*"};
    auto s = fold(run_scenario(o));
    CHECK(s.upgrade().clone);
    CHECK(s.upgrade().current == phase::succeeded);
  }
  SECTION("the logical method restores into an empty claim") {
    auto o = cloning();
    o.upgrade_image.clear();
    o.upgrade_from.clear();
    auto s = fold(run_scenario(o));
    CHECK_FALSE(s.upgrade().clone);
    CHECK_THAT(s.upgrade().clone_note, Catch::Contains("the logical method restores into an empty claim"));
    CHECK(clones(s).empty());
    CHECK(s.upgrade().current == phase::succeeded);
  }
  SECTION("--storage-class names another class") {
    auto o = cloning();
    o.storage_class = "fast";
    auto s = fold(run_scenario(o));
    CHECK_FALSE(s.upgrade().clone);
    CHECK_THAT(s.upgrade().clone_note, Catch::Contains("a clone stays in its source's class"));
  }
  SECTION("a claim of the data's name exists already: never cloned over, adopted by the copy path") {
    auto o = cloning();
    o.leftover_data_claim_bytes = 10LL << 30;
    auto s = fold(run_scenario(o));
    CHECK_FALSE(s.upgrade().clone);
    CHECK_THAT(s.upgrade().clone_note, Catch::Contains("a claim named registry-quay-database-pg15 exists already"));
    CHECK(clones(s).empty());
    CHECK(s.upgrade().current == phase::succeeded);
    // The outcome says why a listed class was not cloned.
    CHECK_THAT(s.all<update_registry_status>().back().conditions[1].message,
               Catch::Contains("; copied, not cloned: a claim named registry-quay-database-pg15 exists already"));
  }
  SECTION("a dry run's plan names the clones") {
    auto o = cloning();
    o.dry_run = true;
    auto s = fold(run_scenario(o));
    REQUIRE(s.upgrade().current == phase::planned);
    CHECK_THAT(s.upgrade().plan, Catch::Contains("would be clones of registry-quay-database made once the database stopped"));
    CHECK_THAT(s.upgrade().plan, Catch::Contains("no pg_upgrade+clone upgrade of this cluster is on record"));
  }
}

TEST_CASE("clone: a controller restarted before its clone's answer adopts that clone (its annotation), not asking again") {
  auto o = cloning();
  // The line after which the data clone was asked for: the crash comes right there, so the
  // create's answer is lost with the old process.
  session probe;
  std::uint64_t asked = 0;
  for (const auto& line : run_scenario(o)) {
    probe.feed(line);
    if (!asked && !clones(probe).empty() && clones(probe).size() == 2) asked = probe.s.last_seq;
  }
  REQUIRE(asked > 0);
  o.restart_after_seq = asked;
  const auto lines = run_scenario(o);
  CHECK(std::ranges::count_if(lines,
                              [](const std::string& l) { return l.find("\"controller_started\"") != std::string::npos; }) == 2);
  auto s = fold(lines);
  REQUIRE(s.upgrade().current == phase::succeeded);
  const auto data = s.s.cluster.claims.find({"quay", "registry-quay-database-pg15"});
  REQUIRE(data != s.s.cluster.claims.end());
  CHECK(data->second.clone_for == "quay/registry/a1/create-claim/data");
  // Asked once, by the first process; the second found it in its store and took it as done.
  CHECK(clones(s).size() == 2);
}

TEST_CASE("clone: beside a Quay operator the data clone carries the operator's claim name; the archive follows its resume") {
  scenario_options o;
  o.operator_managed = true;  // renders 13: the upgrade image carries 10
  o.upgrade_image = "quay.io/quay-pg-upgrader/pg-upgrade:10-13";
  o.upgrade_from = {10};
  o.clone_storage_classes = {"standard"};
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  CHECK(u.clone);
  CHECK(u.method == upgrade_method::pg_upgrade);
  const auto claims = clones(s);
  REQUIRE(claims.size() == 2);
  CHECK(claims[1].key.name == "registry-quay-postgres-13");
  const auto phases = s.phases();
  const auto resumed = std::ranges::find(phases, "resuming_operator");
  REQUIRE(resumed != phases.end());
  CHECK(*(resumed + 1) == "archiving");
  // The operator is back before the archive Job: it runs with the app and the operator serving.
  const auto work = s.work();
  const auto at = [&](const std::string& id) { return std::ranges::find(work, id) - work.begin(); };
  CHECK(at("quay/registry/a1/scale-up/operator") < at("quay/registry/a1/create-job/archive"));
  CHECK(u.archived);
}

// Verification after the resume (issue 16, item 3): both manifests from clones, off the downtime.
TEST_CASE(
    "clone, verify after-resume: no manifest in the downtime; the upgraded data cloned before the switch; the archive Job "
    "verifies") {
  auto o = cloning();
  o.verify_after_resume = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  CHECK(u.verify_after_resume);
  CHECK(u.verified_after_resume);
  // The controller read no row itself: every inspection of the attempt was without a manifest.
  for (const auto& i : s.all<inspect_database>()) CHECK_FALSE(i.with_manifest);
  // Three clones: the backup and the data clones of the old claim at the stop, then the upgraded
  // data's clone, made after the upgrade Job and before the switch.
  const auto claims = clones(s);
  REQUIRE(claims.size() == 3);
  CHECK(claims[2].key.name == "registry-quay-database-pg15-verify-1");
  CHECK(claims[2].source_claim == "registry-quay-database-pg15");
  const auto work = s.work();
  const auto at = [&](const std::string& id) { return std::ranges::find(work, id) - work.begin(); };
  CHECK(at("quay/registry/a1/create-job/upgrade-pg-upgrade") < at("quay/registry/a1/create-claim/verify"));
  CHECK(at("quay/registry/a1/create-claim/verify") < at("quay/registry/a1/switch"));
  // The archive Job mounts that clone; its manifests are read from its log once it ended.
  const auto jobs = s.upgrade_jobs();
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[1].role == job_role::archive);
  CHECK(jobs[1].verify_claim == "registry-quay-database-pg15-verify-1");
  CHECK(at("quay/registry/a1/scale-up/registry-quay-app") < at("quay/registry/a1/create-job/archive"));
  CHECK(at("quay/registry/a1/create-job/archive") < at("quay/registry/a1/read-manifest/old"));
  REQUIRE(u.before);
  REQUIRE(u.after);
  CHECK(u.before->has_manifest);
  CHECK(u.after->has_manifest);
  CHECK(u.before->tables == u.after->tables);
  CHECK(u.before->tables.size() == 5);
  const auto st = s.all<update_registry_status>().back();
  const auto verified = named(st.conditions, "PostgresUpgradeVerified");
  REQUIRE(verified != st.conditions.end());
  CHECK(verified->status == "True");
  CHECK(verified->reason == "VerifiedAfterResume");
  CHECK_THAT(st.conditions[1].message, Catch::Contains("verified after the resume: 5 tables, 17660 rows"));
  // While the archive Job ran, the verification was pending (the app already served).
  bool pending_seen = false;
  for (const auto& w : s.all<update_registry_status>())
    for (const auto& c : w.conditions)
      if (c.type == "PostgresUpgradeVerified" && c.status == "Unknown" && c.reason == "Pending") pending_seen = true;
  CHECK(pending_seen);
}

TEST_CASE("clone, verify after-resume: a difference stops the app again and offers the revert, which verifies the old data") {
  auto o = cloning();
  o.verify_after_resume = true;
  o.verify_after_resume_mismatch = true;
  SECTION("nobody reverts: the app stays stopped, the database on the upgraded claim") {
    auto s = fold(run_scenario(o));
    const auto& u = s.upgrade();
    REQUIRE(u.current == phase::verify_failed);
    CHECK_FALSE(u.verified_after_resume);
    CHECK_THAT(u.last_error, Catch::Contains("the verification after the resume found the upgraded data different"));
    CHECK_THAT(u.last_error, Catch::Contains("table public.tag has 7999 rows, expected 8000"));
    // Stopped again, with the replica count to restore recorded on the Deployment; never rolled back.
    const auto again = ids_with(s, "/scale-down/registry-quay-app/verify-failed");
    CHECK(again.size() == 1);
    CHECK(ids_with(s, "/restore/").empty());
    const auto st = s.all<update_registry_status>().back();
    CHECK(st.conditions[0].status == "False");
    CHECK(st.conditions[1].status == "False");
    CHECK(st.conditions[1].reason == "VerificationFailedAfterResume");
    CHECK_THAT(st.conditions[1].message, Catch::Contains("quay-pg-upgrader.quay.io/revert-to-claim to registry-quay-database"));
    const auto verified = named(st.conditions, "PostgresUpgradeVerified");
    REQUIRE(verified != st.conditions.end());
    CHECK(verified->status == "False");
    CHECK(verified->reason == "Mismatch");
    const auto events = s.all<emit_event>();
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().type == "Warning");
    CHECK(events.back().reason == "PostgresUpgradeVerificationFailedAfterResume");
  }
  SECTION("the revert is asked for: the old data comes back, verified against the old side's manifest from the Job's log") {
    o.revert_to_claim_after_success = "registry-quay-database";
    auto s = fold(run_scenario(o));
    const auto& u = s.upgrade();
    REQUIRE(u.current == phase::reverted);
    // The revert's verification compared against the tables the archive Job read from the backup clone.
    REQUIRE(u.revert.verified);
    CHECK(u.revert.verified->has_manifest);
    CHECK(u.before->tables.size() == 5);
    // The writes since the resume were backed up first, into a claim of their own.
    CHECK_FALSE(ids_with(s, "/revert-1/create-claim/backup").empty());
  }
}

TEST_CASE("clone, verify after-resume: the Job's log is gone; its own report of a difference still stops the app") {
  auto o = cloning();
  o.verify_after_resume = true;
  o.verify_after_resume_mismatch = true;
  o.job_log_gone = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::verify_failed);
  CHECK_THAT(u.last_error, Catch::Contains("its manifests could not be read from the Job's log"));
  CHECK_THAT(u.last_error, Catch::Contains("VerificationMismatch: step 'compare the manifests' failed"));
  CHECK(ids_with(s, "/scale-down/registry-quay-app/verify-failed").size() == 1);
}

TEST_CASE("clone, verify after-resume: the Job's log is gone after a match: the Job's own comparison stands") {
  auto o = cloning();
  o.verify_after_resume = true;
  o.job_log_gone = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  CHECK(u.verified_after_resume);
  CHECK_FALSE(u.before->has_manifest);
  CHECK_THAT(s.all<update_registry_status>().back().conditions[1].message,
             Catch::Contains("verified after the resume by the archive Job"));
}
