#pragma once
// The simulator's own certificate authority, server certificate and bearer token, made with
// OpenSSL's APIs so no openssl CLI is needed at test time.
#include <filesystem>
#include <string>

#include "api_error.hpp"

namespace kube_sim {

/// PEM texts and the token a TLS kube-sim serves with and writes into its kubeconfig.
struct tls_identity {
  std::string ca_cert_pem;
  std::string ca_key_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string token;
};

/// A fresh CA and a server certificate for `host` (an IP address gets an IP SAN, and
/// "localhost" is always a DNS SAN), EC P-256, valid for ten years.
result<tls_identity> make_tls_identity(const std::string& host);

/// Reuses the identity kept in `dir` (so clients' kubeconfigs survive a restart of a kube-sim
/// with --state-dir), or makes one and keeps it there.
result<tls_identity> load_or_make_tls_identity(const std::filesystem::path& dir, const std::string& host);

}  // namespace kube_sim
