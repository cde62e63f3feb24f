// Labels and owner references on every object the controller creates (claims, Jobs).
#pragma once
#include <nlohmann/json.hpp>

#include <string_view>

#include "core/effects.hpp"

namespace qpu::effects {

inline constexpr std::string_view managed_by_label = "app.kubernetes.io/managed-by";
inline constexpr std::string_view registry_label = "quay-pg-upgrader.quay.io/registry";
inline constexpr std::string_view role_label = "quay-pg-upgrader.quay.io/role";
inline constexpr std::string_view job_role_label = "quay-pg-upgrader.quay.io/job-role";
inline constexpr std::string_view original_replicas_annotation = "quay-pg-upgrader.quay.io/original-replicas";
inline constexpr std::string_view component_name = "quay-pg-upgrader";
// On a claim cloned from another: the create_claim effect that made it (only that effect adopts it).
inline constexpr std::string_view clone_for_annotation = "quay-pg-upgrader.quay.io/clone-for";

// managed-by=quay-pg-upgrader, registry=<name>, role=<role>.
nlohmann::json managed_labels(const owner_ref& registry, std::string_view role);

// metadata.ownerReferences entry for the QuayRegistry (controller: true). No
// blockOwnerDeletion: setting it needs delete rights on the owner in OpenShift, and nothing here
// needs foreground deletion.
nlohmann::json registry_owner_reference(const owner_ref& registry);

}  // namespace qpu::effects
