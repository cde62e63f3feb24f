#include "resource_types.hpp"

#include <algorithm>
#include <tuple>

namespace kube_sim {
namespace {

std::string quoted_resource(const resource_type& t, std::string_view name) { return t.id() + " \"" + std::string(name) + "\""; }

json details_for(const resource_type& t, std::string_view name) {
  json d = {{"name", name}, {"kind", t.plural}};
  if (!t.group.empty()) d["group"] = t.group;
  return d;
}

resource_type builtin(std::string group, std::string version, std::string plural, std::string singular, std::string kind,
                      bool namespaced, bool has_status, std::vector<std::string> short_names) {
  resource_type t;
  t.group = std::move(group);
  t.version = std::move(version);
  t.plural = std::move(plural);
  t.singular = std::move(singular);
  t.kind = std::move(kind);
  t.namespaced = namespaced;
  t.has_status = has_status;
  t.tracks_generation = has_status;
  t.short_names = std::move(short_names);
  return t;
}

}  // namespace

api_error not_found(const resource_type& t, std::string_view name) {
  return {404, "NotFound", quoted_resource(t, name) + " not found", details_for(t, name)};
}

api_error already_exists(const resource_type& t, std::string_view name) {
  return {409, "AlreadyExists", quoted_resource(t, name) + " already exists", details_for(t, name)};
}

api_error conflict(const resource_type& t, std::string_view name) {
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + quoted_resource(t, name) +
              ": the object has been modified; please apply your changes to the latest version "
              "and try again",
          details_for(t, name)};
}

api_error invalid(const resource_type& t, std::string_view name, std::string_view field, std::string_view detail) {
  json d = {{"name", name}, {"kind", t.kind}};
  if (!t.group.empty()) d["group"] = t.group;
  d["causes"] = json::array(
      {{{"reason", "FieldValueInvalid"}, {"message", std::string(field) + ": " + std::string(detail)}, {"field", field}}});
  return {422, "Invalid",
          t.kind + " \"" + std::string(name) + "\" is invalid: " + std::string(field) + ": " + std::string(detail), d};
}

resource_registry resource_registry::builtins() {
  resource_registry r;
  r.add(builtin("", "v1", "namespaces", "namespace", "Namespace", false, true, {"ns"}));
  r.add(builtin("", "v1", "pods", "pod", "Pod", true, true, {"po"}));
  r.add(builtin("", "v1", "services", "service", "Service", true, true, {"svc"}));
  r.add(builtin("", "v1", "secrets", "secret", "Secret", true, false, {}));
  r.add(builtin("", "v1", "configmaps", "configmap", "ConfigMap", true, false, {"cm"}));
  r.add(builtin("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true, true, {"pvc"}));
  r.add(builtin("", "v1", "events", "event", "Event", true, false, {"ev"}));
  r.add(builtin("apps", "v1", "deployments", "deployment", "Deployment", true, true, {"deploy"}));
  r.add(builtin("batch", "v1", "jobs", "job", "Job", true, true, {}));
  r.add(builtin("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, false, {}));
  // Stored only (nothing enforces them), so that deploy/'s ServiceAccount and RBAC manifests load.
  r.add(builtin("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, false, {"sa"}));
  for (auto [plural, singular, kind, namespaced] :
       {std::tuple{"roles", "role", "Role", true}, std::tuple{"rolebindings", "rolebinding", "RoleBinding", true},
        std::tuple{"clusterroles", "clusterrole", "ClusterRole", false},
        std::tuple{"clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false}})
    r.add(builtin("rbac.authorization.k8s.io", "v1", plural, singular, kind, namespaced, false, {}));
  r.add(builtin("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", false, false, {"sc"}));
  r.add(builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition",
                false, true, {"crd", "crds"}));
  // `kubectl get all` lists the workload kinds of the "all" category, not every kind.
  for (const char* id : {"pods", "services", "deployments.apps", "jobs.batch"}) r.by_id_[id].categories = {"all"};
  // Namespaces have a status but no spec a user changes; the apiserver does not count them.
  r.by_id_["namespaces"].tracks_generation = false;
  return r;
}

const resource_type* resource_registry::find(std::string_view group, std::string_view version, std::string_view plural) const {
  for (const auto& [id, t] : by_id_)
    if (t.group == group && t.version == version && t.plural == plural) return &t;
  return nullptr;
}

const resource_type* resource_registry::find_id(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

const resource_type* resource_registry::find_kind(std::string_view api_version, std::string_view kind) const {
  for (const auto& [id, t] : by_id_)
    if (t.api_version() == api_version && t.kind == kind) return &t;
  return nullptr;
}

std::vector<const resource_type*> resource_registry::in_group_version(std::string_view group, std::string_view version) const {
  std::vector<const resource_type*> out;
  for (const auto& [id, t] : by_id_)
    if (t.group == group && t.version == version) out.push_back(&t);
  return out;
}

std::vector<std::pair<std::string, std::vector<std::string>>> resource_registry::groups() const {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& g : group_order_) {
    std::vector<std::string> versions;
    for (const auto& [id, t] : by_id_)
      if (t.group == g && std::find(versions.begin(), versions.end(), t.version) == versions.end()) versions.push_back(t.version);
    if (!versions.empty()) out.emplace_back(g, std::move(versions));
  }
  return out;
}

void resource_registry::add(resource_type t) {
  if (std::find(group_order_.begin(), group_order_.end(), t.group) == group_order_.end()) group_order_.push_back(t.group);
  auto id = t.id();
  by_id_[id] = std::move(t);
}

void resource_registry::remove(std::string_view id) {
  auto it = by_id_.find(id);
  if (it != by_id_.end()) by_id_.erase(it);
}

result<resource_type> type_from_crd(const json& crd) {
  const json spec = crd.value("spec", json::object());
  const json names = spec.value("names", json::object());
  resource_type t;
  t.group = spec.value("group", "");
  t.plural = names.value("plural", "");
  t.kind = names.value("kind", "");
  t.singular = names.value("singular", "");
  if (t.singular.empty()) {
    t.singular = t.kind;
    std::transform(t.singular.begin(), t.singular.end(), t.singular.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  t.namespaced = spec.value("scope", "Namespaced") != "Cluster";
  t.custom = true;
  t.tracks_generation = true;
  if (names.contains("shortNames")) t.short_names = names["shortNames"].get<std::vector<std::string>>();
  if (names.contains("categories")) t.categories = names["categories"].get<std::vector<std::string>>();
  const std::string name = crd.value("/metadata/name"_json_pointer, "");
  if (t.group.empty() || t.plural.empty() || t.kind.empty())
    return std::unexpected(
        bad_request("CustomResourceDefinition \"" + name + "\" needs spec.group, spec.names.plural and spec.names.kind"));
  if (name != t.plural + "." + t.group)
    return std::unexpected(api_error{422, "Invalid",
                                     "CustomResourceDefinition.apiextensions.k8s.io \"" + name +
                                         "\" is invalid: metadata.name: Invalid value: \"" + name +
                                         "\": must be spec.names.plural+\".\"+spec.group"});
  // Serve the storage version; a simulator does not need conversion between versions.
  for (const auto& v : spec.value("versions", json::array())) {
    if (v.value("served", true) && (v.value("storage", false) || t.version.empty())) {
      t.version = v.value("name", "");
      t.has_status = v.contains("/subresources/status"_json_pointer);
    }
  }
  if (t.version.empty()) return std::unexpected(bad_request("CustomResourceDefinition \"" + name + "\" serves no version"));
  return t;
}

}  // namespace kube_sim
