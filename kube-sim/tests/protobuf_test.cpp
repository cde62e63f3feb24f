// protobuf_body_to_json: bodies built here with libprotobuf's reflection from the same Kubernetes
// .proto files (an encoder of its own, independent of the decoder's walk), then decoded.
#include <catch2/catch.hpp>

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/dynamic_message.h>

#include <memory>
#include <string>

#include "protobuf_body.hpp"

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
    REQUIRE(importer->Import("k8s.io/api/core/v1/generated.proto"));
    factory = std::make_unique<gp::DynamicMessageFactory>(importer->pool());
  }
  std::unique_ptr<gp::Message> make(const std::string& type) {
    const auto* d = importer->pool()->FindMessageTypeByName(type);
    REQUIRE(d);
    return std::unique_ptr<gp::Message>(factory->GetPrototype(d)->New());
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
