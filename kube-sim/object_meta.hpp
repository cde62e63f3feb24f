#pragma once
// Small readers and generators for ObjectMeta fields, shared by the store and its admission.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api_error.hpp"

namespace kube_sim {

/// metadata.<field> as a string, "" when absent or not a string.
std::string meta_string(const json& object, std::string_view field);
std::string object_name(const json& object);
std::string object_namespace(const json& object);
std::optional<std::uint64_t> parse_rv(std::string_view text);

/// RFC 3339 in UTC with second precision, as metav1.Time serialises.
std::string now_rfc3339();
std::string new_uid();
/// Five characters from the alphabet the apiserver's generateName uses.
std::string random_name_suffix();
/// DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253 characters.
bool valid_object_name(std::string_view name);

}  // namespace kube_sim
