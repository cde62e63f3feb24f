#pragma once
// The legacy discovery documents (/version, /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>)
// built from the served resource table, so stock kubectl can map kinds to URLs. Aggregated
// discovery (Accept ...as=APIGroupDiscoveryList) is answered with these same legacy documents
// as plain application/json, which client-go accepts as the legacy form and falls back on.
#include <optional>
#include <string>
#include <string_view>

#include "resource_types.hpp"

namespace kube_sim {

json version_document();
json core_versions_document(std::string_view server_address);
json group_list_document(const resource_registry& types);
/// nullopt when the group is not served.
std::optional<json> group_document(const resource_registry& types, std::string_view group);
std::optional<json> resource_list_document(const resource_registry& types, std::string_view group, std::string_view version);

}  // namespace kube_sim
