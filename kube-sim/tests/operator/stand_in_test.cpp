// The stand-in's reconcile against a bare store, one reconcile at a time: no workloads run, so the
// test writes the operator pod's readiness and the Jobs' status itself and sees every step of the
// migration, the failure path included (a real Job needs 50 failures to get there).
#include <catch2/catch.hpp>

#include "object_meta.hpp"
#include "apply.hpp"
#include "stand_in.hpp"

using namespace kube_sim;
namespace op = kube_sim::quay_operator;
namespace net = boost::asio;

namespace {

struct bare_cluster {
  net::io_context io;
  store data = seeded_store(1000);
  op::stand_in quay_operator{io, data, {}};

  const resource_type& type(std::string_view id) { return *data.types().find_id(id); }
  json create(std::string_view id, json object) {
    auto made = data.create(type(id), object.value("/metadata/namespace"_json_pointer, std::string()), object);
    if (!made) FAIL(made.error().message);
    return *made;
  }
  std::optional<json> get(std::string_view id, const std::string& ns, const std::string& name) {
    auto got = data.get(type(id), ns, name);
    return got ? std::optional<json>(*got) : std::nullopt;
  }
  void set_status(std::string_view id, const std::string& ns, const std::string& name, const json& status) {
    auto o = *get(id, ns, name);
    o["status"] = status;
    auto done = data.update(type(id), ns, name, o, subresource::status);
    if (!done) FAIL(done.error().message);
  }
  /// One reconcile; returns the registry's journal entry.
  json reconcile() {
    quay_operator.reconcile_all();
    const auto& entries = quay_operator.log().entries();
    for (auto it = entries.rbegin(); it != entries.rend(); ++it)
      if (it->contains("registry")) return *it;
    return {};
  }
  std::string condition_reason() {
    for (const auto& c :
         get("quayregistries.quay.redhat.com", "quay", "registry")->value("/status/conditions"_json_pointer, json::array()))
      if (c.value("type", "") == "ComponentsCreated") return c.value("status", "") + " " + c.value("reason", "");
    return "";
  }

  // The operator's Deployment and a Ready pod of it with `env`; the registry; the database on 10.
  explicit bare_cluster(const json& extra_env = json::array()) {
    for (const char* ns : {"quay", "quay-operator"})
      create("namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    const auto registry = create("quayregistries.quay.redhat.com",
                                 {{"apiVersion", "quay.redhat.com/v1"},
                                  {"kind", "QuayRegistry"},
                                  {"metadata", {{"name", "registry"}, {"namespace", "quay"}}},
                                  {"spec", {{"components", json::array({{{"kind", "postgres"}, {"managed", true}}})}}}});
    const auto deployment = create("deployments.apps", {{"apiVersion", "apps/v1"},
                                                        {"kind", "Deployment"},
                                                        {"metadata", {{"name", "quay-operator"}, {"namespace", "quay-operator"}}},
                                                        {"spec", {{"replicas", 1}}}});
    json env =
        json::array({{{"name", "RELATED_IMAGE_COMPONENT_POSTGRES"}, {"value", "quay.io/sclorg/postgresql-13-c9s:latest"}},
                     {{"name", "RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES"}, {"value", "quay.io/sclorg/postgresql-15-c9s:latest"}}});
    for (const auto& e : extra_env) env.push_back(e);
    create("pods",
           {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"name", "quay-operator-1"},
              {"namespace", "quay-operator"},
              {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                                {"kind", "Deployment"},
                                                {"name", "quay-operator"},
                                                {"uid", meta_string(deployment, "uid")},
                                                {"controller", true}}})}}},
            {"spec",
             {{"containers",
               json::array({{{"name", "quay-operator"}, {"image", "quay.io/projectquay/quay-operator"}, {"env", env}}})}}}});
    set_status("pods", "quay-operator", "quay-operator-1",
               {{"phase", "Running"}, {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}});
    const op::registry_ref r{"quay", "registry", meta_string(registry, "uid")};
    create("persistentvolumeclaims", op::database_claim(r, op::component::postgres, "registry-quay-database", "1Gi"));
    create("deployments.apps", op::database_deployment(r, op::component::postgres, "centos/postgresql-10-centos7:latest",
                                                       "registry-quay-database", 1));
  }
};

bool has_event(const json& entry, const std::string& event) {
  for (const auto& m : entry.value("migrations", json::array()))
    if (m.value("event", "") == event) return true;
  return false;
}

}  // namespace

TEST_CASE("its migration waits for the database's pods, reports a failed Job and keeps waiting, then cleans up after success") {
  bare_cluster c(json::array({{{"name", "POSTGRES_UPGRADE_DELETE_BACKUP"}, {"value", "true"}}}));
  // A pod of the database still runs: it scales the database to 0 and does nothing more.
  c.create("pods",
           {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"name", "registry-quay-database-x"},
              {"namespace", "quay"},
              {"labels", {{"quay-component", "postgres"}, {"quay-operator/quayregistry", "registry"}}}}},
            {"spec", {{"containers", json::array({{{"name", "postgres"}, {"image", "centos/postgresql-10-centos7"}}})}}}});
  c.set_status("pods", "quay", "registry-quay-database-x", {{"phase", "Running"}});
  auto e = c.reconcile();
  CHECK(e["result"] == "migrating");
  CHECK(has_event(e, "waiting"));
  CHECK(c.get("deployments.apps", "quay", "registry-quay-database")->value("/spec/replicas"_json_pointer, -1) == 0);
  CHECK_FALSE(c.get("deployments.apps", "quay", "registry-quay-database-old"));
  CHECK_FALSE(c.get("jobs.batch", "quay", "registry-quay-postgres-upgrade"));

  // Gone: the migration starts.
  REQUIRE(c.data.remove(c.type("pods"), "quay", "registry-quay-database-x"));
  e = c.reconcile();
  CHECK(has_event(e, "started"));
  CHECK(c.condition_reason() == "False PostgresUpgradeInProgress");
  REQUIRE(c.get("deployments.apps", "quay", "registry-quay-database-old"));
  REQUIRE(c.get("jobs.batch", "quay", "registry-quay-postgres-upgrade"));
  REQUIRE(c.get("persistentvolumeclaims", "quay", "registry-quay-postgres-13"));
  const auto db = *c.get("deployments.apps", "quay", "registry-quay-database");
  CHECK(db["spec"]["replicas"] == 0);
  CHECK(db["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/sclorg/postgresql-13-c9s:latest");

  // No pod yet: still running, not failed.
  e = c.reconcile();
  CHECK(has_event(e, "running"));
  CHECK(c.condition_reason() == "False PostgresUpgradeInProgress");

  // The Job failed for good: PostgresUpgradeFailed with its message, and the operator keeps waiting.
  c.set_status("jobs.batch", "quay", "registry-quay-postgres-upgrade",
               {{"failed", 51},
                {"conditions", json::array({{{"type", "Failed"},
                                             {"status", "True"},
                                             {"reason", "BackoffLimitExceeded"},
                                             {"message", "Job has reached the specified backoff limit"}}})}});
  e = c.reconcile();
  CHECK(has_event(e, "failed"));
  CHECK(c.condition_reason() == "False PostgresUpgradeFailed");
  e = c.reconcile();
  CHECK(has_event(e, "failed"));
  CHECK(e["changes"].empty());
  CHECK(c.get("deployments.apps", "quay", "registry-quay-database-old"));

  // Succeeded (a person re-ran it): the -old Deployment goes, the old claim goes too as
  // POSTGRES_UPGRADE_DELETE_BACKUP says, and the registry's condition is true again.
  c.set_status("jobs.batch", "quay", "registry-quay-postgres-upgrade", {{"succeeded", 1}});
  e = c.reconcile();
  CHECK(has_event(e, "finished"));
  CHECK(e["result"] == "changed");
  CHECK_FALSE(c.get("deployments.apps", "quay", "registry-quay-database-old"));
  CHECK_FALSE(c.get("persistentvolumeclaims", "quay", "registry-quay-database"));
  CHECK(c.condition_reason() == "True ComponentsCreationSuccess");

  // Then the database is rendered at 1 replica, and after that nothing changes.
  e = c.reconcile();
  CHECK(e["result"] == "changed");
  CHECK(c.get("deployments.apps", "quay", "registry-quay-database")->value("/spec/replicas"_json_pointer, -1) == 1);
  e = c.reconcile();
  CHECK(e["result"] == "no change");
  CHECK_FALSE(has_event(e, "started"));
}

TEST_CASE("without POSTGRES_UPGRADE_DELETE_BACKUP the old claim is kept, released from the registry") {
  bare_cluster c;
  c.reconcile();
  REQUIRE(c.get("jobs.batch", "quay", "registry-quay-postgres-upgrade"));
  c.set_status("jobs.batch", "quay", "registry-quay-postgres-upgrade", {{"succeeded", 1}});
  const auto e = c.reconcile();
  CHECK(has_event(e, "finished"));
  const auto old_claim = c.get("persistentvolumeclaims", "quay", "registry-quay-database");
  REQUIRE(old_claim);
  CHECK(old_claim->value("/metadata/ownerReferences"_json_pointer, json::array()).empty());
}

TEST_CASE("without a Ready operator pod, or without its env, or held, it does nothing and says why") {
  bare_cluster c;
  c.quay_operator.set_hold(true);
  c.quay_operator.reconcile_all();
  CHECK(c.quay_operator.reconciles() == 0);
  CHECK(c.quay_operator.status()["reason"].get<std::string>().starts_with("held"));
  c.quay_operator.set_hold(false);

  c.set_status("pods", "quay-operator", "quay-operator-1",
               {{"phase", "Running"}, {"conditions", json::array({{{"type", "Ready"}, {"status", "False"}}})}});
  c.quay_operator.reconcile_all();
  CHECK(c.quay_operator.reconciles() == 0);
  CHECK(c.quay_operator.status()["reason"] == "Deployment quay-operator/quay-operator has no Ready pod");
  CHECK(c.get("deployments.apps", "quay", "registry-quay-database")->value("/spec/replicas"_json_pointer, -1) == 1);

  auto pod = *c.get("pods", "quay-operator", "quay-operator-1");
  pod["spec"]["containers"][0]["env"] =
      json::array({{{"name", "RELATED_IMAGE_COMPONENT_POSTGRES"}, {"value", "quay.io/sclorg/postgresql-13-c9s"}}});
  REQUIRE(c.data.update(c.type("pods"), "quay-operator", "quay-operator-1", pod));
  c.set_status("pods", "quay-operator", "quay-operator-1",
               {{"phase", "Running"}, {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}});
  c.quay_operator.reconcile_all();
  CHECK(c.quay_operator.reconciles() == 0);
  CHECK(c.quay_operator.status()["reason"].get<std::string>().find("RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES") != std::string::npos);
}

TEST_CASE("applying a template keeps what others set beside it and puts back what it sets") {
  const json live = {
      {"spec",
       {{"replicas", 0},
        {"paused", false},
        {"containers", json::array({{{"name", "postgres"},
                                     {"image", "hand-made"},
                                     {"env", json::array({{{"name", "A"}, {"value", "1"}}, {{"name", "EXTRA"}, {"value", "x"}}})},
                                     {"args", json::array({"a", "b"})}}})}}}};
  const json want = {{"spec",
                      {{"replicas", 1},
                       {"containers", json::array({{{"name", "postgres"},
                                                    {"image", "expected"},
                                                    {"env", json::array({{{"name", "A"}, {"value", "2"}}})},
                                                    {"args", json::array({"c"})}}})}}}};
  const auto out = op::merged(live, want);
  CHECK(out["spec"]["replicas"] == 1);
  CHECK(out["spec"]["paused"] == false);
  const auto& c = out["spec"]["containers"][0];
  CHECK(out["spec"]["containers"].size() == 1);
  CHECK(c["image"] == "expected");
  CHECK(c["env"] == json::array({{{"name", "A"}, {"value", "2"}}, {{"name", "EXTRA"}, {"value", "x"}}}));
  CHECK(c["args"] == json::array({"c"}));  // a list without names is the template's
  CHECK(op::merged(out, want) == out);  // applying again changes nothing
}

TEST_CASE("a registry of an unexpected shape is reported in the log, and kube-sim carries on") {
  bare_cluster c;
  auto reg = *c.get("quayregistries.quay.redhat.com", "quay", "registry");
  reg["spec"]["components"] = json::array({{{"kind", "postgres"}, {"managed", "yes"}}});
  REQUIRE(c.data.update(c.type("quayregistries.quay.redhat.com"), "quay", "registry", reg));
  const auto e = c.reconcile();
  CHECK(e["result"] == "error");
  CHECK(e["message"].get<std::string>().find("not shaped as expected") != std::string::npos);
}
