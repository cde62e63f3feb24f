#pragma once
// Writes the kubeconfig that kubectl, python-kubernetes and our own client use to reach a
// running kube-sim.
#include <filesystem>
#include <optional>
#include <string>

#include "api_error.hpp"
#include "tls_identity.hpp"

namespace kube_sim {

/// The kubeconfig YAML for `server_url`; with an identity it pins the CA and sends the token.
std::string kubeconfig_yaml(const std::string& server_url, const std::optional<tls_identity>& identity);

/// Writes atomically (temporary file + rename) so a reader never sees half a kubeconfig.
result<void> write_kubeconfig(const std::filesystem::path& file, const std::string& server_url,
                              const std::optional<tls_identity>& identity);

}  // namespace kube_sim
