#include "protobuf_codec.hpp"

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>

#include "base64.hpp"

namespace kube_sim {

namespace gp = google::protobuf;
using nlohmann::json;

namespace {

constexpr std::string_view magic{"k8s\0", 4};
constexpr std::string_view meta = "k8s.io.apimachinery.pkg.apis.meta.v1.";

// The API groups whose kinds kubectl's typed commands send and ask for as protobuf and kube-sim
// serves, with the package their messages are in (the folder of kubernetes/api, not the group's
// name: rbac.authorization.k8s.io is k8s.io.api.rbac). A group not listed has no messages here,
// so a custom resource whose group merely starts like one of these is never taken for it.
struct api_group_definitions {
  std::string_view group;
  std::string_view package;
  const char* file;
};
constexpr api_group_definitions api_groups[] = {
    {"", "k8s.io.api.core.", "k8s.io/api/core/v1/generated.proto"},
    {"apps", "k8s.io.api.apps.", "k8s.io/api/apps/v1/generated.proto"},
    {"batch", "k8s.io.api.batch.", "k8s.io/api/batch/v1/generated.proto"},
    {"rbac.authorization.k8s.io", "k8s.io.api.rbac.", "k8s.io/api/rbac/v1/generated.proto"},
};

// The Go structs embedded in their parent (tagged `json:""`): their message is one field of the
// parent's, their JSON fields sit in the parent's object. From kubernetes/api core/v1 types.go at
// the commit proto/README.md names; apps/v1, batch/v1 and rbac/v1 embed none. Not derivable from
// the .proto files: Container.securityContext is named after its type too and is not embedded.
constexpr std::string_view embedded_fields[] = {
    "k8s.io.api.core.v1.Volume.volumeSource",
    "k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource",
    "k8s.io.api.core.v1.SecretProjection.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapVolumeSource.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapProjection.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference",
    "k8s.io.api.core.v1.SecretKeySelector.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapEnvSource.localObjectReference",
    "k8s.io.api.core.v1.SecretEnvSource.localObjectReference",
    "k8s.io.api.core.v1.Probe.handler",
    "k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon",
};
bool embedded(const gp::FieldDescriptor* f) {
  return std::ranges::find(embedded_fields, std::string_view(f->full_name())) != std::end(embedded_fields);
}

// The embedded field of `d` whose struct has the JSON field `key`, if any.
const gp::FieldDescriptor* embedding(const gp::Descriptor* d, const std::string& key) {
  for (int i = 0; i < d->field_count(); ++i)
    if (embedded(d->field(i)) && d->field(i)->message_type()->FindFieldByName(key)) return d->field(i);
  return nullptr;
}

class collect_errors : public gp::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    if (text.size() < 2000)
      text += file + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message + "; ";
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

  std::unique_ptr<gp::Message> make(const gp::Descriptor* type) const {
    return std::unique_ptr<gp::Message>(factory->GetPrototype(type)->New());
  }
  const gp::Descriptor* find(const std::string& type) const { return importer->pool()->FindMessageTypeByName(type); }
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
  for (const auto& g : api_groups) {
    if (!d->importer->Import(g.file)) {
      d->failure = "the Kubernetes API definitions " + (dir / g.file).string() +
                   " could not be read: " + (d->errors.text.empty() ? "not found" : d->errors.text);
      return *d;
    }
  }
  d->factory = std::make_unique<gp::DynamicMessageFactory>(d->importer->pool());
  return *d;
}

// The message of `kind` in `api_version`, or why there is none. Status is meta/v1's whatever the
// group, as the apiserver writes errors in every group as apiVersion v1, kind Status.
std::expected<const gp::Descriptor*, std::string> message_type(const definitions& defs, std::string_view api_version,
                                                               std::string_view kind) {
  const auto slash = api_version.find('/');
  const auto group = slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
  const auto version = slash == std::string_view::npos ? api_version : api_version.substr(slash + 1);
  std::string name;
  if (kind == "Status" && api_version == "v1") name = std::string(meta) + "Status";
  for (const auto& g : api_groups)
    if (name.empty() && g.group == group) name = std::string(g.package) + std::string(version) + "." + std::string(kind);
  const std::string what = "no protobuf definition of " + std::string(api_version) + " " + std::string(kind);
  if (name.empty()) return std::unexpected(what + " (kube-sim has definitions of core/v1, apps/v1, batch/v1 and rbac/v1 only)");
  const auto* type = defs.find(name);
  if (!type) return std::unexpected(what + " (" + name + ")");
  return type;
}

// Written in key order, as Go's generated code writes maps, so equal objects give equal bytes.
std::string serialized(const gp::Message& m) {
  std::string out;
  {
    gp::io::StringOutputStream stream(&out);
    gp::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
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

// Go's time.RFC3339Nano, which metav1.Time and MicroTime read from JSON: a date, a time, an
// optional fraction of up to 9 digits, then Z or an offset.
std::optional<std::pair<std::int64_t, std::int32_t>> parse_rfc3339(std::string_view s) {
  auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    int v = 0;
    if (at + n > s.size()) return std::nullopt;
    const auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + n, v);
    if (ec != std::errc{} || end != s.data() + at + n) return std::nullopt;
    return v;
  };
  const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2), sec = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !sec || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':')
    return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year{*y}, std::chrono::month{static_cast<unsigned>(*mo)},
                                         std::chrono::day{static_cast<unsigned>(*d)}};
  if (!date.ok() || *h > 23 || *mi > 59 || *sec > 60) return std::nullopt;
  std::size_t at = 19;
  std::int32_t nanos = 0;
  if (at < s.size() && s[at] == '.') {
    std::int32_t scale = 100'000'000;
    for (++at; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, scale /= 10) {
      if (scale == 0) return std::nullopt;
      nanos += (s[at] - '0') * scale;
    }
  }
  std::int64_t offset = 0;
  if (at + 1 == s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at + 6 == s.size() && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
    const auto oh = digits(at + 1, 2), om = digits(at + 4, 2);
    if (!oh || !om) return std::nullopt;
    offset = (s[at] == '-' ? -1 : 1) * (*oh * 3600 + *om * 60);
    at += 6;
  }
  if (at != s.size()) return std::nullopt;
  const auto days = std::chrono::sys_days{date}.time_since_epoch();
  const std::int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(days).count() + *h * 3600 + *mi * 60 + *sec;
  return std::pair{seconds - offset, nanos};
}

using fill_result = std::expected<void, std::string>;

// Fields of the small fixed messages below, by name.
const gp::FieldDescriptor* field_of(const gp::Message& m, const char* name) { return m.GetDescriptor()->FindFieldByName(name); }
std::string text_field(const gp::Message& m, const char* name) {
  const auto* f = field_of(m, name);
  return f ? m.GetReflection()->GetString(m, f) : std::string();
}
std::int64_t number_field(const gp::Message& m, const char* name) {
  const auto* f = field_of(m, name);
  if (!f) return 0;
  return f->cpp_type() == gp::FieldDescriptor::CPPTYPE_INT64 ? m.GetReflection()->GetInt64(m, f)
                                                             : m.GetReflection()->GetInt32(m, f);
}
void set_text(gp::Message& m, const char* name, const std::string& v) { m.GetReflection()->SetString(&m, field_of(m, name), v); }
void set_number(gp::Message& m, const char* name, std::int64_t v) {
  const auto* f = field_of(m, name);
  if (f->cpp_type() == gp::FieldDescriptor::CPPTYPE_INT64) m.GetReflection()->SetInt64(&m, f, v);
  else m.GetReflection()->SetInt32(&m, f, static_cast<std::int32_t>(v));
}

json parsed_or_null(const std::string& raw) {
  if (raw.empty()) return nullptr;
  auto j = json::parse(raw, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

template <class T>
std::optional<T> integer_of(const json& v) {
  if (v.is_number_unsigned() && std::in_range<T>(v.get<std::uint64_t>())) return static_cast<T>(v.get<std::uint64_t>());
  if (v.is_number_integer() && !v.is_number_unsigned() && std::in_range<T>(v.get<std::int64_t>()))
    return static_cast<T>(v.get<std::int64_t>());
  return std::nullopt;
}

json time_json(const gp::Message& m, bool micro) {
  // Go writes a struct's zero Time too (seconds 0), which its JSON spells null.
  if (number_field(m, "seconds") == 0 && number_field(m, "nanos") == 0) return nullptr;
  return rfc3339(number_field(m, "seconds"), static_cast<std::int32_t>(number_field(m, "nanos")), micro);
}
fill_result fill_time(const json& j, gp::Message& m) {
  const auto t = j.is_string() ? parse_rfc3339(j.get_ref<const std::string&>()) : std::nullopt;
  if (!t) return std::unexpected("an RFC 3339 time expected, got " + j.dump());
  set_number(m, "seconds", t->first);
  set_number(m, "nanos", t->second);
  return {};
}

// The types whose JSON is not their message's fields, both ways (each type's MarshalJSON and
// UnmarshalJSON in apimachinery).
struct special_type {
  std::string_view name;
  json (*to_json)(const gp::Message&);
  fill_result (*from_json)(const json&, gp::Message&);
};
const special_type special_types[] = {
    {"k8s.io.apimachinery.pkg.apis.meta.v1.Time", [](const gp::Message& m) { return time_json(m, false); }, fill_time},
    {"k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime", [](const gp::Message& m) { return time_json(m, true); }, fill_time},
    {"k8s.io.apimachinery.pkg.apis.meta.v1.Duration", [](const gp::Message& m) { return json(text_field(m, "duration")); },
     [](const json& j, gp::Message& m) -> fill_result {
       if (!j.is_string()) return std::unexpected("a duration string expected, got " + j.dump());
       set_text(m, "duration", j.get<std::string>());
       return {};
     }},
    // managedFields' fieldsV1 and a RawExtension carry their JSON as bytes.
    {"k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1", [](const gp::Message& m) { return parsed_or_null(text_field(m, "Raw")); },
     [](const json& j, gp::Message& m) -> fill_result {
       set_text(m, "Raw", j.dump());
       return {};
     }},
    {"k8s.io.apimachinery.pkg.runtime.RawExtension", [](const gp::Message& m) { return parsed_or_null(text_field(m, "raw")); },
     [](const json& j, gp::Message& m) -> fill_result {
       set_text(m, "raw", j.dump());
       return {};
     }},
    // A Quantity is a string in JSON; Go also reads a bare number (`cpu: 1` in YAML) as one.
    {"k8s.io.apimachinery.pkg.api.resource.Quantity", [](const gp::Message& m) { return json(text_field(m, "string")); },
     [](const json& j, gp::Message& m) -> fill_result {
       if (!j.is_string() && !j.is_number()) return std::unexpected("a quantity expected, got " + j.dump());
       set_text(m, "string", j.is_string() ? j.get<std::string>() : j.dump());
       return {};
     }},
    // type 0 is intVal, 1 is strVal.
    {"k8s.io.apimachinery.pkg.util.intstr.IntOrString",
     [](const gp::Message& m) {
       return number_field(m, "type") == 1 ? json(text_field(m, "strVal")) : json(number_field(m, "intVal"));
     },
     [](const json& j, gp::Message& m) -> fill_result {
       if (j.is_string()) {
         set_number(m, "type", 1);
         set_text(m, "strVal", j.get<std::string>());
       } else if (const auto n = integer_of<std::int32_t>(j)) {
         set_number(m, "type", 0);
         set_number(m, "intVal", *n);
       } else {
         return std::unexpected("an integer or a string expected, got " + j.dump());
       }
       return {};
     }},
};
const special_type* special_of(const std::string& type) {
  for (const auto& s : special_types)
    if (s.name == type) return &s;
  return nullptr;
}

json message_json(const gp::Message& m);

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
    case gp::FieldDescriptor::CPPTYPE_ENUM: return (repeated ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
    case gp::FieldDescriptor::CPPTYPE_STRING: {
      const std::string v = repeated ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      return f->type() == gp::FieldDescriptor::TYPE_BYTES ? json(base64_encode(v)) : json(v);
    }
    case gp::FieldDescriptor::CPPTYPE_MESSAGE:
      return message_json(repeated ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return nullptr;
}

json message_json(const gp::Message& m) {
  if (const auto* special = special_of(m.GetDescriptor()->full_name())) return special->to_json(m);
  json out = json::object();
  std::vector<const gp::FieldDescriptor*> fields;
  const auto* r = m.GetReflection();
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->is_map()) {
      json map = json::object();
      const auto* key = f->message_type()->map_key();
      const auto* value = f->message_type()->map_value();
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const auto& entry = r->GetRepeatedMessage(m, f, i);
        map[entry.GetReflection()->GetString(entry, key)] = scalar_json(entry, value, -1);
      }
      out[f->name()] = std::move(map);
    } else if (f->is_repeated()) {
      json list = json::array();
      for (int i = 0; i < r->FieldSize(m, f); ++i) list.push_back(scalar_json(m, f, i));
      out[f->name()] = std::move(list);
    } else if (embedded(f)) {
      out.update(message_json(r->GetMessage(m, f)));
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

fill_result fill_message(const json& j, gp::Message& m, const std::string& at);

// One value of field `f` (one element when it is repeated), the reverse of scalar_json; `at` is
// where in the object it is, for the message of a refusal.
fill_result set_value(gp::Message& m, const gp::FieldDescriptor* f, const json& v, const std::string& at) {
  using R = gp::Reflection;
  const auto* r = m.GetReflection();
  const auto wrong = [&](std::string_view wanted) -> fill_result {
    return std::unexpected(at + ": " + std::string(wanted) + " expected, got " + v.dump());
  };
  // Sets the field, or adds to it when it is repeated; no value means `v` is of another type.
  const auto put = [&]<class T>(std::optional<T> value, std::string_view wanted,
                                void (R::*set)(gp::Message*, const gp::FieldDescriptor*, T) const,
                                void (R::*add)(gp::Message*, const gp::FieldDescriptor*, T) const) -> fill_result {
    if (!value) return wrong(wanted);
    (r->*(f->is_repeated() ? add : set))(&m, f, std::move(*value));
    return {};
  };
  switch (f->cpp_type()) {
    case gp::FieldDescriptor::CPPTYPE_INT32:
      return put(integer_of<std::int32_t>(v), "a 32-bit integer", &R::SetInt32, &R::AddInt32);
    case gp::FieldDescriptor::CPPTYPE_INT64:
      return put(integer_of<std::int64_t>(v), "a 64-bit integer", &R::SetInt64, &R::AddInt64);
    case gp::FieldDescriptor::CPPTYPE_UINT32:
      return put(integer_of<std::uint32_t>(v), "an unsigned 32-bit integer", &R::SetUInt32, &R::AddUInt32);
    case gp::FieldDescriptor::CPPTYPE_UINT64:
      return put(integer_of<std::uint64_t>(v), "an unsigned 64-bit integer", &R::SetUInt64, &R::AddUInt64);
    case gp::FieldDescriptor::CPPTYPE_DOUBLE:
      return put(v.is_number() ? std::optional(v.get<double>()) : std::nullopt, "a number", &R::SetDouble, &R::AddDouble);
    case gp::FieldDescriptor::CPPTYPE_FLOAT:
      return put(v.is_number() ? std::optional(v.get<float>()) : std::nullopt, "a number", &R::SetFloat, &R::AddFloat);
    case gp::FieldDescriptor::CPPTYPE_BOOL:
      return put(v.is_boolean() ? std::optional(v.get<bool>()) : std::nullopt, "true or false", &R::SetBool, &R::AddBool);
    case gp::FieldDescriptor::CPPTYPE_ENUM: {
      const auto* value = v.is_string() ? f->enum_type()->FindValueByName(v.get<std::string>()) : nullptr;
      return put(value ? std::optional(value) : std::nullopt, "a value of " + f->enum_type()->full_name(), &R::SetEnum,
                 &R::AddEnum);
    }
    case gp::FieldDescriptor::CPPTYPE_STRING:
      if (!v.is_string()) return wrong("a string");
      if (f->type() == gp::FieldDescriptor::TYPE_BYTES)
        return put(base64_decode(v.get<std::string>()), "base64", &R::SetString, &R::AddString);
      return put(std::optional(v.get<std::string>()), "a string", &R::SetString, &R::AddString);
    case gp::FieldDescriptor::CPPTYPE_MESSAGE:
      return fill_message(v, f->is_repeated() ? *r->AddMessage(&m, f) : *r->MutableMessage(&m, f), at);
  }
  return wrong("a type kube-sim does not write");
}

// The reverse of message_json: `j` into `m`. A null is an unset field, as in Go's JSON.
fill_result fill_message(const json& j, gp::Message& m, const std::string& at) {
  const auto* d = m.GetDescriptor();
  if (const auto* special = special_of(d->full_name())) {
    auto filled = special->from_json(j, m);
    if (!filled) return std::unexpected(at + ": " + filled.error());
    return {};
  }
  if (!j.is_object()) return std::unexpected(at + ": an object (" + d->full_name() + ") expected, got " + j.dump());
  std::map<const gp::FieldDescriptor*, json> of_embedded;  // the keys that belong to an embedded struct
  for (const auto& [key, value] : j.items()) {
    const std::string here = at.empty() ? key : at + "." + key;
    const auto* f = d->FindFieldByName(key);
    if (!f) {
      if (const auto* holder = embedding(d, key)) {
        of_embedded[holder][key] = value;
        continue;
      }
      // TypeMeta travels in the envelope, not in the message; list items may repeat it.
      if (key == "apiVersion" || key == "kind") continue;
      return std::unexpected(here + ": " + d->full_name() + " has no such field");
    }
    if (value.is_null()) continue;
    if (f->is_map()) {
      if (!value.is_object()) return std::unexpected(here + ": an object expected, got " + value.dump());
      for (const auto& [k, v] : value.items()) {
        auto& entry = *m.GetReflection()->AddMessage(&m, f);
        const auto* entry_type = entry.GetDescriptor();
        if (auto ok = set_value(entry, entry_type->map_key(), k, here); !ok) return ok;
        if (auto ok = set_value(entry, entry_type->map_value(), v, here + "." + k); !ok) return ok;
      }
    } else if (f->is_repeated()) {
      if (!value.is_array()) return std::unexpected(here + ": a list expected, got " + value.dump());
      for (std::size_t i = 0; i < value.size(); ++i)
        if (auto ok = set_value(m, f, value[i], here + "[" + std::to_string(i) + "]"); !ok) return ok;
    } else if (auto ok = set_value(m, f, value, here); !ok) {
      return ok;
    }
  }
  for (const auto& [f, fields] : of_embedded)
    if (auto ok = fill_message(fields, *m.GetReflection()->MutableMessage(&m, f), at); !ok) return ok;
  return {};
}

std::string string_at(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::filesystem::path default_proto_dir() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (ec ? std::filesystem::current_path() : self.parent_path()) / "proto";
}

bool has_protobuf_message(std::string_view api_version, std::string_view kind, const std::filesystem::path& proto_dir) {
  const auto& defs = definitions_in(proto_dir);
  return defs.failure.empty() && message_type(defs, api_version, kind).has_value();
}

std::expected<json, std::string> protobuf_body_to_json(std::string_view body, const std::filesystem::path& proto_dir) {
  if (!body.starts_with(magic)) return std::unexpected("the protobuf body does not start with the Kubernetes envelope (k8s\\0)");
  const auto& defs = definitions_in(proto_dir);
  if (!defs.failure.empty()) return std::unexpected(defs.failure);
  const auto* unknown_type = defs.find("k8s.io.apimachinery.pkg.runtime.Unknown");
  if (!unknown_type) return std::unexpected("the definitions lack runtime.Unknown");
  auto envelope = defs.make(unknown_type);
  if (!envelope->ParseFromArray(body.data() + magic.size(), static_cast<int>(body.size() - magic.size())))
    return std::unexpected("the protobuf envelope (runtime.Unknown) could not be parsed");
  const auto& type_meta = envelope->GetReflection()->GetMessage(*envelope, field_of(*envelope, "typeMeta"));
  const std::string api_version = text_field(type_meta, "apiVersion");
  const std::string kind = text_field(type_meta, "kind");
  if (api_version.empty() || kind.empty()) return std::unexpected("the protobuf envelope names no apiVersion and kind");
  const auto type = message_type(defs, api_version, kind);
  if (!type) return std::unexpected(type.error());
  auto object = defs.make(*type);
  if (!object->ParseFromString(text_field(*envelope, "raw")))
    return std::unexpected("the " + kind + " in the protobuf body could not be parsed as " + (*type)->full_name());
  json out = message_json(*object);
  out["apiVersion"] = api_version;
  out["kind"] = kind;
  return out;
}

std::expected<std::string, std::string> json_to_protobuf_body(const json& object, const std::filesystem::path& proto_dir) {
  const auto& defs = definitions_in(proto_dir);
  if (!defs.failure.empty()) return std::unexpected(defs.failure);
  if (!object.is_object()) return std::unexpected("only an object can be written as protobuf, not " + object.dump());
  const std::string api_version = string_at(object, "apiVersion");
  const std::string kind = string_at(object, "kind");
  const auto type = message_type(defs, api_version, kind);
  if (!type) return std::unexpected(type.error());
  auto message = defs.make(*type);
  if (auto filled = fill_message(object, *message, ""); !filled)
    return std::unexpected("the " + kind + " cannot be written as " + (*type)->full_name() + ": " + filled.error());
  const auto* unknown_type = defs.find("k8s.io.apimachinery.pkg.runtime.Unknown");
  if (!unknown_type) return std::unexpected("the definitions lack runtime.Unknown");
  auto envelope = defs.make(unknown_type);
  auto& type_meta = *envelope->GetReflection()->MutableMessage(envelope.get(), field_of(*envelope, "typeMeta"));
  set_text(type_meta, "apiVersion", api_version);
  set_text(type_meta, "kind", kind);
  set_text(*envelope, "raw", serialized(*message));
  // The apiserver writes both, empty: the raw bytes are the message itself, not JSON or YAML.
  set_text(*envelope, "contentEncoding", "");
  set_text(*envelope, "contentType", "");
  return std::string(magic) + serialized(*envelope);
}

}  // namespace kube_sim
