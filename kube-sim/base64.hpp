#pragma once
// Base64 for Secret data, continue tokens and kubeconfig certificate data.
#include <optional>
#include <string>
#include <string_view>

namespace kube_sim {

std::string base64_encode(std::string_view bytes);
/// Standard or URL-safe alphabet, padding optional; nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace kube_sim
