#include "admission.hpp"

#include "base64.hpp"
#include "object_meta.hpp"

namespace kube_sim {
namespace {

void admit_secret(json& object) {
  if (object.contains("stringData") && object["stringData"].is_object()) {
    for (const auto& [k, v] : object["stringData"].items())
      object["data"][k] = base64_encode(v.is_string() ? v.get<std::string>() : v.dump());
    object.erase("stringData");
  }
  if (!object.contains("type")) object["type"] = "Opaque";
}

void admit_service(json& object, const json* old, const std::function<std::string()>& allocate) {
  auto& spec = object["spec"];
  if (!spec.is_object()) spec = json::object();
  if (!spec.contains("type")) spec["type"] = "ClusterIP";
  if (spec["type"] == "ExternalName") return;
  // clusterIP is immutable: an update that leaves it out (kubectl apply) keeps the old one.
  if (spec.value("clusterIP", "").empty()) {
    std::string ip = old ? old->value("/spec/clusterIP"_json_pointer, "") : "";
    spec["clusterIP"] = ip.empty() ? allocate() : ip;
  }
  if (spec["clusterIP"] != "None") spec["clusterIPs"] = json::array({spec["clusterIP"]});
}

void set_default(json& object, const json::json_pointer& at, json value) {
  if (!object.contains(at)) object[at] = std::move(value);
}

result<void> admit_crd(json& object, const json* old) {
  auto type = type_from_crd(object);
  if (!type) return std::unexpected(type.error());
  if (old) return {};
  json names = object["spec"]["names"];
  set_default(names, "/singular"_json_pointer, type->singular);
  set_default(names, "/listKind"_json_pointer, type->list_kind());
  const auto now = now_rfc3339();
  object["status"] = {{"acceptedNames", names},
                      {"storedVersions", json::array({type->version})},
                      {"conditions", json::array({{{"type", "NamesAccepted"},
                                                   {"status", "True"},
                                                   {"reason", "NoConflicts"},
                                                   {"message", "no conflicts found"},
                                                   {"lastTransitionTime", now}},
                                                  {{"type", "Established"},
                                                   {"status", "True"},
                                                   {"reason", "InitialNamesAccepted"},
                                                   {"message", "the initial names have been accepted"},
                                                   {"lastTransitionTime", now}}})}};
  return {};
}

}  // namespace

result<void> admit(const resource_type& t, json& object, const json* old, const std::function<std::string()>& allocate_cluster_ip,
                   const std::function<std::string()>& default_storage_class) {
  const auto id = t.id();
  if (id == "persistentvolumeclaims" && !old && default_storage_class && object.contains("spec") &&
      object["spec"].value("storageClassName", json()).is_null()) {
    // Absent or null (both unset to the API server); an explicit "" asks for no class and keeps it.
    if (auto name = default_storage_class(); !name.empty()) object["spec"]["storageClassName"] = name;
  }
  if (id == "secrets") admit_secret(object);
  else if (id == "services") admit_service(object, old, allocate_cluster_ip);
  else if (id == "namespaces" && !old) object["status"] = {{"phase", "Active"}};
  else if (id == "pods" && !old) object["status"] = {{"phase", "Pending"}};
  else if (id == "deployments.apps") set_default(object, "/spec/replicas"_json_pointer, 1);
  else if (id == "jobs.batch") {
    set_default(object, "/spec/backoffLimit"_json_pointer, 6);
    set_default(object, "/spec/completions"_json_pointer, 1);
    set_default(object, "/spec/parallelism"_json_pointer, 1);
  } else if (id == "customresourcedefinitions.apiextensions.k8s.io") {
    return admit_crd(object, old);
  }
  return {};
}

}  // namespace kube_sim
