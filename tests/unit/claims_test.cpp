// The new claims before the downtime (issue 15, item 3): both claims are created and must bind
// while Quay still serves; a claim that cannot bind refuses the upgrade with the storage's own
// reason and nothing stopped; a WaitForFirstConsumer class is not a refusal (its claims bind
// when the Jobs mount them).
#include <algorithm>

#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

scenario_options a_registry() { return scenario_options{}; }

}  // namespace

TEST_CASE("claims: a StorageClass that does not exist refuses at the first look, nothing stopped") {
  auto o = a_registry();
  o.claim_class_missing = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::failed);
  CHECK(u.failed_in == phase::preflight);
  CHECK_THAT(u.last_error, Catch::Contains("the backup claim quay/registry-quay-database-backup-pg10 cannot bind: its "
                                           "StorageClass standard does not exist (its Event: Warning ProvisioningFailed: "
                                           "storageclass.storage.k8s.io \"standard\" not found)"));
  CHECK_THAT(u.last_error, Catch::Contains("Nothing was stopped: Quay kept serving"));
  CHECK_THAT(u.last_error, Catch::Contains("quay-pg-upgrader.quay.io/retry"));
  // Refused at the first look (30 ms after the claims appeared), not after the timeout.
  CHECK(ids_with(s, "/inspect-claim/") ==
        std::vector<std::string>{"quay/registry/a1/inspect-claim/backup/g1", "quay/registry/a1/inspect-claim/data/g1"});
  CHECK(*u.finished - *u.claims_requested < 5'000);
  check_nothing_stopped(s);
  const auto st = s.all<update_registry_status>().back();
  CHECK(st.conditions[1].status == "False");
  CHECK(st.conditions[1].reason == "Failed");
  CHECK_THAT(st.conditions[1].message, Catch::Contains("ProvisioningFailed"));
}

TEST_CASE("claims: a provisioner that never acts refuses at --claim-bind-timeout with its Event, looked at every 10 s") {
  auto o = a_registry();
  o.data_claim_never_binds = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::failed);
  CHECK(u.failed_in == phase::preflight);
  CHECK_THAT(u.last_error,
             Catch::Contains("the new data claim quay/registry-quay-database-pg15 is still Pending after 300 s (StorageClass "
                             "standard, provisioner ebs.csi.aws.com, binding Immediate; --claim-bind-timeout); its Event: Normal "
                             "ExternalProvisioning: Waiting for a volume to be created either by the external provisioner "
                             "'ebs.csi.aws.com'"));
  CHECK(*u.finished - *u.claims_requested >= 300'000);
  CHECK(*u.finished - *u.claims_requested < 310'000);
  // The backup claim bound and was looked at once; the data claim every 10 s.
  const auto looks = ids_with(s, "/inspect-claim/data/");
  CHECK(looks.size() >= 29);
  CHECK(looks.size() <= 31);
  CHECK(ids_with(s, "/inspect-claim/backup/").size() == 1);
  check_nothing_stopped(s);
  // While it waited, the status said what for.
  bool told = false;
  for (const auto& st : s.all<update_registry_status>())
    if (st.summary.phase == "preflight" &&
        st.conditions[0].message.find("the new data claim registry-quay-database-pg15 is Pending (ExternalProvisioning") !=
            std::string::npos)
      told = true;
  CHECK(told);
  // Every claim is kept: the controller deletes none.
  CHECK(s.s.cluster.claims.contains({"quay", "registry-quay-database-pg15"}));
  CHECK(s.s.cluster.claims.contains({"quay", "registry-quay-database-backup-pg10"}));
}

TEST_CASE("claims: WaitForFirstConsumer claims are not a refusal; they bind when the Jobs mount them") {
  auto o = a_registry();
  o.claims_bind_on_first_use = true;
  session s;
  bool pending_when_quiesced = false;
  for (const auto& line : run_scenario(o)) {
    s.feed(line);
    if (s.has_upgrade() && s.upgrade().current == phase::quiescing) {
      const auto it = s.s.cluster.claims.find({"quay", "registry-quay-database-pg15"});
      pending_when_quiesced = it != s.s.cluster.claims.end() && it->second.phase == "Pending";
    }
  }
  CHECK(pending_when_quiesced);
  REQUIRE(s.upgrade().current == phase::succeeded);
  CHECK(s.upgrade().claims_seen.at("data").binding_mode == "WaitForFirstConsumer");
  CHECK(s.s.cluster.claims.at({"quay", "registry-quay-database-pg15"}).phase == "Bound");
}

TEST_CASE("claims: beside a Quay operator the claims come after the pause; a refusal gives the operator back") {
  auto o = a_registry();
  o.operator_managed = true;
  o.claim_class_missing = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::failed);
  CHECK(u.failed_in == phase::pausing_operator);
  CHECK_THAT(u.last_error, Catch::Contains("ProvisioningFailed"));
  const auto work = s.work();
  const auto pause = std::find(work.begin(), work.end(), "quay/registry/a1/scale-down/operator");
  const auto claim = std::find(work.begin(), work.end(), "quay/registry/a1/create-claim/data");
  REQUIRE(pause != work.end());
  REQUIRE(claim != work.end());
  CHECK(pause < claim);  // the claim of the operator's name is made only while it is paused
  // No upgrade Job ran, so the empty claim holds nothing of this attempt: the operator is resumed.
  CHECK(!ids_with(s, "/restore/operator").empty());
  CHECK(s.upgrade_jobs().empty());
  for (const auto& sc : s.all<scale_deployment>()) CHECK(sc.key.name == "quay-operator");  // the app never stopped
}

TEST_CASE("claims: the timeout travels in the logged configuration") {
  check_logged_setting<std::int64_t>(&config::claim_bind_timeout_s, "claimBindTimeoutSeconds", 300, 20, 0);
}

TEST_CASE("the check Job runs first, on the target's binaries; a failing check refuses with nothing created or stopped") {
  auto o = a_registry();
  o.check_fails = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::failed);
  CHECK(u.failed_in == phase::preflight);
  CHECK_THAT(u.last_error, Catch::StartsWith("preflight check Job quay/registry-pg-check-1 failed: BackoffLimitExceeded"));
  CHECK_THAT(u.last_error, Catch::Contains("extension chkpass is not available in PostgreSQL 15"));
  CHECK_THAT(u.last_error, Catch::EndsWith("Nothing was stopped: Quay kept serving"));
  const auto jobs = s.all<create_job>();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].role == job_role::check);
  CHECK(jobs[0].image == "quay.io/sclorg/postgresql-15-c9s");  // logical: the target's own binaries
  CHECK_FALSE(jobs[0].pg_upgrade_checks);
  CHECK(s.all<create_claim>().empty());  // the claims come after the check
  check_nothing_stopped(s);
}

TEST_CASE("claims that exist already, big enough to adopt: the check Job measures their free space") {
  SECTION("logical: both leftovers, mounted read-only in the check Job") {
    auto o = a_registry();
    o.leftover_backup_claim_bytes = 8LL << 30;
    o.leftover_data_claim_bytes = 10LL << 30;  // the old claim's size, the new one's floor
    auto s = fold(run_scenario(o));
    const auto jobs = s.all<create_job>();
    REQUIRE_FALSE(jobs.empty());
    REQUIRE(jobs[0].role == job_role::check);
    CHECK(jobs[0].backup_space_bytes > 0);
    CHECK(jobs[0].data_space_bytes == jobs[0].backup_space_bytes);  // the databases' measured size
    CHECK(s.upgrade().current == phase::succeeded);
  }
  SECTION("too small to adopt: refused by name, not measured") {
    auto o = a_registry();
    o.leftover_backup_claim_bytes = 256 * 1024;
    auto s = fold(run_scenario(o));
    const auto jobs = s.all<create_job>();
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].backup_space_bytes == 0);
    CHECK(s.upgrade().failed_in == phase::preflight);
  }
  SECTION("no leftovers: the claims made later are empty, nothing to measure") {
    auto s = fold(run_scenario(a_registry()));
    const auto jobs = s.all<create_job>();
    REQUIRE_FALSE(jobs.empty());
    CHECK(jobs[0].backup_space_bytes == 0);
    CHECK(jobs[0].data_space_bytes == 0);
  }
  SECTION("pg_upgrade's live check, pinned to the database's node: the new data claim only") {
    auto o = a_registry();
    use_pg_upgrade_13(o);
    o.leftover_backup_claim_bytes = 8LL << 30;
    o.leftover_data_claim_bytes = 10LL << 30;  // the old claim's size, the new one's floor
    auto s = fold(run_scenario(o));
    const auto jobs = s.all<create_job>();
    REQUIRE_FALSE(jobs.empty());
    REQUIRE(jobs[0].live_check);
    CHECK(jobs[0].backup_space_bytes == 0);
    CHECK(jobs[0].data_space_bytes > 0);
  }
}

TEST_CASE("without the check (--no-preflight-check) preflight goes straight to the claims") {
  auto o = a_registry();
  o.preflight_check = false;
  auto s = fold(run_scenario(o));
  REQUIRE(s.upgrade().current == phase::succeeded);
  CHECK(s.upgrade_jobs().size() == s.all<create_job>().size());
}

// Issue 17, item 1: the watches carry only labelled claims. The claims an attempt needs by name (the
// old data claim, the backup's and the new data's) are read by name in preflight, once each, when
// no watch carries them: an old data claim made by hand (no quay-component label) is found that
// way and the upgrade goes on; one that does not exist fails before anything is stopped, as
// before; a claim of the new data's name that someone left, too small, is refused before any
// claim is made. Claims watched as one stream (--watch-all, and logs from before) need no read.
TEST_CASE("claims: with label-selected claims, the claims needed by name are read once each; an unwatched old claim is found") {
  auto o = a_registry();
  o.claims_selected = true;
  o.old_claim_unwatched = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  CHECK(ids_with(s, "/read-claim/") == std::vector<std::string>{"quay/registry/a1/read-claim/old",
                                                                "quay/registry/a1/read-claim/backup",
                                                                "quay/registry/a1/read-claim/data"});
  CHECK_FALSE(s.s.cluster.claims.contains({"quay", "registry-quay-database"}));
  // The new claims were made in the old claim's StorageClass, as from a watched one.
  const auto claims = s.all<create_claim>();
  REQUIRE(claims.size() == 2);
  CHECK(claims[0].storage_class == "standard");

  auto plain = a_registry();
  plain.old_claim_unwatched = true;  // without selected claims, an unwatched claim is simply missing
  CHECK(ids_with(fold(run_scenario(plain)), "/read-claim/").empty());
}

TEST_CASE("claims: an old data claim that exists nowhere fails in preflight after its read, nothing stopped") {
  auto o = a_registry();
  o.claims_selected = true;
  o.old_claim_absent = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::failed);
  CHECK(u.failed_in == phase::preflight);
  CHECK(ids_with(s, "/read-claim/old").size() == 1);
  CHECK_THAT(u.last_error, Catch::Contains("the database claim quay/registry-quay-database was not found; nothing was changed"));
  CHECK(s.all<create_claim>().empty());
  check_nothing_stopped(s);
}

TEST_CASE("claims: a too small claim of the new data's name that no watch carries is refused before any claim is made") {
  auto o = a_registry();
  o.claims_selected = true;
  o.leftover_data_claim_bytes = 256 * 1024;
  o.leftover_claims_unwatched = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::failed);
  CHECK(u.failed_in == phase::preflight);
  CHECK_THAT(u.last_error, Catch::Contains("quay/registry-quay-database-pg15 already exists with 256Ki"));
  CHECK(s.all<create_claim>().empty());
  check_nothing_stopped(s);
}
