#include "openapi.hpp"

namespace kube_sim {
namespace {

std::string gv_path(const std::string& group, const std::string& version) {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

}  // namespace

json openapi_v3_index(const resource_registry& types) {
  json paths = json::object();
  for (const auto& [group, versions] : types.groups())
    for (const auto& version : versions) {
      const auto p = gv_path(group, version);
      // The hash lets clients cache; kube-sim documents only change when CRDs do.
      paths[p] = {
          {"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + std::to_string(types.in_group_version(group, version).size())}};
    }
  return {{"paths", paths}};
}

std::optional<json> openapi_v3_document(const resource_registry& types, std::string_view group_version_path) {
  for (const auto& [group, versions] : types.groups())
    for (const auto& version : versions) {
      if (gv_path(group, version) != group_version_path) continue;
      json paths = json::object();
      for (const auto* t : types.in_group_version(group, version)) {
        const std::string base =
            "/" + gv_path(group, version) + (t->namespaced ? "/namespaces/{namespace}/" : "/") + t->plural + "/{name}";
        json gvk = {{"group", t->group}, {"version", t->version}, {"kind", t->kind}};
        json patch = {
            {"operationId", "patch" + t->kind},
            {"x-kubernetes-action", "patch"},
            {"x-kubernetes-group-version-kind", gvk},
            {"parameters", json::array({{{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
                                        {{"name", "fieldManager"}, {"in", "query"}, {"schema", {{"type", "string"}}}}})},
            {"responses", {{"200", {{"description", "OK"}}}}}};
        paths[base] = {{"patch", patch}};
      }
      return json{{"openapi", "3.0.0"},
                  {"info", {{"title", "Kubernetes (kube-sim)"}, {"version", "v1.32.0"}}},
                  {"paths", paths},
                  {"components", {{"schemas", json::object()}}}};
    }
  return std::nullopt;
}

}  // namespace kube_sim
