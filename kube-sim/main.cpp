// kube-sim: a Kubernetes API server for tests (DESIGN.md section 5).
//   kube-sim serve --listen 127.0.0.1:0 [--tls] --kubeconfig-out FILE [--state-dir DIR]
// Prints "kube-sim listening on <url>" once the kubeconfig is written and connections are
// accepted, so a test can wait for that line.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "admin.hpp"
#include "http_server.hpp"
#include "kubeconfig_out.hpp"
#include "persistence.hpp"
#include "runtime.hpp"
#include "stand_in.hpp"

namespace net = boost::asio;
using namespace kube_sim;

namespace {

struct serve_flags {
  std::string listen = "127.0.0.1:0";
  bool tls = false;
  std::string kubeconfig_out;
  std::string state_dir;
  bool no_runtime = false;
  std::string image_map;
  std::string runtime_dir;
  std::vector<std::string> apply;
  std::size_t history = 1000;
  std::int64_t bookmark_interval_ms = 10000;
  std::string record_watch;
  std::string pod_exit_hook;
  std::string pod_start_hook;
  fault_settings faults;
  bool quay_operator = false;
  bool quay_operator_hold = false;
  std::string quay_operator_deployment = "quay-operator/quay-operator";
  std::int64_t quay_operator_resync_ms = 3000;
  std::string quay_operator_log;
};

int serve(const serve_flags& f) {
  const auto colon = f.listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "kube-sim: --listen wants HOST:PORT, got " << f.listen << "\n";
    return 2;
  }
  const std::string host = f.listen.substr(0, colon);
  boost::system::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) {
    std::cerr << "kube-sim: --listen host must be an IP address, got " << host << "\n";
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::stoi(f.listen.substr(colon + 1)));

  net::io_context io;
  store data = seeded_store(f.history);
  std::optional<state_saver> saver;
  if (!f.state_dir.empty()) {
    if (auto loaded = load_state(data, f.state_dir); !loaded) {
      std::cerr << "kube-sim: " << loaded.error().message << "\n";
      return 1;
    }
    saver.emplace(io, data, f.state_dir);
  }

  std::optional<tls_identity> identity;
  if (f.tls) {
    auto made = f.state_dir.empty() ? make_tls_identity(host)
                                    : load_or_make_tls_identity(std::filesystem::path(f.state_dir) / "tls", host);
    if (!made) {
      std::cerr << "kube-sim: " << made.error().message << "\n";
      return 1;
    }
    identity = std::move(*made);
  }

  fault_injector faults;
  faults.settings = f.faults;
  watch_recorder recorder;
  if (!f.record_watch.empty() && !recorder.open(f.record_watch)) {
    std::cerr << "kube-sim: cannot open " << f.record_watch << " for --record-watch\n";
    return 1;
  }
  api_settings settings;
  if (identity) settings.token = identity->token;
  api_handler handler(data, faults, settings);
  http_server server(io, handler, recorder, server_options{std::chrono::milliseconds(f.bookmark_interval_ms), identity});
  auto bound = server.listen({address, port});
  if (!bound) {
    std::cerr << "kube-sim: " << bound.error().message << "\n";
    return 1;
  }
  const std::string authority = host + ":" + std::to_string(bound->port());
  const std::string url = (f.tls ? "https://" : "http://") + authority;
  handler.set_server_address(authority);
  if (!f.kubeconfig_out.empty())
    if (auto written = write_kubeconfig(f.kubeconfig_out, url, identity); !written) {
      std::cerr << "kube-sim: " << written.error().message << "\n";
      return 1;
    }
  // The workload runtime (kube-sim/runtime/README.md): claims, pods, Deployments, Jobs,
  // Services. With --state-dir its disks live there too, so a restart finds them again.
  std::optional<runtime::runtime> workloads;
  std::filesystem::path runtime_work;
  if (!f.no_runtime) {
    runtime::runtime_options o;
    o.work_dir = f.runtime_dir;
    if (o.work_dir.empty() && !f.state_dir.empty()) o.work_dir = std::filesystem::path(f.state_dir) / "runtime";
    if (o.work_dir.empty()) {
      char tmpl[] = "/tmp/kube-sim-XXXXXX";
      if (const char* made = ::mkdtemp(tmpl)) o.work_dir = made;
    }
    if (!f.image_map.empty()) o.image_map_file = f.image_map;
    o.api_host = host;
    o.api_port = bound->port();
    runtime_work = o.work_dir;
    o.pod_exit_hook = f.pod_exit_hook;
    o.pod_start_hook = f.pod_start_hook;
    workloads.emplace(io, data, o);
    if (auto started = workloads->start(); !started) {
      std::cerr << "kube-sim: runtime: " << started.error().message << "\n";
      return 1;
    }
    std::cerr << "kube-sim: runtime in " << o.work_dir.string() << ", claims as " << runtime::to_string(workloads->storage_mode())
              << "\n";
  }
  // kubectl logs: the runtime's file of the pod's container (no runtime: 404, no kubelet).
  if (workloads)
    handler.set_log_locator([&workloads](const std::string& ns, const std::string& pod, const std::string& container) {
      return workloads->pod_log(ns, pod, container);
    });
  for (const auto& path : f.apply) {
    auto applied = runtime::apply_manifests(data, path);
    if (!applied) {
      std::cerr << "kube-sim: --apply " << path << ": " << applied.error().message << "\n";
      return 1;
    }
    for (const auto& line : *applied) std::cerr << "kube-sim: " << line << "\n";
  }
  // The Quay operator stand-in (kube-sim/README.md): reconciles while its Deployment has a Ready pod.
  std::optional<quay_operator::stand_in> quay_op;
  if (f.quay_operator) {
    quay_operator::options o;
    const auto slash = f.quay_operator_deployment.find('/');
    if (slash == std::string::npos) {
      std::cerr << "kube-sim: --quay-operator-deployment wants NAMESPACE/NAME, got " << f.quay_operator_deployment << "\n";
      return 2;
    }
    o.operator_namespace = f.quay_operator_deployment.substr(0, slash);
    o.operator_name = f.quay_operator_deployment.substr(slash + 1);
    o.resync = std::chrono::milliseconds(f.quay_operator_resync_ms);
    o.hold = f.quay_operator_hold;
    o.journal_file = f.quay_operator_log;
    if (o.journal_file.empty() && !f.state_dir.empty())
      o.journal_file = std::filesystem::path(f.state_dir) / "quay-operator.jsonl";
    if (o.journal_file.empty() && !runtime_work.empty()) o.journal_file = runtime_work / "quay-operator.jsonl";
    quay_op.emplace(io, data, o);
    quay_operator::add_admin_routes(handler, *quay_op);
    quay_op->start();
    std::cerr << "kube-sim: Quay operator stand-in for Deployment " << f.quay_operator_deployment << (o.hold ? " (held)" : "")
              << ", log " << (o.journal_file.empty() ? "in memory only" : o.journal_file.string()) << "\n";
  }
  server.start();

  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) {
    // Pods get SIGTERM and their grace period (at most 10 s here), disks are unmounted.
    if (workloads) workloads->stop(std::chrono::seconds(10));
    if (saver) (void)saver->save_now();
    // End here, without unwinding: open connections are coroutines that hold references to
    // the store and the TLS context, and tearing them down in order buys a test server nothing.
    std::fflush(nullptr);
    std::_Exit(0);
  });
  std::cout << "kube-sim listening on " << url << std::endl;
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kube-sim: a Kubernetes API server simulator for tests"};
  app.require_subcommand(1);
  serve_flags f;
  auto* cmd = app.add_subcommand("serve", "serve the Kubernetes API");
  cmd->add_option("--listen", f.listen, "HOST:PORT to listen on; port 0 picks a free port")->capture_default_str();
  cmd->add_flag("--tls", f.tls, "serve HTTPS with a generated CA and require a bearer token");
  cmd->add_option("--kubeconfig-out", f.kubeconfig_out, "write a kubeconfig for this server here");
  cmd->add_option("--state-dir", f.state_dir, "persist objects and the RV counter here and reload them on start");
  cmd->add_flag("--no-runtime", f.no_runtime, "serve the API only: no volumes, pods, controllers or service forwarders");
  cmd->add_option("--image-map", f.image_map, "image map for pods (default: kube-sim/images/image-map.json)");
  cmd->add_option("--runtime-dir", f.runtime_dir, "pod logs and claim disks (default: STATE_DIR/runtime, else a temp folder)");
  cmd->add_option("--apply", f.apply, "create the objects of these manifest files or folders at start (kubectl create -f)");
  cmd->add_option("--history", f.history, "watch history length; older RVs get 410 Expired")->capture_default_str();
  cmd->add_option("--bookmark-interval-ms", f.bookmark_interval_ms, "period of BOOKMARK events when allowWatchBookmarks")
      ->capture_default_str();
  cmd->add_option("--record-watch", f.record_watch, "append every watch event sent to this JSON Lines file");
  cmd->add_option("--pod-exit-hook", f.pod_exit_hook,
                  "run this (sh -c) when a pod's last process is gone, before its finalizer comes off; the simulator waits");
  cmd->add_option("--pod-start-hook", f.pod_start_hook,
                  "run this (sh -c) when a pod's volumes are ready, before its first process starts; the simulator waits");
  cmd->add_option("--drop-watch-after", f.faults.drop_watch_after_events, "fault: drop each watch stream after N events");
  cmd->add_option("--fail-next", f.faults.fail_next, "fault: fail the next N API requests");
  cmd->add_option("--fail-rate", f.faults.fail_rate, "fault: fail this share (0..1) of API requests");
  cmd->add_option("--fail-code", f.faults.fail_code,
                  "fault: status of failed requests (429, 500, 503, 504, or 403: refused for good)")
      ->capture_default_str();
  cmd->add_option("--retry-after", f.faults.retry_after_seconds, "fault: Retry-After seconds on 429")->capture_default_str();
  cmd->add_option("--chunk-bytes", f.faults.chunk_bytes, "fault: split each watch event into chunks of N bytes");
  cmd->add_option("--event-delay-ms", f.faults.event_delay_ms, "fault: delay each watch event by D ms");
  cmd->add_flag("--quay-operator", f.quay_operator,
                "run the Quay operator stand-in: it reconciles QuayRegistries while its Deployment has a Ready pod");
  cmd->add_option("--quay-operator-deployment", f.quay_operator_deployment, "the operator's Deployment (NAMESPACE/NAME)")
      ->capture_default_str();
  cmd->add_option("--quay-operator-resync-ms", f.quay_operator_resync_ms, "the stand-in reconciles every registry this often")
      ->capture_default_str();
  cmd->add_flag("--quay-operator-hold", f.quay_operator_hold,
                "start the stand-in held: it does nothing until POST /_sim/quay-operator {\"hold\": false}");
  cmd->add_option("--quay-operator-log", f.quay_operator_log,
                  "the stand-in's reconcile log, JSON Lines (default: STATE_DIR/quay-operator.jsonl)");
  CLI11_PARSE(app, argc, argv);
  return serve(f);
}
