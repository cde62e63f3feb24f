#pragma once
// A minimal OpenAPI v3 publication. kubectl create/apply decide between server-side and
// client-side validation by looking, in /openapi/v3/<group-version>, for a PATCH operation of
// the kind that lists the `fieldValidation` query parameter; with no OpenAPI at all they refuse
// to run ("failed to download openapi"). So each served kind gets exactly that operation and
// nothing else: kubectl then sends fieldValidation=Strict (which kube-sim accepts and does not
// enforce) and computes strategic merge patches from its compiled-in types.
#include <optional>
#include <string_view>

#include "resource_types.hpp"

namespace kube_sim {

/// The /openapi/v3 index: group-version path -> serverRelativeURL.
json openapi_v3_index(const resource_registry& types);
/// /openapi/v3/api/v1 or /openapi/v3/apis/<group>/<version>; nullopt when not served.
std::optional<json> openapi_v3_document(const resource_registry& types, std::string_view group_version_path);

}  // namespace kube_sim
