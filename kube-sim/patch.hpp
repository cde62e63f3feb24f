#pragma once
// The four PATCH flavours the apiserver accepts, applied to the stored object.
#include <string_view>

#include "api_error.hpp"

namespace kube_sim {

enum class patch_kind { merge, json_patch, strategic, apply };

/// Maps a request's Content-Type to a patch kind; 415 for anything else.
result<patch_kind> patch_kind_from_content_type(std::string_view content_type);

/// RFC 7386 JSON merge patch: objects merge, null deletes, arrays replace.
json merge_patch(json target, const json& patch);

/// RFC 6902 JSON patch; a failed `test` or a missing path is a 422, as the apiserver reports it.
result<json> json_patch(const json& target, const json& patch);

/// A simplified strategic merge patch, enough for kubectl's client-side apply: merge-patch
/// rules, except that lists of named things (containers, volumes, env, ports, volumeMounts,
/// conditions, ownerReferences, ...) merge by their key, `finalizers` merge as a set, and the
/// `$patch`, `$setElementOrder/`, `$retainKeys` and `$deleteFromPrimitiveList/` directives work.
json strategic_merge_patch(json target, const json& patch);

/// Simplified server-side apply: the applied configuration merges into the live object with
/// strategic rules for built-in kinds and merge-patch rules for custom resources. Field
/// ownership is not tracked, so fields dropped from a later apply are not removed.
json apply_merge(json live, const json& applied, bool custom);

}  // namespace kube_sim
