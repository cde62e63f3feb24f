// protobuf_codec both ways, checked against libprotobuf itself: request bodies built here with its
// reflection from the same Kubernetes .proto files (an encoder of the test's own, independent of
// the decoder's walk) are decoded, and answers the codec writes are parsed here with its
// DynamicMessage and read field by field; then JSON -> protobuf -> JSON gives the input back.
#include <catch2/catch.hpp>

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/dynamic_message.h>

#include <memory>
#include <string>

#include "api_error.hpp"
#include "protobuf_codec.hpp"

namespace gp = google::protobuf;
using nlohmann::json;

namespace {

const std::filesystem::path proto_dir = KUBE_SIM_PROTO_DIR;

struct quiet : gp::compiler::MultiFileErrorCollector {
  void AddError(const std::string&, int, int, const std::string&) override {}
};

// The test's own pool of the definitions and a way to build a body from it.
struct encoder {
  gp::compiler::DiskSourceTree tree;
  quiet errors;
  std::unique_ptr<gp::compiler::Importer> importer;
  std::unique_ptr<gp::DynamicMessageFactory> factory;
  encoder() {
    tree.MapPath("", proto_dir.string());
    importer = std::make_unique<gp::compiler::Importer>(&tree, &errors);
    for (const char* file : {"k8s.io/api/core/v1/generated.proto", "k8s.io/api/apps/v1/generated.proto"})
      REQUIRE(importer->Import(file));
    factory = std::make_unique<gp::DynamicMessageFactory>(importer->pool());
  }
  std::unique_ptr<gp::Message> make(const std::string& type) {
    const auto* d = importer->pool()->FindMessageTypeByName(type);
    REQUIRE(d);
    return std::unique_ptr<gp::Message>(factory->GetPrototype(d)->New());
  }
  std::unique_ptr<gp::Message> parse(const std::string& type, const std::string& bytes) {
    auto m = make(type);
    REQUIRE(m->ParseFromString(bytes));
    return m;
  }
  // "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}
  std::string body(const std::string& api_version, const std::string& kind, const std::string& raw) {
    auto unknown = make("k8s.io.apimachinery.pkg.runtime.Unknown");
    auto* tm = sub(*unknown, "typeMeta");
    set(*tm, "apiVersion", api_version);
    set(*tm, "kind", kind);
    set(*unknown, "raw", raw);
    return std::string("k8s\0", 4) + unknown->SerializeAsString();
  }
  static const gp::FieldDescriptor* field(const gp::Message& m, const char* name) {
    const auto* f = m.GetDescriptor()->FindFieldByName(name);
    REQUIRE(f);
    return f;
  }
  static gp::Message* sub(gp::Message& m, const char* name) { return m.GetReflection()->MutableMessage(&m, field(m, name)); }
  static gp::Message* add(gp::Message& m, const char* name) { return m.GetReflection()->AddMessage(&m, field(m, name)); }
  static void set(gp::Message& m, const char* name, const std::string& v) { m.GetReflection()->SetString(&m, field(m, name), v); }
  static void set_int(gp::Message& m, const char* name, std::int64_t v) {
    const auto* f = field(m, name);
    if (f->cpp_type() == gp::FieldDescriptor::CPPTYPE_INT64)
      m.GetReflection()->SetInt64(&m, f, v);
    else
      m.GetReflection()->SetInt32(&m, f, static_cast<std::int32_t>(v));
  }
  // Reading what the codec wrote, through reflection.
  static std::string text(const gp::Message& m, const char* name) { return m.GetReflection()->GetString(m, field(m, name)); }
  static std::int64_t number(const gp::Message& m, const char* name) {
    const auto* f = field(m, name);
    return f->cpp_type() == gp::FieldDescriptor::CPPTYPE_INT64 ? m.GetReflection()->GetInt64(m, f)
                                                               : m.GetReflection()->GetInt32(m, f);
  }
  static bool has(const gp::Message& m, const char* name) { return m.GetReflection()->HasField(m, field(m, name)); }
  static const gp::Message& msg(const gp::Message& m, const char* name) {
    return m.GetReflection()->GetMessage(m, field(m, name));
  }
  static const gp::Message& item(const gp::Message& m, const char* name, int i) {
    REQUIRE(m.GetReflection()->FieldSize(m, field(m, name)) > i);
    return m.GetReflection()->GetRepeatedMessage(m, field(m, name), i);
  }
  // The entry of map field `name` at `key` (a map is its repeated entries on the wire).
  static const gp::Message& entry(const gp::Message& m, const char* name, const std::string& key) {
    const gp::Message* found = nullptr;
    for (int i = 0; i < m.GetReflection()->FieldSize(m, field(m, name)); ++i) {
      const auto& e = m.GetReflection()->GetRepeatedMessage(m, field(m, name), i);
      if (e.GetReflection()->GetString(e, e.GetDescriptor()->map_key()) == key) found = &e;
    }
    INFO("entry " << key << " of " << name);
    REQUIRE(found);
    return *found;
  }
  // The envelope of an answer, checked as the apiserver writes it, and its object parsed as `type`.
  std::unique_ptr<gp::Message> answer(const std::string& body, const std::string& api_version, const std::string& kind,
                                      const std::string& type) {
    REQUIRE(body.starts_with(std::string("k8s\0", 4)));
    auto unknown = parse("k8s.io.apimachinery.pkg.runtime.Unknown", body.substr(4));
    CHECK(text(msg(*unknown, "typeMeta"), "apiVersion") == api_version);
    CHECK(text(msg(*unknown, "typeMeta"), "kind") == kind);
    CHECK((has(*unknown, "contentType") && text(*unknown, "contentType").empty()));
    CHECK((has(*unknown, "contentEncoding") && text(*unknown, "contentEncoding").empty()));
    return parse(type, text(*unknown, "raw"));
  }
  static void map_entry(gp::Message& m, const char* name, const std::string& key, const std::string& value) {
    auto* e = add(m, name);
    e->GetReflection()->SetString(e, e->GetDescriptor()->FindFieldByNumber(1), key);
    e->GetReflection()->SetString(e, e->GetDescriptor()->FindFieldByNumber(2), value);
  }
};

}  // namespace

TEST_CASE("a protobuf Secret: bytes as base64, a Time as RFC 3339, labels as an object, apiVersion and kind from the envelope",
          "[protobuf]") {
  encoder enc;
  auto secret = enc.make("k8s.io.api.core.v1.Secret");
  auto* meta = encoder::sub(*secret, "metadata");
  encoder::set(*meta, "name", "creds");
  encoder::set(*meta, "namespace", "quay");
  encoder::set(*meta, "generateName", "");  // sent by Go for every string: left out, as its JSON does
  encoder::map_entry(*meta, "labels", "app", "quay");
  encoder::set_int(*encoder::sub(*meta, "creationTimestamp"), "seconds", 1700000000);
  encoder::map_entry(*secret, "data", "password", std::string("\0\xffpw", 4));
  encoder::set(*secret, "type", "Opaque");
  const auto j = kube_sim::protobuf_body_to_json(enc.body("v1", "Secret", secret->SerializeAsString()), proto_dir);
  REQUIRE(j);
  CHECK(*j == json::parse(R"({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"password": "AP9wdw=="},
    "metadata": {"name": "creds", "namespace": "quay", "labels": {"app": "quay"}, "creationTimestamp": "2023-11-14T22:13:20Z"}})"));
}

TEST_CASE("a protobuf claim and Service: a Quantity as its string, IntOrString as a number or a name, a zero that was set stays",
          "[protobuf]") {
  encoder enc;
  auto pvc = enc.make("k8s.io.api.core.v1.PersistentVolumeClaim");
  encoder::set(*encoder::sub(*pvc, "metadata"), "name", "data");
  auto* spec = encoder::sub(*pvc, "spec");
  auto* storage = encoder::add(*encoder::sub(*spec, "resources"), "requests");
  storage->GetReflection()->SetString(storage, storage->GetDescriptor()->FindFieldByNumber(1), "storage");
  encoder::set(*storage->GetReflection()->MutableMessage(storage, storage->GetDescriptor()->FindFieldByNumber(2)), "string", "5Gi");
  spec->GetReflection()->AddString(spec, encoder::field(*spec, "accessModes"), "ReadWriteOnce");
  const auto claim = kube_sim::protobuf_body_to_json(enc.body("v1", "PersistentVolumeClaim", pvc->SerializeAsString()), proto_dir);
  REQUIRE(claim);
  CHECK((*claim)["spec"] == json::parse(R"({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}})"));

  auto svc = enc.make("k8s.io.api.core.v1.Service");
  auto* ports = encoder::sub(*svc, "spec");
  auto* by_number = encoder::add(*ports, "ports");
  encoder::set_int(*by_number, "port", 80);
  encoder::set_int(*encoder::sub(*by_number, "targetPort"), "intVal", 8080);
  auto* by_name = encoder::add(*ports, "ports");
  encoder::set_int(*by_name, "port", 0);
  auto* named = encoder::sub(*by_name, "targetPort");
  encoder::set_int(*named, "type", 1);
  encoder::set(*named, "strVal", "https");
  const auto service = kube_sim::protobuf_body_to_json(enc.body("v1", "Service", svc->SerializeAsString()), proto_dir);
  REQUIRE(service);
  CHECK((*service)["spec"]["ports"] == json::parse(R"([{"port": 80, "targetPort": 8080}, {"port": 0, "targetPort": "https"}])"));
}

TEST_CASE("a protobuf body that cannot be read is refused with the reason", "[protobuf]") {
  encoder enc;
  const auto refused = [](const std::string& body, const std::filesystem::path& dir = proto_dir) {
    const auto r = kube_sim::protobuf_body_to_json(body, dir);
    REQUIRE_FALSE(r);
    return r.error();
  };
  CHECK_THAT(refused("{\"kind\": \"Secret\"}"), Catch::Contains("does not start with the Kubernetes envelope"));
  CHECK_THAT(refused(std::string("k8s\0\xff\xff\xff", 7)), Catch::Contains("envelope (runtime.Unknown) could not be parsed"));
  CHECK_THAT(refused(enc.body("v1", "Nope", "")), Catch::Contains("no protobuf definition of v1 Nope (k8s.io.api.core.v1.Nope)"));
  CHECK_THAT(refused(enc.body("v1", "Secret", "\xff\xff\xff")), Catch::Contains("could not be parsed as k8s.io.api.core.v1.Secret"));
  CHECK_THAT(refused(enc.body("v1", "Secret", ""), "/nonexistent"), Catch::Contains("could not be read"));
}

TEST_CASE("an answer in protobuf: a Secret's bytes from base64, a Time from RFC 3339, labels as map entries", "[protobuf]") {
  encoder enc;
  const auto body = kube_sim::json_to_protobuf_body(json::parse(R"({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
    "data": {"password": "AP9wdw==", "user": "cXVheQ=="},
    "metadata": {"name": "creds", "namespace": "quay", "labels": {"app": "quay"}, "creationTimestamp": "2023-11-14T22:13:20Z",
                 "resourceVersion": "7", "generation": 2}})"),
                                                    proto_dir);
  REQUIRE(body);
  const auto secret = enc.answer(*body, "v1", "Secret", "k8s.io.api.core.v1.Secret");
  const auto& data = encoder::entry(*secret, "data", "password");
  CHECK(encoder::text(data, "value") == std::string("\0\xffpw", 4));
  CHECK(encoder::text(encoder::entry(*secret, "data", "user"), "value") == "quay");
  CHECK(encoder::text(*secret, "type") == "Opaque");
  const auto& meta = encoder::msg(*secret, "metadata");
  CHECK(encoder::text(meta, "name") == "creds");
  CHECK(encoder::text(meta, "resourceVersion") == "7");
  CHECK(encoder::number(meta, "generation") == 2);
  CHECK(encoder::text(encoder::entry(meta, "labels", "app"), "value") == "quay");
  CHECK(encoder::number(encoder::msg(meta, "creationTimestamp"), "seconds") == 1700000000);
  CHECK(encoder::number(encoder::msg(meta, "creationTimestamp"), "nanos") == 0);
}

TEST_CASE("an answer in protobuf: a Quantity, IntOrString as a number and as a name, an embedded struct, a time with an offset",
          "[protobuf]") {
  encoder enc;
  const auto deployment = kube_sim::json_to_protobuf_body(json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "creationTimestamp": "2023-11-15T00:13:20.5+02:00"},
    "spec": {"replicas": 0, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
      "template": {"spec": {"containers": [{"name": "web", "image": "busybox",
        "resources": {"limits": {"memory": "512Mi", "cpu": 1}},
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}}}]}}}})"),
                                                          proto_dir);
  INFO((deployment ? "" : deployment.error()));
  REQUIRE(deployment);
  const auto d = enc.answer(*deployment, "apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment");
  const auto& spec = encoder::msg(*d, "spec");
  CHECK((encoder::has(spec, "replicas") && encoder::number(spec, "replicas") == 0));
  const auto& rolling = encoder::msg(encoder::msg(spec, "strategy"), "rollingUpdate");
  CHECK(encoder::number(encoder::msg(rolling, "maxSurge"), "type") == 1);
  CHECK(encoder::text(encoder::msg(rolling, "maxSurge"), "strVal") == "25%");
  CHECK(encoder::number(encoder::msg(rolling, "maxUnavailable"), "type") == 0);
  CHECK(encoder::number(encoder::msg(rolling, "maxUnavailable"), "intVal") == 1);
  const auto& container = encoder::item(encoder::msg(encoder::msg(spec, "template"), "spec"), "containers", 0);
  const auto& limits = encoder::msg(container, "resources");
  CHECK(encoder::text(encoder::msg(encoder::entry(limits, "limits", "memory"), "value"), "string") == "512Mi");
  CHECK(encoder::text(encoder::msg(encoder::entry(limits, "limits", "cpu"), "value"), "string") ==
        "1");  // Go reads a bare number too
  // ProbeHandler is embedded in Probe: inline in JSON, its own field ("handler") in protobuf.
  const auto& handler = encoder::msg(encoder::msg(container, "readinessProbe"), "handler");
  const auto& port = encoder::msg(encoder::msg(handler, "httpGet"), "port");
  CHECK((encoder::number(port, "type") == 1 && encoder::text(port, "strVal") == "http"));
  const auto& created = encoder::msg(encoder::msg(*d, "metadata"), "creationTimestamp");
  CHECK(encoder::number(created, "seconds") == 1700000000);
  CHECK(encoder::number(created, "nanos") == 500000000);
}

TEST_CASE("an error answered in protobuf is a meta/v1 Status, whatever the group", "[protobuf]") {
  encoder enc;
  const auto body = kube_sim::json_to_protobuf_body(
      kube_sim::to_status(kube_sim::api_error{409, "AlreadyExists", "namespaces \"team-a\" already exists",
                                              json{{"name", "team-a"}, {"kind", "namespaces"}}}),
      proto_dir);
  REQUIRE(body);
  const auto status = enc.answer(*body, "v1", "Status", "k8s.io.apimachinery.pkg.apis.meta.v1.Status");
  CHECK(encoder::number(*status, "code") == 409);
  CHECK(encoder::text(*status, "status") == "Failure");
  CHECK(encoder::text(*status, "reason") == "AlreadyExists");
  CHECK(encoder::text(*status, "message") == "namespaces \"team-a\" already exists");
  CHECK(encoder::text(encoder::msg(*status, "details"), "name") == "team-a");
  CHECK(encoder::text(encoder::msg(*status, "details"), "kind") == "namespaces");
}

TEST_CASE("JSON -> protobuf -> JSON gives the object back, for each kind kubectl asks for in protobuf", "[protobuf]") {
  const char* objects[] = {
      R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "uid": "0f2c", "resourceVersion": "12",
          "creationTimestamp": "2026-12-05T17:05:00Z", "labels": {"kubernetes.io/metadata.name": "team-a"}},
          "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})",
      R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default",
          "annotations": {"note": "two words"}}, "data": {"a": "1", "b": "two words"}, "binaryData": {"blob": "AAEC"},
          "immutable": false})",
      R"({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"}, "type": "Opaque",
          "data": {"password": "czNjcjN0IQ=="}})",
      R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
          "spec": {"type": "ClusterIP", "selector": {"app": "web"}, "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80,
          "targetPort": 8080}, {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"}]}})",
      R"({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "generation": 1,
          "ownerReferences": [{"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "name": "registry", "uid": "9a",
          "controller": true}],
          "managedFields": [{"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1",
          "time": "2026-12-05T17:05:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
          "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web",
          "image": "quay.io/example/web:1", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
          "resources": {"requests": {"storage": "5Gi"}}, "env": [{"name": "USER", "valueFrom": {"secretKeyRef":
          {"name": "creds", "key": "user"}}}], "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
          "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}]}],
          "volumes": [{"name": "conf", "configMap": {"name": "cfg", "defaultMode": 420}}, {"name": "scratch", "emptyDir": {}}]}}},
          "status": {"replicas": 3, "readyReplicas": 3, "conditions": [{"type": "Available", "status": "True",
          "lastUpdateTime": "2026-12-05T17:05:01Z", "lastTransitionTime": "2026-12-05T17:05:01Z",
          "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}]}})",
      R"({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "default"},
          "spec": {"backoffLimit": 6, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "once",
          "image": "quay.io/example/tool:1", "command": ["echo", "hi", "there"]}]}}},
          "status": {"startTime": "2026-12-05T17:05:00Z", "succeeded": 1, "conditions": [{"type": "Complete", "status": "True",
          "lastProbeTime": "2026-12-05T17:05:02Z", "lastTransitionTime": "2026-12-05T17:05:02Z"}]}})",
      R"({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader", "namespace": "default"},
          "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]})",
      R"({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
          "involvedObject": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "reason": "ScalingReplicaSet",
          "eventTime": "2026-12-05T17:05:00.123456Z", "count": 1, "type": "Normal"})",
      R"({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "40", "continue": "abc"},
          "items": [{"metadata": {"name": "web-1", "namespace": "default"}, "spec": {"containers": [{"name": "web",
          "image": "busybox"}]}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
          "lastTransitionTime": "2026-12-05T17:05:00Z"}]}}]})",
      R"({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": 404, "reason": "NotFound",
          "message": "configmaps \"nope\" not found", "details": {"name": "nope", "kind": "configmaps"}})",
  };
  for (const char* text : objects) {
    const auto object = json::parse(text);
    INFO(object["kind"]);
    const auto body = kube_sim::json_to_protobuf_body(object, proto_dir);
    INFO((body ? "" : body.error()));
    REQUIRE(body);
    const auto back = kube_sim::protobuf_body_to_json(*body, proto_dir);
    REQUIRE(back);
    CHECK(*back == object);
  }
}

TEST_CASE("what has no protobuf message is refused with the reason, so the answer stays JSON", "[protobuf]") {
  const auto refused = [](const char* text) {
    const auto r = kube_sim::json_to_protobuf_body(json::parse(text), proto_dir);
    REQUIRE_FALSE(r);
    return r.error();
  };
  CHECK_THAT(refused(R"({"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "metadata": {"name": "registry"}})"),
             Catch::Contains("no protobuf definition of quay.redhat.com/v1 QuayRegistry"));
  // A custom resource whose group starts like a built-in one is not taken for it.
  CHECK_THAT(refused(R"({"apiVersion": "apps.example.com/v1", "kind": "Deployment", "metadata": {"name": "web"}})"),
             Catch::Contains("no protobuf definition of apps.example.com/v1 Deployment"));
  CHECK_THAT(
      refused(R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "spec": {"x": 1}})"),
      Catch::Contains("the ConfigMap cannot be written as k8s.io.api.core.v1.ConfigMap: spec: k8s.io.api.core.v1.ConfigMap has "
                      "no such field"));
  CHECK_THAT(refused(R"({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "three"}})"),
             Catch::Contains("spec.replicas: a 32-bit integer expected, got \"three\""));
  CHECK_THAT(refused(R"({"apiVersion": "v1", "kind": "Secret", "data": {"password": "not base64!"}})"),
             Catch::Contains("data.password: base64 expected"));
  CHECK_THAT(refused(R"({"apiVersion": "v1", "kind": "Secret", "metadata": {"creationTimestamp": "yesterday"}})"),
             Catch::Contains("metadata.creationTimestamp: an RFC 3339 time expected, got \"yesterday\""));
  CHECK_THAT(refused(R"({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"targetPort": 1.5}]}})"),
             Catch::Contains("spec.ports[0].targetPort: an integer or a string expected, got 1.5"));

  CHECK(kube_sim::has_protobuf_message("v1", "ConfigMap", proto_dir));
  CHECK(kube_sim::has_protobuf_message("apps/v1", "DeploymentList", proto_dir));
  CHECK(kube_sim::has_protobuf_message("rbac.authorization.k8s.io/v1", "Role", proto_dir));
  CHECK(kube_sim::has_protobuf_message("v1", "Status", proto_dir));
  CHECK_FALSE(kube_sim::has_protobuf_message("quay.redhat.com/v1", "QuayRegistry", proto_dir));
  CHECK_FALSE(kube_sim::has_protobuf_message("coordination.k8s.io/v1", "Lease", proto_dir));
  CHECK_FALSE(kube_sim::has_protobuf_message("v1", "ConfigMap", "/nonexistent"));
}
