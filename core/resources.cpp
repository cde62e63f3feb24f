#include "core/resources.hpp"

namespace qpu {

const char* plural(resource_kind k) {
  switch (k) {
    case resource_kind::quay_registry: return "quayregistries";
    case resource_kind::deployment: return "deployments";
    case resource_kind::pod: return "pods";
    case resource_kind::job: return "jobs";
    case resource_kind::claim: return "persistentvolumeclaims";
  }
  return "unknown";
}

std::optional<resource_kind> kind_from_plural(std::string_view p) {
  for (auto k : all_resource_kinds)
    if (p == plural(k)) return k;
  return std::nullopt;
}

std::string to_string(const object_key& k) { return k.ns + "/" + k.name; }

resource_kind kind_of(const object_view& o) { return static_cast<resource_kind>(o.index()); }

const object_meta& meta_of(const object_view& o) {
  return std::visit([](const auto& v) -> const object_meta& { return v.meta; }, o);
}

}  // namespace qpu
