#pragma once
// Request targets for the Kubernetes REST API:
//   /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]]           (core group)
//   /apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME[/SUB]]
// Path segments and query values are percent-encoded (label selectors carry '=', ',', '!').
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/resources.hpp"

namespace qpu::kube {

struct resource_path {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  std::string ns;  // "" for cluster-scoped resources or all namespaces
  std::string name;
  std::string subresource;  // "status", "scale", ...
};

using query_params = std::vector<std::pair<std::string, std::string>>;

// RFC 3986 unreserved characters stay; everything else becomes %XX.
std::string percent_encode(std::string_view s);
std::string target(const resource_path& p, const query_params& query = {});

// group/version/plural of the resources the controller watches.
resource_path path_of(resource_kind kind, std::string ns = "", std::string name = "");

}  // namespace qpu::kube
