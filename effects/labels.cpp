#include "effects/labels.hpp"

namespace qpu::effects {

nlohmann::json managed_labels(const owner_ref& registry, std::string_view role) {
  return {{std::string(managed_by_label), std::string(component_name)},
          {std::string(registry_label), registry.key.name},
          {std::string(role_label), std::string(role)}};
}

nlohmann::json registry_owner_reference(const owner_ref& registry) {
  return {{"apiVersion", "quay.redhat.com/v1"},
          {"kind", "QuayRegistry"},
          {"name", registry.key.name},
          {"uid", registry.uid},
          {"controller", true}};
}

}  // namespace qpu::effects
