#include "protobuf_body.hpp"

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>

#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>

#include "base64.hpp"

namespace kube_sim {

namespace gp = google::protobuf;
using nlohmann::json;

namespace {

constexpr std::string_view magic{"k8s\0", 4};
constexpr const char* meta = "k8s.io.apimachinery.pkg.apis.meta.v1.";
// The groups whose kinds kubectl's typed commands send as protobuf and kube-sim serves.
constexpr const char* definition_files[] = {"k8s.io/api/core/v1/generated.proto", "k8s.io/api/apps/v1/generated.proto",
                                            "k8s.io/api/batch/v1/generated.proto", "k8s.io/api/rbac/v1/generated.proto"};

class collect_errors : public gp::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    if (text.size() < 2000) text += file + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message + "; ";
  }
  std::string text;
};

// The definitions of one folder, parsed once. Messages are made by the factory from the importer's
// pool, so both live as long as the process.
struct definitions {
  gp::compiler::DiskSourceTree tree;
  collect_errors errors;
  std::unique_ptr<gp::compiler::Importer> importer;
  std::unique_ptr<gp::DynamicMessageFactory> factory;
  std::string failure;  // why they could not be read; empty when they were
};

const definitions& definitions_in(const std::filesystem::path& dir) {
  static std::mutex mutex;
  static std::map<std::filesystem::path, std::unique_ptr<definitions>> loaded;
  std::lock_guard lock(mutex);
  auto& d = loaded[dir];
  if (d) return *d;
  d = std::make_unique<definitions>();
  d->tree.MapPath("", dir.string());
  d->importer = std::make_unique<gp::compiler::Importer>(&d->tree, &d->errors);
  for (const char* file : definition_files) {
    if (!d->importer->Import(file)) {
      d->failure = "the Kubernetes API definitions " + (dir / file).string() + " could not be read: " +
                   (d->errors.text.empty() ? "not found" : d->errors.text);
      return *d;
    }
  }
  d->factory = std::make_unique<gp::DynamicMessageFactory>(d->importer->pool());
  return *d;
}

std::string rfc3339(std::int64_t seconds, std::int32_t nanos, bool micro) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[40];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s = out;
  if (micro) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06d", nanos / 1000);
    s += frac;
  }
  return s + "Z";
}

json message_json(const gp::Message& m);

json parsed_or_null(const std::string& raw) {
  if (raw.empty()) return nullptr;
  auto j = json::parse(raw, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

json scalar_json(const gp::Message& m, const gp::FieldDescriptor* f, int index) {
  const auto* r = m.GetReflection();
  const bool repeated = index >= 0;
  switch (f->cpp_type()) {
    case gp::FieldDescriptor::CPPTYPE_INT32: return repeated ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case gp::FieldDescriptor::CPPTYPE_INT64: return repeated ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case gp::FieldDescriptor::CPPTYPE_UINT32: return repeated ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case gp::FieldDescriptor::CPPTYPE_UINT64: return repeated ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case gp::FieldDescriptor::CPPTYPE_DOUBLE: return repeated ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
    case gp::FieldDescriptor::CPPTYPE_FLOAT: return repeated ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
    case gp::FieldDescriptor::CPPTYPE_BOOL: return repeated ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
    case gp::FieldDescriptor::CPPTYPE_ENUM:
      return (repeated ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
    case gp::FieldDescriptor::CPPTYPE_STRING: {
      const std::string v = repeated ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      return f->type() == gp::FieldDescriptor::TYPE_BYTES ? json(base64_encode(v)) : json(v);
    }
    case gp::FieldDescriptor::CPPTYPE_MESSAGE:
      return message_json(repeated ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return nullptr;
}

// A field of `m` by name, read as text (the special types below are small, fixed messages).
std::string text_field(const gp::Message& m, const char* name) {
  const auto* f = m.GetDescriptor()->FindFieldByName(name);
  return f ? m.GetReflection()->GetString(m, f) : std::string();
}
std::int64_t number_field(const gp::Message& m, const char* name) {
  const auto* f = m.GetDescriptor()->FindFieldByName(name);
  if (!f) return 0;
  return f->cpp_type() == gp::FieldDescriptor::CPPTYPE_INT64 ? m.GetReflection()->GetInt64(m, f) : m.GetReflection()->GetInt32(m, f);
}

json message_json(const gp::Message& m) {
  const std::string& type = m.GetDescriptor()->full_name();
  // The types whose JSON is not their message's fields (each type's MarshalJSON in apimachinery).
  // Go writes a struct's zero Time too (seconds 0), which its JSON spells null.
  if ((type == std::string(meta) + "Time" || type == std::string(meta) + "MicroTime") && number_field(m, "seconds") == 0 &&
      number_field(m, "nanos") == 0)
    return nullptr;
  if (type == std::string(meta) + "Time" || type == std::string(meta) + "MicroTime")
    return rfc3339(number_field(m, "seconds"), static_cast<std::int32_t>(number_field(m, "nanos")), type.ends_with("MicroTime"));
  if (type == std::string(meta) + "Duration") return text_field(m, "duration");
  if (type == std::string(meta) + "FieldsV1") return parsed_or_null(text_field(m, "Raw"));
  if (type == "k8s.io.apimachinery.pkg.runtime.RawExtension") return parsed_or_null(text_field(m, "raw"));
  if (type == "k8s.io.apimachinery.pkg.api.resource.Quantity") return text_field(m, "string");
  if (type == "k8s.io.apimachinery.pkg.util.intstr.IntOrString")
    return number_field(m, "type") == 1 ? json(text_field(m, "strVal")) : json(number_field(m, "intVal"));

  json out = json::object();
  std::vector<const gp::FieldDescriptor*> fields;
  const auto* r = m.GetReflection();
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->is_map()) {
      json map = json::object();
      const auto* key = f->message_type()->FindFieldByNumber(1);
      const auto* value = f->message_type()->FindFieldByNumber(2);
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const auto& entry = r->GetRepeatedMessage(m, f, i);
        map[entry.GetReflection()->GetString(entry, key)] = scalar_json(entry, value, -1);
      }
      out[f->name()] = std::move(map);
    } else if (f->is_repeated()) {
      json list = json::array();
      for (int i = 0; i < r->FieldSize(m, f); ++i) list.push_back(scalar_json(m, f, i));
      out[f->name()] = std::move(list);
    } else {
      // Go's protobuf writes every non-pointer string, empty or not; its JSON leaves those out
      // (omitempty) and the apiserver reads "" as unset (a namespace "" is the request's). A
      // zero Time is null. Numbers and booleans stay: a 0 that was sent was set.
      auto v = scalar_json(m, f, -1);
      if (v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty())) continue;
      out[f->name()] = std::move(v);
    }
  }
  return out;
}

// "apps/v1" -> "k8s.io.api.apps.v1", "v1" -> "k8s.io.api.core.v1", "rbac.authorization.k8s.io/v1" -> "k8s.io.api.rbac.v1".
std::string package_of(std::string_view api_version) {
  const auto slash = api_version.find('/');
  if (slash == std::string_view::npos) return "k8s.io.api.core." + std::string(api_version);
  const auto group = api_version.substr(0, slash);
  return "k8s.io.api." + std::string(group.substr(0, group.find('.'))) + "." + std::string(api_version.substr(slash + 1));
}

}  // namespace

std::filesystem::path default_proto_dir() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (ec ? std::filesystem::current_path() : self.parent_path()) / "proto";
}

std::expected<json, std::string> protobuf_body_to_json(std::string_view body, const std::filesystem::path& proto_dir) {
  if (!body.starts_with(magic)) return std::unexpected("the protobuf body does not start with the Kubernetes envelope (k8s\\0)");
  const auto& defs = definitions_in(proto_dir);
  if (!defs.failure.empty()) return std::unexpected(defs.failure);
  const auto* pool = defs.importer->pool();
  const auto* unknown_type = pool->FindMessageTypeByName("k8s.io.apimachinery.pkg.runtime.Unknown");
  if (!unknown_type) return std::unexpected("the definitions lack runtime.Unknown");
  std::unique_ptr<gp::Message> envelope(defs.factory->GetPrototype(unknown_type)->New());
  if (!envelope->ParseFromArray(body.data() + magic.size(), static_cast<int>(body.size() - magic.size())))
    return std::unexpected("the protobuf envelope (runtime.Unknown) could not be parsed");
  const auto* r = envelope->GetReflection();
  const auto& type_meta = r->GetMessage(*envelope, unknown_type->FindFieldByName("typeMeta"));
  const std::string api_version = text_field(type_meta, "apiVersion");
  const std::string kind = text_field(type_meta, "kind");
  if (api_version.empty() || kind.empty()) return std::unexpected("the protobuf envelope names no apiVersion and kind");
  const std::string type = package_of(api_version) + "." + kind;
  const auto* object_type = pool->FindMessageTypeByName(type);
  if (!object_type) return std::unexpected("no protobuf definition of " + api_version + " " + kind + " (" + type + ")");
  std::unique_ptr<gp::Message> object(defs.factory->GetPrototype(object_type)->New());
  const std::string raw = r->GetString(*envelope, unknown_type->FindFieldByName("raw"));
  if (!object->ParseFromString(raw)) return std::unexpected("the " + kind + " in the protobuf body could not be parsed as " + type);
  json out = message_json(*object);
  out["apiVersion"] = api_version;
  out["kind"] = kind;
  return out;
}

}  // namespace kube_sim
