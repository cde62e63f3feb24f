#pragma once
// The table of resources the simulator serves: built-in kinds plus whatever CRDs define.
// Discovery, routing and the store all read this one table, so a kind cannot be half-served.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api_error.hpp"

namespace kube_sim {

/// One served resource (group, version, plural) and the API behaviours that differ per kind.
struct resource_type {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  bool namespaced = true;
  bool custom = false;  // served from a CRD: no strategic merge, PUT needs an RV
  bool has_status = false;  // has the /status subresource
  bool tracks_generation = false;  // metadata.generation counts spec changes
  std::vector<std::string> short_names;
  std::vector<std::string> categories;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  /// "configmaps" or "deployments.apps": the group-resource, the store's key for the type.
  std::string id() const { return group.empty() ? plural : plural + "." + group; }
  std::string list_kind() const { return kind + "List"; }

  bool operator==(const resource_type&) const = default;
};

api_error not_found(const resource_type& t, std::string_view name);
api_error already_exists(const resource_type& t, std::string_view name);
api_error conflict(const resource_type& t, std::string_view name);
/// 422 Invalid with one cause, worded as the apiserver's field errors are.
api_error invalid(const resource_type& t, std::string_view name, std::string_view field, std::string_view detail);

/// Served resource types keyed by id; CRDs add and remove entries while the server runs.
class resource_registry {
 public:
  /// The built-in kinds the controller and kubectl need.
  static resource_registry builtins();

  const resource_type* find(std::string_view group, std::string_view version, std::string_view plural) const;
  const resource_type* find_id(std::string_view id) const;
  const resource_type* find_kind(std::string_view api_version, std::string_view kind) const;
  std::vector<const resource_type*> in_group_version(std::string_view group, std::string_view version) const;
  /// group -> versions, groups in a stable order (core first, built-ins before CRDs).
  std::vector<std::pair<std::string, std::vector<std::string>>> groups() const;

  void add(resource_type t);
  void remove(std::string_view id);

 private:
  std::map<std::string, resource_type, std::less<>> by_id_;
  std::vector<std::string> group_order_;
};

/// The type a CustomResourceDefinition serves (its storage version), or why it cannot.
result<resource_type> type_from_crd(const json& crd);

}  // namespace kube_sim
