// The client against kube-sim (kube-sim): a reflector's view must end equal to the server's
// list after creates, updates, deletes and every fault kube-sim can inject. watch_tests depends
// on kube-sim (CMake), so a missing binary fails the case.
#include <catch2/catch.hpp>

#include "tests/support/kube_sim_spawn.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/decode.hpp"
#include "test_server.hpp"
#include "kube/api_client.hpp"
#include "watch/list_page.hpp"
#include "watch/reflector_driver.hpp"

extern char** environ;

using namespace qpu::watch;
using namespace qpu::kube;
using namespace qpu::watch::testing;
namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {

std::string kube_sim_binary() {
  if (const char* p = std::getenv("QPU_KUBE_SIM"); p && *p) return p;
  return QPU_KUBE_SIM_PATH;
}

// One kube-sim process, started here and stopped (by its pid) at scope exit.
struct kube_sim_process {
  pid_t pid = -1;
  std::string kubeconfig;
  std::string url;

  kube_sim_process(const temp_dir& dir, std::vector<std::string> extra) {
    kubeconfig = dir.file("kubeconfig");
    std::vector<std::string> args{"serve",    "--listen",    "127.0.0.1:0",    "--kubeconfig-out",
                                  kubeconfig, "--state-dir", dir.file("state")};
    args.insert(args.end(), extra.begin(), extra.end());
    auto spawned = qpu::testing::spawn_kube_sim(kube_sim_binary(), std::move(args));
    pid = spawned.pid;
    url = spawned.url;
    REQUIRE_FALSE(url.empty());
  }
  ~kube_sim_process() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }
};

using view = std::map<std::string, std::string>;  // name -> resourceVersion

std::string deployment(const std::string& name, int generation_label) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name + R"(","labels":{"gen":")" +
         std::to_string(generation_label) + R"("}},"spec":{"replicas":0,"selector":{"matchLabels":{"app":")" + name +
         R"("}},"template":{"metadata":{"labels":{"app":")" + name +
         R"("}},"spec":{"containers":[{"name":"c","image":"registry.example/none:1"}]}}}})";
}

net::awaitable<void> sleep_ms(int ms) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(std::chrono::milliseconds(ms));
  co_await t.async_wait(net::use_awaitable);
}

// Writes retry through injected failures, as the effects layer will.
net::awaitable<bool> write(std::function<api_client::result()> call) {
  for (int i = 0; i < 50; ++i) {
    auto r = co_await call();
    if (r) co_return true;
    if (!r.error().transient()) {
      WARN("write failed: " << describe(r.error()));
      co_return false;
    }
    co_await sleep_ms(50);
  }
  co_return false;
}

net::awaitable<std::optional<view>> server_view(api_client& api) {
  auto r = co_await api.get(path_of(qpu::resource_kind::deployment, "default"));
  if (!r) co_return std::nullopt;
  auto page = parse_list_page(r->body);
  if (!page) co_return std::nullopt;
  qpu::json_decoder dec;
  view v;
  for (const auto& item : page->items) {
    auto o = dec.decode_object(qpu::resource_kind::deployment, item);
    if (!o) co_return std::nullopt;
    v[qpu::meta_of(*o).key.name] = qpu::meta_of(*o).rv;
  }
  co_return v;
}

}  // namespace

TEST_CASE("against kube-sim over TLS: the reflector's view equals the server's list after every fault", "[kube-sim]") {
  INFO("kube-sim binary " << kube_sim_binary() << " (built with this test: add_dependencies)");
  REQUIRE(std::filesystem::exists(kube_sim_binary()));
  temp_dir dir;
  kube_sim_process sim(dir, {"--tls", "--bookmark-interval-ms", "300", "--history", "50"});
  CHECK(sim.url.starts_with("https://"));
  auto cfg = load_kubeconfig(sim.kubeconfig);
  REQUIRE(cfg);

  net::io_context ioc;
  auto client = http_client::create(ioc.get_executor(), *cfg).value();
  api_client api(client);

  // The reflector's view, with the relist swap kube-rs's store does (buffer, then replace).
  view seen, relist_buffer;
  reflector_spec spec;
  spec.kind = qpu::resource_kind::deployment;
  spec.ns = "default";
  spec.options.initial_backoff = 50;
  spec.options.max_backoff = 500;
  reflector_driver driver(client, spec, [&](const watch_input& in) {
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, qpu::relist_started>) relist_buffer.clear();
          if constexpr (std::is_same_v<T, qpu::relist_item>)
            relist_buffer[qpu::meta_of(e.object).key.name] = qpu::meta_of(e.object).rv;
          if constexpr (std::is_same_v<T, qpu::relist_done>) seen = relist_buffer;
          if constexpr (std::is_same_v<T, qpu::object_event>) {
            const auto& m = qpu::meta_of(e.object);
            if (e.type == qpu::watch_type::deleted) seen.erase(m.key.name);
            else seen[m.key.name] = m.rv;
          }
        },
        in.body);
  });

  bool converged = false;
  std::string last_diff;
  auto faults = [&](std::string body) -> net::awaitable<void> {
    auto r = co_await client->request(http::verb::post, "/_sim/faults", std::move(body), "application/json");
    CHECK((r && r->status < 300));
  };
  auto script = [&]() -> net::awaitable<void> {
    using qpu::resource_kind;
    int counter = 0;
    auto churn = [&](int creates) -> net::awaitable<void> {
      for (int i = 0; i < creates; ++i) {
        std::string name = "d" + std::to_string(counter++);
        co_await write([&] { return api.create(path_of(resource_kind::deployment, "default"), deployment(name, 0)); });
      }
      for (int i = std::max(0, counter - creates); i < counter; i += 2) {
        std::string name = "d" + std::to_string(i);
        co_await write([&] {
          return api.patch(path_of(resource_kind::deployment, "default", name), patch_type::merge,
                           R"({"metadata":{"labels":{"gen":"1"}}})");
        });
      }
      for (int i = std::max(0, counter - creates); i < counter; i += 3) {
        std::string name = "d" + std::to_string(i);
        co_await write([&] { return api.remove(path_of(resource_kind::deployment, "default", name), propagation::background); });
      }
    };
    co_await churn(5);  // before the reflector starts: seen by the first list
    net::co_spawn(ioc, driver.run(), net::detached);
    co_await sleep_ms(300);
    co_await churn(8);
    co_await faults(R"({"chunkBytes":1})");
    co_await churn(8);
    co_await faults(R"({"chunkBytes":0,"dropWatchAfterEvents":3})");
    co_await churn(12);
    co_await faults(R"({"dropWatchAfterEvents":0})");
    co_await client->request(http::verb::post, "/_sim/expire-history", "{}", "application/json");
    co_await churn(70);  // more than --history: the watch's RV falls out of the window
    co_await faults(R"({"failNext":6,"failCode":500})");
    co_await churn(6);
    co_await faults(R"({"failNext":6,"failCode":429,"retryAfterSeconds":0})");
    co_await churn(6);
    co_await faults(R"({"failNext":0,"failRate":0})");
    for (int i = 0; i < 150 && !converged; ++i) {
      co_await sleep_ms(100);
      auto server = co_await server_view(api);
      if (!server) continue;
      converged = *server == seen;
      if (!converged) last_diff = std::to_string(server->size()) + " on the server, " + std::to_string(seen.size()) + " seen";
    }
    // The driver ends at its next step; the 300 ms bookmarks wake a quiet stream. run() then
    // returns on its own, so no coroutine outlives the objects it refers to.
    driver.stop();
  };
  net::co_spawn(ioc, script(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ioc.run();
  INFO(last_diff);
  CHECK(converged);
  CHECK(driver.stats().lists >= 1);
  CHECK(driver.stats().malformed == 0);
  // How much of the fault schedule hit the stream depends on timing; the view must converge anyway.
  WARN("kube-sim run: lists " << driver.stats().lists << ", watches " << driver.stats().watches << ", failures "
                              << driver.stats().failures << ", events " << driver.stats().events);
  CHECK(driver.stats().watches >= 1);
}
