#include "kubeconfig_out.hpp"

#include <fstream>

#include "base64.hpp"

namespace kube_sim {

std::string kubeconfig_yaml(const std::string& server_url, const std::optional<tls_identity>& identity) {
  std::string y = "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: " + server_url + "\n";
  if (identity) y += "    certificate-authority-data: " + base64_encode(identity->ca_cert_pem) + "\n";
  y += "contexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    user: kube-sim\n    namespace: default\n";
  y += "current-context: kube-sim\nusers:\n- name: kube-sim\n  user:";
  if (identity) y += "\n    token: " + identity->token + "\n";
  else y += " {}\n";
  return y;
}

result<void> write_kubeconfig(const std::filesystem::path& file, const std::string& server_url,
                              const std::optional<tls_identity>& identity) {
  auto tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kubeconfig_yaml(server_url, identity);
    if (!out) return std::unexpected(internal_error("cannot write " + tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) return std::unexpected(internal_error("cannot rename " + tmp.string() + ": " + ec.message()));
  return {};
}

}  // namespace kube_sim
