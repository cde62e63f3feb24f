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

const char* to_string(db_component c) { return c == db_component::clair ? "clair" : "quay"; }

std::optional<db_component> db_component_from(std::string_view text) {
  if (text == "quay") return db_component::quay;
  if (text == "clair") return db_component::clair;
  return std::nullopt;
}

std::string to_string(const database_key& k) {
  return k.component == db_component::quay ? to_string(k.registry) : to_string(k.registry) + "/" + to_string(k.component);
}

resource_kind kind_of(const object_view& o) { return static_cast<resource_kind>(o.index()); }

const object_meta& meta_of(const object_view& o) {
  return std::visit([](const auto& v) -> const object_meta& { return v.meta; }, o);
}

}  // namespace qpu
