#include "effects/claim_specs.hpp"

#include <string>

#include "effects/labels.hpp"

namespace qpu::effects {

nlohmann::json claim_body(const create_claim& c) {
  nlohmann::json metadata = {
      {"name", c.key.name}, {"namespace", c.key.ns}, {"labels", managed_labels(c.registry, to_string(c.role))}};
  if (c.role == claim_role::data) metadata["ownerReferences"] = nlohmann::json::array({registry_owner_reference(c.registry)});
  nlohmann::json spec = {{"accessModes", {"ReadWriteOnce"}},
                         {"resources", {{"requests", {{"storage", std::to_string(c.size_bytes)}}}}}};
  if (!c.storage_class.empty()) spec["storageClassName"] = c.storage_class;
  if (!c.source_claim.empty()) {
    spec["dataSource"] = {{"kind", "PersistentVolumeClaim"}, {"name", c.source_claim}};
    metadata["annotations"] = {{std::string(clone_for_annotation), to_string(c.id)}};
  }
  return {{"apiVersion", "v1"}, {"kind", "PersistentVolumeClaim"}, {"metadata", metadata}, {"spec", spec}};
}

}  // namespace qpu::effects
