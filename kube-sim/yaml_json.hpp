#pragma once
// Server-side apply bodies arrive as YAML (application/apply-patch+yaml), and a client may ask for
// answers in YAML (Accept: application/yaml); the store speaks JSON.
#include <string_view>

#include "api_error.hpp"

namespace kube_sim {

/// Parses one YAML (or JSON) document into JSON; plain scalars become null, bool, integer or
/// float when they read as one, as YAML 1.2's core schema says; quoted scalars stay strings.
result<json> yaml_to_json(std::string_view text);

/// One YAML document holding `value`, which yaml_to_json reads back equal: a string that would
/// read as another scalar (`"1"`, `"true"`, `""`, `"null"`) is quoted, as the apiserver's YAML is.
std::string json_to_yaml(const json& value);

}  // namespace kube_sim
