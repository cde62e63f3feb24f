#include "discovery.hpp"

namespace kube_sim {
namespace {

json group_versions(const std::string& group, const std::vector<std::string>& versions) {
  json list = json::array();
  for (const auto& v : versions) list.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
  return {{"name", group}, {"versions", list}, {"preferredVersion", list.front()}};
}

}  // namespace

json version_document() {
  // kubectl warns when client and server are more than one minor apart; 1.32 matches the
  // kubectl these machines carry.
  return {{"major", "1"},
          {"minor", "32"},
          {"gitVersion", "v1.32.0-kube-sim"},
          {"gitCommit", "0000000000000000000000000000000000000000"},
          {"gitTreeState", "clean"},
          {"buildDate", "2025-01-01T00:00:00Z"},
          {"goVersion", "go1.23.0"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

json core_versions_document(std::string_view server_address) {
  return {{"kind", "APIVersions"},
          {"versions", json::array({"v1"})},
          {"serverAddressByClientCIDRs", json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}})}};
}

json group_list_document(const resource_registry& types) {
  json groups = json::array();
  for (const auto& [group, versions] : types.groups())
    if (!group.empty()) groups.push_back(group_versions(group, versions));
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<json> group_document(const resource_registry& types, std::string_view group) {
  for (const auto& [name, versions] : types.groups()) {
    if (name != group || name.empty()) continue;
    json doc = group_versions(name, versions);
    doc["kind"] = "APIGroup";
    doc["apiVersion"] = "v1";
    return doc;
  }
  return std::nullopt;
}

std::optional<json> resource_list_document(const resource_registry& types, std::string_view group, std::string_view version) {
  auto served = types.in_group_version(group, version);
  if (served.empty()) return std::nullopt;
  json resources = json::array();
  for (const auto* t : served) {
    json r = {{"name", t->plural},
              {"singularName", t->singular},
              {"namespaced", t->namespaced},
              {"kind", t->kind},
              {"verbs", json::array({"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"})}};
    if (!t->short_names.empty()) r["shortNames"] = t->short_names;
    if (!t->categories.empty()) r["categories"] = t->categories;
    resources.push_back(r);
    if (t->id() == "deployments.apps")  // what `kubectl scale` looks for
      resources.push_back({{"name", t->plural + "/scale"},
                           {"singularName", ""},
                           {"namespaced", t->namespaced},
                           {"group", "autoscaling"},
                           {"version", "v1"},
                           {"kind", "Scale"},
                           {"verbs", json::array({"get", "patch", "update"})}});
    if (t->has_status)
      resources.push_back({{"name", t->plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", t->namespaced},
                           {"kind", t->kind},
                           {"verbs", json::array({"get", "patch", "update"})}});
  }
  const std::string gv = group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
  return json{{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", gv}, {"resources", resources}};
}

}  // namespace kube_sim
