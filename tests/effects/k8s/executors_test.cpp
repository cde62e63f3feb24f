// The executors against a real `kube-sim serve` (one per test case, port 0, its own temp dir),
// over the same HTTP client the controller uses. The test binary depends on kube-sim (CMake), so
// a missing kube-sim is a failure, never a skip.
#include "sim_fixture.hpp"
#include "effects/write_specs.hpp"

using namespace qpu;
using namespace qpu::effects;
using namespace qpu::effects::testing;
using qpu::testing::eid;
namespace net = boost::asio;
using nlohmann::json;

TEST_CASE("creating a claim and a Job twice: the second 409 AlreadyExists is success", "[sim]") {
  sim s;
  make_namespace(s);
  create_claim c{eid("quay/registry/a1/create-claim/backup"),
                 {"quay", "registry-quay-database-backup-pg10"},
                 a_registry(),
                 claim_role::backup,
                 1 << 30,
                 "",
                 ""};
  check_succeeded(s.perform(c), c.id);
  check_succeeded(s.perform(c), c.id);
  const auto pvc = s.get(core("persistentvolumeclaims", "quay", c.key.name));
  CHECK(pvc["spec"]["resources"]["requests"]["storage"] == "1073741824");
  CHECK_FALSE(pvc["metadata"].contains("ownerReferences"));

  const auto j = a_job(job_role::backup);
  check_succeeded(s.perform(j), j.id);
  check_succeeded(s.perform(j), j.id);
  const auto job = s.get(kube::path_of(resource_kind::job, "quay", j.key.name));
  CHECK(job["spec"]["backoffLimit"] == 0);
  CHECK(job["metadata"]["ownerReferences"][0]["kind"] == "QuayRegistry");

  SECTION("a create the server refuses is a failure with its status and reason") {
    auto bad = c;
    bad.key.ns = "no-such-namespace";
    const auto e = s.perform(bad);
    REQUIRE(std::holds_alternative<effect_failed>(e));
    CHECK(std::get<effect_failed>(e).code == 404);
    CHECK(std::get<effect_failed>(e).reason == "NotFound");
  }
}

TEST_CASE("a clone claim: dataSource and the effect's mark; asked again it is its own, another of the name is refused", "[sim]") {
  sim s;
  make_namespace(s);
  create_claim c{eid("quay/registry/a2/create-claim/data"),
                 {"quay", "registry-quay-database-pg15"},
                 a_registry(),
                 claim_role::data,
                 1 << 30,
                 "",
                 "registry-quay-database"};
  check_succeeded(s.perform(c), c.id);
  const auto pvc = s.get(core("persistentvolumeclaims", "quay", c.key.name));
  CHECK(pvc["spec"]["dataSource"] == json{{"kind", "PersistentVolumeClaim"}, {"name", "registry-quay-database"}});
  CHECK(pvc["metadata"]["annotations"]["quay-pg-upgrader.quay.io/clone-for"] == "quay/registry/a2/create-claim/data");
  // The same effect again (a restart lost its answer): the claim is its own.
  check_succeeded(s.perform(c), c.id);
  // Another attempt's clone of the same name holds older data: never taken.
  auto later = c;
  later.id = eid("quay/registry/a3/create-claim/data");
  const auto e = s.perform(later);
  REQUIRE(std::holds_alternative<effect_failed>(e));
  CHECK(std::get<effect_failed>(e).code == 409);
  CHECK_THAT(std::get<effect_failed>(e).message,
             Catch::Contains("exists and is not the clone of registry-quay-database this attempt made"));
}

TEST_CASE("scale down recording the original replicas, then restore clearing the record", "[sim]") {
  sim s;
  make_namespace(s);
  auto d = database_deployment();
  d["metadata"]["name"] = "registry-quay-app";
  d["spec"]["replicas"] = 3;
  s.create(kube::path_of(resource_kind::deployment, "quay"), d);
  const auto path = kube::path_of(resource_kind::deployment, "quay", "registry-quay-app");

  check_succeeded(s.perform(scale_deployment{
                      eid("quay/registry/a1/scale-down/registry-quay-app"), {"quay", "registry-quay-app"}, 0, 3, false}),
                  eid("quay/registry/a1/scale-down/registry-quay-app"));
  auto now = s.get(path);
  CHECK(now["spec"]["replicas"] == 0);
  CHECK(now["metadata"]["annotations"]["quay-pg-upgrader.quay.io/original-replicas"] == "3");

  check_succeeded(s.perform(scale_deployment{
                      eid("quay/registry/a1/scale-up/registry-quay-app"), {"quay", "registry-quay-app"}, 3, std::nullopt, true}),
                  eid("quay/registry/a1/scale-up/registry-quay-app"));
  now = s.get(path);
  CHECK(now["spec"]["replicas"] == 3);
  CHECK_FALSE(now["metadata"].value("annotations", json::object()).contains("quay-pg-upgrader.quay.io/original-replicas"));

  const auto missing =
      s.perform(scale_deployment{eid("quay/registry/a1/scale-down/nothing"), {"quay", "nothing"}, 0, std::nullopt, false});
  REQUIRE(std::holds_alternative<effect_failed>(missing));
  CHECK(std::get<effect_failed>(missing).code == 404);
}

TEST_CASE("the database switch changes image and claim, and a concurrent change is a Conflict", "[sim]") {
  sim s;
  make_namespace(s);
  auto d = database_deployment();
  d["metadata"]["annotations"]["quay-pg-upgrader.quay.io/original-replicas"] = "1";
  s.create(kube::path_of(resource_kind::deployment, "quay"), d);
  const auto path = kube::path_of(resource_kind::deployment, "quay", "registry-quay-database");
  patch_database_deployment p{eid("quay/registry/a1/switch"),
                              {"quay", "registry-quay-database"},
                              "quay.io/sclorg/postgresql-15-c9s",
                              "registry-quay-database-pg15",
                              1};
  check_succeeded(s.perform(p), eid("quay/registry/a1/switch"));
  const auto now = s.get(path);
  CHECK(now["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/sclorg/postgresql-15-c9s");
  CHECK(now["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "registry-quay-database-pg15");
  CHECK(now["spec"]["replicas"] == 1);
  CHECK_FALSE(now["metadata"].value("annotations", json::object()).contains("quay-pg-upgrader.quay.io/original-replicas"));

  // Between our read and our write someone else changes the Deployment: the patch built from the
  // stale read must be refused, not applied over their change.
  auto stale = database_deployment_patch(p, now);
  REQUIRE(stale);
  REQUIRE(s.run(s.ctx.api->patch(path, kube::patch_type::merge, R"({"metadata":{"labels":{"touched":"yes"}}})")));
  auto r = s.run(s.ctx.api->patch(path, kube::patch_type::json, stale->dump()));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == 409);
  CHECK(r.error().reason == "Conflict");
}

// The registry quay/registry with a condition of the Quay operator's (Available) in its status.
kube::resource_path registry_with_foreign_condition(sim& s) {
  make_namespace(s);
  s.create(kube::path_of(resource_kind::quay_registry, "quay"), the_registry());
  auto path = kube::path_of(resource_kind::quay_registry, "quay", "registry");
  REQUIRE(s.run(s.ctx.api->patch_status(path, R"({"status":{"conditions":[{"type":"Available","status":"True",
      "reason":"ComponentsCreated","message":"all good","lastTransitionTime":"2026-01-01T00:00:00Z"}]}})")));
  return path;
}

TEST_CASE("status: a foreign condition stays, lastTransitionTime is kept while the status holds", "[sim]") {
  sim s;
  const auto path = registry_with_foreign_condition(s);

  update_registry_status u;
  u.id = qpu::testing::eid("quay/registry/a1/status@10");
  u.registry = {"quay", "registry"};
  u.conditions = {{"PostgresUpgradeProgressing", "True", "BackingUp", "backing up", 1790000000000, 1}};
  u.summary.phase = "backing_up";
  u.summary.from = "10";
  u.summary.to = "15";
  check_succeeded(s.perform(u), u.id);

  u.id = qpu::testing::eid("quay/registry/a1/status@11");
  u.conditions = {{"PostgresUpgradeProgressing", "True", "Upgrading", "upgrading", 1790000060000, 1},
                  {"PostgresUpgraded", "False", "InProgress", "", 1790000060000, 1}};
  u.summary.phase = "upgrading";
  u.summary.last_error = "";
  check_succeeded(s.perform(u), u.id);
  const auto status = s.get(path)["status"];
  REQUIRE(status["conditions"].size() == 3);
  CHECK(status["conditions"][0]["type"] == "Available");
  CHECK(status["conditions"][0]["message"] == "all good");
  CHECK(status["conditions"][1]["reason"] == "Upgrading");
  CHECK(status["conditions"][1]["lastTransitionTime"] == "2026-09-21T14:13:20Z");  // from the first write
  CHECK(status["conditions"][2]["lastTransitionTime"] == "2026-09-21T14:14:20Z");
  CHECK(status["postgresUpgrade"]["phase"] == "upgrading");
  CHECK(status["postgresUpgrade"]["from"] == "10");
  CHECK_FALSE(status["postgresUpgrade"].contains("lastError"));
}

TEST_CASE("status: written on the registry as last seen without a read; a stale copy is read again", "[sim]") {
  sim s;
  const auto path = registry_with_foreign_condition(s);
  status_cache statuses;
  s.ctx.statuses = &statuses;
  const object_key key{"quay", "registry"};
  auto seen_as = [&](const std::string& rv, const std::string& only) {
    json line = {{"type", "MODIFIED"}, {"object", s.get(path)}};
    line["object"]["metadata"]["resourceVersion"] = rv;
    line["object"]["status"]["conditions"].push_back({{"type", only}, {"status", "True"}});
    statuses.seen(key, line.dump());
  };
  update_registry_status u;
  u.registry = key;
  u.summary.phase = "backing_up";

  // Current: the write goes on top of the copy, which only a write without a read can show (the
  // copy's extra condition is not on the server).
  seen_as(s.get(path)["metadata"]["resourceVersion"].get<std::string>(), "SeenOnly");
  u.id = qpu::testing::eid("quay/registry/a1/status@10");
  u.conditions = {{"PostgresUpgradeProgressing", "True", "BackingUp", "backing up", 1790000000000, 1}};
  check_succeeded(s.perform(u), u.id);
  auto status = s.get(path)["status"];
  REQUIRE(status["conditions"].size() == 3);
  CHECK(status["conditions"][1]["type"] == "SeenOnly");
  // The answer to the write is the next base.
  REQUIRE(statuses.base(key));
  CHECK(statuses.base(key)->at("metadata")["resourceVersion"] == s.get(path)["metadata"]["resourceVersion"]);

  // Stale: 409, then the read, and nothing of the copy is written.
  seen_as("1", "StaleOnly");
  u.id = qpu::testing::eid("quay/registry/a1/status@11");
  u.summary.phase = "upgrading";
  check_succeeded(s.perform(u), u.id);
  status = s.get(path)["status"];
  CHECK(status["postgresUpgrade"]["phase"] == "upgrading");
  CHECK(status["conditions"].size() == 3);
  for (const auto& c : status["conditions"]) CHECK(c["type"] != "StaleOnly");

  // What the cache takes: a listed object, a watch line; DELETED or no resourceVersion forgets.
  statuses.seen(key, R"({"type":"DELETED","object":{"metadata":{"resourceVersion":"9"}}})");
  CHECK_FALSE(statuses.base(key));
  statuses.seen(key, R"({"metadata":{"name":"registry","resourceVersion":"9"},"spec":{}})");
  REQUIRE(statuses.base(key));
  CHECK(statuses.base(key)->at("status")["conditions"] == json::array());
  statuses.seen(key, R"({"type":"MODIFIED","object":{"metadata":{"name":"registry"}}})");
  CHECK_FALSE(statuses.base(key));
  statuses.seen(key, "not json");
  CHECK_FALSE(statuses.base(key));
}

TEST_CASE("an Event is created once; emitting it again is success", "[sim]") {
  sim s;
  make_namespace(s);
  emit_event e{eid("quay/registry/a1/event@12/backing_up"),
               a_registry(),
               "Normal",
               "BackupStarted",
               "backing up PostgreSQL 10",
               1790000000000};
  check_succeeded(s.perform(e), e.id);
  check_succeeded(s.perform(e), e.id);
  const auto list = s.get(core("events", "quay"));
  REQUIRE(list["items"].size() == 1);
  CHECK(list["items"][0]["metadata"]["name"] == event_name(e));
  CHECK(list["items"][0]["involvedObject"]["kind"] == "QuayRegistry");
}

TEST_CASE("deleting a Job that is gone is success", "[sim]") {
  sim s;
  make_namespace(s);
  const auto j = a_job(job_role::backup);
  check_succeeded(s.perform(j), j.id);
  check_succeeded(s.perform(delete_job{eid("quay/registry/a1/delete-job/backup"), j.key}),
                  eid("quay/registry/a1/delete-job/backup"));
  check_succeeded(s.perform(delete_job{eid("quay/registry/a1/delete-job/backup"), j.key}),
                  eid("quay/registry/a1/delete-job/backup"));
}

TEST_CASE("resolve_database reads the Service's clusterIP and the credentials from the Secret", "[sim]") {
  sim s;
  make_namespace(s);
  s.create(core("secrets", "quay"), json::parse(R"({"apiVersion": "v1", "kind": "Secret",
    "metadata": {"name": "registry-quay-postgres-config", "namespace": "quay"},
    "stringData": {"database-username": "quay", "database-password": "pa:ss w0rd/é",
                   "database-name": "quaydb", "database-root-password": "root-pw"}})"));
  s.create(core("services", "quay"), json::parse(R"({"apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "registry-quay-database", "namespace": "quay"},
    "spec": {"selector": {"quay-component": "postgres"}, "ports": [{"name": "postgres", "port": 5432, "targetPort": 5432}]}})"));
  database_endpoint db{{"quay", "registry-quay-database"}, 5432, scenario_credentials()};
  auto r = s.run(resolve_database(s.ctx, db));
  REQUIRE(r);
  CHECK_FALSE(r->host.empty());
  CHECK(r->host == s.get(core("services", "quay", "registry-quay-database"))["spec"]["clusterIP"]);
  CHECK(r->port == 5432);
  CHECK(r->user == "quay");
  CHECK(r->password == "pa:ss w0rd/é");
  CHECK(r->dbname == "quaydb");
  CHECK(r->admin_password == "root-pw");

  SECTION("a missing key names the Secret and key, never a value") {
    db.credentials.password.secret_key = "no-such-key";
    auto missing = s.run(resolve_database(s.ctx, db));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("no-such-key") != std::string::npos);
    CHECK(missing.error().message.find("root-pw") == std::string::npos);
  }
}

TEST_CASE("inspect_claim reads the claim's StorageClass and its latest Event, and only this claim's", "[sim]") {
  sim s;
  make_namespace(s);
  const auto event = [&](const std::string& name, const std::string& claim, const std::string& type, const std::string& reason,
                         const std::string& message, const std::string& at, const std::string& uid = "") {
    json involved = {{"kind", "PersistentVolumeClaim"}, {"name", claim}, {"namespace", "quay"}};
    if (!uid.empty()) involved["uid"] = uid;
    s.create(core("events", "quay"), json{{"metadata", {{"name", name}, {"namespace", "quay"}}},
                                          {"involvedObject", involved},
                                          {"type", type},
                                          {"reason", reason},
                                          {"message", message},
                                          {"firstTimestamp", at},
                                          {"lastTimestamp", at}});
  };
  const auto facts = [&](const inspect_claim& c) {
    const auto e = s.perform(c);
    REQUIRE(std::holds_alternative<effect_succeeded>(e));
    const auto& ok = std::get<effect_succeeded>(e);
    CHECK(ok.id == c.id);
    REQUIRE(ok.claim.has_value());
    return *ok.claim;
  };
  const inspect_claim missing{eid("quay/registry/a1/inspect-claim/data/g1"), {"quay", "registry-quay-database-pg15"}, "gold"};
  SECTION("a class that does not exist, no Event yet") {
    const auto f = facts(missing);
    CHECK_FALSE(f.class_exists);
    CHECK(f.storage_class == "gold");
    CHECK(f.event_reason.empty());
  }
  SECTION("a class with its binding mode and provisioner; the latest Event of this claim wins") {
    s.create({"storage.k8s.io", "v1", "storageclasses", "", "", ""}, json{{"metadata", {{"name", "gold"}}},
                                                                          {"provisioner", "ebs.csi.aws.com"},
                                                                          {"volumeBindingMode", "WaitForFirstConsumer"}});
    event("a", "registry-quay-database-pg15", "Normal", "WaitForFirstConsumer", "waiting for first consumer",
          "2026-12-03T06:00:00Z");
    event("b", "registry-quay-database-pg15", "Warning", "ProvisioningFailed", "quota exceeded in zone a",
          "2026-12-03T06:00:09Z");
    event("c", "another-claim", "Warning", "ProvisioningFailed", "not this claim's", "2026-12-03T06:00:30Z");
    event("d", "registry-quay-database-pg15", "Normal", "ExternalProvisioning", "older", "2026-12-03T05:59:00Z");
    const auto f = facts(missing);
    CHECK(f.class_exists);
    CHECK(f.binding_mode == "WaitForFirstConsumer");
    CHECK(f.provisioner == "ebs.csi.aws.com");
    CHECK(f.event_type == "Warning");
    CHECK(f.event_reason == "ProvisioningFailed");
    CHECK(f.event_message == "quota exceeded in zone a");
  }
  SECTION("the Events of a deleted claim of the same name are not this claim's") {
    const auto claim =
        s.create(core("persistentvolumeclaims", "quay"), json{{"metadata", {{"name", "registry-quay-database-pg15"}}},
                                                              {"spec",
                                                               {{"accessModes", {"ReadWriteOnce"}},
                                                                {"resources", {{"requests", {{"storage", "1Gi"}}}}},
                                                                {"storageClassName", "gold"}}}});
    const std::string uid = claim["metadata"]["uid"];
    // Newer than anything else here: read without regard to the uid, it would win.
    event("old", "registry-quay-database-pg15", "Warning", "ProvisioningFailed", "volume cloning is not supported",
          "2099-01-01T00:00:00Z", "a-deleted-claims-uid");
    event("new", "registry-quay-database-pg15", "Normal", "Provisioning", "provisioning", "2026-12-03T06:00:05Z", uid);
    // The newest of this claim's own: ours, or one the simulator's volume controller wrote since
    // (class gold does not exist); never the deleted claim's, which is newer than ours.
    const auto f = facts(missing);
    CHECK(f.event_message != "volume cloning is not supported");
    CHECK_FALSE(f.event_reason.empty());
  }
  SECTION("a class without volumeBindingMode binds Immediate, as the API defaults it") {
    s.create({"storage.k8s.io", "v1", "storageclasses", "", "", ""},
             json{{"metadata", {{"name", "gold"}}}, {"provisioner", "kube-sim.io/local"}});
    CHECK(facts(missing).binding_mode == "Immediate");
  }
}
