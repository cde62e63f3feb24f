// Request bodies: exact JSON for the claims and the writes, the rules every Job spec keeps.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "effects/claim_specs.hpp"
#include "effects/job_scripts.hpp"
#include "effects/job_specs.hpp"
#include "effects/k8s_effects.hpp"
#include "effects/write_specs.hpp"
#include "fixtures.hpp"

using nlohmann::json;
using namespace qpu;
using namespace qpu::effects;
using namespace qpu::effects::testing;
using qpu::testing::eid;

namespace {

create_claim a_claim(claim_role role) {
  return create_claim{eid(std::string("quay/registry/a1/create-claim/") + to_string(role)),
                      {"quay", role == claim_role::backup ? "registry-quay-database-backup-pg10" : "registry-quay-database-pg15"},
                      a_registry(),
                      role,
                      2147483648,
                      "",
                      ""};
}

const json owner = {{"apiVersion", "quay.redhat.com/v1"},
                    {"kind", "QuayRegistry"},
                    {"name", "registry"},
                    {"uid", "6f1c2d3e-0000-4000-8000-000000000001"},
                    {"controller", true}};

}  // namespace

TEST_CASE("the data claim is owned by the QuayRegistry and sized in bytes", "[specs]") {
  auto c = a_claim(claim_role::data);
  c.storage_class = "fast-ssd";
  CHECK(claim_body(c) == json::parse(R"({
    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
    "metadata": {"name": "registry-quay-database-pg15", "namespace": "quay",
                 "labels": {"app.kubernetes.io/managed-by": "quay-pg-upgrader",
                            "quay-pg-upgrader.quay.io/registry": "registry",
                            "quay-pg-upgrader.quay.io/role": "data"},
                 "ownerReferences": [{"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "name": "registry",
                                      "uid": "6f1c2d3e-0000-4000-8000-000000000001", "controller": true}]},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2147483648"}},
             "storageClassName": "fast-ssd"}})"));
}

TEST_CASE("the backup claim has no owner reference, so it outlives the registry", "[specs]") {
  const auto body = claim_body(a_claim(claim_role::backup));
  CHECK_FALSE(body["metadata"].contains("ownerReferences"));
  CHECK(body["metadata"]["labels"]["quay-pg-upgrader.quay.io/role"] == "backup");
  CHECK_FALSE(body["spec"].contains("storageClassName"));  // the cluster's default
}

TEST_CASE("every Job: non-root, no retries, deadline, termination message, owner, no ttl", "[specs]") {
  for (auto role : {job_role::check, job_role::backup, job_role::upgrade_logical, job_role::upgrade_pg_upgrade, job_role::archive,
                    job_role::analyze}) {
    INFO(to_string(role));
    const auto j = a_job(role);
    const auto body = job_body(j);
    CHECK(body["metadata"]["name"] == j.key.name.str());
    CHECK(body["metadata"]["namespace"] == "quay");
    CHECK(body["metadata"]["ownerReferences"] == json::array({owner}));
    CHECK(body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "quay-pg-upgrader");
    CHECK(body["metadata"]["labels"]["quay-pg-upgrader.quay.io/registry"] == "registry");
    CHECK(body["metadata"]["labels"]["quay-pg-upgrader.quay.io/job-role"] == to_string(role));
    CHECK(body["spec"]["backoffLimit"] == 0);
    CHECK(body["spec"]["activeDeadlineSeconds"] == 3600);
    CHECK_FALSE(body["spec"].contains("ttlSecondsAfterFinished"));
    const auto& pod = body["spec"]["template"]["spec"];
    CHECK(pod["restartPolicy"] == "Never");
    CHECK(pod["securityContext"]["runAsNonRoot"] == true);
    REQUIRE(pod["containers"].size() == 1);
    const auto& c = pod["containers"][0];
    CHECK(c["image"] == j.image);
    CHECK(c["terminationMessagePath"] == "/dev/termination-log");
    CHECK(c["command"][0] == "/bin/bash");
    CHECK(c["command"][1] == "-c");
    const std::string script = c["command"][2];
    CHECK(script.starts_with(std::string(job_script_file("common.sh"))));
    CHECK(script.find("set -eu") != std::string::npos);
    CHECK(script.find("trap qpu_on_exit EXIT") != std::string::npos);
  }
}

TEST_CASE("no password in a Job's command or args; passwords only through secretKeyRef", "[specs]") {
  for (auto role : {job_role::check, job_role::backup}) {
    auto j = a_job(role);
    const auto body = job_body(j);
    const auto& c = body["spec"]["template"]["spec"]["containers"][0];
    json pgpassword, pguser;
    for (const auto& e : c["env"]) {
      if (e["name"] == "PGPASSWORD") pgpassword = e;
      if (e["name"] == "PGUSER") pguser = e;
    }
    // An admin password exists: the superuser reads everything.
    CHECK(pguser == json{{"name", "PGUSER"}, {"value", "postgres"}});
    CHECK(pgpassword == json::parse(R"({"name": "PGPASSWORD", "valueFrom": {"secretKeyRef":
                                        {"name": "registry-quay-postgres-config", "key": "database-root-password"}}})"));
  }
  SECTION("without an admin password the app user connects, and a literal password stays in env only") {
    auto j = a_job(job_role::backup);
    j.db.credentials.admin_password = {};
    j.db.credentials.password = {"s3cret-literal", "", ""};
    const auto body = job_body(j);
    const auto& c = body["spec"]["template"]["spec"]["containers"][0];
    CHECK(c["command"].dump().find("s3cret-literal") == std::string::npos);
    CHECK_FALSE(c.contains("args"));
    bool in_env = false;
    for (const auto& e : c["env"]) {
      if (e["name"] == "PGPASSWORD") in_env = e == json{{"name", "PGPASSWORD"}, {"value", "s3cret-literal"}};
      if (e["name"] == "PGUSER")
        CHECK(e["valueFrom"]["secretKeyRef"] == json{{"name", "registry-quay-postgres-config"}, {"key", "database-username"}});
      if (e["name"] == "QPU_ADMIN") CHECK(e["value"] == "0");
    }
    CHECK(in_env);
  }
}

TEST_CASE("the backup Job dumps into its own folder of the backup claim, reaching the Service by name", "[specs]") {
  const auto body = job_body(a_job(job_role::backup));
  const auto& pod = body["spec"]["template"]["spec"];
  CHECK(pod["volumes"] ==
        json::parse(R"([{"name": "backup", "persistentVolumeClaim": {"claimName": "registry-quay-database-backup-pg10"}}])"));
  CHECK(pod["containers"][0]["volumeMounts"] == json::parse(R"([{"name": "backup", "mountPath": "/backup"}])"));
  std::map<std::string, json> env;
  for (const auto& e : pod["containers"][0]["env"]) env[e["name"]] = e.contains("value") ? e["value"] : e["valueFrom"];
  CHECK(env["PGHOST"] == "registry-quay-database.quay.svc");
  CHECK(env["PGPORT"] == "5432");
  CHECK(env["QPU_BACKUP_DIR"] == "/backup/pg10");
  // An upgrade's backup takes no manifest of its own (the controller's is read beside it); a
  // revert's does.
  CHECK_FALSE(env.contains("QPU_MANIFEST_SQL"));
  CHECK(env["QPU_APP_DB"]["secretKeyRef"]["key"] == "database-name");
  auto revert = a_job(job_role::backup);
  revert.with_manifest = true;
  std::string manifest;
  const auto revert_body = job_body(revert);
  for (const auto& e : revert_body["spec"]["template"]["spec"]["containers"][0]["env"])
    if (e["name"] == "QPU_MANIFEST_SQL") manifest = e["value"];
  CHECK(manifest.find("\\gexec") != std::string::npos);
}

TEST_CASE("the Jobs that connect speak TLS as told: PGSSLMODE, and the CA bundle from a ConfigMap", "[specs]") {
  auto env_of = [](const json& body) {
    std::map<std::string, json> out;
    for (const auto& e : body["spec"]["template"]["spec"]["containers"][0]["env"]) out[e["name"]] = e;
    return out;
  };
  // libpq's default: nothing added, the specs as before.
  for (auto role : {job_role::check, job_role::backup, job_role::analyze}) {
    const auto env = env_of(job_body(a_job(role)));
    CHECK_FALSE(env.contains("PGSSLMODE"));
    CHECK_FALSE(env.contains("PGSSLROOTCERT"));
  }
  job_options o;
  o.sslmode = "verify-full";
  o.ca_configmap = "database-ca";
  for (auto role : {job_role::check, job_role::backup, job_role::archive, job_role::analyze}) {
    INFO(to_string(role));
    const auto body = job_body(a_job(role), o);
    const auto env = env_of(body);
    CHECK(env.at("PGSSLMODE") == json{{"name", "PGSSLMODE"}, {"value", "verify-full"}});
    CHECK(env.at("PGSSLROOTCERT") == json{{"name", "PGSSLROOTCERT"}, {"value", "/etc/quay-pg-upgrader/database-ca/ca.crt"}});
    const auto& pod = body["spec"]["template"]["spec"];
    CHECK(pod["volumes"].back() == json::parse(R"({"name": "database-ca", "configMap": {"name": "database-ca",
                                                    "items": [{"key": "ca.crt", "path": "ca.crt"}]}})"));
    CHECK(pod["containers"][0]["volumeMounts"].back() ==
          json::parse(R"({"name": "database-ca", "mountPath": "/etc/quay-pg-upgrader/database-ca", "readOnly": true})"));
  }
  // The upgrade Jobs never connect to the server: no TLS settings, no CA volume.
  for (auto role : {job_role::upgrade_logical, job_role::upgrade_pg_upgrade}) {
    const auto body = job_body(a_job(role), o);
    CHECK_FALSE(env_of(body).contains("PGSSLMODE"));
    CHECK(body.dump().find("database-ca") == std::string::npos);
  }
}

TEST_CASE("the logical upgrade reads the backup read-only and writes the new claim's PGDATA", "[specs]") {
  const auto body = job_body(a_job(job_role::upgrade_logical));
  const auto& pod = body["spec"]["template"]["spec"];
  CHECK(pod["volumes"] == json::parse(R"([
    {"name": "backup", "persistentVolumeClaim": {"claimName": "registry-quay-database-backup-pg10", "readOnly": true}},
    {"name": "data", "persistentVolumeClaim": {"claimName": "registry-quay-database-pg15"}}])"));
  CHECK(pod["containers"][0]["volumeMounts"] == json::parse(R"([
    {"name": "backup", "mountPath": "/backup", "readOnly": true},
    {"name": "data", "mountPath": "/var/lib/pgsql/data"}])"));
  for (const auto& e : pod["containers"][0]["env"]) {
    CHECK_FALSE(e["name"] == "PGPASSWORD");  // it never connects over the network
    if (e["name"] == "QPU_PGDATA") CHECK(e["value"] == "/var/lib/pgsql/data/userdata");
  }
}

TEST_CASE("the pg_upgrade Job mounts the old claim read-only and works inside the new claim", "[specs]") {
  const auto body = job_body(a_job(job_role::upgrade_pg_upgrade));
  const auto& pod = body["spec"]["template"]["spec"];
  CHECK(pod["volumes"] == json::parse(R"([
    {"name": "old-data", "persistentVolumeClaim": {"claimName": "registry-quay-database", "readOnly": true}},
    {"name": "data", "persistentVolumeClaim": {"claimName": "registry-quay-database-pg15"}}])"));
  CHECK(pod["containers"][0]["volumeMounts"] == json::parse(R"([
    {"name": "old-data", "mountPath": "/var/lib/pgsql/old", "readOnly": true},
    {"name": "data", "mountPath": "/var/lib/pgsql/data"}])"));
  std::map<std::string, std::string> env;
  for (const auto& e : pod["containers"][0]["env"]) env[e["name"]] = e.value("value", "");
  CHECK(env["QPU_OLD_PGDATA"] == "/var/lib/pgsql/old/userdata");
  CHECK(env["QPU_OLD_COPY"].starts_with("/var/lib/pgsql/data/"));
  CHECK(env["QPU_WORK_DIR"].starts_with("/var/lib/pgsql/data/"));
  CHECK(env["QPU_PGDATA"] == "/var/lib/pgsql/data/userdata");
}

TEST_CASE("in a clone the pg_upgrade Job mounts only the clone: the old claim is not in the pod at all", "[specs]") {
  auto j = a_job(job_role::upgrade_pg_upgrade);
  j.cloned = true;
  const auto body = job_body(j);
  const auto& pod = body["spec"]["template"]["spec"];
  CHECK(pod["volumes"] ==
        json::parse(R"([{"name": "data", "persistentVolumeClaim": {"claimName": "registry-quay-database-pg15"}}])"));
  CHECK(pod["containers"][0]["volumeMounts"] == json::parse(R"([{"name": "data", "mountPath": "/var/lib/pgsql/data"}])"));
  std::map<std::string, std::string> env;
  for (const auto& e : pod["containers"][0]["env"]) env[e["name"]] = e.value("value", "");
  CHECK(env["QPU_CLONED"] == "1");
  CHECK(env["QPU_OLD_PGDATA"] == "/var/lib/pgsql/data/userdata");
  CHECK(env["QPU_PGDATA"] == env["QPU_OLD_PGDATA"]);
  CHECK(body.dump().find("registry-quay-database\"") == std::string::npos);
}

TEST_CASE("the archive Job analyzes the live upgraded database, then writes beside the backup clone's data", "[specs]") {
  const auto body = job_body(a_job(job_role::archive));
  const auto& c = body["spec"]["template"]["spec"]["containers"][0];
  CHECK(body["spec"]["template"]["spec"]["volumes"] ==
        json::parse(R"([{"name": "backup", "persistentVolumeClaim": {"claimName": "registry-quay-database-backup-pg10"}}])"));
  CHECK(c["volumeMounts"] == json::parse(R"([{"name": "backup", "mountPath": "/backup"}])"));
  std::map<std::string, std::string> env;
  json password;
  for (const auto& e : c["env"]) {
    env[e["name"]] = e.value("value", "");
    if (e["name"] == "PGPASSWORD") password = e;
  }
  CHECK(env["QPU_OLD_PGDATA"] == "/backup/userdata");
  CHECK(env["QPU_BACKUP_DIR"] == "/backup/pg10");
  // The statistics of the upgraded server, through its Service, as the superuser; the old server
  // on the clone is reached on a socket in the pod (the script unsets these before it).
  CHECK(env["PGHOST"] == "registry-quay-database.quay.svc");
  CHECK(env["QPU_ADMIN"] == "1");
  CHECK(password["valueFrom"]["secretKeyRef"]["key"] == "database-root-password");
  // archive.sh starts the server, backup.sh writes the archive.
  const std::string script = c["command"][2];
  CHECK(script.find(std::string(job_script_file("archive.sh"))) != std::string::npos);
  CHECK(script.ends_with(std::string(job_script_file("backup.sh"))));
}

TEST_CASE("the analyze Job reaches the live upgraded database through its Service and mounts no claim", "[specs]") {
  const auto body = job_body(a_job(job_role::analyze));
  const auto& pod = body["spec"]["template"]["spec"];
  CHECK(pod.value("volumes", json::array()).empty());
  const auto& c = pod["containers"][0];
  CHECK(c.value("volumeMounts", json::array()).empty());
  std::map<std::string, std::string> env;
  json password;
  for (const auto& e : c["env"]) {
    env[e["name"]] = e.value("value", "");
    if (e["name"] == "PGPASSWORD") password = e;
  }
  CHECK(env["PGHOST"] == "registry-quay-database.quay.svc");
  CHECK(env["PGAPPNAME"] == "quay-pg-upgrader-analyze");
  CHECK(env["QPU_ADMIN"] == "1");
  CHECK(env["QPU_JOBS"] == "2");
  CHECK(password["valueFrom"]["secretKeyRef"]["key"] == "database-root-password");
  const std::string script = c["command"][2];
  CHECK(script.ends_with(std::string(job_script_file("analyze.sh"))));
  // The upgrade Jobs themselves no longer analyze inside the downtime.
  for (const auto* file : {"upgrade-logical.sh", "upgrade-pg-upgrade.sh"}) {
    const std::string upgrade(job_script_file(file));
    CHECK(upgrade.find("vacuumdb --") == std::string::npos);
    CHECK(upgrade.find("analyze_live") == std::string::npos);
  }
}

TEST_CASE("the live check Job mounts the old claim read-only beside the database's pod", "[specs]") {
  auto j = a_job(job_role::check);
  SECTION("live: the old claim, an own socket folder, pinned to the database's node") {
    j.live_check = true;
    j.node = "worker-7";
    const auto body = job_body(j);
    const auto& pod = body["spec"]["template"]["spec"];
    CHECK(pod["volumes"] == json::parse(R"([
      {"name": "old-data", "persistentVolumeClaim": {"claimName": "registry-quay-database", "readOnly": true}},
      {"name": "sockets", "emptyDir": {}}])"));
    CHECK(pod["containers"][0]["volumeMounts"] == json::parse(R"([
      {"name": "old-data", "mountPath": "/var/lib/pgsql/old", "readOnly": true},
      {"name": "sockets", "mountPath": "/var/run/postgresql"}])"));
    CHECK(pod["affinity"] == json::parse(R"({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
      {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["worker-7"]}]}]}}})"));
    std::map<std::string, std::string> env;
    for (const auto& e : pod["containers"][0]["env"]) env[e["name"]] = e.value("value", "");
    CHECK(env["QPU_LIVE_CHECK"] == "1");
    CHECK(env["QPU_OLD_PGDATA"] == "/var/lib/pgsql/old/userdata");
    CHECK(env["QPU_PG_UPGRADE_CHECKS"] == "0");
  }
  SECTION("claims that exist already: mounted read-only, with what their Jobs will clear") {
    j.backup_space_bytes = 123456789;
    j.data_space_bytes = 123456789;
    j.pg_upgrade_checks = true;  // the pg_upgrade method without the live check
    const auto body = job_body(j);
    const auto& pod = body["spec"]["template"]["spec"];
    CHECK(pod["volumes"] == json::parse(R"([
      {"name": "backup", "persistentVolumeClaim": {"claimName": "registry-quay-database-backup-pg10", "readOnly": true}},
      {"name": "data", "persistentVolumeClaim": {"claimName": "registry-quay-database-pg15", "readOnly": true}}])"));
    std::map<std::string, std::string> env;
    for (const auto& e : pod["containers"][0]["env"]) env[e["name"]] = e.value("value", "");
    CHECK(env["QPU_BACKUP_NEED"] == "123456789");
    CHECK(env["QPU_BACKUP_DIR"] == "/backup/pg10");
    CHECK(env["QPU_DATA_NEED"] == "123456789");
    CHECK(env["QPU_DATA_CLEARED"] ==
          "/var/lib/pgsql/data/userdata:/var/lib/pgsql/data/pg10-copy:/var/lib/pgsql/data/pg_upgrade-work");
  }
  SECTION("not live: no claim, no pinning") {
    const auto body = job_body(j);
    const auto& pod = body["spec"]["template"]["spec"];
    CHECK(pod["volumes"].empty());
    CHECK_FALSE(pod.contains("affinity"));
    for (const auto& e : pod["containers"][0]["env"]) CHECK(e["name"] != "QPU_LIVE_CHECK");
  }
}

TEST_CASE("job options: the CPUs the backup and upgrade Jobs ask for are the parallelism they use", "[specs]") {
  job_options o;
  o.parallel_jobs = 4;
  o.cpu_request = 4;
  for (const auto role : {job_role::backup, job_role::upgrade_logical, job_role::upgrade_pg_upgrade, job_role::check}) {
    INFO(to_string(role));
    const auto body = job_body(a_job(role), o);
    const auto& c = body["spec"]["template"]["spec"]["containers"][0];
    if (role == job_role::check) {
      CHECK_FALSE(c.contains("resources"));  // a few queries and a scratch initdb
      continue;
    }
    CHECK(c["resources"] == json::parse(R"({"requests": {"cpu": "4"}})"));
    for (const auto& e : c["env"])
      if (e["name"] == "QPU_JOBS") CHECK(e["value"] == "4");
  }
  // Unset (the library default): no request at all.
  CHECK_FALSE(job_body(a_job(job_role::backup))["spec"]["template"]["spec"]["containers"][0].contains("resources"));
}

TEST_CASE("job options: a fixed user and no fsGroup", "[specs]") {
  job_options o;
  o.run_as_user = 26;
  o.fs_group.reset();
  const auto body = job_body(a_job(job_role::backup), o);
  CHECK(body["spec"]["template"]["spec"]["securityContext"] == json{{"runAsNonRoot", true}, {"runAsUser", 26}});
}

TEST_CASE("scale: records the original replicas, and clears the record on restore", "[specs]") {
  CHECK(scale_patch({eid("quay/registry/a1/scale-down/registry-quay-app"), {"quay", "registry-quay-app"}, 0, 3, false}) ==
        json::parse(R"({"spec": {"replicas": 0},
                        "metadata": {"annotations": {"quay-pg-upgrader.quay.io/original-replicas": "3"}}})"));
  CHECK(
      scale_patch({eid("quay/registry/a1/scale-down/registry-quay-app"), {"quay", "registry-quay-app"}, 3, std::nullopt, true}) ==
      json::parse(R"({"spec": {"replicas": 3},
                        "metadata": {"annotations": {"quay-pg-upgrader.quay.io/original-replicas": null}}})"));
  CHECK(scale_patch(
            {eid("quay/registry/a1/scale-down/registry-quay-app"), {"quay", "registry-quay-app"}, 1, std::nullopt, false}) ==
        json::parse(R"({"spec": {"replicas": 1}})"));
}

TEST_CASE("database switch: a conditional JSON patch of the postgres container and its data volume", "[specs]") {
  const json d = json::parse(R"({
    "metadata": {"name": "registry-quay-database", "resourceVersion": "42",
                 "annotations": {"quay-pg-upgrader.quay.io/original-replicas": "1"}},
    "spec": {"replicas": 0, "template": {"spec": {
      "volumes": [{"name": "config", "secret": {"secretName": "x"}},
                  {"name": "postgres-data", "persistentVolumeClaim": {"claimName": "registry-quay-database"}}],
      "containers": [{"name": "sidecar", "image": "busybox"},
                     {"name": "postgres", "image": "centos/postgresql-10-centos7",
                      "volumeMounts": [{"name": "postgres-data", "mountPath": "/var/lib/pgsql/data"}]}]}}}})");
  auto p = database_deployment_patch({eid("quay/registry/a1/switch"),
                                      {"quay", "registry-quay-database"},
                                      "quay.io/sclorg/postgresql-15-c9s",
                                      "registry-quay-database-pg15",
                                      1},
                                     d);
  REQUIRE(p);
  CHECK(*p == json::parse(R"([
    {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"},
    {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "quay.io/sclorg/postgresql-15-c9s"},
    {"op": "replace", "path": "/spec/template/spec/volumes/1/persistentVolumeClaim/claimName", "value": "registry-quay-database-pg15"},
    {"op": "replace", "path": "/spec/replicas", "value": 1},
    {"op": "remove", "path": "/metadata/annotations/quay-pg-upgrader.quay.io~1original-replicas"}])"));
  json no_volume = d;
  no_volume["spec"]["template"]["spec"]["containers"][1].erase("volumeMounts");
  CHECK_FALSE(
      database_deployment_patch({eid("quay/registry/a1/switch"), {"quay", "registry-quay-database"}, "i", "c", 1}, no_volume));
}

TEST_CASE("status: our conditions merge by type, others stay, lastTransitionTime kept when unchanged", "[specs]") {
  const json registry = json::parse(R"({"metadata": {"resourceVersion": "7"}, "status": {"conditions": [
    {"type": "Available", "status": "True", "reason": "ComponentsCreated", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
    {"type": "PostgresUpgradeProgressing", "status": "True", "reason": "BackingUp", "message": "old",
     "lastTransitionTime": "2026-01-02T00:00:00Z", "observedGeneration": 1}]}})");
  update_registry_status u;
  u.registry = {"quay", "registry"};
  u.conditions = {{"PostgresUpgradeProgressing", "True", "Upgrading", "new", 1790000000000, 2},
                  {"PostgresUpgraded", "False", "InProgress", "", 1790000000000, 2}};
  u.summary.phase = "upgrading";
  u.summary.from = "10";
  u.summary.to = "15";
  u.summary.attempt = 1;
  u.summary.started = 1790000000000;
  const auto patch = registry_status_patch(u, registry);
  CHECK(patch["metadata"] == json{{"resourceVersion", "7"}});
  CHECK(patch["status"]["conditions"] == json::parse(R"([
    {"type": "Available", "status": "True", "reason": "ComponentsCreated", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
    {"type": "PostgresUpgradeProgressing", "status": "True", "reason": "Upgrading", "message": "new",
     "lastTransitionTime": "2026-01-02T00:00:00Z", "observedGeneration": 2},
    {"type": "PostgresUpgraded", "status": "False", "reason": "InProgress", "message": "",
     "lastTransitionTime": "2026-09-21T14:13:20Z", "observedGeneration": 2}])"));
  CHECK(patch["status"]["postgresUpgrade"] == json::parse(R"({"phase": "upgrading", "from": "10", "to": "15",
    "method": null, "attempt": 1, "started": "2026-09-21T14:13:20Z", "finished": null, "backupClaim": null,
    "previousClaim": null, "newClaim": null, "lastError": null, "revertBackupClaim": null, "quayOperator": null,
    "backupArchive": null, "statistics": null, "progress": null})"));
  SECTION("a running Job's progress is its own block; a time left not measured yet is null (the merge drops it)") {
    u.summary.progress = summary_progress{"restore", "bytes", 512, 1024, 50, std::nullopt, "restore: 512 B of 1.0 KiB (50 %)"};
    CHECK(registry_status_patch(u, registry)["status"]["postgresUpgrade"]["progress"] ==
          json::parse(R"j({"stage": "restore", "unit": "bytes", "done": 512, "total": 1024, "percent": 50,
                           "secondsLeft": null, "text": "restore: 512 B of 1.0 KiB (50 %)"})j"));
    u.summary.progress->seconds_left = 7;
    CHECK(registry_status_patch(u, registry)["status"]["postgresUpgrade"]["progress"]["secondsLeft"] == 7);
  }
  SECTION("a changed status moves lastTransitionTime") {
    u.conditions[0].status = "False";
    CHECK(registry_status_patch(u, registry)["status"]["conditions"][1]["lastTransitionTime"] == "2026-09-21T14:13:20Z");
  }
}

TEST_CASE("events: deterministic name, involvedObject, message truncated on a UTF-8 boundary", "[specs]") {
  emit_event e{eid("quay/registry/a1/event@12/backing_up"), a_registry(), "Normal", "BackupStarted", "", 1790000000000};
  e.message = std::string(1023, 'x') + "\xc3\xa9" + "tail";  // 'é' straddles byte 1024
  const auto body = event_body(e);
  CHECK(body["metadata"]["name"] == event_name(e));
  CHECK(event_name(e).starts_with("registry."));
  CHECK(event_name(e).size() == std::string("registry.").size() + 16);
  CHECK(event_name(e) != event_name({eid("quay/registry/a1/event@13/backing_up"), a_registry(), "", "", "", 0}));
  CHECK(body["message"].get<std::string>().size() == 1023);
  CHECK(body["involvedObject"] == json::parse(R"({"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry",
    "name": "registry", "namespace": "quay", "uid": "6f1c2d3e-0000-4000-8000-000000000001"})"));
  CHECK(body["reportingComponent"] == "quay-pg-upgrader");
  CHECK(body["firstTimestamp"] == "2026-09-21T14:13:20Z");
  CHECK(body["type"] == "Normal");
}

TEST_CASE("a Job's progress: the last well-formed QPU_PROGRESS line of the log tail", "[specs]") {
  using qpu::effects::last_progress_line;
  CHECK_FALSE(last_progress_line(""));
  CHECK_FALSE(last_progress_line("== 2026-12-03T09:00:00Z pg_dump quay\nserver 100023\n"));
  const auto p = last_progress_line(
      "QPU_PROGRESS 1764752400000 dump bytes 10 1000\n"
      "== 2026-12-03T09:00:01Z manifest of quay\n"
      "QPU_PROGRESS 1764752401000 dump bytes 500 1000\n"
      "QPU_PROGRESS 1764752402000 dump bytes\n"  // cut short: a line the tail ends inside
      "QPU_PROGRESS 1764752402000 dump bytes -5 1000\n"
      "QPU_PROGRESS 1764752402000 dump bytes 7 1000 extra\n"
      "QPU_PROGRESS 1764752402000 dump bytes 7x 1000");
  REQUIRE(p);
  CHECK(p->stage == "dump");
  CHECK(p->unit == "bytes");
  CHECK(p->done == 500);
  CHECK(p->total == 1000);
  CHECK(p->at == 1764752401000);
}

TEST_CASE("the pg_upgrade Job gets the old cluster's settings when they were read before the downtime", "[specs]") {
  const auto env_of = [](const create_job& j) {
    std::map<std::string, std::string> env;
    const auto body = job_body(j);  // kept: the loop below reads into it
    for (const auto& e : body["spec"]["template"]["spec"]["containers"][0]["env"]) env[e["name"]] = e.value("value", "");
    return env;
  };
  for (const bool cloned : {false, true}) {
    auto j = a_job(job_role::upgrade_pg_upgrade);
    j.cloned = cloned;
    // Not read: the Job reads them itself from the stopped cluster.
    auto env = env_of(j);
    CHECK_FALSE(env.contains("QPU_OLD_INSTALL_USER"));
    CHECK_FALSE(env.contains("QPU_OLD_ENCODING"));
    j.old_cluster = {"UTF8", "en_US.utf8", "en_US.utf8", "postgres"};
    env = env_of(j);
    CHECK(env["QPU_OLD_ENCODING"] == "UTF8");
    CHECK(env["QPU_OLD_LC_COLLATE"] == "en_US.utf8");
    CHECK(env["QPU_OLD_LC_CTYPE"] == "en_US.utf8");
    CHECK(env["QPU_OLD_INSTALL_USER"] == "postgres");
  }
  // Only the pg_upgrade Job uses them.
  auto backup = a_job(job_role::backup);
  backup.old_cluster = {"UTF8", "C", "C", "postgres"};
  CHECK_FALSE(env_of(backup).contains("QPU_OLD_ENCODING"));
}
