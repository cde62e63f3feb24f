// A `kube-sim serve` per test (port 0, TLS, its own temp dir), with an API client on it and a
// helper that runs one coroutine to completion.
#pragma once
#include "tests/support/kube_sim_spawn.hpp"
// g++ 12 at -O2: Asio's coroutine frame delete is a false -Wmismatched-new-delete (see
// effects/k8s_effects.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "effects/k8s_effects.hpp"
#include "fixtures.hpp"
#include "kube/api_client.hpp"
#include "kube/http_client.hpp"
#include "kube/kube_config.hpp"

extern char** environ;

namespace qpu::effects::testing {

namespace net = boost::asio;
using nlohmann::json;

inline std::string kube_sim_binary() {
  if (const char* p = std::getenv("QPU_KUBE_SIM"); p && *p) return p;
  return QPU_KUBE_SIM_PATH;
}

// One kube-sim, started here and stopped (by its pid) at scope exit, in its own temp dir.
struct sim {
  pid_t pid = -1;
  std::filesystem::path dir;
  net::io_context ioc;
  k8s_context ctx;

  sim() {
    char tmpl[] = "/tmp/qpu-effects-k8s-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = tmpl;
    const std::string kubeconfig = (dir / "kubeconfig").string();
    INFO("kube-sim binary " << kube_sim_binary() << " (built with this test: add_dependencies)");
    REQUIRE(std::filesystem::exists(kube_sim_binary()));
    auto spawned = qpu::testing::spawn_kube_sim(
        kube_sim_binary(),
        {"serve", "--listen", "127.0.0.1:0", "--tls", "--kubeconfig-out", kubeconfig, "--state-dir", (dir / "state").string()});
    pid = spawned.pid;
    REQUIRE_FALSE(spawned.url.empty());
    auto cfg = kube::load_kubeconfig(kubeconfig);
    REQUIRE(cfg);
    auto client = kube::http_client::create(ioc.get_executor(), *cfg);
    REQUIRE(client);
    ctx.api = std::make_shared<kube::api_client>(*client);
  }
  ~sim() {
    ctx.api.reset();
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  template <class T>
  T run(net::awaitable<T> aw) {
    std::optional<T> out;
    std::exception_ptr error;
    net::co_spawn(
        ioc, [&]() -> net::awaitable<void> { out.emplace(co_await std::move(aw)); }, [&](std::exception_ptr e) { error = e; });
    ioc.restart();
    ioc.run();
    if (error) std::rethrow_exception(error);
    return std::move(*out);
  }

  template <class E>
  event perform(const E& e) {
    return run(effects::perform(ctx, e));
  }

  json get(kube::resource_path p) {
    auto r = run(ctx.api->get(std::move(p)));
    REQUIRE(r);
    return json::parse(r->body);
  }
  json create(kube::resource_path p, const json& body) {
    auto r = run(ctx.api->create(std::move(p), body.dump()));
    if (!r) FAIL(kube::describe(r.error()));
    return json::parse(r->body);
  }
};

inline kube::resource_path core(const char* plural, std::string ns, std::string name = "") {
  return {"", "v1", plural, std::move(ns), std::move(name), ""};
}

inline void check_succeeded(const event& e, const effect_id& id) {
  INFO((std::holds_alternative<effect_failed>(e) ? std::get<effect_failed>(e).message : std::string()));
  REQUIRE(std::holds_alternative<effect_succeeded>(e));
  CHECK(std::get<effect_succeeded>(e).id == id);
}

inline json the_registry() {
  return json::parse(R"({"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry",
                         "metadata": {"name": "registry", "namespace": "quay"}, "spec": {}})");
}

inline json database_deployment() {
  return json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "registry-quay-database", "namespace": "quay"},
    "spec": {"replicas": 0, "selector": {"matchLabels": {"quay-component": "postgres"}},
      "template": {"metadata": {"labels": {"quay-component": "postgres"}}, "spec": {
        "volumes": [{"name": "postgres-data", "persistentVolumeClaim": {"claimName": "registry-quay-database"}}],
        "containers": [{"name": "postgres", "image": "centos/postgresql-10-centos7",
          "volumeMounts": [{"name": "postgres-data", "mountPath": "/var/lib/pgsql/data"}]}]}}}})");
}

inline void make_namespace(sim& s) {
  s.create(core("namespaces", ""), json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "quay"}}}});
}

}  // namespace qpu::effects::testing
