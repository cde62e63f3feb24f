// g++ 12 at -O2 flags the delete of Asio's coroutine frames as mismatched: a false positive
// (GCC PR 109224 family), as in effects/k8s_effects.cpp.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include "app/http_endpoint.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "app/controller.hpp"
#include "app/leader_election.hpp"
#include "core/codec.hpp"
#include "core/progress.hpp"
#include "reducers/progress.hpp"
#include "watch/reflector_driver.hpp"

namespace qpu::app {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

struct writer {
  std::string out;
  void family(const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, double v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += " " + number(v) + "\n";
  }
  void hist(const std::string& name, const std::string& labels, const histogram& h) {
    std::uint64_t cumulative = 0;
    const std::string sep = labels.empty() ? "" : labels + ",";
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.counts[i];
      sample(name + "_bucket", sep + "le=\"" + number(h.bounds[i]) + "\"", static_cast<double>(cumulative));
    }
    sample(name + "_bucket", sep + "le=\"+Inf\"", static_cast<double>(h.count));
    sample(name + "_sum", labels, h.sum);
    sample(name + "_count", labels, static_cast<double>(h.count));
  }
};

const leader_elector* elector_of(const endpoint_sources& s) { return s.elector ? s.elector() : nullptr; }

}  // namespace

std::string render_metrics(const endpoint_sources& s) {
  writer w;
  const leader_elector* le = elector_of(s);
  w.family("qpu_leader", "gauge", "1 while this process holds the leader Lease (always 1 without --leader-elect)");
  w.sample("qpu_leader", "", le ? (le->is_leader() ? 1 : 0) : 1);
  const controller* c = s.ctl;
  if (!c) return w.out;
  const auto& m = c->metrics();
  const state& st = c->current();

  w.family("qpu_upgrades_total", "counter",
           "Upgrades that reached a result (succeeded, failed, refused, unsupported) in this process");
  for (const char* r : {"succeeded", "failed", "refused", "unsupported"}) {
    auto it = m.upgrades.find(r);
    w.sample("qpu_upgrades_total", std::string("result=\"") + r + "\"",
             it == m.upgrades.end() ? 0 : static_cast<double>(it->second));
  }
  w.family("qpu_upgrade_phase", "gauge", "The current phase of each QuayRegistry's upgrade (1 for the phase it is in)");
  w.family("qpu_upgrade_attempt", "gauge", "The attempt number of each QuayRegistry's upgrade");
  std::string attempts;
  for (const auto& [key, u] : st.upgrades) {
    const std::string who = "namespace=\"" + label(key.registry.ns) + "\",name=\"" + label(key.registry.name) + "\",database=\"" +
                            to_string(key.component) + "\"";
    w.sample("qpu_upgrade_phase", who + ",phase=\"" + to_string(u.current) + "\"", 1);
    attempts += "qpu_upgrade_attempt{" + who + "} " + std::to_string(u.attempt) + "\n";
  }
  w.out += attempts;
  // Progress of the backup or upgrade Job under way (core/progress.hpp), one series per database
  // while its Job reports; the time left appears once a rate is measured.
  w.family("qpu_upgrade_progress_ratio", "gauge", "Work done of the running backup or upgrade Job's stage (0..1)");
  w.family("qpu_upgrade_progress_done_bytes", "gauge", "Bytes done of the running Job's stage");
  w.family("qpu_upgrade_progress_total_bytes", "gauge", "Bytes the running Job's stage measured (or estimated) it has to move");
  w.family("qpu_upgrade_progress_seconds_left", "gauge", "Estimated time left of the running Job's stage, at its rate so far");
  for (const auto& [key, u] : st.upgrades) {
    const auto* p = reducers::current_progress(u);
    if (!p || p->total <= 0) continue;
    const std::string who = "namespace=\"" + label(key.registry.ns) + "\",name=\"" + label(key.registry.name) + "\",database=\"" +
                            to_string(key.component) + "\",phase=\"" + to_string(u.current) + "\",stage=\"" + label(p->stage) +
                            "\"";
    w.sample("qpu_upgrade_progress_ratio", who, std::min(1.0, static_cast<double>(p->done) / static_cast<double>(p->total)));
    w.sample("qpu_upgrade_progress_done_bytes", who, static_cast<double>(p->done));
    w.sample("qpu_upgrade_progress_total_bytes", who, static_cast<double>(p->total));
    if (const auto left = time_left(*p)) w.sample("qpu_upgrade_progress_seconds_left", who, static_cast<double>(*left) / 1000);
  }
  w.family("qpu_phase_duration_seconds", "histogram", "Time spent in each phase, observed when the phase is left");
  for (const auto& [p, h] : m.phase_seconds) w.hist("qpu_phase_duration_seconds", "phase=\"" + p + "\"", h);

  w.family("qpu_watch_events_total", "counter", "Watch events received, by resource and type");
  for (const auto& [k, n] : m.watch_events)
    w.sample("qpu_watch_events_total", "resource=\"" + k.first + "\",type=\"" + k.second + "\"", static_cast<double>(n));
  w.family("qpu_relists_total", "counter", "Completed relists (list + swap of the store), by resource");
  for (const auto& [k, n] : m.relists) w.sample("qpu_relists_total", "resource=\"" + k + "\"", static_cast<double>(n));
  w.family("qpu_reflector_synced", "gauge", "1 once the resource's first list completed");
  for (auto kind : all_resource_kinds)
    w.sample("qpu_reflector_synced", std::string("resource=\"") + plural(kind) + "\"",
             st.cluster.synced[static_cast<std::size_t>(kind)] ? 1 : 0);

  // API requests: the reflectors' list pages and watch requests (code "error" when the request
  // failed and backoff followed), and each effect's request by its main verb and outcome code.
  w.family("qpu_api_requests_total", "counter", "API requests by verb and code (reflector list/watch; effects by main verb)");
  std::map<std::pair<std::string, std::string>, std::uint64_t> requests = m.requests;
  for (const auto& d : c->drivers()) {
    const auto& rs = d->stats();
    requests[{"LIST", "200"}] += rs.pages;
    requests[{"WATCH", "200"}] += rs.watches;
    requests[{"LIST_OR_WATCH", "error"}] += rs.failures;
  }
  for (const auto& [k, n] : requests)
    w.sample("qpu_api_requests_total", "verb=\"" + k.first + "\",code=\"" + k.second + "\"", static_cast<double>(n));
  w.family("qpu_effect_duration_seconds", "histogram", "Latency of performed effects, by effect");
  for (const auto& [e, h] : m.effect_seconds) w.hist("qpu_effect_duration_seconds", "effect=\"" + e + "\"", h);
  w.family("qpu_effects_performed_total", "counter", "Effects performed (requeues excluded)");
  w.sample("qpu_effects_performed_total", "", static_cast<double>(c->effects_performed()));
  w.family("qpu_effects_gated_total", "counter", "Decided effects dropped because this process was not the leader");
  w.sample("qpu_effects_gated_total", "", static_cast<double>(m.effects_gated));
  w.family("qpu_effects_waiting", "gauge", "API effects decided and waiting for one of the 32 that may run at once");
  w.sample("qpu_effects_waiting", "", static_cast<double>(c->effects_waiting()));
  w.family("qpu_effects_waiting_peak", "gauge", "The most API effects that have waited at once since the start");
  w.sample("qpu_effects_waiting_peak", "", static_cast<double>(m.effects_waiting_peak));

  w.family("qpu_event_log_bytes_written_total", "counter", "Bytes this process appended to the event log");
  w.sample("qpu_event_log_bytes_written_total", "", static_cast<double>(c->event_log_bytes()));
  std::error_code ec;
  const auto size = std::filesystem::file_size(c->options().event_log, ec);
  w.family("qpu_event_log_size_bytes", "gauge", "Size of the event log file");
  w.sample("qpu_event_log_size_bytes", "", ec ? 0 : static_cast<double>(size));
  w.family("qpu_event_log_last_seq", "gauge", "Sequence number of the last folded event");
  w.sample("qpu_event_log_last_seq", "", static_cast<double>(st.last_seq));
  w.family("qpu_malformed_inputs_total", "counter", "Watch lines the decoder rejected (kept in the log, skipped)");
  w.sample("qpu_malformed_inputs_total", "", static_cast<double>(st.malformed_inputs));
  return w.out;
}

std::pair<bool, std::string> readiness(const endpoint_sources& s) {
  const leader_elector* le = elector_of(s);
  // A follower runs no reflectors; it is ready to take over, and a Deployment rollout must not
  // wait on it.
  if (le && !le->is_leader()) return {true, "ok: standby (leader is \"" + le->observed_holder() + "\")\n"};
  if (!s.ctl) return {false, "not started\n"};
  std::string missing;
  for (auto kind : all_resource_kinds)
    if (!s.ctl->current().cluster.synced[static_cast<std::size_t>(kind)])
      missing += std::string(missing.empty() ? "" : ", ") + plural(kind);
  if (!missing.empty()) return {false, "not synced: " + missing + "\n"};
  return {true, "ok\n"};
}

struct http_endpoint::impl : std::enable_shared_from_this<impl> {
  tcp::acceptor acceptor;
  endpoint_sources sources;
  bool stopped = false;
  impl(net::io_context& ioc, endpoint_sources s) : acceptor(ioc), sources(std::move(s)) {}

  http::response<http::string_body> answer(const http::request<http::string_body>& req) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(req.keep_alive());
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.body() = "GET only\n";
    } else if (path == "/healthz" || path == "/livez") {
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      auto [ready, body] = readiness(sources);
      if (!ready) res.result(http::status::service_unavailable);
      res.body() = std::move(body);
    } else if (path == "/metrics") {
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = render_metrics(sources);
    } else if (path == "/debug/state") {
      res.set(http::field::content_type, "application/json");
      res.body() = (sources.ctl ? to_json(sources.ctl->current()) : to_json(state{})).dump(2) + "\n";
    } else {
      res.result(http::status::not_found);
      res.body() = "not found; try /healthz, /readyz, /metrics, /debug/state\n";
    }
    res.prepare_payload();
    return res;
  }

  net::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      stream.expires_after(std::chrono::seconds(30));
      http::request<http::string_body> req;
      beast::error_code ec;
      co_await http::async_read(stream, buffer, req, net::redirect_error(net::use_awaitable, ec));
      if (ec) break;  // closed, timed out, or not HTTP: nothing to answer
      auto res = answer(req);
      const bool keep = res.keep_alive();
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !keep) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  net::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      beast::error_code ec;
      tcp::socket socket(acceptor.get_executor());
      co_await acceptor.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (ec == net::error::operation_aborted || stopped) break;
        continue;
      }
      net::co_spawn(acceptor.get_executor(), serve(std::move(socket)), net::detached);
    }
  }
};

http_endpoint::http_endpoint(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
http_endpoint::~http_endpoint() { stop(); }

void http_endpoint::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

unsigned short http_endpoint::port() const { return impl_->acceptor.local_endpoint().port(); }

std::expected<std::unique_ptr<http_endpoint>, std::string> http_endpoint::start(net::io_context& ioc, const std::string& bind,
                                                                                endpoint_sources s) {
  const auto colon = bind.rfind(':');
  if (colon == std::string::npos) return std::unexpected("--metrics-bind-address wants HOST:PORT or :PORT, got \"" + bind + "\"");
  std::string host = bind.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(bind.substr(colon + 1), &used);
    if (used != bind.size() - colon - 1 || port > 65535) throw std::invalid_argument("port");
  } catch (const std::exception&) {
    return std::unexpected("--metrics-bind-address: \"" + bind.substr(colon + 1) + "\" is not a port");
  }
  boost::system::error_code ec;
  const auto address = host.empty() ? net::ip::address(net::ip::address_v4::any()) : net::ip::make_address(host, ec);
  if (ec) return std::unexpected("--metrics-bind-address: \"" + host + "\" is not an IP address");
  auto p = std::make_shared<impl>(ioc, std::move(s));
  const tcp::endpoint ep{address, static_cast<unsigned short>(port)};
  p->acceptor.open(ep.protocol(), ec);
  if (!ec) p->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) p->acceptor.bind(ep, ec);
  if (!ec) p->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return std::unexpected("--metrics-bind-address " + bind + ": " + ec.message());
  net::co_spawn(ioc, p->accept_loop(), net::detached);
  return std::unique_ptr<http_endpoint>(new http_endpoint(std::move(p)));
}

}  // namespace qpu::app
