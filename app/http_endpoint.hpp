#pragma once
// The controller's HTTP endpoint (--metrics-bind-address HOST:PORT, as controller-runtime names
// it), served on the controller's own io_context thread, so every handler reads the state and the
// counters without locks:
//   /healthz      200 while the event loop answers (the liveness probe)
//   /readyz       200 when every reflector completed its first list (state.cluster.synced), or
//                 when this replica is a standby follower under leader election; else 503 naming
//                 the resources not synced yet
//   /metrics      Prometheus text format 0.0.4 (render_metrics)
//   /debug/state  the state dump, the same JSON as `replay --state-json`
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/io_context.hpp>

#include <expected>
#include <functional>
#include <memory>
#include <string>

namespace qpu::app {

class controller;
class leader_elector;

// What the endpoint reads; any of the pointers may be null (not started, no election).
struct endpoint_sources {
  const controller* ctl = nullptr;
  std::function<const leader_elector*()> elector;
};

// The /metrics body.
std::string render_metrics(const endpoint_sources& s);
// /readyz: {ready, body}.
std::pair<bool, std::string> readiness(const endpoint_sources& s);

class http_endpoint {
 public:
  // Binds HOST:PORT (":8080" binds every address; port 0 picks one) and starts serving.
  static std::expected<std::unique_ptr<http_endpoint>, std::string> start(boost::asio::io_context& ioc, const std::string& bind,
                                                                          endpoint_sources s);
  ~http_endpoint();
  unsigned short port() const;
  void stop();

 private:
  struct impl;
  explicit http_endpoint(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace qpu::app
