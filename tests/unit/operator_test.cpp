// A Quay operator renders the database (QUAY-OPERATOR.md, issue 13): the controller pauses it
// before touching anything, ends in the state its templates produce, and gives it back on every
// way out; where it cannot do that safely, it refuses and touches nothing.
#include <algorithm>

#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

scenario_options an_operator_managed_registry() {
  scenario_options o;
  o.operator_managed = true;
  return o;
}

std::size_t position(const std::vector<std::string>& ids, const std::string& id) {
  return static_cast<std::size_t>(std::find(ids.begin(), ids.end(), id) - ids.begin());
}

condition upgraded_condition(const session& s) { return s.all<update_registry_status>().back().conditions[1]; }

}  // namespace

TEST_CASE("a Quay operator is paused before anything is touched, resumed last, and left a state it keeps") {
  auto s = fold(run_scenario(an_operator_managed_registry()));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  // The operator's expected image is the target: 13, not the controller's configured 15.
  CHECK(u.to == pg_major::of(13));
  REQUIRE(u.quay_operator.has_value());
  CHECK(u.quay_operator->deployment == object_key{"quay-operator", "quay-operator"});
  CHECK(u.quay_operator->replicas == 1);
  CHECK(s.phases() == std::vector<std::string>{"detecting", "preflight", "pausing_operator", "quiescing", "backing_up",
                                               "stopping", "upgrading", "switching", "verifying", "resuming", "resuming_operator",
                                               "analyzing", "succeeded"});
  const auto work = s.work();
  // The pause is the first change after the check Job, before the app is quiesced; the resume is
  // the last change of the upgrade, followed only by the analyze Job (while everything serves).
  CHECK(work[1] == "quay/registry/a1/create-job/check");
  CHECK(work[2] == "quay/registry/a1/scale-down/operator");
  REQUIRE(work.size() > 2);
  CHECK(work[work.size() - 2] == "quay/registry/a1/scale-up/operator");
  CHECK(work.back() == "quay/registry/a1/create-job/analyze");
  CHECK(position(work, "quay/registry/a1/scale-down/operator") < position(work, "quay/registry/a1/scale-down/registry-quay-app"));
  const auto scales = s.all<scale_deployment>();
  CHECK(scales.front().key == object_key{"quay-operator", "quay-operator"});
  CHECK(scales.front().replicas == 0);
  CHECK(scales.front().record_original == 1);
  CHECK(scales.back().key == object_key{"quay-operator", "quay-operator"});
  CHECK(scales.back().replicas == 1);
  CHECK(scales.back().clear_record);
  // The new claim is the one the operator renders for 13, the image the one it expects.
  const auto claims = s.all<create_claim>();
  REQUIRE(claims.size() == 2);
  CHECK(claims[1].key.name == "registry-quay-postgres-13");
  const auto switches = s.all<patch_database_deployment>();
  REQUIRE(switches.size() == 1);
  CHECK(switches[0].image == "quay.io/sclorg/postgresql-13-c9s");
  CHECK(switches[0].claim == "registry-quay-postgres-13");
  // The Jobs that write the new claim run the operator's image too: a 15 binary would write a
  // data directory the 13 server the Deployment is switched to can never start.
  const auto jobs = s.all<create_job>();
  REQUIRE(jobs.size() == 4);  // the check Job too: the target's binaries check; the analyze Job last
  for (const auto& j : jobs) CHECK(j.image == "quay.io/sclorg/postgresql-13-c9s");
  const auto status = s.all<update_registry_status>().back();
  CHECK(status.summary.quay_operator == "quay-operator/quay-operator");
  CHECK(status.summary.new_claim == "registry-quay-postgres-13");
  CHECK_THAT(status.conditions[1].message, Catch::Contains("the Quay operator quay-operator/quay-operator was paused"));
}

TEST_CASE("without an operator the names and the target stay the controller's own") {
  auto s = fold(run_scenario(scenario_options{}));
  CHECK(s.upgrade().to == pg_major::of(15));
  CHECK_FALSE(s.upgrade().quay_operator.has_value());
  CHECK(s.all<create_claim>()[1].key.name == "registry-quay-database-pg15");
  for (const auto& id : s.work()) CHECK(id.find("operator") == std::string::npos);
}

TEST_CASE("a controller restarted while the operator is paused carries on and resumes it") {
  auto o = an_operator_managed_registry();
  o.restart_after_seq = 40;
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::succeeded);
  auto work = s.work();
  REQUIRE(work.size() > 2);
  CHECK(work[work.size() - 2] == "quay/registry/a1/scale-up/operator");
  CHECK(work.back() == "quay/registry/a1/create-job/analyze");
  std::sort(work.begin(), work.end());
  CHECK(std::adjacent_find(work.begin(), work.end()) == work.end());  // nothing done twice
}

TEST_CASE("a rollback restores the database, the app, and then the operator") {
  auto o = an_operator_managed_registry();
  o.backup_fails = true;
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::failed);
  const auto work = s.work();
  REQUIRE(!work.empty());
  CHECK(work.back() == "quay/registry/a1/restore/operator");
  CHECK(position(work, "quay/registry/a1/restore/registry-quay-app") < position(work, "quay/registry/a1/restore/operator"));
  const auto last = s.all<scale_deployment>().back();
  CHECK(last.key == object_key{"quay-operator", "quay-operator"});
  CHECK(last.replicas == 1);
  CHECK(last.clear_record);
}

TEST_CASE("a rollback after the new claim was made keeps the operator paused; a successful retry resumes it") {
  // The failed attempt's claim has the name the operator renders for 13: a resumed operator would
  // migrate at once and take that claim's data for its result. The operator stays at 0, the
  // condition says why and what to do, and nothing gives it back while the failure stands.
  auto o = an_operator_managed_registry();
  o.upgrade_fails = true;
  auto s = fold(run_scenario(o));
  REQUIRE(s.upgrade().current == phase::failed);
  auto operator_scales = [](const session& x) {
    std::vector<scale_deployment> out;
    for (const auto& sc : x.all<scale_deployment>())
      if (sc.key == object_key{"quay-operator", "quay-operator"}) out.push_back(sc);
    return out;
  };
  auto scales = operator_scales(s);
  REQUIRE(scales.size() == 1);
  CHECK(scales[0].replicas == 0);
  const auto& work = s.work();
  CHECK(std::find(work.begin(), work.end(), "quay/registry/a1/restore/operator") == work.end());
  CHECK(position(work, "quay/registry/a1/restore/registry-quay-app") < work.size());  // the app is back
  const auto c = upgraded_condition(s);
  CHECK(c.reason == "Failed");
  CHECK_THAT(c.message,
             Catch::Contains("The Quay operator quay-operator/quay-operator stays paused (its 1 replicas recorded") &&
                 Catch::Contains("take claim registry-quay-postgres-13, which holds this failed attempt's data") &&
                 Catch::Contains("delete claim registry-quay-postgres-13 and scale quay-operator/quay-operator back to 1"));

  // The retry pauses nothing again (the operator is at 0 already, its record kept), succeeds, and
  // gives the operator its recorded replicas back last.
  o.retry_token_after_failure = "2";
  auto r = fold(run_scenario(o));
  INFO(r.upgrade().last_error);
  REQUIRE(r.upgrade().current == phase::succeeded);
  scales = operator_scales(r);
  REQUIRE(scales.size() >= 2);
  CHECK(scales.back().replicas == 1);
  CHECK(scales.back().clear_record);
  const auto rw = r.work();
  REQUIRE(rw.size() > 2);
  CHECK(rw[rw.size() - 2] == "quay/registry/a2/scale-up/operator");
  CHECK(rw.back() == "quay/registry/a2/create-job/analyze");
}

TEST_CASE("a rollback before the new claim was made gives the operator back at once") {
  auto o = an_operator_managed_registry();
  o.backup_fails = true;
  auto s = fold(run_scenario(o));
  REQUIRE(s.upgrade().current == phase::failed);
  CHECK(s.work().back() == "quay/registry/a1/restore/operator");
  CHECK_THAT(upgraded_condition(s).message, !Catch::Contains("stays paused"));
}

TEST_CASE("an operator already migrating the database: the controller stands aside, then finds it up to date") {
  auto o = an_operator_managed_registry();
  o.operator_migrating = true;
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::up_to_date);
  const auto phases = s.phases();
  REQUIRE(phases.size() >= 2);
  CHECK(phases[0] == "blocked");
  const auto statuses = s.all<update_registry_status>();
  CHECK(statuses[0].conditions[1].reason == "OperatorMigrating");
  CHECK_THAT(statuses[0].conditions[1].message,
             Catch::Contains("is migrating this database itself") && Catch::Contains("nothing was changed"));
  // Nothing was created, scaled or patched: only the version was read.
  for (const auto& id : s.work()) CHECK(id.find("/inspect-version/") != std::string::npos);
}

TEST_CASE("refusals touch nothing and say why: pausing off, the operator's claim taken, a conflicting target") {
  struct refusal {
    const char* name;
    void (*tweak)(scenario_options&);
    const char* reason;
    const char* words;
  };
  const refusal cases[] = {
      {"pausing off", [](scenario_options& o) { o.pause_operator = false; }, "OperatorNotPaused",
       "runs and pausing it is turned off (--pause-operator=false)"},
      {"claim taken", [](scenario_options& o) { o.operator_claim_exists = true; }, "ClaimExists",
       "the claim quay/registry-quay-postgres-13, which the Quay operator quay-operator/quay-operator renders for PostgreSQL 13, "
       "exists already and this controller did not create it"},
      {"target conflict", [](scenario_options& o) { o.target_image_explicit = true; }, "TargetConflictsWithOperator",
       "renders this database with quay.io/sclorg/postgresql-13-c9s, but --target-image is quay.io/sclorg/postgresql-15-c9s"},
  };
  for (const auto& r : cases) {
    INFO(r.name);
    auto o = an_operator_managed_registry();
    r.tweak(o);
    auto s = fold(run_scenario(o));
    CHECK(s.upgrade().current == phase::blocked);
    CHECK(s.upgrade().block_reason == r.reason);
    CHECK(upgraded_condition(s).status == "False");
    CHECK(upgraded_condition(s).reason == r.reason);
    CHECK_THAT(upgraded_condition(s).message, Catch::Contains(r.words) && Catch::EndsWith("nothing was changed"));
    for (const auto& id : s.work()) CHECK(id.find("/inspect-version/") != std::string::npos);
  }
}

TEST_CASE("a controller that lost its log gives back an operator it left paused") {
  auto o = an_operator_managed_registry();
  o.operator_left_paused = true;
  o.db_image = "quay.io/sclorg/postgresql-13-c9s";
  o.db_major = 13;
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::up_to_date);
  const auto scales = s.all<scale_deployment>();
  REQUIRE(scales.size() == 1);
  CHECK(scales[0].key == object_key{"quay-operator", "quay-operator"});
  CHECK(scales[0].replicas == 1);
  CHECK(scales[0].clear_record);
}

TEST_CASE("a revert is refused while the operator runs: it would migrate the old database again") {
  auto o = an_operator_managed_registry();
  o.revert_to_claim_after_success = "registry-quay-database";
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::revert_refused);
  CHECK_THAT(s.upgrade().revert.refused, Catch::Contains("it would migrate it again at once"));
}
