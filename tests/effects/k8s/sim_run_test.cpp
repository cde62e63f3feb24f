// The Jobs on kube-sim's runtime (pods as local processes, claims as loop-mounted volumes, the
// image map's PostgreSQL builds): a PostgreSQL 10 database as the Quay operator lays it out, the
// backup Job on the 15 image, the logical upgrade Job into a new claim, and the database
// Deployment switched to 15 on that claim, serving every row. Every write goes through the
// executors. Skipped when kube-sim or the PostgreSQL builds are missing. Hidden ([.]) and not in
// CTest yet: on the current runtime the backup pod stalls in `pg_dump quay` (see the report).
#include "sim_fixture.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <thread>

using namespace qpu;
using namespace qpu::effects;
using namespace qpu::effects::testing;
using qpu::testing::eid;
namespace net = boost::asio;
using nlohmann::json;

namespace {

json scenario_database() {
  return json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "registry-quay-database", "namespace": "quay", "labels": {"quay-component": "postgres"}},
    "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
      "selector": {"matchLabels": {"quay-component": "postgres"}},
      "template": {"metadata": {"labels": {"quay-component": "postgres"}}, "spec": {
        "terminationGracePeriodSeconds": 30,
        "volumes": [{"name": "postgres-data", "persistentVolumeClaim": {"claimName": "registry-quay-database"}}],
        "containers": [{"name": "postgres", "image": "centos/postgresql-10-centos7",
          "ports": [{"containerPort": 5432}],
          "env": [
            {"name": "POSTGRESQL_USER", "valueFrom": {"secretKeyRef": {"name": "registry-quay-postgres-config", "key": "database-username"}}},
            {"name": "POSTGRESQL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "registry-quay-postgres-config", "key": "database-password"}}},
            {"name": "POSTGRESQL_DATABASE", "valueFrom": {"secretKeyRef": {"name": "registry-quay-postgres-config", "key": "database-name"}}},
            {"name": "POSTGRESQL_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "registry-quay-postgres-config", "key": "database-root-password"}}}],
          "volumeMounts": [{"name": "postgres-data", "mountPath": "/var/lib/pgsql/data"}],
          "readinessProbe": {"exec": {"command": ["/bin/sh", "-c", "pg_isready -q -h /tmp -U \"$POSTGRESQL_USER\" -d \"$POSTGRESQL_DATABASE\""]},
                             "initialDelaySeconds": 1, "periodSeconds": 1, "timeoutSeconds": 5}}]}}}})");
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Polls until `done(object)` or the deadline; returns the last object read.
json wait_for(sim& s, const kube::resource_path& p, const std::function<bool(const json&)>& done, int seconds, const char* what) {
  json last;
  for (int i = 0; i < seconds * 5; ++i) {
    auto r = s.run(s.ctx.api->get(p));
    if (r) {
      last = json::parse(r->body);
      if (done(last)) return last;
    }
    sleep_ms(200);
  }
  std::string pods;
  if (auto l = s.run(s.ctx.api->get(core("pods", "quay"))))
    for (const auto& p : json::parse(l->body)["items"])
      pods += p["metadata"]["name"].get<std::string>() + ": " + p.value("status", json::object()).dump() + "\n";
  FAIL("timed out waiting for " << what << "; last status: " << last.value("status", json::object()).dump() << "\npods:\n"
                                << pods);
  return last;
}

bool job_finished(const json& j) {
  for (const auto& c : j.value("/status/conditions"_json_pointer, json::array()))
    if ((c.value("type", "") == "Complete" || c.value("type", "") == "Failed") && c.value("status", "") == "True") return true;
  return false;
}
bool job_complete(const json& j) {
  for (const auto& c : j.value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == "Complete" && c.value("status", "") == "True") return true;
  return false;
}

// The termination message of the Job's (only) pod.
std::string termination_message(sim& s, const std::string& job) {
  kube::resource_path pods = core("pods", "quay");
  auto r = s.run(s.ctx.api->get(pods));
  if (!r) return {};
  for (const auto& p : json::parse(r->body)["items"])
    if (p.value("/metadata/labels/job-name"_json_pointer, std::string()) == job)
      for (const auto& c : p.value("/status/containerStatuses"_json_pointer, json::array()))
        if (c.contains("/state/terminated/message"_json_pointer)) return c["state"]["terminated"]["message"];
  return {};
}

// psql (15) against the resolved database as the superuser; the password only in the child's env.
std::string query(const resolved_database& db, const std::string& dbname, const std::string& sql) {
  const std::string cmd =
      "PGPASSWORD=\"$QPU_TEST_PW\" /var/cache/quay-pg-upgrader/pg/15/bin/psql -X -A -t -q -v ON_ERROR_STOP=1 -h " + db.host +
      " -p " + std::to_string(db.port) + " -U postgres -d " + dbname + " -c \"" + sql + "\"";
  ::setenv("QPU_TEST_PW", db.admin_password.c_str(), 1);
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  ::unsetenv("QPU_TEST_PW");
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("on kube-sim: backup Job on 15, logical upgrade Job, the database switched to 15 on the new claim", "[.][sim-run]") {
  if (!std::filesystem::exists("/var/cache/quay-pg-upgrader/pg/10/bin/postgres") || ::geteuid() != 0) {
    WARN("needs root (loop-mounted claims) and the provisioned PostgreSQL builds; skipped");
    return;
  }
  sim s;
  make_namespace(s);
  s.create(core("secrets", "quay"), json::parse(R"({"apiVersion": "v1", "kind": "Secret",
    "metadata": {"name": "registry-quay-postgres-config", "namespace": "quay"},
    "stringData": {"database-username": "quay", "database-password": "quay-db-password",
                   "database-name": "quay", "database-root-password": "quay-root-password"}})"));
  s.create(core("persistentvolumeclaims", "quay"), json::parse(R"({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
    "metadata": {"name": "registry-quay-database", "namespace": "quay"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "256Mi"}}}})"));
  s.create(core("services", "quay"), json::parse(R"({"apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "registry-quay-database", "namespace": "quay"},
    "spec": {"selector": {"quay-component": "postgres"}, "ports": [{"name": "postgres", "port": 5432, "targetPort": 5432}]}})"));
  s.create(kube::path_of(resource_kind::deployment, "quay"), scenario_database());
  const auto db_path = kube::path_of(resource_kind::deployment, "quay", "registry-quay-database");
  wait_for(
      s, db_path, [](const json& d) { return d.value("/status/readyReplicas"_json_pointer, 0) == 1; }, 90,
      "the PostgreSQL 10 database to be ready");

  const database_endpoint endpoint{{"quay", "registry-quay-database"}, 5432, scenario_credentials()};
  auto db = s.run(resolve_database(s.ctx, endpoint));
  REQUIRE(db);
  REQUIRE(query(*db, "quay", "SELECT current_setting('server_version_num')::int / 10000") == "10");
  query(*db, "quay",
        "CREATE EXTENSION pg_trgm; CREATE TABLE repository (id serial PRIMARY KEY, name text NOT NULL); "
        "INSERT INTO repository (name) SELECT 'repo-' || i FROM generate_series(1, 3000) i; "
        "CREATE INDEX repository_name_gin ON repository USING gin (name gin_trgm_ops); "
        "ALTER TABLE repository OWNER TO quay");
  REQUIRE(query(*db, "quay", "SELECT count(*) FROM repository") == "3000");

  // Backup on the 15 image.
  auto backup = a_job(job_role::backup);
  backup.key.name = "registry-pg10-backup-1";
  check_succeeded(s.perform(create_claim{eid("quay/registry/a1/create-claim/backup"),
                                         {"quay", backup.backup_claim},
                                         a_registry(),
                                         claim_role::backup,
                                         256 << 20,
                                         ""}),
                  eid("quay/registry/a1/create-claim/backup"));
  check_succeeded(s.perform(backup), backup.id);
  auto job = wait_for(s, kube::path_of(resource_kind::job, "quay", backup.key.name), job_finished, 180, "the backup Job");
  INFO(termination_message(s, backup.key.name));
  REQUIRE(job_complete(job));
  CHECK(termination_message(s, backup.key.name).starts_with("BackupComplete: 3 database(s)"));

  // Stop the database, upgrade into a new claim.
  check_succeeded(
      s.perform(scale_deployment{eid("quay/registry/a1/scale-down/database"), {"quay", "registry-quay-database"}, 0, 1, false}),
      eid("quay/registry/a1/scale-down/database"));
  wait_for(
      s, core("pods", "quay"),
      [](const json& l) {
        for (const auto& p : l["items"])
          if (p.value("/metadata/labels/quay-component"_json_pointer, std::string()) == "postgres") return false;
        return true;
      },
      60, "the database pod to be gone");
  auto upgrade = a_job(job_role::upgrade_logical);
  upgrade.key.name = "registry-pg15-upgrade-1";
  check_succeeded(
      s.perform(create_claim{
          eid("quay/registry/a1/create-claim/data"), {"quay", upgrade.new_claim}, a_registry(), claim_role::data, 256 << 20, ""}),
      eid("quay/registry/a1/create-claim/data"));
  check_succeeded(s.perform(upgrade), upgrade.id);
  job = wait_for(s, kube::path_of(resource_kind::job, "quay", upgrade.key.name), job_finished, 180, "the upgrade Job");
  INFO(termination_message(s, upgrade.key.name));
  REQUIRE(job_complete(job));
  CHECK(termination_message(s, upgrade.key.name).starts_with("UpgradeComplete: restored 3 database(s) into 15"));

  // Switch: 15 on the new claim serves every row, the trigram index, and the app's login.
  check_succeeded(s.perform(patch_database_deployment{eid("quay/registry/a1/switch"),
                                                      {"quay", "registry-quay-database"},
                                                      "quay.io/sclorg/postgresql-15-c9s",
                                                      upgrade.new_claim,
                                                      1}),
                  eid("quay/registry/a1/switch"));
  wait_for(
      s, db_path,
      [](const json& d) {
        return d.value("/status/readyReplicas"_json_pointer, 0) == 1 && d.value("/status/updatedReplicas"_json_pointer, 0) == 1;
      },
      90, "PostgreSQL 15 on the new claim to be ready");
  db = s.run(resolve_database(s.ctx, endpoint));
  REQUIRE(db);
  CHECK(query(*db, "quay", "SELECT current_setting('server_version_num')::int / 10000") == "15");
  CHECK(query(*db, "quay", "SELECT count(*) FROM repository") == "3000");
  CHECK(query(*db, "quay", "SELECT count(*) FROM repository WHERE name LIKE '%po-2999'") == "1");
  CHECK(query(*db, "quay", "SELECT tableowner FROM pg_tables WHERE tablename = 'repository'") == "quay");
}
