// The manual revert (issue 6, item 6), transition by transition: events in, state and effects
// out, no I/O. The logs come from the scenario driver, as the golden replays do.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/time.hpp"
#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;
using nlohmann::json;

namespace {

constexpr const char* old_claim = "registry-quay-database";
constexpr const char* new_claim = "registry-quay-database-pg15";
constexpr const char* revert_claim = "registry-quay-database-backup-pg15-revert-1-1";
constexpr const char* old_image =
    "centos/postgresql-10-centos7@sha256:8a2b5f3e9c7d1a4b6e0f2c8d9a7b3e5f1c4d6a8b0e2f4c6d8a0b2c4d6e8f0a1b";

scenario_options reverting(const std::string& value) {
  scenario_options o;
  o.revert_to_claim_after_success = value;
  return o;
}

std::vector<std::string> revert_work(const session& s) {
  std::vector<std::string> out;
  for (const auto& id : s.work())
    if (id.find("/revert-") != std::string::npos) out.push_back(id);
  return out;
}

// By value: all<>() returns a fresh vector, so a reference into it would dangle (ASan found it).
condition upgraded_condition(const session& s) { return s.all<update_registry_status>().back().conditions[1]; }

// The phases the status reported from `first` on.
std::vector<std::string> phases_from(const session& s, const std::string& first) {
  auto all = s.phases();
  auto it = std::find(all.begin(), all.end(), first);
  return {it, all.end()};
}

// A later watch line of the last-seen object of `kind` named `name`, changed by `edit`.
std::string changed_object(const std::vector<std::string>& lines, resource_kind kind, const std::string& name,
                           const std::function<void(json&)>& edit, timestamp after_ms = 1000) {
  const std::string source = std::string("watch/") + plural(kind);
  json last;
  timestamp ts = 0;
  for (const auto& l : lines) {
    auto j = json::parse(l);
    ts = parse_rfc3339(j["ts"].get<std::string>()).value();
    if (j.value("source", "") == source && j.contains("watch") && j["watch"]["object"]["metadata"]["name"] == name)
      last = j["watch"]["object"];
    else if (j.value("source", "") == source && j.value("relist", "") == "item" && j["object"]["metadata"]["name"] == name)
      last = j["object"];
  }
  REQUIRE(!last.is_null());
  edit(last);
  last["metadata"]["resourceVersion"] =
      std::to_string(std::stoll(last["metadata"]["resourceVersion"].get<std::string>()) + 100000);
  return log_line_watch(lines.size() + 1, ts + after_ms, kind, json{{"type", "MODIFIED"}, {"object", last}}.dump());
}

}  // namespace

TEST_CASE("a revert naming the old claim backs up the upgraded data, then goes back to the old claim and image") {
  auto s = fold(run_scenario(reverting(old_claim)));
  CHECK(phases_from(s, "revert_quiescing") == std::vector<std::string>{"revert_quiescing", "revert_backing_up", "revert_stopping",
                                                                       "revert_switching", "revert_verifying", "revert_resuming",
                                                                       "reverted"});
  CHECK(revert_work(s) ==
        std::vector<std::string>{
            "quay/registry/a1/revert-1/scale-down/registry-quay-app", "quay/registry/a1/revert-1/scale-down/registry-quay-mirror",
            "quay/registry/a1/revert-1/inspect-size", "quay/registry/a1/revert-1/create-claim/backup",
            "quay/registry/a1/revert-1/create-job/backup", "quay/registry/a1/revert-1/scale-down/database",
            "quay/registry/a1/revert-1/switch", "quay/registry/a1/revert-1/inspect-verify",
            "quay/registry/a1/revert-1/scale-up/registry-quay-app", "quay/registry/a1/revert-1/scale-up/registry-quay-mirror"});
  const auto& u = s.upgrade();
  CHECK(u.current == phase::reverted);
  CHECK(u.attempt == 1);
  CHECK(u.revert.run == 1);
  CHECK(u.detected_image == old_image);  // detection now compares against the old image

  // The backup of the upgraded data: its own claim (role backup: never owner-referenced), the
  // image that serves the upgraded data, a Job name of its own.
  const auto claims = s.all<create_claim>();
  REQUIRE(claims.size() == 3);
  CHECK(claims[2].key.name == revert_claim);
  CHECK(claims[2].role == claim_role::backup);
  const auto jobs = s.upgrade_jobs();
  REQUIRE(jobs.size() == 4);  // backup, upgrade, analyze, then the revert's backup
  CHECK(jobs[3].key.name == "registry-pg15-revert-backup-1-1");
  CHECK(jobs[3].role == job_role::backup);
  CHECK(jobs[3].image == "quay.io/sclorg/postgresql-15-c9s");
  CHECK(jobs[3].from == pg_major::of(15));
  CHECK(jobs[3].backup_claim == revert_claim);

  // The switch back: the old image, the old claim, the recorded replica count.
  const auto patches = s.all<patch_database_deployment>();
  REQUIRE(patches.size() == 2);
  CHECK(to_string(patches[1].id) == "quay/registry/a1/revert-1/switch");
  CHECK(patches[1].image == old_image);
  CHECK(patches[1].claim == old_claim);
  CHECK(patches[1].replicas == 1);

  // Verified against the manifest taken before the upgrade, on PostgreSQL 10.
  REQUIRE(u.revert.verified);
  CHECK(u.revert.verified->server_version_num / 10000 == 10);
  REQUIRE(u.after);
  CHECK(u.after->server_version_num / 10000 == 15);  // the upgrade's own facts stay as they were

  const auto& c = upgraded_condition(s);
  CHECK(c.status == "False");
  CHECK(c.reason == "Reverted");
  CHECK_THAT(c.message, Catch::Contains("Writes made after the upgrade are NOT carried back"));
  CHECK_THAT(c.message, Catch::Contains(revert_claim));
  CHECK_THAT(c.message, Catch::Contains("PostgreSQL 10 again on its previous claim registry-quay-database"));
  CHECK(s.all<update_registry_status>().back().summary.revert_backup_claim == revert_claim);
  const auto events = s.all<emit_event>();
  CHECK(std::any_of(events.begin(), events.end(), [](const emit_event& e) { return e.reason == "PostgresUpgradeReverted"; }));
}

TEST_CASE("a revert request naming another claim is refused and touches nothing") {
  auto upgraded = fold(run_scenario(scenario_options{}));
  auto s = fold(run_scenario(reverting(new_claim)));
  CHECK(s.upgrade().current == phase::revert_refused);
  CHECK(s.work() == upgraded.work());  // not one effect beyond the upgrade's
  const auto& c = upgraded_condition(s);
  CHECK(c.status == "True");
  CHECK(c.reason == "RevertRefused");
  CHECK_THAT(c.message, Catch::Contains("names claim \"registry-quay-database-pg15\""));
  CHECK_THAT(c.message, Catch::Contains("before the upgrade is registry-quay-database"));
  CHECK_THAT(c.message, Catch::Contains("nothing was changed"));
  const auto events = s.all<emit_event>();
  REQUIRE(!events.empty());
  CHECK(events.back().type == "Warning");
  CHECK(events.back().reason == "PostgresUpgradeRevertRefused");

  SECTION("another wrong value is refused again, with its own Event") {
    auto lines = run_scenario(reverting(new_claim));
    lines.push_back(changed_object(lines, resource_kind::quay_registry, "registry", [](json& o) {
      o["metadata"]["annotations"]["quay-pg-upgrader.quay.io/revert-to-claim"] = "yes";
    }));
    auto t = fold(lines);
    CHECK(t.upgrade().current == phase::revert_refused);
    CHECK(t.work() == upgraded.work());
    CHECK_THAT(t.all<emit_event>().back().message, Catch::Contains("names claim \"yes\""));
    CHECK_THAT(upgraded_condition(t).message, Catch::Contains("names claim \"yes\""));
  }
  SECTION("removing it returns to succeeded; setting the right name then starts the revert") {
    auto lines = run_scenario(reverting(new_claim));
    lines.push_back(changed_object(lines, resource_kind::quay_registry, "registry", [](json& o) {
      o["metadata"]["annotations"].erase("quay-pg-upgrader.quay.io/revert-to-claim");
    }));
    auto t = fold(lines);
    CHECK(t.upgrade().current == phase::succeeded);
    CHECK(t.upgrade().revert.token.empty());
    lines.push_back(changed_object(lines, resource_kind::quay_registry, "registry", [](json& o) {
      o["metadata"]["annotations"]["quay-pg-upgrader.quay.io/revert-to-claim"] = old_claim;
    }));
    t = fold(lines);
    CHECK(t.upgrade().current == phase::revert_quiescing);
    CHECK(revert_work(t) == std::vector<std::string>{"quay/registry/a1/revert-1/scale-down/registry-quay-app",
                                                     "quay/registry/a1/revert-1/scale-down/registry-quay-mirror"});
  }
}

TEST_CASE("the same annotation applied again after a revert does not revert again") {
  auto lines = run_scenario(reverting(old_claim));
  const auto before = fold(lines);
  REQUIRE(before.upgrade().current == phase::reverted);
  lines.push_back(changed_object(lines, resource_kind::quay_registry, "registry", [](json& o) {
    o["metadata"]["annotations"]["quay-pg-upgrader.quay.io/revert-to-claim"] = old_claim;
    o["metadata"]["labels"]["touched"] = "again";
  }));
  // Removed and set again: still no second revert of a reverted database.
  lines.push_back(changed_object(lines, resource_kind::quay_registry, "registry", [](json& o) {
    o["metadata"]["annotations"].erase("quay-pg-upgrader.quay.io/revert-to-claim");
  }));
  lines.push_back(changed_object(lines, resource_kind::quay_registry, "registry", [](json& o) {
    o["metadata"]["annotations"]["quay-pg-upgrader.quay.io/revert-to-claim"] = old_claim;
  }));
  auto s = fold(lines);
  CHECK(s.upgrade().current == phase::reverted);
  CHECK(s.work() == before.work());
}

TEST_CASE("a new database image after a revert starts a new attempt, and the leftover annotation is no request for it") {
  auto lines = run_scenario(reverting(old_claim));
  lines.push_back(changed_object(lines, resource_kind::deployment, "registry-quay-database", [](json& o) {
    o["spec"]["template"]["spec"]["containers"][0]["image"] = "quay.io/sclorg/postgresql-10-c8s";
    o["metadata"]["generation"] = o["metadata"]["generation"].get<int>() + 1;
  }));
  auto s = fold(lines);
  const auto& u = s.upgrade();
  CHECK(u.attempt == 2);
  CHECK(u.current == phase::detecting);
  CHECK(u.revert.run == 0);
  CHECK(u.revert.token == old_claim);  // present when the attempt began
}

TEST_CASE("a failed backup of the upgraded data leaves the database on the upgraded claim") {
  auto o = reverting(old_claim);
  o.revert_backup_fails = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  CHECK(u.current == phase::revert_failed);
  CHECK(u.revert.failed_in == phase::revert_backing_up);
  CHECK(phases_from(s, "revert_quiescing") ==
        std::vector<std::string>{"revert_quiescing", "revert_backing_up", "revert_rolling_back", "revert_failed"});
  CHECK(s.all<patch_database_deployment>().size() == 1);  // only the upgrade's switch: the database was never touched
  CHECK(std::ranges::none_of(revert_work(s), [](const std::string& id) { return id.ends_with("scale-down/database"); }));
  const auto& c = upgraded_condition(s);
  CHECK(c.status == "True");
  CHECK(c.reason == "RevertFailed");
  CHECK_THAT(c.message, Catch::Contains("Job quay/registry-pg15-revert-backup-1-1 failed"));
  CHECK_THAT(c.message, Catch::Contains("No space left on device"));
  CHECK_THAT(c.message, Catch::Contains("again on the upgraded claim registry-quay-database-pg15"));
  const auto scales = s.all<scale_deployment>();
  REQUIRE(scales.size() >= 2);
  CHECK(to_string(scales[scales.size() - 2].id) == "quay/registry/a1/revert-1/restore/registry-quay-app");
  CHECK(scales[scales.size() - 2].replicas == 2);
  CHECK(to_string(scales.back().id) == "quay/registry/a1/revert-1/restore/registry-quay-mirror");
}

TEST_CASE("a revert's backup Job deleted by someone else fails the revert at once, the database left upgraded") {
  auto o = reverting(old_claim);
  o.job_deleted = job_role::backup;
  o.job_deleted_in_revert = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  CHECK(u.current == phase::revert_failed);
  CHECK(u.revert.failed_in == phase::revert_backing_up);
  CHECK_THAT(upgraded_condition(s).message,
             Catch::Contains("backup of the upgraded data Job quay/registry-pg15-revert-backup-1-1 was deleted before"));
  CHECK(s.all<patch_database_deployment>().size() == 1);  // the database was never touched by the revert
}

TEST_CASE("a verification mismatch after the switch back returns to the upgraded claim and image") {
  auto o = reverting(old_claim);
  o.revert_verify_mismatch = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  CHECK(u.current == phase::revert_failed);
  CHECK(u.revert.failed_in == phase::revert_verifying);
  const auto patches = s.all<patch_database_deployment>();
  REQUIRE(patches.size() == 3);
  CHECK(to_string(patches[2].id) == "quay/registry/a1/revert-1/restore/database");
  CHECK(patches[2].image == "quay.io/sclorg/postgresql-15-c9s");
  CHECK(patches[2].claim == new_claim);
  const auto& c = upgraded_condition(s);
  CHECK(c.reason == "RevertFailed");
  CHECK_THAT(c.message, Catch::Contains("table public.tag has 7999 rows, expected 8000"));
  // The app came back only after the upgraded database served again.
  const auto work = s.work();
  const auto restore_db = std::find(work.begin(), work.end(), "quay/registry/a1/revert-1/restore/database");
  const auto restore_app = std::find(work.begin(), work.end(), "quay/registry/a1/revert-1/restore/registry-quay-app");
  CHECK(restore_db < restore_app);
  CHECK(restore_app != work.end());
}

TEST_CASE("a controller restart in the middle of a revert finishes it without doing any step twice") {
  for (std::uint64_t at : {110u, 126u, 129u, 140u, 150u}) {
    INFO("restart after seq " << at);
    auto o = reverting(old_claim);
    o.restart_after_seq = at;
    auto s = fold(run_scenario(o));
    CHECK(s.upgrade().current == phase::reverted);
    const auto claims = s.all<create_claim>();
    CHECK(std::count_if(claims.begin(), claims.end(), [](const create_claim& c) { return c.key.name == revert_claim; }) <= 1);
    const auto jobs = s.all<create_job>();
    CHECK(std::count_if(jobs.begin(), jobs.end(),
                        [](const create_job& j) { return j.key.name == "registry-pg15-revert-backup-1-1"; }) <= 1);
    const auto patches = s.all<patch_database_deployment>();
    CHECK(std::count_if(patches.begin(), patches.end(),
                        [](const auto& p) { return to_string(p.id).ends_with("/revert-1/switch"); }) == 1);
    CHECK(upgraded_condition(s).reason == "Reverted");
  }
}
