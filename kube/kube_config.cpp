#include "kube/kube_config.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace qpu::kube {

namespace fs = std::filesystem;

namespace {

std::expected<std::string, std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trim(std::string s) {
  auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && ws(s.back())) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && ws(s[i])) ++i;
  return s.substr(i);
}

// Kubeconfig *-data fields are standard base64, possibly wrapped.
std::optional<std::string> decode_base64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = value(c);
    if (v < 0 || padding) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string resolve(const fs::path& base_dir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (base_dir / p).lexically_normal().string();
}

std::string env_or(const std::optional<std::map<std::string, std::string>>& env, const char* name) {
  if (env) {
    auto it = env->find(name);
    return it == env->end() ? std::string() : it->second;
  }
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A named entry of a kubeconfig list (`clusters`, `users`, `contexts`): [{name, <field>: {...}}].
std::expected<YAML::Node, std::string> find_named(const YAML::Node& root, const char* list, const char* field,
                                                  const std::string& name, const std::string& file) {
  const YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const auto& e : entries) {
      if (e["name"] && e["name"].as<std::string>() == name) {
        if (!e[field] || !e[field].IsMap())
          return std::unexpected(file + ": " + list + "[name=" + name + "] has no \"" + field + "\" map");
        return e[field];
      }
    }
  }
  return std::unexpected(file + ": " + list + " has no entry named \"" + name + "\"");
}

std::string str(const YAML::Node& map, const char* key) {
  const YAML::Node v = map[key];
  return v && v.IsScalar() ? v.as<std::string>() : std::string();
}

// Either `<key>-data` (base64 PEM) or `<key>` (a file path, relative to the kubeconfig).
std::expected<std::string, std::string> pem_field(const YAML::Node& map, const std::string& key, const fs::path& dir,
                                                  const std::string& where) {
  std::string data = str(map, (key + "-data").c_str());
  if (!data.empty()) {
    auto pem = decode_base64(data);
    if (!pem) return std::unexpected(where + "." + key + "-data: not valid base64");
    return *pem;
  }
  std::string path = str(map, key.c_str());
  if (path.empty()) return std::string();
  auto content = read_file(resolve(dir, path));
  if (!content) return std::unexpected(where + "." + key + ": " + content.error());
  return *content;
}

bool is_true(const std::string& s) { return s == "true" || s == "True" || s == "yes"; }

}  // namespace

std::expected<kube_config, std::string> load_in_cluster(const std::string& dir,
                                                        const std::optional<std::map<std::string, std::string>>& env) {
  std::string host = env_or(env, "KUBERNETES_SERVICE_HOST");
  std::string port = env_or(env, "KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty())
    return std::unexpected("in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  kube_config c;
  c.origin = "in-cluster";
  // An IPv6 service address needs brackets in a URL (client-go's net.JoinHostPort does the same).
  c.server = "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  fs::path d(dir);
  c.token_file = (d / "token").string();
  auto token = read_file(c.token_file);
  if (!token) return std::unexpected("in-cluster config: " + token.error() + " (is a service account token mounted?)");
  if (trim(*token).empty()) return std::unexpected("in-cluster config: " + c.token_file + " is empty");
  auto ca = read_file((d / "ca.crt").string());
  if (!ca) return std::unexpected("in-cluster config: " + ca.error());
  c.ca_pem = std::move(*ca);
  if (auto ns = read_file((d / "namespace").string())) c.default_namespace = trim(*ns);
  return c;
}

std::expected<kube_config, std::string> load_kubeconfig(const std::string& path, const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return std::unexpected("kubeconfig " + path + ": cannot read the file");
  } catch (const YAML::Exception& e) {
    return std::unexpected("kubeconfig " + path + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) return std::unexpected("kubeconfig " + path + ": not a YAML map");
  try {
    std::string ctx_name = context.empty() ? str(root, "current-context") : context;
    if (ctx_name.empty())
      return std::unexpected("kubeconfig " + path + ": current-context is not set (pass a context explicitly)");
    auto ctx = find_named(root, "contexts", "context", ctx_name, "kubeconfig " + path);
    if (!ctx) return std::unexpected(ctx.error());
    std::string cluster_name = str(*ctx, "cluster");
    std::string user_name = str(*ctx, "user");
    if (cluster_name.empty()) return std::unexpected("kubeconfig " + path + ": context \"" + ctx_name + "\" names no cluster");

    kube_config c;
    c.origin = path;
    c.default_namespace = str(*ctx, "namespace");
    const fs::path dir = fs::path(path).parent_path();

    auto cluster = find_named(root, "clusters", "cluster", cluster_name, "kubeconfig " + path);
    if (!cluster) return std::unexpected(cluster.error());
    const std::string cwhere = "kubeconfig " + path + ": cluster \"" + cluster_name + "\"";
    c.server = str(*cluster, "server");
    if (c.server.empty()) return std::unexpected(cwhere + " has no server");
    while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
    c.insecure_skip_tls_verify = is_true(str(*cluster, "insecure-skip-tls-verify"));
    auto ca = pem_field(*cluster, "certificate-authority", dir, cwhere);
    if (!ca) return std::unexpected(ca.error());
    c.ca_pem = std::move(*ca);

    if (!user_name.empty()) {
      auto user = find_named(root, "users", "user", user_name, "kubeconfig " + path);
      if (!user) return std::unexpected(user.error());
      const std::string uwhere = "kubeconfig " + path + ": user \"" + user_name + "\"";
      c.token = str(*user, "token");
      if (std::string tf = str(*user, "tokenFile"); !tf.empty()) {
        c.token_file = resolve(dir, tf);
        // Fail now, not at the first request, when the file is missing.
        if (auto t = read_file(c.token_file); !t) return std::unexpected(uwhere + ".tokenFile: " + t.error());
      }
      auto cert = pem_field(*user, "client-certificate", dir, uwhere);
      if (!cert) return std::unexpected(cert.error());
      auto key = pem_field(*user, "client-key", dir, uwhere);
      if (!key) return std::unexpected(key.error());
      if (cert->empty() != key->empty())
        return std::unexpected(uwhere + ": client-certificate and client-key must be given together");
      c.client_cert_pem = std::move(*cert);
      c.client_key_pem = std::move(*key);
      if ((*user)["exec"] || (*user)["auth-provider"])
        if (c.token.empty() && c.token_file.empty() && c.client_cert_pem.empty())
          return std::unexpected(uwhere + ": exec and auth-provider credentials are not supported; use a token");
    }
    return c;
  } catch (const YAML::Exception& e) {
    return std::unexpected("kubeconfig " + path + ": unexpected structure: " + e.what());
  }
}

std::string kubeconfig_path(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* k = std::getenv("KUBECONFIG"); k && *k) {
    std::string list = k;
    return list.substr(0, list.find(':'));
  }
  if (const char* home = std::getenv("HOME"); home && *home) return (fs::path(home) / ".kube" / "config").string();
  return "";
}

std::expected<kube_config, std::string> load_default(const std::string& explicit_kubeconfig) {
  if (explicit_kubeconfig.empty()) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    if (host && *host) return load_in_cluster();
  }
  std::string path = kubeconfig_path(explicit_kubeconfig);
  if (path.empty()) return std::unexpected("no kubeconfig: pass --kubeconfig, set $KUBECONFIG, or run in a cluster");
  return load_kubeconfig(path);
}

}  // namespace qpu::kube
