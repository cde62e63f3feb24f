#pragma once
// The running controller: reflectors feed the event log, every logged input is folded by the
// reducers, and the decided effects are performed once the log lines that caused them are on
// disk; their results come back as events. One io_context thread runs all of it.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/effects.hpp"
#include "core/event_log.hpp"
#include "core/state.hpp"

namespace qpu::watch {
class reflector_driver;
class http_client;
class api_client;
}  // namespace qpu::watch

namespace qpu::cli {

struct run_options {
  std::string kubeconfig;  // empty: in-cluster, $KUBECONFIG, ~/.kube/config
  std::string event_log = "quay-pg-upgrader-events.jsonl";
  config cfg;
  bool fsync = true;
  std::string version = "0.1.0";
  // Called after each folded event (the demo's progress display).
  std::function<void(const state&, const logged_event&)> on_fold;
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

 private:
  void ingest(std::string line, logged_event ev);
  void flush_and_perform();
  void perform(const effect& e);
  boost::asio::awaitable<void> run_effect(effect e);
  void arm(const requeue_after& r);
  void record_result(const std::string& source, event body);

  boost::asio::io_context& ioc_;
  run_options options_;
  state state_;
  std::optional<event_log_writer> log_;
  std::shared_ptr<watch::http_client> client_;
  std::shared_ptr<watch::api_client> api_;
  std::vector<std::unique_ptr<watch::reflector_driver>> drivers_;
  std::vector<effect> pending_effects_;
  bool flush_posted_ = false;
  bool stopping_ = false;
  std::uint64_t performed_ = 0;
  struct wakeup {
    std::unique_ptr<boost::asio::steady_timer> timer;
    timestamp due = 0;
  };
  std::map<object_key, wakeup> wakeups_;
};

// Milliseconds since the epoch from the system clock: the only clock reading in the program.
timestamp now_ms();

}  // namespace qpu::cli
