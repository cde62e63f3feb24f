// Clair's database too (issue 14): each managed database of a registry is upgraded, verified and
// rolled back on its own; by default one after the other, Quay's first; Quay's app keeps serving
// while only Clair's database is down; a failure of one never touches the other.
#include <algorithm>
#include <set>

#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

scenario_options both_databases() {
  scenario_options o;
  o.clair = true;
  return o;
}

// The phases in which a database is down or being put back: its own downtime.
bool in_downtime(phase p) {
  switch (p) {
    case phase::quiescing:
    case phase::backing_up:
    case phase::stopping:
    case phase::upgrading:
    case phase::switching:
    case phase::verifying:
    case phase::resuming:
    case phase::rolling_back: return true;
    default: return false;
  }
}

// What an effect acts on, by name: the Deployment, claim or Job it creates, scales or patches.
std::string object_of(const effect& e) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, create_claim> || std::is_same_v<T, create_job> || std::is_same_v<T, delete_job> ||
                      std::is_same_v<T, scale_deployment> || std::is_same_v<T, patch_database_deployment>)
          return v.key.name;
        else if constexpr (std::is_same_v<T, inspect_database>) return v.db.service.name;
        else return "";
      },
      e);
}

// Every effect decided for one database acts only on that database's objects: Clair's on
// R-clair-*, Quay's on everything else of the registry (the operator aside, which both pause).
void check_each_touches_only_its_own(const session& s) {
  for (const auto& d : s.effects) {
    const std::string name = object_of(d.e);
    if (name.empty() || name == "quay-operator") continue;
    const bool clair_object = name.starts_with("registry-clair-");
    INFO(to_string(id_of(d.e)) << " acts on " << name);
    CHECK(clair_object == (id_of(d.e).component == db_component::clair));
  }
}

// The work ids of one database, in order.
std::vector<std::string> work_of(const session& s, db_component c) {
  std::vector<std::string> ids;
  for (const auto& id : s.work())
    if (eid(id).component == c) ids.push_back(id);
  return ids;
}

std::size_t position(const std::vector<std::string>& ids, const std::string& id) {
  return static_cast<std::size_t>(std::find(ids.begin(), ids.end(), id) - ids.begin());
}

}  // namespace

TEST_CASE("both databases are upgraded one after the other, Quay's first, each on its own names") {
  const auto lines = run_scenario(both_databases());
  session s;
  bool both_down = false;
  for (const auto& line : lines) {
    s.feed(line);
    if (s.s.upgrades.size() == 2 && in_downtime(s.upgrade().current) && in_downtime(s.clair().current)) both_down = true;
  }
  CHECK_FALSE(both_down);
  REQUIRE(s.upgrade().current == phase::succeeded);
  REQUIRE(s.clair().current == phase::succeeded);
  CHECK(s.clair().to == pg_major::of(15));
  CHECK(s.phases(db_component::clair) == std::vector<std::string>{"detecting", "queued", "preflight", "quiescing", "backing_up",
                                                                  "stopping", "upgrading", "switching", "verifying", "resuming",
                                                                  "analyzing", "succeeded"});
  check_each_touches_only_its_own(s);
  // Clair's downtime begins after Quay's app is back: registry pulls and pushes never stop for
  // Clair, and Quay's app is not scaled while Clair's database is down.
  const auto work = s.work();
  const auto clair_down = position(work, "quay/registry/clair/a1/scale-down/registry-clair-app");
  const auto clair_up = position(work, "quay/registry/clair/a1/scale-up/registry-clair-app");
  REQUIRE(clair_up < work.size());
  CHECK(position(work, "quay/registry/a1/scale-up/registry-quay-app") < clair_down);
  for (std::size_t i = clair_down; i <= clair_up; ++i) CHECK(work[i].find("registry-quay-app") == std::string::npos);
  // Quay's app is never stopped for Clair's database, Clair's app never for Quay's.
  for (const auto& sc : s.all<scale_deployment>()) {
    if (sc.key.name == "registry-quay-app") CHECK(sc.id.component == db_component::quay);
    if (sc.key.name == "registry-clair-app") CHECK(sc.id.component == db_component::clair);
  }
  // Clair's claims and Jobs carry its own stem.
  std::set<std::string> clair_claims;
  for (const auto& c : s.all<create_claim>())
    if (c.id.component == db_component::clair) clair_claims.insert(c.key.name);
  CHECK(clair_claims == std::set<std::string>{"registry-clair-postgres-backup-pg10", "registry-clair-postgres-pg15"});
  std::set<std::string> clair_jobs;
  for (const auto& j : s.all<create_job>())
    if (j.id.component == db_component::clair) clair_jobs.insert(j.key.name);
  CHECK(clair_jobs == std::set<std::string>{"registry-clair-pg-check-1", "registry-clair-pg10-backup-1",
                                            "registry-clair-pg15-upgrade-1", "registry-clair-pg15-analyze-1"});
}

TEST_CASE("the status shows one block and one condition pair per database") {
  auto s = fold(run_scenario(both_databases()));
  const auto statuses = s.all<update_registry_status>();
  const auto last_of = [&](db_component c) {
    const auto it = std::find_if(statuses.rbegin(), statuses.rend(), [&](const auto& st) { return st.component == c; });
    REQUIRE(it != statuses.rend());
    return *it;
  };
  const auto quay = last_of(db_component::quay), clair = last_of(db_component::clair);
  CHECK(quay.conditions[0].type == "PostgresUpgradeProgressing");
  CHECK(quay.conditions[1].type == "PostgresUpgraded");
  CHECK(clair.conditions[0].type == "ClairPostgresUpgradeProgressing");
  CHECK(clair.conditions[1].type == "ClairPostgresUpgraded");
  CHECK(clair.conditions[1].status == "True");
  CHECK(clair.summary.phase == "succeeded");
  CHECK(clair.summary.new_claim == "registry-clair-postgres-pg15");
  CHECK_THAT(clair.conditions[1].message, Catch::Contains("registry-clair-postgres"));
  // The written block is Clair's own key, beside Quay's postgresUpgrade.
  const auto j = to_json(effect{clair});
  CHECK(j.contains("clairPostgresUpgrade"));
  CHECK_FALSE(j.contains("postgresUpgrade"));
  // Every id decided for Clair's database reads back as written.
  for (const auto& d : s.effects)
    if (id_of(d.e).component == db_component::clair) CHECK(eid(to_string(id_of(d.e))) == id_of(d.e));
}

TEST_CASE("side by side, both downtimes overlap") {
  auto o = both_databases();
  o.side_by_side = true;
  session s;
  bool both_down = false;
  for (const auto& line : run_scenario(o)) {
    s.feed(line);
    if (s.s.upgrades.size() == 2 && in_downtime(s.upgrade().current) && in_downtime(s.clair().current)) both_down = true;
  }
  CHECK(both_down);
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.clair().current == phase::succeeded);
  const auto clair_phases = s.phases(db_component::clair);
  CHECK(std::ranges::find(clair_phases, "queued") == clair_phases.end());
  check_each_touches_only_its_own(s);
}

TEST_CASE("a failure of one database rolls back that one only") {
  SECTION("Clair's upgrade fails, Quay's stays upgraded") {
    auto o = both_databases();
    o.upgrade_fails = true;
    o.failing_database = "clair";
    auto s = fold(run_scenario(o));
    CHECK(s.upgrade().current == phase::succeeded);
    CHECK(s.clair().current == phase::failed);
    CHECK_THAT(s.clair().last_error, Catch::Contains("registry-clair-pg15-upgrade-1"));
    check_each_touches_only_its_own(s);
    // Clair's database is back on its old claim; Quay's was switched once, to its new one, and
    // nothing of Clair's rollback touched it.
    const auto patches = s.all<patch_database_deployment>();
    std::vector<std::string> quay_claims, clair_claims;
    for (const auto& p : patches) (p.id.component == db_component::clair ? clair_claims : quay_claims).push_back(p.claim);
    CHECK(quay_claims == std::vector<std::string>{"registry-quay-database-pg15"});
    CHECK(clair_claims == std::vector<std::string>{"registry-clair-postgres"});
    const auto clair_work = work_of(s, db_component::clair);
    CHECK(std::ranges::find(clair_work, "quay/registry/clair/a1/restore/database") != clair_work.end());
  }
  SECTION("Quay's upgrade fails and rolls back; Clair's is upgraded after it") {
    auto o = both_databases();
    o.upgrade_fails = true;
    o.failing_database = "quay";
    auto s = fold(run_scenario(o));
    CHECK(s.upgrade().current == phase::failed);
    CHECK(s.clair().current == phase::succeeded);
    check_each_touches_only_its_own(s);
    const auto work = s.work();
    // Clair's turn comes once Quay's rollback is over, not during it.
    CHECK(position(work, "quay/registry/a1/restore/database") <
          position(work, "quay/registry/clair/a1/scale-down/registry-clair-app"));
  }
}

TEST_CASE("an operator that renders both databases stays paused until both are done") {
  auto o = both_databases();
  o.operator_managed = true;
  auto s = fold(run_scenario(o));
  REQUIRE(s.upgrade().current == phase::succeeded);
  REQUIRE(s.clair().current == phase::succeeded);
  // Each database goes to the image the operator expects for it, on the claim it renders.
  CHECK(s.upgrade().to == pg_major::of(13));
  CHECK(s.clair().to == pg_major::of(15));
  const auto patches = s.all<patch_database_deployment>();
  REQUIRE(patches.size() == 2);
  CHECK(patches[0].claim == "registry-quay-postgres-13");
  CHECK(patches[1].claim == "registry-clair-postgres-15");
  CHECK(patches[1].image == "quay.io/sclorg/postgresql-15-c9s");
  // Never resumed in between (a running operator would start its own migration of Clair's
  // database): paused first, resumed once, last.
  std::vector<int> operator_replicas;
  for (const auto& sc : s.all<scale_deployment>())
    if (sc.key.name == "quay-operator") operator_replicas.push_back(sc.replicas);
  REQUIRE_FALSE(operator_replicas.empty());
  CHECK(operator_replicas.back() == 1);
  CHECK(std::count(operator_replicas.begin(), operator_replicas.end(), 1) == 1);
  auto work = s.work();
  std::erase_if(work, [](const std::string& id) {
    return id.find("/inspect-") != std::string::npos || id.find("/create-job/check") != std::string::npos;
  });
  CHECK(work.front() == "quay/registry/a1/scale-down/operator");
  // The operator's resume is the last change but the analyze Jobs, which run while all serves.
  const auto analyze = [](const std::string& id) { return id.ends_with("/create-job/analyze"); };
  CHECK(std::count_if(work.begin(), work.end(), analyze) == 2);
  const auto resumed =
      std::find_if(work.begin(), work.end(), [](const std::string& id) { return id.ends_with("/scale-up/operator"); });
  REQUIRE(resumed != work.end());
  CHECK(std::all_of(resumed + 1, work.end(), analyze));
}

TEST_CASE("an admin's opt-out leaves Clair's database alone") {
  auto o = both_databases();
  o.skip_databases = "clair";
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.clair().current == phase::unmanaged);
  CHECK(work_of(s, db_component::clair).empty());
  const auto statuses = s.all<update_registry_status>();
  const auto clair =
      std::find_if(statuses.rbegin(), statuses.rend(), [](const auto& st) { return st.component == db_component::clair; });
  REQUIRE(clair != statuses.rend());
  CHECK_THAT(clair->conditions[0].message, Catch::Contains("skip-databases names clair"));
}

TEST_CASE("a registry without Clair's database tracks Quay's only") {
  auto s = fold(run_scenario(scenario_options{}));
  CHECK(s.s.upgrades.size() == 1);
  CHECK(work_of(s, db_component::clair).empty());
}

TEST_CASE("the revert annotation reverts the database whose previous claim it names, and only that one") {
  auto o = both_databases();
  o.revert_to_claim_after_success = "registry-clair-postgres";
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.clair().current == phase::reverted);
  const auto quay_phases = s.phases(db_component::quay);
  CHECK(std::ranges::find(quay_phases, "revert_refused") == quay_phases.end());
  for (const auto& p : s.all<patch_database_deployment>())
    if (p.id.revert_run > 0) CHECK(p.key.name == "registry-clair-postgres");
  check_each_touches_only_its_own(s);
}

TEST_CASE("Clair's own target: its Jobs and its Deployment run Clair's image, Quay's run Quay's") {
  // --clair-target-image 14 beside Quay's 15: every Job that writes a database's new claim runs
  // that database's target, or the server it is switched to could not start the data directory.
  auto o = both_databases();
  o.clair_target_image = "quay.io/sclorg/postgresql-14-c9s";
  session s;
  for (const auto& line : run_scenario(o)) s.feed(line);
  REQUIRE(s.upgrade().current == phase::succeeded);
  REQUIRE(s.clair().current == phase::succeeded);
  CHECK(s.clair().to == pg_major::of(14));
  CHECK(s.upgrade().to == pg_major::of(15));
  std::size_t clair_jobs = 0;
  for (const auto& j : s.all<create_job>()) {
    const bool clair = j.id.component == db_component::clair;
    clair_jobs += clair ? 1 : 0;
    CHECK(j.image == (clair ? "quay.io/sclorg/postgresql-14-c9s" : "quay.io/sclorg/postgresql-15-c9s"));
  }
  CHECK(clair_jobs == 4);  // check, backup, upgrade, analyze: each on Clair's target
  for (const auto& p : s.all<patch_database_deployment>())
    CHECK(p.image ==
          (p.id.component == db_component::clair ? "quay.io/sclorg/postgresql-14-c9s" : "quay.io/sclorg/postgresql-15-c9s"));
}

// A retry starts a new attempt of the database that failed: Clair's stays Clair's (its record
// once came back as Quay's, so that the retry's names and effect ids were Quay's).
TEST_CASE("a retry after Clair's database failed is a new attempt of Clair's database") {
  scenario_options o;
  o.clair = true;
  o.failing_database = "clair";
  o.backup_fails = true;
  o.retry_token_after_failure = "again";
  auto s = fold(run_scenario(o));
  const auto& clair = s.clair();
  CHECK(clair.component == db_component::clair);
  CHECK(clair.attempt == 2);
  CHECK(s.upgrade().component == db_component::quay);
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.upgrade().attempt == 1);
  // The second attempt's Jobs are Clair's (R-clair-pg10-backup-2), none of Quay's names.
  bool clair_second = false;
  for (const auto& j : s.all<create_job>()) {
    CHECK(j.key.name != "registry-pg10-backup-2");
    clair_second = clair_second || j.key.name == "registry-clair-pg10-backup-2";
  }
  CHECK(clair_second);
}
