#pragma once
// Runs one reflector (watch/reflector.hpp) against the API server: performs its commands with
// kube::http_client, decodes list pages and watch streams, hands every input to the sink, and feeds
// what happened back into the state machine with the time and a random number.
//
// Usage (one io_context thread):
//   auto client = kube::http_client::create(ioc.get_executor(), cfg).value();
//   reflector_driver jobs(client, spec, [&](const watch_input& in) {
//     log.append(log_line(in, log.next_seq(), now_ms()));
//     fold(in.body);
//   });
//   net::co_spawn(ioc, jobs.run(), net::detached);
//
// A relist is buffered until its last page arrived and then handed out at once (relist_started,
// every item, relist_done), so the event log never holds half a relist.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/decode.hpp"
#include "kube/http_client.hpp"
#include "watch/redact.hpp"
#include "watch/reflector.hpp"
#include "watch/watch_input.hpp"

namespace qpu::watch {

struct reflector_spec {
  resource_kind kind{};
  std::string ns;  // "" watches all namespaces
  std::string label_selector;  // "" for none
  // The kind may be watched as several streams with disjoint selectors (core/events.hpp): this
  // one's number and how many there are.
  std::uint8_t stream = 0;
  std::uint8_t streams = 1;
  reflector_options options;
  std::size_t max_line = max_line_bytes;
  // Rewrites every line and listed object before it is decoded and logged (watch/redact.hpp);
  // none: they are taken as received.
  std::shared_ptr<const redactor> redact;
};

struct reflector_stats {
  std::uint64_t lists = 0;  // completed relists
  std::uint64_t pages = 0;
  std::uint64_t watches = 0;  // watch requests sent
  std::uint64_t events = 0;  // decoded watch lines (incl. bookmarks and errors)
  std::uint64_t malformed = 0;
  std::uint64_t failures = 0;  // requests that failed (backoff followed)
  std::uint64_t bytes = 0;  // watch body bytes
};

class reflector_driver {
 public:
  using clock_fn = std::function<timestamp()>;
  using random_fn = std::function<double()>;  // uniform in [0, 1)

  reflector_driver(std::shared_ptr<kube::http_client> client, reflector_spec spec, input_sink sink, clock_fn clock = {},
                   random_fn random = {});
  ~reflector_driver();

  // Lists and watches until stop(); never throws for API or network trouble.
  boost::asio::awaitable<void> run();
  // Ends run() at its next step (the current watch stream ends at its next byte or deadline).
  void stop();

  const reflector_state& state() const { return state_; }
  const reflector_stats& stats() const { return stats_; }
  const reflector_spec& spec() const { return spec_; }

 private:
  void apply(const reflector_input& in);
  boost::asio::awaitable<void> do_list(const send_list& cmd);
  boost::asio::awaitable<void> do_watch(const send_watch& cmd);
  boost::asio::awaitable<void> do_wait(const wait_for& cmd);
  void publish(const std::string& rv);

  std::shared_ptr<kube::http_client> client_;
  reflector_spec spec_;
  input_sink sink_;
  clock_fn clock_;
  random_fn random_;
  json_decoder decoder_;
  reflector_state state_;
  reflector_stats stats_;
  std::vector<reflector_command> pending_;
  std::vector<std::string> relist_items_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  bool stopping_ = false;
  bool close_requested_ = false;
};

}  // namespace qpu::watch
