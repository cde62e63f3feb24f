#include <catch2/catch.hpp>

#include "core/decode.hpp"

using namespace qpu;

namespace {

const char* deployment_line = R"({"type":"MODIFIED","object":{"apiVersion":"apps/v1","kind":"Deployment",
 "metadata":{"name":"registry-quay-database","namespace":"quay","uid":"u1","resourceVersion":"42","generation":3,
  "annotations":{"quay-pg-upgrader.quay.io/original-replicas":"1","other":"x"},
  "managedFields":[{"manager":"kubectl","operation":"Update","fieldsV1":{"f:spec":{}}}]},
 "spec":{"replicas":0,"template":{"spec":{
   "volumes":[{"name":"cfg","configMap":{"name":"c"}},{"name":"data","persistentVolumeClaim":{"claimName":"registry-quay-database"}}],
   "containers":[{"name":"sidecar","image":"busybox"},{"name":"postgres","image":"centos/postgresql-10-centos7",
     "env":[{"name":"POSTGRESQL_USER","valueFrom":{"secretKeyRef":{"name":"registry-quay-postgres-config","key":"database-username"}}},
            {"name":"POSTGRESQL_DATABASE","value":"quay"},{"name":"IGNORED","value":"1"}],
     "volumeMounts":[{"name":"data","mountPath":"/var/lib/pgsql/data"}]}]}}},
 "status":{"replicas":1,"readyReplicas":1,"updatedReplicas":1,"observedGeneration":2,"unknownField":{"deep":[1,2]}}}})";

}  // namespace

TEST_CASE("a Deployment watch line decodes into the view the reducers need") {
  json_decoder d;
  auto ev = d.decode_watch_line(resource_kind::deployment, deployment_line);
  REQUIRE(ev.has_value());
  const auto& oe = std::get<object_event>(*ev);
  CHECK(oe.type == watch_type::modified);
  const auto& dep = std::get<deployment>(oe.object);
  CHECK(dep.meta.key == object_key{"quay", "registry-quay-database"});
  CHECK(dep.meta.rv == "42");
  CHECK(dep.meta.generation == 3);
  CHECK(dep.replicas == 0);
  CHECK(dep.status_replicas == 1);
  CHECK(dep.ready_replicas == 1);
  CHECK(dep.observed_generation == 2);
  CHECK(dep.image == "centos/postgresql-10-centos7");  // the container named postgres, not the first
  CHECK(dep.data_claim == "registry-quay-database");  // volumes listed before containers still resolve
  CHECK(dep.recorded_replicas == 1);
  CHECK(dep.credentials->user.secret_name == "registry-quay-postgres-config");
  CHECK(dep.credentials->user.secret_key == "database-username");
  CHECK(dep.credentials->database.value == "quay");
}

TEST_CASE("Job, PVC, Pod and QuayRegistry views decode their fields") {
  json_decoder d;
  auto job_ev = d.decode_watch_line(resource_kind::job, R"({"type":"MODIFIED","object":{"metadata":{"name":"j","namespace":"n"},
    "status":{"failed":1,"conditions":[{"type":"FailureTarget","status":"True","reason":"BackoffLimitExceeded"},
    {"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}}})");
  REQUIRE(job_ev);
  const auto& j = std::get<job>(std::get<object_event>(*job_ev).object);
  CHECK(j.has_failed);
  CHECK_FALSE(j.complete);
  CHECK(j.reason == "BackoffLimitExceeded");
  CHECK(j.failed == 1);

  auto pvc = d.decode_object(resource_kind::claim, R"({"metadata":{"name":"c","namespace":"n"},
    "spec":{"storageClassName":"fast","resources":{"requests":{"storage":"5Gi"}}},"status":{"phase":"Bound","capacity":{"storage":"8Gi"}}})");
  REQUIRE(pvc);
  const auto& c = std::get<claim>(*pvc);
  CHECK(c.requested_bytes == 5LL << 30);
  CHECK(c.capacity_bytes == 8LL << 30);
  CHECK(c.storage_class == "fast");
  CHECK(c.phase == "Bound");

  auto p =
      d.decode_object(resource_kind::pod, R"({"metadata":{"name":"p","namespace":"n","deletionTimestamp":"2026-01-01T00:00:00Z",
    "labels":{"quay-component":"quay-app","quay-operator/quayregistry":"r"}},"status":{"phase":"Running",
    "containerStatuses":[{"state":{"terminated":{"exitCode":1,"message":"disk full"}}}]}})");
  REQUIRE(p);
  const auto& po = std::get<pod>(*p);
  CHECK(po.meta.deleting);
  CHECK(po.component == "quay-app");
  CHECK(po.registry == "r");
  CHECK(po.termination_message == "disk full");

  auto qr = d.decode_object(resource_kind::quay_registry, R"({"metadata":{"name":"r","namespace":"n","uid":"u",
    "annotations":{"quay-pg-upgrader.quay.io/retry":"t1"}},"spec":{"components":[{"kind":"clair","managed":true},{"kind":"postgres","managed":false}]}})");
  REQUIRE(qr);
  CHECK_FALSE(std::get<quay_registry>(*qr).postgres_managed);
  CHECK(std::get<quay_registry>(*qr).retry_token == "t1");
}

TEST_CASE("BOOKMARK and ERROR lines decode to their own events") {
  json_decoder d;
  auto b = d.decode_watch_line(
      resource_kind::job,
      R"({"type":"BOOKMARK","object":{"kind":"Job","apiVersion":"batch/v1","metadata":{"resourceVersion":"99"}}})");
  REQUIRE(b);
  CHECK(std::get<bookmark_seen>(*b).rv == "99");
  auto e = d.decode_watch_line(
      resource_kind::pod,
      R"x({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}})x");
  REQUIRE(e);
  CHECK(std::get<watch_error>(*e).code == 410);
  CHECK(std::get<watch_error>(*e).reason == "Expired");
}

TEST_CASE("the object may come before the type") {
  json_decoder d;
  auto ev = d.decode_watch_line(resource_kind::claim, R"({"object":{"metadata":{"name":"c","namespace":"n"}},"type":"DELETED"})");
  REQUIRE(ev);
  CHECK(std::get<object_event>(*ev).type == watch_type::deleted);
}

TEST_CASE("bad watch lines become errors that say what and where") {
  json_decoder d;
  auto wrong_type = d.decode_watch_line(resource_kind::deployment,
                                        R"({"type":"ADDED","object":{"metadata":{"name":"x"},"spec":{"replicas":"two"}}})");
  REQUIRE_FALSE(wrong_type);
  CHECK_THAT(wrong_type.error(), Catch::Contains("spec.replicas"));
  CHECK_THAT(wrong_type.error(), Catch::Contains("at byte"));
  CHECK_FALSE(d.decode_watch_line(resource_kind::job, R"({"type":"ADDED","object":{"metadata":{"name":)"));
  CHECK_THAT(d.decode_watch_line(resource_kind::job, R"({"type":"WHATEVER","object":{}})").error(), Catch::Contains("WHATEVER"));
  CHECK_THAT(d.decode_watch_line(resource_kind::job, R"({"type":"ADDED"})").error(), Catch::Contains("no \"object\""));
  CHECK_THAT(d.decode_watch_line(resource_kind::job, R"({"type":"ADDED","object":{"metadata":{}}})").error(),
             Catch::Contains("name"));
  CHECK_THAT(d.decode_watch_line(resource_kind::job, R"([1,2])").error(), Catch::Contains("not a JSON object"));
  const std::string huge = R"({"type":"ADDED","object":{"metadata":{"name":")" + std::string(max_line_bytes, 'x') + "\"}}}";
  CHECK_THAT(d.decode_watch_line(resource_kind::job, huge).error(), Catch::Contains("limit"));
  // The decoder is reusable after errors.
  CHECK(d.decode_watch_line(resource_kind::job, R"({"type":"ADDED","object":{"metadata":{"name":"ok"}}})"));
}

TEST_CASE("managedFields is left out before parsing without changing what is decoded or where errors point") {
  // A managedFields entry as the API server writes it: escaped quotes in keys, brackets and
  // braces inside strings, and a string ending in an escaped backslash.
  const std::string mf =
      R"(,"managedFields":[{"manager":"kube-controller-manager","operation":"Update","fieldsType":"FieldsV1",)"
      R"("fieldsV1":{"f:status":{"f:conditions":{"k:{\"type\":\"Complete\"}":{".":{},"f:reason":{}}}}},"note":"]}[{\\"}])";
  const std::string head = R"({"type":"MODIFIED","object":{"metadata":{"name":"j","namespace":"n","resourceVersion":"7",)"
                           R"("annotations":{"a":"text with ,\"managedFields\":[ inside"})";
  const std::string tail =
      R"(},"status":{"active":1,"conditions":[{"type":"Failed","status":"True","reason":"DeadlineExceeded"}]}}})";
  json_decoder d;
  auto with = d.decode_watch_line(resource_kind::job, head + mf + tail);
  auto without = d.decode_watch_line(resource_kind::job, head + tail);
  REQUIRE(with);
  REQUIRE(without);
  CHECK(*with == *without);
  const auto& j = std::get<job>(std::get<object_event>(*with).object);
  CHECK(j.meta.rv == "7");
  CHECK(j.has_failed);
  CHECK(j.reason == "DeadlineExceeded");

  // An error after the cut names the byte of the input, not of the shortened copy.
  const std::string bad_tail = R"(},"status":{"active":"one"}}})";
  auto bad_with = d.decode_watch_line(resource_kind::job, head + mf + bad_tail);
  auto bad_without = d.decode_watch_line(resource_kind::job, head + bad_tail);
  REQUIRE_FALSE(bad_with);
  REQUIRE_FALSE(bad_without);
  CHECK_THAT(bad_with.error(), Catch::Contains("status.active"));
  const auto offset_of = [](const std::string& e) { return std::stoul(e.substr(e.find("at byte ") + 8)); };
  CHECK(offset_of(bad_with.error()) == offset_of(bad_without.error()) + mf.size());

  // An array that never closes is not cut: the parse reports the input as it came.
  auto open = d.decode_watch_line(resource_kind::job, head + R"(,"managedFields":[{"a":1})");
  REQUIRE_FALSE(open);
}
