#pragma once
// The running controller: reflectors feed the event log, every logged input is folded by the
// reducers, and the decided effects are performed once the log lines that caused them are on
// disk; their results come back as events. One io_context thread runs all of it.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/effects.hpp"
#include "core/event_log.hpp"
#include "core/state.hpp"
#include "effects/dispatch.hpp"
#include "effects/status_cache.hpp"
#include "watch/watch_input.hpp"

namespace qpu::watch {
class reflector_driver;
class redactor;
}  // namespace qpu::watch
namespace qpu::effects {
class requeue_timers;
}  // namespace qpu::effects
namespace qpu::kube {
class http_client;
class api_client;
}  // namespace qpu::kube

namespace qpu::app {

// What the controller watches of each kind (docs/OPERATIONS.md, "What the controller watches").
// By default only what the upgrade reads, so that a large cluster's unrelated objects cost
// nothing: QuayRegistries all; Deployments, Pods, Jobs and claims the Quay operator rendered
// (label quay-component); this controller's own Jobs, their pods and its claims (label
// app.kubernetes.io/managed-by=quay-pg-upgrader); and the Quay operator's own Deployment
// (`operator_selector`, OLM's label by default). `all`: no selectors (--watch-all), for an
// installation whose database objects carry no quay-component label.
struct watch_selection {
  bool all = false;
  std::string operator_selector = "olm.owner.kind=ClusterServiceVersion";
};

// The label selector of each watch stream of `kind` ("" for none); their sets are disjoint.
std::vector<std::string> watch_selectors(resource_kind kind, const watch_selection& w);

struct run_options {
  std::string kubeconfig;  // empty: in-cluster, $KUBECONFIG, ~/.kube/config
  // Accept a plain http:// API server that is not a loopback address (--allow-insecure-http);
  // without it such a server is refused before any request, since the bearer token would cross
  // the network unencrypted (kube::kube_config::allow_insecure_http).
  bool allow_insecure_http = false;
  std::string event_log = "quay-pg-upgrader-events.jsonl";
  // The key of the event log's redactions (watch/redact.hpp); "" is the event log's path + ".key".
  std::string redaction_key_file;
  config cfg = run_defaults();
  bool fsync = true;
  watch_selection watch;
  // CPUs each backup and upgrade Job asks for and works with (--job-cpus): its container's
  // resources.requests.cpu and the parallelism of pg_restore -j, pg_upgrade --jobs, vacuumdb -j.
  int job_cpus = 2;
  // A snapshot of the state beside the event log (core/snapshot.hpp) after this many new events
  // (--snapshot-every; 0: never): a start restores it and reads only the log after it.
  std::uint64_t snapshot_every = 10000;
  // TLS to the database servers (--database-sslmode, --database-ca-file, --database-ca-configmap).
  std::string database_sslmode = "prefer";
  std::string database_ca_file;
  std::string database_ca_configmap;
  // Database sessions (--database-timeout, --database-min-rate): the effects layer's default rule
  // unless the flags change it.
  effects::time_limit database_limit = effects::context{}.database_limit;
  std::string version = "0.1.0";
  // Called after each folded event (the demo's progress display).
  std::function<void(const state&, const logged_event&)> on_fold;
  // The leader election gate (app/leader_election.hpp): while it returns false, decided
  // effects are dropped, not performed (a new leader re-decides them). Unset: always perform.
  std::function<bool()> may_perform;
};

// A Prometheus histogram: `counts[i]` observations <= bounds[i] (not cumulative), + Inf overflow.
struct histogram {
  std::vector<double> bounds;
  std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(bounds.size() + 1);
  double sum = 0;
  std::uint64_t count = 0;
  void observe(double v) {
    std::size_t i = 0;
    while (i < bounds.size() && v > bounds[i]) ++i;
    ++counts[i];
    sum += v;
    ++count;
  }
};

// Counters for /metrics (app/http_endpoint.cpp): what this process folded and performed.
// Not part of the state: a replay does not rebuild them, and they reset with the process.
struct controller_metrics {
  std::map<std::string, std::uint64_t> upgrades;  // by result phase
  std::map<std::string, histogram> phase_seconds;  // by phase left
  std::map<std::pair<std::string, std::string>, std::uint64_t> watch_events;  // (resource, type)
  std::map<std::string, std::uint64_t> relists;  // by resource
  std::map<std::pair<std::string, std::string>, std::uint64_t> requests;  // effects' (verb, code)
  std::map<std::string, histogram> effect_seconds;  // by effect
  std::uint64_t effects_gated = 0;  // dropped by may_perform
  std::uint64_t effects_waiting_peak = 0;  // the longest the API effects' backlog has been
};

class controller {
 public:
  controller(boost::asio::io_context& ioc, run_options options);
  ~controller();

  // Loads the cluster config, refolds an existing log, logs the start and starts the reflectors.
  std::expected<void, std::string> start();
  // Stops watching and performing; the log is flushed. In-flight effects are re-decided after a
  // restart (they are idempotent).
  void stop();

  const state& current() const { return state_; }
  std::uint64_t effects_performed() const { return performed_; }
  std::size_t effects_waiting() const { return api_backlog_.size(); }
  const controller_metrics& metrics() const { return metrics_; }
  const run_options& options() const { return options_; }
  const std::vector<std::unique_ptr<watch::reflector_driver>>& drivers() const { return drivers_; }
  std::uint64_t event_log_bytes() const { return log_ ? log_->bytes_written() : 0; }

 private:
  void ingest(std::string line, logged_event ev);
  void flush_and_perform();
  void perform(const effect& e);
  // Starts `e` now, or queues it as a value when it only talks to the API server and
  // kApiEffectsRunning such effects are under way (see api_backlog_).
  void start_effect(effect e);
  boost::asio::awaitable<void> run_effect(effect e);
  void status_written(const object_key& registry);
  void remember_status(const watch::watch_input& in);
  void record_result(const std::string& source, event body);

  boost::asio::io_context& ioc_;
  run_options options_;
  state state_;
  std::optional<event_log_writer> log_;
  std::shared_ptr<kube::http_client> client_;
  std::shared_ptr<kube::api_client> api_;
  std::vector<std::unique_ptr<watch::reflector_driver>> drivers_;
  // The event log's redaction key: also what the inspections' password digests are keyed with.
  std::shared_ptr<const watch::redactor> redaction_;
  std::vector<effect> pending_effects_;
  bool flush_posted_ = false;
  std::uint64_t snapshot_seq_ = 0;  // the last snapshot's (restored or written)
  void maybe_snapshot(bool now);
  bool stopping_ = false;
  std::uint64_t performed_ = 0;
  controller_metrics metrics_;
  std::unique_ptr<effects::requeue_timers> timers_;  // requeue_after, one timer per registry
  std::map<object_key, std::deque<effect>> status_queues_;  // per registry, the running write first
  // Effects that only talk to the API server wait here, in the order decided, while
  // kApiEffectsRunning of them run. The HTTP client lets 8 requests out at once anyway; what the
  // gate saves is memory: a burst (a status write and an Event for each of 1,000 registries right
  // after the first sync) otherwise became 2,000 suspended coroutine chains at about 20 KB each,
  // 39 MB the allocator kept after they ended (docs/BENCHMARKS.md, "initial_sync_rss"). Database
  // inspections are not gated: they wait on their servers, not on the API, and last minutes.
  static constexpr std::size_t kApiEffectsRunning = 32;
  std::size_t api_effects_running_ = 0;
  std::deque<effect> api_backlog_;
  effects::status_cache statuses_;  // the registries as last seen, for status writes without a read
};

// Milliseconds since the epoch from the system clock: the only clock reading in the program.
timestamp now_ms();

}  // namespace qpu::app
