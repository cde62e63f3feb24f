// Finding the API server and credentials: kubeconfig files and the in-cluster service account.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "test_server.hpp"
#include "kube/kube_config.hpp"
#include "kube/token_source.hpp"

using namespace qpu::watch;
using namespace qpu::kube;
using namespace qpu::watch::testing;

namespace {

std::string b64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (in.size() - i == 1) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::string two_contexts(const std::string& current) {
  return R"(apiVersion: v1
kind: Config
current-context: )" +
         current + R"(
clusters:
- name: prod
  cluster:
    server: https://prod.example.com:6443/
    certificate-authority-data: )" +
         b64("PROD CA PEM") + R"(
- name: dev
  cluster:
    server: https://127.0.0.1:8443
    certificate-authority: certs/dev-ca.crt
    insecure-skip-tls-verify: true
contexts:
- name: prod-admin
  context: {cluster: prod, user: admin, namespace: quay}
- name: dev-tokenfile
  context: {cluster: dev, user: robot}
users:
- name: admin
  user:
    client-certificate-data: )" +
         b64("CLIENT CERT") + R"(
    client-key-data: )" +
         b64("CLIENT KEY") + R"(
- name: robot
  user:
    tokenFile: token
    client-certificate: certs/client.crt
    client-key: /ABS/client.key
)";
}

}  // namespace

TEST_CASE("kubeconfig: current-context picks the cluster and user; -data fields are base64", "[config]") {
  temp_dir d;
  d.write("config", two_contexts("prod-admin"));
  auto c = load_kubeconfig(d.file("config"));
  REQUIRE(c);
  CHECK(c->server == "https://prod.example.com:6443");
  CHECK(c->ca_pem == "PROD CA PEM");
  CHECK_FALSE(c->insecure_skip_tls_verify);
  CHECK(c->client_cert_pem == "CLIENT CERT");
  CHECK(c->client_key_pem == "CLIENT KEY");
  CHECK(c->default_namespace == "quay");
  CHECK(c->token.empty());
  CHECK(c->origin == d.file("config"));
}

TEST_CASE("kubeconfig: file fields are read, relative paths against the kubeconfig's directory", "[config]") {
  temp_dir d;
  std::filesystem::create_directories(d.file("certs"));
  d.write("certs/dev-ca.crt", "DEV CA");
  d.write("certs/client.crt", "DEV CLIENT");
  d.write("client.key", "DEV KEY");
  d.write("token", "secret-token\n");
  std::string cfg = two_contexts("dev-tokenfile");
  cfg.replace(cfg.find("/ABS"), 4, d.path);
  d.write("config", cfg);
  auto c = load_kubeconfig(d.file("config"));
  REQUIRE(c);
  CHECK(c->server == "https://127.0.0.1:8443");
  CHECK(c->ca_pem == "DEV CA");
  CHECK(c->insecure_skip_tls_verify);
  CHECK(c->client_cert_pem == "DEV CLIENT");
  CHECK(c->client_key_pem == "DEV KEY");
  CHECK(c->token_file == d.file("token"));
  token_source t(c->token, c->token_file);
  CHECK(t.current() == "secret-token");
}

TEST_CASE("kubeconfig: an explicit context overrides current-context; a literal token is kept", "[config]") {
  temp_dir d;
  d.write("config", R"(
current-context: a
clusters: [{name: c, cluster: {server: "https://h:1"}}]
contexts: [{name: a, context: {cluster: missing, user: u}}, {name: b, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: abc.def}}]
)");
  auto c = load_kubeconfig(d.file("config"), "b");
  REQUIRE(c);
  CHECK(c->token == "abc.def");
  auto bad = load_kubeconfig(d.file("config"));
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error(), Catch::Contains("clusters has no entry named \"missing\""));
  CHECK_THAT(bad.error(), Catch::Contains(d.file("config")));
}

TEST_CASE("kubeconfig: errors name the file and the field", "[config]") {
  temp_dir d;
  auto missing = load_kubeconfig(d.file("nope"));
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error(), Catch::Contains("nope") && Catch::Contains("cannot read"));

  d.write("noctx", "clusters: []\n");
  CHECK_THAT(load_kubeconfig(d.file("noctx")).error(), Catch::Contains("current-context is not set"));

  d.write("badca", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority: missing-ca.crt}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  auto e = load_kubeconfig(d.file("badca"));
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error(), Catch::Contains("cluster \"c\".certificate-authority") && Catch::Contains("missing-ca.crt"));

  d.write("b64", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority-data: "!!notbase64"}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  CHECK_THAT(load_kubeconfig(d.file("b64")).error(), Catch::Contains("certificate-authority-data: not valid base64"));

  d.write("noserver", R"(
current-context: x
clusters: [{name: c, cluster: {}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  CHECK_THAT(load_kubeconfig(d.file("noserver")).error(), Catch::Contains("cluster \"c\" has no server"));

  d.write("halfcert", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {client-certificate-data: QUJD}}]
)");
  CHECK_THAT(load_kubeconfig(d.file("halfcert")).error(), Catch::Contains("must be given together"));

  d.write("tokenfile", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {tokenFile: /nonexistent/token}}]
)");
  CHECK_THAT(load_kubeconfig(d.file("tokenfile")).error(), Catch::Contains("user \"u\".tokenFile"));

  d.write("yaml", "current-context: [unclosed\n");
  CHECK_THAT(load_kubeconfig(d.file("yaml")).error(), Catch::Contains("not valid YAML"));
}

TEST_CASE("kubeconfig path: explicit, then the first entry of $KUBECONFIG, then ~/.kube/config", "[config]") {
  CHECK(kubeconfig_path("/x/y") == "/x/y");
  const char* old_kc = std::getenv("KUBECONFIG");
  std::string saved_kc = old_kc ? old_kc : "";
  const char* old_home = std::getenv("HOME");
  std::string saved_home = old_home ? old_home : "";
  ::setenv("KUBECONFIG", "/a/one:/b/two", 1);
  CHECK(kubeconfig_path() == "/a/one");
  ::unsetenv("KUBECONFIG");
  ::setenv("HOME", "/home/someone", 1);
  CHECK(kubeconfig_path() == "/home/someone/.kube/config");
  if (old_kc) ::setenv("KUBECONFIG", saved_kc.c_str(), 1);
  if (old_home) ::setenv("HOME", saved_home.c_str(), 1);
  else ::unsetenv("HOME");
}

TEST_CASE("in-cluster: server from the service env, token/CA/namespace from the directory", "[config]") {
  temp_dir d;
  d.write("token", "tok-1\n");
  d.write("ca.crt", "CLUSTER CA");
  d.write("namespace", "quay-enterprise\n");
  std::map<std::string, std::string> env{{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}};
  auto c = load_in_cluster(d.path, env);
  REQUIRE(c);
  CHECK(c->server == "https://10.96.0.1:443");
  CHECK(c->ca_pem == "CLUSTER CA");
  CHECK(c->default_namespace == "quay-enterprise");
  CHECK(c->token_file == d.file("token"));
  CHECK(c->token.empty());  // always read from the file: it rotates

  env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  CHECK(load_in_cluster(d.path, env)->server == "https://[fd00::1]:443");
}

TEST_CASE("in-cluster: missing env or files are clear errors", "[config]") {
  temp_dir d;
  CHECK_THAT(load_in_cluster(d.path, std::map<std::string, std::string>{}).error(), Catch::Contains("KUBERNETES_SERVICE_HOST"));
  std::map<std::string, std::string> env{{"KUBERNETES_SERVICE_HOST", "h"}, {"KUBERNETES_SERVICE_PORT", "1"}};
  CHECK_THAT(load_in_cluster(d.path, env).error(), Catch::Contains(d.file("token")));
  d.write("token", "t");
  CHECK_THAT(load_in_cluster(d.path, env).error(), Catch::Contains(d.file("ca.crt")));
}

TEST_CASE("the token file is re-read when due and after invalidate(), and keeps the old token if unreadable", "[config]") {
  temp_dir d;
  d.write("token", "one");
  token_source t("", d.file("token"), std::chrono::seconds(3600));
  CHECK(t.current() == "one");
  d.write("token", "two");
  CHECK(t.current() == "one");  // not due yet
  CHECK(t.invalidate());
  CHECK(t.current() == "two");
  std::filesystem::remove(d.file("token"));
  t.invalidate();
  CHECK(t.current() == "two");
  token_source zero("", d.file("token2"), std::chrono::seconds(0));
  d.write("token2", "a");
  CHECK(zero.current() == "a");
  d.write("token2", "b");
  CHECK(zero.current() == "b");  // refresh interval 0: every call
  token_source literal("lit", "");
  CHECK(literal.current() == "lit");
  CHECK_FALSE(literal.invalidate());
}
