#pragma once
// Where the API server is and how to authenticate to it: in-cluster service account files or a
// kubeconfig file, resolved once at start-up into one plain value. File contents (CA, client
// certificate and key) are loaded here so that the TLS layer never touches paths; the bearer
// token file is only named here, because tokens rotate (token_source re-reads it).
#include <expected>
#include <map>
#include <optional>
#include <string>

namespace qpu::kube {

struct kube_config {
  std::string server;  // "https://10.0.0.1:443", no trailing slash
  std::string ca_pem;  // empty: the system's trust store
  bool insecure_skip_tls_verify = false;
  std::string token;  // a literal bearer token (kubeconfig `token`)
  std::string token_file;  // re-read periodically and after a 401 (in-cluster, `tokenFile`)
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string default_namespace;  // the service account's namespace or the context's
  std::string origin;  // "in-cluster" or the kubeconfig path, for messages
  // Plain http:// is refused for anything but loopback unless this is set (a test cluster).
  bool allow_insecure_http = false;
};

// In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the files under
// `dir` (token, ca.crt, namespace). `env` overrides the process environment (tests).
inline constexpr const char* service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
std::expected<kube_config, std::string> load_in_cluster(
    const std::string& dir = service_account_dir, const std::optional<std::map<std::string, std::string>>& env = std::nullopt);

// A kubeconfig file: its current-context (or `context` when given), that context's cluster and
// user. Relative paths inside it are resolved against the file's directory.
std::expected<kube_config, std::string> load_kubeconfig(const std::string& path, const std::string& context = "");

// Which kubeconfig to read: `explicit_path` if given, else the first file of $KUBECONFIG (a
// colon list is not merged: only its first entry is read), else ~/.kube/config; empty when
// none applies.
std::string kubeconfig_path(const std::string& explicit_path = "");

// The controller's choice: an explicit --kubeconfig wins; else in-cluster when
// KUBERNETES_SERVICE_HOST is set; else $KUBECONFIG / ~/.kube/config.
std::expected<kube_config, std::string> load_default(const std::string& explicit_kubeconfig = "");

}  // namespace qpu::kube
