// No rollback that drops acknowledged writes (issue 19, item 2): once part of the app was scaled up
// against the database it now runs on, a failure of the resume (a scale-up refused for good, the
// phase's deadline) never switches the database back; the registry says so loudly and keeps
// scaling up until it goes through.
#include <algorithm>

#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

constexpr const char* old_claim = "registry-quay-database";
constexpr const char* new_claim = "registry-quay-database-pg15";

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : " ") + x;
  return out;
}

std::size_t count_with(const std::vector<std::string>& ids, const std::string& part) {
  return static_cast<std::size_t>(
      std::count_if(ids.begin(), ids.end(), [&](const std::string& id) { return id.find(part) != std::string::npos; }));
}

std::vector<emit_event> events_with_reason(const session& s, const std::string& reason) {
  auto all = s.all<emit_event>();
  std::erase_if(all, [&](const emit_event& e) { return e.reason != reason; });
  return all;
}

bool some_status_says(const session& s, const std::string& part) {
  for (const auto& st : s.all<update_registry_status>())
    for (const auto& c : st.conditions)
      if (c.message.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a scale-up refused after another app Deployment resumed never switches the database back") {
  scenario_options o;
  o.scale_up_refused = "registry-quay-mirror";
  o.scale_up_refusals = 12;  // one a minute: past the resume deadline (600 s)
  const auto s = fold(run_scenario(o));
  const auto phases = s.phases();
  INFO(joined(phases));
  CHECK(std::find(phases.begin(), phases.end(), "rolling_back") == phases.end());
  CHECK(s.upgrade().current == phase::succeeded);
  // The database was switched once, to the new claim, and never back.
  const auto switches = s.all<patch_database_deployment>();
  REQUIRE(switches.size() == 1);
  CHECK(switches[0].claim == new_claim);
  // The refused scale-up was sent again until it went through: 12 refusals, then the 13th.
  CHECK(count_with(s.work(), "scale-up/registry-quay-mirror") == 13);
  CHECK(count_with(s.work(), "scale-up/registry-quay-app") == 1);
  // Loud: one Warning Event, and the status says what runs, what waits and why.
  const auto warned = events_with_reason(s, "PostgresUpgradePartlyResumed");
  REQUIRE(warned.size() == 1);
  CHECK(warned[0].type == "Warning");
  CHECK(warned[0].message.find("scaled up: quay/registry-quay-app") != std::string::npos);
  CHECK(some_status_says(s, "Still to scale up: quay/registry-quay-mirror"));
  CHECK(some_status_says(s, "refused by the scenario"));
  CHECK(some_status_says(s, "so the upgrade is not undone"));
}

TEST_CASE("a scale-up refused when no app Deployment resumed rolls back as before") {
  scenario_options o;
  o.mirror_replicas = 0;  // the app is one Deployment: its refusal means nothing ran on the new database
  o.scale_up_refused = "registry-quay-app";
  o.scale_up_refusals = 1;
  const auto s = fold(run_scenario(o));
  const auto phases = s.phases();
  INFO(joined(phases));
  CHECK(std::find(phases.begin(), phases.end(), "rolling_back") != phases.end());
  CHECK(s.upgrade().current == phase::failed);
  const auto switches = s.all<patch_database_deployment>();
  REQUIRE(switches.size() == 2);
  CHECK(switches[1].claim == old_claim);
  CHECK(events_with_reason(s, "PostgresUpgradePartlyResumed").empty());
}

TEST_CASE("a revert whose scale-up is refused after part of the app resumed on the old database is not undone") {
  scenario_options o;
  o.revert_to_claim_after_success = old_claim;
  o.scale_up_refused = "registry-quay-mirror";
  o.scale_up_refusals = 3;
  o.scale_up_refused_in_revert = true;
  const auto s = fold(run_scenario(o));
  const auto phases = s.phases();
  INFO(joined(phases));
  CHECK(std::find(phases.begin(), phases.end(), "revert_rolling_back") == phases.end());
  CHECK(s.upgrade().current == phase::reverted);
  const auto switches = s.all<patch_database_deployment>();
  REQUIRE(switches.size() == 2);  // to the new claim, and back by the revert; never again
  CHECK(switches[1].claim == old_claim);
  CHECK(events_with_reason(s, "PostgresUpgradePartlyResumed").size() == 1);
  CHECK(some_status_says(s, "part of the app already runs on the old database again"));
}
