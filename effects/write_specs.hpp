// Bodies of the writes to objects that already exist (Deployments, the QuayRegistry's status)
// and of Events. Pure functions of the effect and, where the write depends on it, of the object
// as last read.
#pragma once
#include <nlohmann/json.hpp>

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "core/effects.hpp"

namespace qpu::effects {

// Merge patch: spec.replicas, and the original-replicas annotation set (record_original) or
// removed (clear_record: null).
nlohmann::json scale_patch(const scale_deployment& s);

// A JSON patch (RFC 6902) for the database Deployment `deployment` (as read): replaces the
// image of the container named "postgres" (else the first), the claimName of the volume that
// container mounts at /var/lib/pgsql/data, spec.replicas, removes the original-replicas
// annotation when present, and replaces metadata.resourceVersion with the one read, which makes
// the write conditional: a Deployment changed since the read is 409 Conflict, not overwritten.
// Fails (with a message) when the Deployment has no such container or claim volume.
std::expected<nlohmann::json, std::string> database_deployment_patch(const patch_database_deployment& p,
                                                                     const nlohmann::json& deployment);

// The merge patch of /status: our conditions merged by type into `registry`'s (others' kept,
// lastTransitionTime kept where the status did not change), status.postgresUpgrade replaced
// field by field (empty fields become null, so they are removed), and metadata.resourceVersion
// of the registry as read (a precondition: 409 Conflict if it changed).
nlohmann::json registry_status_patch(const update_registry_status& u, const nlohmann::json& registry);

// The conditions list alone (used by registry_status_patch).
nlohmann::json merge_conditions(const nlohmann::json& existing, const std::vector<condition>& ours);

// "<registry>.<16 hex digits of FNV-1a 64 of the effect id>": the same effect names the same
// Event, so a repeated emit_event is 409 AlreadyExists, not a duplicate.
std::string event_name(const emit_event& e);

// core/v1 Event on the QuayRegistry; message cut to 1024 bytes on a UTF-8 boundary.
nlohmann::json event_body(const emit_event& e);

}  // namespace qpu::effects
