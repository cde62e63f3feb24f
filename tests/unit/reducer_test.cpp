// The upgrade reducer, transition by transition: events in, state and effects out, no I/O.
#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

scenario_options a_registry() { return scenario_options{}; }

}  // namespace

TEST_CASE("logical 10 -> 15 walks every phase in order and succeeds") {
  auto s = fold(run_scenario(a_registry()));
  // The statistics after the app is back (analyzing), off the downtime.
  CHECK(s.phases() == std::vector<std::string>{"detecting", "preflight", "quiescing", "backing_up", "stopping", "upgrading",
                                               "switching", "verifying", "resuming", "analyzing", "succeeded"});
  const auto& u = s.upgrade();
  CHECK(u.current == phase::succeeded);
  CHECK(u.from == pg_major::of(10));
  CHECK(u.to == pg_major::of(15));
  CHECK(u.method == upgrade_method::logical);
  // The check Job, then both claims, looked at while Pending, before the app is stopped.
  CHECK(s.work() ==
        std::vector<std::string>{"quay/registry/a1/inspect-version/g1", "quay/registry/a1/create-job/check",
                                 "quay/registry/a1/create-claim/backup", "quay/registry/a1/create-claim/data",
                                 "quay/registry/a1/inspect-claim/backup/g1", "quay/registry/a1/inspect-claim/data/g1",
                                 "quay/registry/a1/scale-down/registry-quay-app",
                                 "quay/registry/a1/scale-down/registry-quay-mirror", "quay/registry/a1/inspect-manifest",
                                 "quay/registry/a1/create-job/backup", "quay/registry/a1/scale-down/database",
                                 "quay/registry/a1/create-job/upgrade-logical", "quay/registry/a1/switch",
                                 "quay/registry/a1/inspect-verify", "quay/registry/a1/scale-up/registry-quay-app",
                                 "quay/registry/a1/scale-up/registry-quay-mirror", "quay/registry/a1/create-job/analyze"});
  const auto final_status = s.all<update_registry_status>().back();
  CHECK(final_status.conditions[1].type == "PostgresUpgraded");
  CHECK(final_status.conditions[1].status == "True");
  CHECK(final_status.conditions[1].reason == "Succeeded");
  CHECK(final_status.summary.previous_claim == "registry-quay-database");
  CHECK(final_status.summary.new_claim == "registry-quay-database-pg15");
  CHECK(final_status.summary.backup_claim == "registry-quay-database-backup-pg10");
  CHECK(final_status.summary.statistics.starts_with("Complete: "));
  // The downtime ended at the resume: the analyze Job ran after it.
  REQUIRE(s.s.downtimes.contains("logical"));
  REQUIRE(u.downtime_started);
  REQUIRE(u.analyzed);
  CHECK(*u.downtime_started + s.s.downtimes.at("logical").took + 10'000 <= *u.analyzed);
}

TEST_CASE("the objects it creates carry deterministic names, sizes and the target image") {
  auto s = fold(run_scenario(a_registry()));
  const auto claims = s.all<create_claim>();
  REQUIRE(claims.size() == 2);
  CHECK(claims[0].key.name == "registry-quay-database-backup-pg10");
  CHECK(claims[0].role == claim_role::backup);
  CHECK(claims[0].size_bytes == 5LL << 30);  // 3.1 GiB measured + 50 % headroom, whole GiB
  CHECK(claims[0].storage_class == "standard");  // the old claim's class
  CHECK(claims[1].key.name == "registry-quay-database-pg15");
  CHECK(claims[1].size_bytes == 10LL << 30);  // never smaller than the old 10 GiB claim
  const auto jobs = s.upgrade_jobs();
  REQUIRE(jobs.size() == 3);
  CHECK(jobs[0].key.name == "registry-pg10-backup-1");
  CHECK(jobs[0].image == "quay.io/sclorg/postgresql-15-c9s");  // the TARGET's pg_dump reads the old server
  CHECK(jobs[0].registry.uid == "uid-registry");
  CHECK(jobs[0].db.credentials.password.secret_name == "registry-quay-postgres-config");
  CHECK(jobs[0].db.credentials.password.value.empty());
  CHECK(jobs[1].role == job_role::upgrade_logical);
  CHECK(jobs[1].old_claim == "registry-quay-database");
  CHECK(jobs[1].new_claim == "registry-quay-database-pg15");
  // After the resume, the statistics: the target image's vacuumdb through the Service.
  CHECK(jobs[2].role == job_role::analyze);
  CHECK(jobs[2].key.name == "registry-pg15-analyze-1");
  CHECK(jobs[2].image == "quay.io/sclorg/postgresql-15-c9s");
  const auto switches = s.all<patch_database_deployment>();
  REQUIRE(switches.size() == 1);
  CHECK(switches[0].image == "quay.io/sclorg/postgresql-15-c9s");
  CHECK(switches[0].claim == "registry-quay-database-pg15");
}

TEST_CASE("replica counts are recorded before scaling down and restored after") {
  auto s = fold(run_scenario(a_registry()));
  const auto scales = s.all<scale_deployment>();
  REQUIRE(scales.size() == 5);
  CHECK(scales[0].key.name == "registry-quay-app");
  CHECK(scales[0].replicas == 0);
  CHECK(scales[0].record_original == 2);
  CHECK(scales[1].record_original == 1);
  CHECK(scales[2].key.name == "registry-quay-database");
  CHECK(scales[2].record_original == 1);
  CHECK(scales[3].replicas == 2);
  CHECK(scales[3].clear_record);
  CHECK(scales[4].replicas == 1);
}

TEST_CASE("pg_upgrade is chosen when the upgrade image carries the old version") {
  auto o = a_registry();
  use_pg_upgrade_13(o);
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().method == upgrade_method::pg_upgrade);
  // The check Job runs on the upgrade image: the real pg_upgrade --check against the running
  // server, beside its pod (the admin password is known), not the SQL imitation.
  const auto all_jobs = s.all<create_job>();
  REQUIRE(all_jobs.size() == 4);  // check, backup, upgrade, and the analyze Job after the resume
  CHECK(all_jobs[3].role == job_role::analyze);
  CHECK(all_jobs[0].role == job_role::check);
  CHECK(all_jobs[0].image == "quay.io/quay-pg-upgrader/pg-upgrade:13-15");
  CHECK(all_jobs[0].live_check);
  CHECK(all_jobs[0].node == "node-1");
  CHECK_FALSE(all_jobs[0].pg_upgrade_checks);
  CHECK(all_jobs[0].old_claim == "registry-quay-database");
  const auto jobs = s.upgrade_jobs();
  REQUIRE(jobs.size() == 3);
  CHECK(jobs[1].role == job_role::upgrade_pg_upgrade);
  CHECK(jobs[1].image == "quay.io/quay-pg-upgrader/pg-upgrade:13-15");
  CHECK(s.upgrade().current == phase::succeeded);

  SECTION("but not when the image does not carry it") {
    o.upgrade_from = {12};
    CHECK(fold(run_scenario(o)).upgrade().method == upgrade_method::logical);
  }
}

TEST_CASE("pg_upgrade's check falls back to SQL without the admin password or with --no-live-check") {
  for (const bool no_password : {true, false}) {
    auto o = a_registry();
    use_pg_upgrade_13(o);
    o.no_admin_password = no_password;
    o.live_check = no_password;  // one reason at a time
    INFO((no_password ? "no admin password" : "--no-live-check"));
    auto s = fold(run_scenario(o));
    const auto all_jobs = s.all<create_job>();
    REQUIRE_FALSE(all_jobs.empty());
    CHECK(all_jobs[0].role == job_role::check);
    CHECK_FALSE(all_jobs[0].live_check);
    CHECK(all_jobs[0].node.empty());
    CHECK(all_jobs[0].pg_upgrade_checks);
    CHECK(s.upgrade().current == phase::succeeded);
  }
}

TEST_CASE("a database already on the target is left alone") {
  auto o = a_registry();
  o.db_image = "quay.io/sclorg/postgresql-15-c9s";
  o.db_major = 15;
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::up_to_date);
  CHECK(s.work() == std::vector<std::string>{"quay/registry/a1/inspect-version/g1"});  // looked, touched nothing
  CHECK(s.all<update_registry_status>().back().conditions[1].reason == "UpToDate");
}

TEST_CASE("a downgrade is refused and nothing is touched") {
  auto o = a_registry();
  o.db_image = "postgres:15";
  o.db_major = 15;
  o.target_image = "quay.io/sclorg/postgresql-13-c9s";
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::refused);
  CHECK(s.all<create_claim>().empty());
  CHECK(s.all<create_job>().empty());
  CHECK(s.all<scale_deployment>().empty());
  const auto st = s.all<update_registry_status>().back();
  CHECK(st.conditions[1].status == "False");
  CHECK(st.conditions[1].reason == "DowngradeRefused");
  CHECK_THAT(st.conditions[1].message, Catch::Contains("newer than the target 13"));
  CHECK(s.all<emit_event>().back().type == "Warning");
}

TEST_CASE("a target image that keeps its data elsewhere is refused before anything is touched") {
  auto o = a_registry();
  o.target_image = "postgres:14";  // the Docker library's image reads /var/lib/postgresql/data
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::unsupported);
  CHECK(s.all<create_claim>().empty());
  CHECK(s.all<create_job>().empty());
  CHECK(s.all<scale_deployment>().empty());
  CHECK(s.all<patch_database_deployment>().empty());
  const auto st = s.all<update_registry_status>().back();
  CHECK(st.conditions[1].status == "False");
  CHECK(st.conditions[1].reason == "Unsupported");
  CHECK_THAT(st.conditions[1].message, Catch::Contains("looks for its data in /var/lib/postgresql/data"));
  CHECK_THAT(st.conditions[1].message, Catch::Contains("PGDATA=/var/lib/pgsql/data/userdata"));
  CHECK_THAT(st.conditions[1].message, Catch::Contains("nothing was changed"));

  SECTION("setting PGDATA on the running database makes the controller look again") {
    const auto lines = run_scenario(o);
    nlohmann::json db;
    for (const auto& l : lines) {
      const auto j = nlohmann::json::parse(l);
      if (j.contains("object") && j["object"]["kind"] == "Deployment" &&
          j["object"]["metadata"]["name"] == "registry-quay-database")
        db = j["object"];
    }
    REQUIRE(db.is_object());
    db["metadata"]["resourceVersion"] = "99999";
    db["metadata"]["generation"] = 2;
    db["spec"]["template"]["spec"]["containers"][0]["env"].push_back(
        {{"name", "PGDATA"}, {"value", "/var/lib/pgsql/data/userdata"}});
    const auto inspections = s.all<inspect_database>().size();
    s.feed(log_line_watch(s.next_seq(), s.now() + 1000, resource_kind::deployment,
                          nlohmann::json{{"type", "MODIFIED"}, {"object", db}}.dump()));
    CHECK(s.upgrade().current == phase::detecting);
    CHECK(s.all<inspect_database>().size() == inspections + 1);  // the version is confirmed afresh
    CHECK(s.all<create_claim>().empty());
  }

  SECTION("PGDATA on the database container pointing into the sclorg layout lets it go ahead") {
    o.db_pgdata = "/var/lib/pgsql/data/userdata";
    auto t = fold(run_scenario(o));
    CHECK(t.upgrade().current == phase::succeeded);
    CHECK(t.all<patch_database_deployment>().back().image == "postgres:14");
  }
}

TEST_CASE("a leftover claim of the backup's name that is too small is not adopted: refused before the downtime") {
  auto o = a_registry();
  o.leftover_backup_claim_bytes = 256 * 1024;
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::failed);
  for (const auto& cl : s.all<create_claim>()) CHECK(cl.role == claim_role::data);  // nothing in its place, nothing deleted
  CHECK(s.upgrade_jobs().empty());  // no backup Job on a claim that cannot hold the archive
  CHECK_THAT(s.upgrade().last_error,
             Catch::Contains("quay/registry-quay-database-backup-pg10 already exists with 256Ki, smaller than the 5Gi"));
  CHECK(s.upgrade().failed_in == phase::preflight);
  CHECK(s.all<scale_deployment>().empty());  // the app never stopped
}

TEST_CASE("a leftover claim of the new data's name that is too small: refused before the downtime, no Job") {
  auto o = a_registry();
  o.leftover_data_claim_bytes = 256 * 1024;
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::failed);
  CHECK(s.upgrade().failed_in == phase::preflight);
  CHECK_THAT(s.upgrade().last_error, Catch::Contains("quay/registry-quay-database-pg15 already exists with 256Ki"));
  CHECK(s.upgrade_jobs().empty());
  CHECK(s.all<scale_deployment>().empty());
  for (const auto& cl : s.all<create_claim>()) CHECK(cl.role == claim_role::backup);
}

TEST_CASE("the server's version counts, not the image name") {
  auto o = a_registry();
  o.db_image = "quay.io/sclorg/postgresql-13-c9s";  // says 13
  o.db_major = 10;  // runs 10
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().from == pg_major::of(10));
  CHECK(s.all<create_claim>()[0].key.name == "registry-quay-database-backup-pg10");
  CHECK_THAT(s.all<update_registry_status>().back().conditions[1].message, Catch::Contains("suggests PostgreSQL 13"));
}

TEST_CASE("failures before the switch roll back to the old claim and restore the app") {
  struct row {
    const char* name;
    void (*tweak)(scenario_options&);
    const char* failed_in;
    const char* reason_part;
    bool database_restored;
  };
  const row rows[] = {
      {"backup Job fails", [](scenario_options& o) { o.backup_fails = true; }, "backing_up",
       "backup Job quay/registry-pg10-backup-1 failed: BackoffLimitExceeded", false},
      {"upgrade Job fails", [](scenario_options& o) { o.upgrade_fails = true; }, "upgrading", "No space left on device", true},
      {"verification mismatch", [](scenario_options& o) { o.verify_mismatch = true; }, "verifying",
       "table public.tag has 7999 rows, expected 8000", true},
      // A grant on the app's database did not come back: the catalog differs, rolled back the same.
      {"catalog mismatch", [](scenario_options& o) { o.catalog_mismatch = true; }, "verifying",
       "database quay: acl is '=Tc/quay quay=CTc/quay', expected '=Tc/quay quay=CTc/quay reporting=c/quay'", true},
      {"database pod never stops", [](scenario_options& o) { o.database_never_stops = true; }, "stopping",
       "did not finish within 120 s", true},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    auto o = a_registry();
    r.tweak(o);
    auto s = fold(run_scenario(o));
    const auto& u = s.upgrade();
    CHECK(u.current == phase::failed);
    CHECK(std::string(to_string(u.failed_in)) == r.failed_in);
    CHECK_THAT(u.last_error, Catch::Contains(r.reason_part));
    const auto ph = s.phases();
    REQUIRE(ph.size() >= 2);
    CHECK(ph[ph.size() - 2] == "rolling_back");
    // The app comes back at its recorded counts.
    const auto restores = ids_with(s, "/restore/registry-quay-");
    CHECK(restores == std::vector<std::string>{"quay/registry/a1/restore/registry-quay-app",
                                               "quay/registry/a1/restore/registry-quay-mirror"});
    // The database goes back to the old claim and image when it was touched.
    const auto patches = s.all<patch_database_deployment>();
    if (r.database_restored) {
      REQUIRE_FALSE(patches.empty());
      CHECK(patches.back().claim == "registry-quay-database");
      CHECK(patches.back().image == o.db_image);
      CHECK(patches.back().replicas == 1);
    } else {
      CHECK(patches.empty());
    }
    CHECK(s.all<delete_job>().size() == (std::string(r.name) == "new claim stays Pending" ? 1u : 0u));
    const auto st = s.all<update_registry_status>().back();
    CHECK(st.conditions[1].reason == "Failed");
    CHECK_THAT(st.conditions[1].message, Catch::Contains("every claim is kept"));
    CHECK(st.summary.last_error == u.last_error);
  }
}

TEST_CASE("a Job deleted by someone else fails its phase at once instead of holding the downtime to the deadline") {
  // CI's sim-kill once lost a backup Job (a kube-sim that saved its state late): the upgrade then
  // waited, the app down, for the phase deadline (4 h for a backup). A person's `kubectl delete job`
  // does the same on a real cluster.
  for (const bool pg_upgrade : {false, true}) {
    for (const job_role role : {job_role::backup, pg_upgrade ? job_role::upgrade_pg_upgrade : job_role::upgrade_logical}) {
      INFO(to_string(role));
      auto o = a_registry();
      if (pg_upgrade) use_pg_upgrade_13(o);
      o.job_deleted = role;
      auto s = fold(run_scenario(o));
      const auto& u = s.upgrade();
      CHECK(u.current == phase::failed);
      CHECK(u.failed_in == (role == job_role::backup ? phase::backing_up : phase::upgrading));
      CHECK_THAT(u.last_error, Catch::Contains(" Job quay/registry-pg") && Catch::Contains("was deleted before"));
      CHECK_THAT(u.last_error, !Catch::Contains("did not finish within"));
      // Failed within seconds of the delete, not at the deadline.
      REQUIRE(u.finished);
      CHECK(*u.finished - u.started.value_or(0) < 10 * 60'000);
      // Rolled back: the app is back at its counts.
      CHECK(ids_with(s, "/restore/registry-quay-app").size() == 1);
    }
  }
}

TEST_CASE("the retry annotation starts a new attempt with new names") {
  auto o = a_registry();
  o.backup_fails = true;
  o.retry_token_after_failure = "again";
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.upgrade().attempt == 2);
  const auto jobs = s.upgrade_jobs();
  REQUIRE(jobs.size() == 4);
  CHECK(jobs[0].key.name == "registry-pg10-backup-1");
  CHECK(jobs[1].key.name == "registry-pg10-backup-2");
  CHECK(jobs[3].key.name == "registry-pg15-analyze-2");
}

TEST_CASE("a retry annotation present from the start is not a retry") {
  auto lines = run_scenario(a_registry());
  session s;
  for (auto& l : lines) {
    // Give the registry an annotation in every observation of it.
    if (l.find("\"kind\":\"QuayRegistry\"") != std::string::npos) {
      const auto at = l.find("\"metadata\":{");
      l.insert(at + 12, R"("annotations":{"quay-pg-upgrader.quay.io/retry":"old"},)");
    }
    s.feed(l);
  }
  CHECK(s.upgrade().attempt == 1);
  CHECK(s.upgrade().retry_token == "old");
}

TEST_CASE("a controller restarted mid-upgrade creates nothing twice") {
  auto o = a_registry();
  o.restart_after_seq = 45;  // right after the backup Job was created, before its result was logged
  auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::succeeded);
  auto work = s.work();
  auto sorted = work;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  CHECK(s.all<create_job>().size() == 4);  // check, backup, upgrade, analyze
  CHECK(s.all<create_claim>().size() == 2);
}

TEST_CASE("nothing is decided before every store has synced") {
  auto lines = run_scenario(a_registry());
  session s;
  for (const auto& l : lines) {
    s.feed(l);
    const bool all_synced = std::all_of(s.s.cluster.synced.begin(), s.s.cluster.synced.end(), [](bool b) { return b; });
    if (!all_synced) {
      INFO(l.substr(0, 120));
      CHECK(s.effects.empty());
    }
    if (all_synced) break;
  }
}

TEST_CASE("a Job in progress is re-checked every 60 s and the earliest wakeup wins") {
  auto s = fold(run_scenario(a_registry()));
  bool saw_job_requeue = false;
  for (const auto& d : s.effects)
    if (auto* r = std::get_if<requeue_after>(&d.e)) {
      CHECK(r->after <= 600'000);
      saw_job_requeue = saw_job_requeue || r->after == 60'000;
    }
  CHECK(saw_job_requeue);
}

TEST_CASE("terminating app pods hold the upgrade back (PROJQUAY-8092)") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return x.has_upgrade() && x.upgrade().current == phase::backing_up; });
  for (const auto& [key, p] : s.s.cluster.pods) CHECK(p.component != "quay-app");
  CHECK(s.s.cluster.deployments.at({"quay", "registry-quay-app"}).status_replicas == 0);
}

TEST_CASE("the manifest is taken beside the backup Job, and the database stops only when both are done") {
  auto lines = run_scenario(a_registry());
  // The manifest's result is held back until the backup Job has completed.
  const std::string manifest = "quay/registry/a1/inspect-manifest";
  std::string held;
  session s;
  bool job_complete = false;
  for (const auto& l : lines) {
    if (held.empty() && l.find("effect_succeeded") != std::string::npos && l.find(manifest) != std::string::npos) {
      held = l;
      continue;
    }
    s.feed(l);
    if (s.has_upgrade() && s.upgrade().current == phase::backing_up) {
      const auto* j = [&]() -> const job* {
        auto it = s.s.cluster.jobs.find({"quay", "registry-pg10-backup-1"});
        return it == s.s.cluster.jobs.end() ? nullptr : &it->second;
      }();
      if (j && j->complete) {
        job_complete = true;
        break;
      }
    }
  }
  REQUIRE_FALSE(held.empty());
  REQUIRE(job_complete);
  // The claim and the Job were created while the manifest was still being measured ...
  CHECK(s.upgrade().in_flight.contains(eid(manifest)));
  CHECK_FALSE(ids_with(s, "create-job/backup").empty());
  // ... and the database keeps running until the manifest is in.
  CHECK(s.upgrade().current == phase::backing_up);
  CHECK(ids_with(s, "scale-down/database").empty());
  const auto seq_at = held.find(',');
  s.feed("{\"seq\":" + std::to_string(s.next_seq()) + held.substr(seq_at));
  CHECK(s.upgrade().current == phase::stopping);
  CHECK(ids_with(s, "scale-down/database").size() == 1);
}

TEST_CASE("transient API failures back off and retry; persistent ones roll back") {
  auto lines = run_scenario(a_registry());
  std::size_t used = 0;
  auto s = fold_until(
      lines, [](const session& x) { return !x.all<create_claim>().empty(); }, &used);
  const effect_id id = eid("quay/registry/a1/create-claim/backup");
  REQUIRE(s.upgrade().in_flight.contains(id));
  timestamp t = s.now();
  s.feed(log_line_event(s.next_seq(), t + 10, "effect", effect_failed{id, 503, "ServiceUnavailable", "etcd leader changed"}));
  // 1 s, plus up to half as much again (spread by the id and the failure's time)
  const auto first = s.upgrade().retry_at.at(id);
  CHECK(first >= t + 10 + 1000);
  CHECK(first <= t + 10 + 1500);
  CHECK(s.upgrade().current == phase::preflight);  // the claims come before the downtime
  const auto before = s.all<create_claim>().size();
  s.feed(log_line_event(s.next_seq(), first - 1, "timer", timer_fired{{"quay", "registry"}}));
  CHECK(s.all<create_claim>().size() == before);  // not before its time
  s.feed(log_line_event(s.next_seq(), first, "timer", timer_fired{{"quay", "registry"}}));
  CHECK(s.all<create_claim>().size() == before + 1);  // the same id, issued again
  std::set<duration_ms> extras;
  for (int i = 2; i <= 9; ++i) {
    t = s.now() + 100;
    s.feed(log_line_event(s.next_seq(), t, "effect", effect_failed{id, 429, "TooManyRequests", "slow down"}));
    if (i <= 8) {
      const duration_ms base = std::min<duration_ms>(60'000, 1000LL << (i - 1));
      const auto at = s.upgrade().retry_at.at(id);
      CHECK(at >= t + base);
      CHECK(at <= t + base + base / 2);
      extras.insert((at - t - base) * 1000 / base);
      s.feed(log_line_event(s.next_seq(), at, "timer", timer_fired{{"quay", "registry"}}));
    }
  }
  CHECK(extras.size() > 1);  // the spread differs from one failure to the next
  CHECK(s.upgrade().current == phase::failed);  // nothing was stopped, so there is nothing to roll back
  CHECK(s.all<scale_deployment>().empty());
  CHECK_THAT(s.upgrade().last_error, Catch::Contains("create-claim/backup failed with HTTP 429 TooManyRequests: slow down"));
}

TEST_CASE("a quota that refuses a new claim fails the upgrade at once, before the downtime, with the server's words") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return !x.all<create_claim>().empty(); });
  s.feed(log_line_event(s.next_seq(), s.now() + 10, "effect",
                        effect_failed{eid("quay/registry/a1/create-claim/backup"), 403, "Forbidden",
                                      "persistentvolumeclaims is forbidden: exceeded quota"}));
  CHECK(s.upgrade().current == phase::failed);
  CHECK(s.upgrade().failed_in == phase::preflight);
  CHECK_THAT(s.upgrade().last_error, Catch::Contains("exceeded quota"));
  CHECK(s.all<scale_deployment>().empty());
}

TEST_CASE("a status that cannot be written never fails an upgrade") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return x.has_upgrade() && x.upgrade().current == phase::quiescing; });
  std::optional<effect_id> status_id;
  for (const auto& id : s.upgrade().in_flight)
    if (id.step == step_kind::status) status_id = id;
  REQUIRE(status_id.has_value());
  s.feed(log_line_event(s.next_seq(), s.now() + 10, "effect", effect_failed{*status_id, 422, "Invalid", "status is invalid"}));
  CHECK(s.upgrade().current == phase::quiescing);
  CHECK(s.upgrade().last_error.empty());
}

TEST_CASE("a status write that fails for a transient reason is written again after its back-off") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return x.has_upgrade() && x.upgrade().current == phase::quiescing; });
  const auto written = s.all<update_registry_status>();
  const effect_id first = written.back().id;
  REQUIRE(s.upgrade().in_flight.contains(first));
  const timestamp t = s.now();
  s.feed(log_line_event(s.next_seq(), t + 10, "effect", effect_failed{first, 503, "ServiceUnavailable", "etcd leader changed"}));
  const auto retry = s.upgrade().retry_at.at(first);
  CHECK(retry >= t + 1010);
  CHECK(retry <= t + 1510);
  // Not before its back-off ...
  s.feed(log_line_event(s.next_seq(), t + 500, "timer", timer_fired{{"quay", "registry"}}));
  CHECK(s.all<update_registry_status>().size() == written.size());
  // ... then the status of that moment, under a new id; the failure count carries over.
  s.feed(log_line_event(s.next_seq(), retry, "timer", timer_fired{{"quay", "registry"}}));
  const auto again = s.all<update_registry_status>();
  REQUIRE(again.size() == written.size() + 1);
  CHECK(again.back().id != first);
  CHECK(again.back().summary.phase == "quiescing");
  CHECK(again.back().conditions == written.back().conditions);
  CHECK(s.upgrade().retry_at.empty());
  CHECK(s.upgrade().transient_failures.at(again.back().id) == 1);
  // A second failure backs off longer (2 s).
  const timestamp t2 = retry + 10;
  s.feed(log_line_event(s.next_seq(), t2, "effect", effect_failed{again.back().id, 500, "InternalError", "boom"}));
  const auto retry2 = s.upgrade().retry_at.at(again.back().id);
  CHECK(retry2 >= t2 + 2000);
  CHECK(retry2 <= t2 + 3000);
  s.feed(log_line_event(s.next_seq(), retry2, "timer", timer_fired{{"quay", "registry"}}));
  const auto third = s.all<update_registry_status>().back();
  CHECK(third.id != again.back().id);
  s.feed(log_line_event(s.next_seq(), retry2 + 10, "effect", effect_succeeded{third.id, std::nullopt}));
  CHECK(s.upgrade().transient_failures.empty());
  CHECK(s.upgrade().retry_at.empty());
}

TEST_CASE("an Event that fails for a transient reason is sent again unchanged; given up, it is dropped") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return x.has_upgrade() && x.upgrade().current == phase::quiescing; });
  const auto sent = s.all<emit_event>().back();
  REQUIRE(s.upgrade().unsent_events.contains(sent.id));
  const timestamp t = s.now();
  s.feed(log_line_event(s.next_seq(), t + 10, "effect", effect_failed{sent.id, 429, "TooManyRequests", "slow down"}));
  s.feed(log_line_event(s.next_seq(), s.upgrade().retry_at.at(sent.id), "timer", timer_fired{{"quay", "registry"}}));
  const auto again = s.all<emit_event>().back();
  CHECK(again == sent);  // the same id, reason, message and time
  CHECK(s.upgrade().in_flight.contains(sent.id));
  // A permanent refusal drops it: no further retry, nothing left behind.
  const auto count = s.all<emit_event>().size();
  s.feed(log_line_event(s.next_seq(), s.now() + 10, "effect", effect_failed{sent.id, 403, "Forbidden", "events is forbidden"}));
  CHECK_FALSE(s.upgrade().unsent_events.contains(sent.id));
  CHECK_FALSE(s.upgrade().retry_at.contains(sent.id));
  s.feed(log_line_event(s.next_seq(), s.now() + 100'000, "timer", timer_fired{{"quay", "registry"}}));
  CHECK(s.all<emit_event>().size() == count);
  CHECK(s.upgrade().current == phase::quiescing);
}

TEST_CASE("failed status and Event writes are retried, and the controller never requeues itself in a loop") {
  auto o = a_registry();
  o.reports_fail_once = true;
  const auto lines = run_scenario(o);
  auto s = fold(lines);
  // The same outcome and the same phases reported as the fault-free run.
  const auto clean = fold(run_scenario(a_registry()));
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.phases() == clean.phases());
  CHECK(s.work() == [&] {
    auto w = clean.work();
    // the switch failed once (429) and was sent again under its id
    w.insert(std::find(w.begin(), w.end(), "quay/registry/a1/switch"), "quay/registry/a1/switch");
    return w;
  }());
  // Every status and Event write failed once: each was sent again.
  std::size_t failed = 0, timers = 0;
  for (const auto& l : lines) {
    failed += l.find("\"effect_failed\"") != std::string::npos;
    timers += l.find("\"timer_fired\"") != std::string::npos;
  }
  std::set<std::string> statuses;
  for (const auto& st : s.all<update_registry_status>()) statuses.insert(st.summary.phase + " " + st.conditions[0].message);
  CHECK(failed == statuses.size() + clean.all<emit_event>().size() + 1);
  CHECK(s.all<emit_event>().size() == 2 * clean.all<emit_event>().size());
  CHECK(s.upgrade().unsent_events.empty());
  for (const auto& [id, at] : s.upgrade().retry_at) UNSCOPED_INFO("left: " << to_string(id) << " at " << at - s.now());
  CHECK(s.upgrade().retry_at.empty());
  // No timer in the past, and a handful of timer events, not a loop: a requeue of 0 ms fed back
  // into the fold would fire again and again (the CI run that found it logged 215k events).
  // The progress reads add one timer each (every 5 s while a Job runs), and one more per Job: the
  // read armed before the Job ended, which then finds nothing to do. Each progress line of the
  // controller's own manifest writes the status once more, which fails once here and is retried
  // after its timer. The analyze Job after the resume adds its own: the Job's re-check while it
  // runs and the retries of the analyzing phase's status and Event.
  for (const auto& r : s.all<requeue_after>()) CHECK(r.after > 0);
  const auto reads = s.all<read_job_progress>().size();
  CHECK(reads > 0);
  std::size_t manifest_lines = 0;
  for (const auto& l : lines) manifest_lines += l.find("\"effect_progress\"") != std::string::npos;
  CHECK(manifest_lines > 0);
  CHECK(timers < 44 + reads + 2 + manifest_lines);
  CHECK(lines.size() < 400 + 3 * reads);
}

TEST_CASE("detection keeps trying while the database cannot be reached, and says why") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return !x.all<inspect_database>().empty(); });
  const effect_id id = s.all<inspect_database>()[0].id;
  s.feed(log_line_event(s.next_seq(), s.now() + 10, "effect",
                        effect_failed{id, 0, "AuthFailed", "password authentication failed for user \"quay\""}));
  CHECK(s.upgrade().current == phase::detecting);
  CHECK_THAT(s.upgrade().last_error, Catch::Contains("password authentication failed"));
  const auto retry = s.upgrade().retry_at.at(id);
  CHECK(retry == s.now() + 60'000);
  s.feed(log_line_event(s.next_seq(), retry, "timer", timer_fired{{"quay", "registry"}}));
  CHECK(s.all<inspect_database>().size() == 2);
}

TEST_CASE("versions older than pg_dump reads, and registries without a target, are unsupported") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return !x.all<inspect_database>().empty(); });
  database_facts old{90124, 1 << 20, false, false, {}, false, {}, "", "", "", ""};
  s.feed(log_line_event(s.next_seq(), s.now() + 10, "effect", effect_succeeded{s.all<inspect_database>()[0].id, old}));
  CHECK(s.upgrade().current == phase::unsupported);
  CHECK_THAT(s.upgrade().last_error, Catch::Contains("9.1, older than 9.2"));

  auto o = a_registry();
  o.target_image = "postgres:latest";
  auto t = fold(run_scenario(o));
  CHECK(t.upgrade().current == phase::unsupported);
  CHECK_THAT(t.upgrade().last_error, Catch::Contains("--target-version"));
  CHECK(t.all<inspect_database>().empty());
}

TEST_CASE("a registry whose postgres is unmanaged is left alone") {
  auto lines = run_scenario(a_registry());
  session s;
  for (auto l : lines) {
    const auto at = l.find(R"({"kind":"postgres","managed":true})");
    if (at != std::string::npos) l.replace(at, 34, R"({"kind":"postgres","managed":false})");
    s.feed(l);
  }
  CHECK(s.upgrade().current == phase::unmanaged);
  CHECK(s.work().empty());
}

TEST_CASE("a deleted QuayRegistry drops its upgrade state") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return x.s.upgrades.size() == 1; });
  s.feed(log_line_watch(
      s.next_seq(), s.now() + 1, resource_kind::quay_registry,
      R"({"type":"DELETED","object":{"metadata":{"name":"registry","namespace":"quay","resourceVersion":"9999"}}})"));
  CHECK(s.s.upgrades.empty());
}

TEST_CASE("a failed Job is acted on once its pod has said why, whichever stream comes first") {
  auto o = a_registry();
  o.backup_fails = true;
  auto lines = run_scenario(o);
  // Move every pod line of the backup Job's pod after the Job's Failed line, as kube-sim can order them.
  std::vector<std::string> reordered, held;
  for (const auto& l : lines) {
    const bool pod_of_job = l.find("\"source\":\"watch/pods\"") != std::string::npos &&
                            l.find("registry-pg10-backup-1-") != std::string::npos && l.find("\"Failed\"") != std::string::npos;
    if (pod_of_job) {
      held.push_back(l);
      continue;
    }
    reordered.push_back(l);
    if (l.find("\"source\":\"watch/jobs\"") != std::string::npos && l.find("\"type\":\"Failed\"") != std::string::npos)
      for (auto& h : held) reordered.push_back(h), h.clear();
  }
  session s;
  bool saw_failed_job_before_pod = false;
  for (const auto& l : renumber_lines(reordered)) {
    s.feed(l);
    if (!s.has_upgrade()) continue;
    const auto& jobs = s.s.cluster.jobs;
    auto j = jobs.find({"quay", "registry-pg10-backup-1"});
    if (j != jobs.end() && j->second.has_failed && s.upgrade().current == phase::backing_up) saw_failed_job_before_pod = true;
  }
  CHECK(saw_failed_job_before_pod);  // it waited for the pod
  CHECK(s.upgrade().current == phase::failed);
  CHECK_THAT(s.upgrade().last_error,
             Catch::Contains("the pod reported: pg_restore: error: could not write to file: No space left on device"));
}

TEST_CASE("a rollback that runs out of time still gives the app back and says what did not come back") {
  auto o = a_registry();
  o.upgrade_fails = true;
  auto lines = run_scenario(o);
  // Stop at the rollback, then let time pass with the database never serving again.
  auto s = fold_until(lines, [](const session& x) { return x.has_upgrade() && x.upgrade().current == phase::rolling_back; });
  const timestamp t = s.now() + 301'000;  // past the scenario's 300 s rollback deadline
  s.feed(log_line_event(s.next_seq(), t, "timer", timer_fired{{"quay", "registry"}}));
  CHECK(s.upgrade().current == phase::failed);
  CHECK_THAT(s.upgrade().rollback_incomplete, Catch::Contains("the rollback did not complete within 300 s"));
  const auto restores = ids_with(s, "/restore/registry-quay-");
  CHECK(restores ==
        std::vector<std::string>{"quay/registry/a1/restore/registry-quay-app", "quay/registry/a1/restore/registry-quay-mirror"});
  const auto st = s.all<update_registry_status>().back();
  CHECK_THAT(st.conditions[1].message, Catch::Contains("check the database Deployment registry-quay-database by hand"));
  CHECK_THAT(st.conditions[1].message, !Catch::Contains("the database runs on its old claim"));
}

TEST_CASE("a step that fails for good announces the rollback like every other phase change") {
  auto lines = run_scenario(a_registry());
  auto s = fold_until(lines, [](const session& x) { return !x.upgrade_jobs().empty(); });
  const auto events_before = s.all<emit_event>().size();
  s.feed(log_line_event(s.next_seq(), s.now() + 10, "effect",
                        effect_failed{eid("quay/registry/a1/create-job/backup"), 403, "Forbidden", "exceeded quota"}));
  REQUIRE(s.upgrade().current == phase::rolling_back);
  const auto events = s.all<emit_event>();
  REQUIRE(events.size() > events_before);
  CHECK(events[events_before].reason == "PostgresUpgradeRollingBack");
  CHECK(events[events_before].type == "Warning");
  CHECK_THAT(events[events_before].message, Catch::Contains("exceeded quota"));
}

TEST_CASE("a controller started with another target after a success detects again under a new attempt") {
  auto lines = run_scenario(a_registry());
  auto s = fold(lines);
  REQUIRE(s.upgrade().current == phase::succeeded);
  REQUIRE(s.upgrade().attempt == 1);
  // The same controller, restarted with PostgreSQL 16 as its target.
  config next = *s.s.cfg;
  next.target_image = "quay.io/sclorg/postgresql-16-c9s";
  s.feed(log_line_event(s.next_seq(), s.now() + 1000, "controller", controller_started{next, "0.1.0"}));
  CHECK(s.upgrade().current == phase::detecting);
  // A new attempt: nothing the first one did (its "a1/..." effects) can be taken as done for it.
  CHECK(s.upgrade().attempt == 2);
  CHECK(s.upgrade().done.empty());
  CHECK_FALSE(s.upgrade().started.has_value());
}

TEST_CASE("the analyze Job fails after the app is back: reported loudly, the upgrade stands") {
  auto o = a_registry();
  o.analyze_fails = true;
  auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::succeeded);
  CHECK_FALSE(u.analyzed);
  CHECK_THAT(u.analyze_error, Catch::Contains("analyze Job quay/registry-pg15-analyze-1 failed"));
  CHECK_THAT(u.analyze_error, Catch::Contains("AnalyzeFailed: step 'vacuumdb --analyze-in-stages (the app is back)'"));
  CHECK_THAT(u.analyze_error, Catch::Contains("The upgrade stands (verified, the app serves PostgreSQL 15 from claim "
                                              "registry-quay-database-pg15)"));
  CHECK_THAT(u.analyze_error, Catch::Contains("run `vacuumdb --analyze-in-stages` against it"));
  CHECK(u.last_error.empty());
  // Never rolled back: one switch (to the new claim), the app scaled up once.
  const auto switches = s.all<patch_database_deployment>();
  REQUIRE(switches.size() == 1);
  CHECK(switches[0].claim == "registry-quay-database-pg15");
  const auto st = s.all<update_registry_status>().back();
  CHECK(st.conditions[1].status == "True");
  CHECK(st.conditions[1].reason == "Succeeded");
  CHECK_THAT(st.summary.statistics, Catch::StartsWith("Failed: analyze Job quay/registry-pg15-analyze-1 failed: "));
  const auto events = s.all<emit_event>();
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().type == "Warning");
  CHECK(events.back().reason == "PostgresUpgradeSucceeded");
  CHECK_THAT(events.back().message, Catch::Contains("its ANALYZE after the resume FAILED"));
  // While it ran, the upgrade already counted as done and still progressing.
  bool seen = false;
  for (const auto& w : s.all<update_registry_status>())
    if (w.summary.phase == "analyzing") {
      seen = true;
      CHECK(w.conditions[0].status == "True");  // Progressing
      CHECK(w.conditions[1].status == "True");  // Upgraded
      CHECK(w.summary.statistics == "Running");
      CHECK(w.summary.finished);
    }
  CHECK(seen);
}

TEST_CASE("the analyze Job's Complete before its pod is seen: the status waits for the report, the deadline takes the Complete") {
  // A pod stream cut and relisted may not hold the Job's pod yet when the Job's Complete arrives
  // (e2e faults-streams): the upgrade stays in analyzing rather than report without the pod's words.
  auto lines = run_scenario(a_registry());
  std::erase_if(lines, [](const std::string& l) {
    return l.find("\"kind\":\"Pod\"") != std::string::npos && l.find("registry-pg15-analyze-1") != std::string::npos;
  });
  auto s = fold(lines);
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::analyzing);
  CHECK_FALSE(u.analyzed);
  // Its pod never comes back (garbage-collected): at the phase deadline the Job's Complete counts.
  // (the analyzing deadline is --deadlines verify=, plus the grace a Job's verdict is awaited)
  const timestamp deadline = u.phase_since + s.s.cfg->deadlines.verify_s * 1000 + 600'000;
  s.feed(log_line_event(s.next_seq(), deadline, "timer", timer_fired{{"quay", "registry"}}));
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.upgrade().analyzed);
  CHECK(s.upgrade().analyze_error.empty());
  CHECK(s.all<update_registry_status>().back().summary.statistics == "Complete: the statistics are made");
}
