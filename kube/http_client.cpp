#include "kube/http_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "kube/tls.hpp"
#include "kube/token_source.hpp"

namespace qpu::kube {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;

std::expected<server_address, std::string> parse_server(const std::string& server) {
  server_address a;
  std::string rest;
  if (server.starts_with("https://")) {
    rest = server.substr(8);
  } else if (server.starts_with("http://")) {
    a.tls = false;
    rest = server.substr(7);
  } else {
    return std::unexpected("server \"" + server + "\" must start with https:// or http://");
  }
  std::string authority = rest.substr(0, rest.find('/'));
  if (rest.size() > authority.size()) a.base_path = rest.substr(authority.size());
  while (!a.base_path.empty() && a.base_path.back() == '/') a.base_path.pop_back();
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string::npos) return std::unexpected("server \"" + server + "\": unterminated IPv6 address");
    a.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') a.port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    a.host = authority.substr(0, colon);
    if (colon != std::string::npos) a.port = authority.substr(colon + 1);
  }
  if (a.host.empty()) return std::unexpected("server \"" + server + "\" has no host");
  if (a.port.empty()) a.port = a.tls ? "443" : "80";
  return a;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  return !ec && addr.is_loopback();
}

namespace {

// One keep-alive connection, plain or TLS.
struct connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }
};

using connection_ptr = std::unique_ptr<connection>;

// Errors a reused keep-alive connection gives when the server had already closed it: the
// request never reached the server, so sending it again on a fresh connection is safe.
bool stale_connection(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::connection_reset || ec == net::error::eof ||
         ec == net::error::broken_pipe || ec == ssl::error::stream_truncated;
}

api_error transport_error(const beast::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout) return timeout_error(what + ": timed out");
  return connection_error(what + ": " + ec.message());
}

}  // namespace

// Shared, and held by every request in flight (the slot below, the stream's frame): a coroutine
// frame the io_context destroys after the client is gone (a shutdown with requests in flight)
// still finds its impl alive.
struct http_client::impl : std::enable_shared_from_this<http_client::impl> {
  net::any_io_executor ex;
  kube_config cfg;
  client_options opts;
  server_address addr;
  std::optional<ssl::context> tls_ctx;
  token_source tokens;
  std::vector<connection_ptr> idle;
  std::uint64_t opened = 0;
  // The cap on plain requests in flight (client_options::max_requests_in_flight). One thread runs
  // the client's executor, as for `idle`: no lock.
  std::size_t in_flight = 0;
  std::deque<std::shared_ptr<net::steady_timer>> waiting;

  awaitable<void> acquire_slot() {
    while (in_flight >= std::max<std::size_t>(opts.max_requests_in_flight, 1)) {
      auto t = std::make_shared<net::steady_timer>(ex, net::steady_timer::time_point::max());
      waiting.push_back(t);
      beast::error_code ec;
      co_await t->async_wait(net::redirect_error(use_awaitable, ec));  // cancelled by release_slot
    }
    ++in_flight;
  }
  void release_slot() {
    --in_flight;
    while (!waiting.empty()) {  // wake the first request still waiting (none was cancelled by its caller)
      const auto t = std::move(waiting.front());
      waiting.pop_front();
      if (t->cancel() > 0) break;
    }
  }
  struct slot {
    std::shared_ptr<impl> owner;
    explicit slot(std::shared_ptr<impl> o) : owner(std::move(o)) {}
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    ~slot() { owner->release_slot(); }
  };

  std::string where() const { return addr.host + ":" + addr.port; }

  awaitable<std::expected<std::vector<tcp::endpoint>, api_error>> resolve() {
    std::vector<tcp::endpoint> eps;
    boost::system::error_code ec;
    auto ip = net::ip::make_address(addr.host, ec);
    unsigned short port = static_cast<unsigned short>(std::stoi(addr.port));
    if (!ec) {
      eps.emplace_back(ip, port);
      co_return eps;
    }
    // The resolver has no deadline of its own: a timer cancels it. Both hold the resolver so
    // that a timer firing after the coroutine moved on touches nothing freed.
    auto resolver = std::make_shared<tcp::resolver>(ex);
    net::steady_timer timer(ex);
    timer.expires_after(opts.connect_timeout);
    timer.async_wait([resolver](boost::system::error_code e) {
      if (!e) resolver->cancel();
    });
    auto results = co_await resolver->async_resolve(addr.host, addr.port, net::redirect_error(use_awaitable, ec));
    timer.cancel();
    if (ec == net::error::operation_aborted) co_return std::unexpected(timeout_error("resolving " + addr.host + ": timed out"));
    if (ec) co_return std::unexpected(connection_error("resolving " + addr.host + ": " + ec.message()));
    for (const auto& r : results) eps.push_back(r.endpoint());
    co_return eps;
  }

  awaitable<std::expected<connection_ptr, api_error>> connect() {
    auto eps = co_await resolve();
    if (!eps) co_return std::unexpected(eps.error());
    auto c = std::make_unique<connection>();
    if (addr.tls) {
      c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *tls_ctx);
    } else {
      c->plain = std::make_unique<beast::tcp_stream>(ex);
    }
    beast::error_code ec;
    c->lowest().expires_after(opts.connect_timeout);
    co_await c->lowest().async_connect(*eps, net::redirect_error(use_awaitable, ec));
    if (ec) co_return std::unexpected(transport_error(ec, "connecting to " + where()));
    // Requests are small and latency-bound: without TCP_NODELAY a request written as more than
    // one segment (TLS records, header then body) waits for the server's delayed ACK (40 ms on
    // Linux) under Nagle's algorithm. Go's net/http, and so client-go, sets it on every connection.
    beast::error_code nodelay_ec;  // failing to set it costs latency, not correctness
    c->lowest().socket().set_option(tcp::no_delay(true), nodelay_ec);
    if (c->tls) {
      if (auto ok = prepare_tls_session(c->tls->native_handle(), addr.host, !cfg.insecure_skip_tls_verify); !ok)
        co_return std::unexpected(connection_error(ok.error()));
      c->lowest().expires_after(opts.connect_timeout);
      co_await c->tls->async_handshake(ssl::stream_base::client, net::redirect_error(use_awaitable, ec));
      if (ec == beast::error::timeout) co_return std::unexpected(timeout_error("TLS handshake with " + where() + ": timed out"));
      if (ec)
        co_return std::unexpected(connection_error(
            describe_tls_failure(c->tls->native_handle(), "TLS handshake with " + where() + " failed: " + ec.message())));
    }
    ++opened;
    co_return c;
  }

  http::request<http::string_body> make_request(http::verb method, const std::string& target, std::string body,
                                                const std::string& content_type) {
    http::request<http::string_body> req{method, addr.base_path + target, 11};
    const bool default_port = addr.port == (addr.tls ? "443" : "80");
    std::string host = addr.host.find(':') != std::string::npos ? "[" + addr.host + "]" : addr.host;
    req.set(http::field::host, default_port ? host : host + ":" + addr.port);
    req.set(http::field::user_agent, opts.user_agent);
    req.set(http::field::accept, "application/json");
    if (const std::string& token = tokens.current(); !token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

  struct exchange_result {
    std::expected<http_response, api_error> response = std::unexpected(connection_error("no request sent"));
    bool keep = false;
    bool retry_fresh = false;  // a reused connection turned out to be closed
  };

  template <class Stream>
  awaitable<exchange_result> exchange(Stream& s, connection& c, http::request<http::string_body>& req, bool reused) {
    beast::error_code ec;
    c.lowest().expires_after(opts.request_timeout);
    co_await http::async_write(s, req, net::redirect_error(use_awaitable, ec));
    if (ec) co_return exchange_result{std::unexpected(transport_error(ec, "sending to " + where())), false, reused};
    http::response_parser<http::string_body> p;
    p.body_limit(opts.body_limit);
    c.lowest().expires_after(opts.request_timeout);
    std::size_t n = co_await http::async_read(s, c.buffer, p, net::redirect_error(use_awaitable, ec));
    if (ec) {
      bool retry = reused && n == 0 && stale_connection(ec);
      co_return exchange_result{std::unexpected(transport_error(ec, "reading the response from " + where())), false, retry};
    }
    auto& res = p.get();
    http_response out;
    out.status = res.result_int();
    out.content_type = std::string(res[http::field::content_type]);
    out.retry_after = std::string(res[http::field::retry_after]);
    out.body = std::move(res.body());
    co_return exchange_result{std::move(out), res.keep_alive(), false};
  }

  awaitable<exchange_result> send_once(http::verb method, const std::string& target, const std::string& body,
                                       const std::string& content_type) {
    co_await acquire_slot();
    const slot held{shared_from_this()};
    for (int attempt = 0;; ++attempt) {
      connection_ptr c;
      bool reused = false;
      if (attempt == 0 && !idle.empty()) {
        c = std::move(idle.back());
        idle.pop_back();
        reused = true;
      } else {
        auto fresh = co_await connect();
        if (!fresh) co_return exchange_result{std::unexpected(fresh.error()), false, false};
        c = std::move(*fresh);
      }
      auto req = make_request(method, target, body, content_type);
      // if/else, not ?:, around co_await: g++ 12 miscompiles co_await inside a conditional expression.
      exchange_result r;
      if (c->tls) r = co_await exchange(*c->tls, *c, req, reused);
      else r = co_await exchange(*c->plain, *c, req, reused);
      if (r.retry_fresh && attempt == 0) continue;
      if (r.keep && r.response && idle.size() < opts.max_idle_connections) {
        idle.push_back(std::move(c));
      } else {
        c->close();
      }
      co_return r;
    }
  }

  template <class Stream>
  awaitable<std::expected<stream_result, api_error>> stream_on(Stream& s, connection& c, const std::string& target,
                                                               const std::function<bool(std::string_view)>& on_bytes,
                                                               std::chrono::milliseconds idle_timeout) {
    beast::error_code ec;
    auto req = make_request(http::verb::get, target, {}, {});
    c.lowest().expires_after(opts.request_timeout);
    co_await http::async_write(s, req, net::redirect_error(use_awaitable, ec));
    if (ec) co_return std::unexpected(transport_error(ec, "sending to " + where()));
    http::response_parser<http::buffer_body> p;
    // A watch body is unbounded (lines are bounded by the splitter). Not boost::none: Beast 1.74
    // compares a Content-Length against the optional limit and treats "none" as exceeded.
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    c.lowest().expires_after(opts.request_timeout);
    co_await http::async_read_header(s, c.buffer, p, net::redirect_error(use_awaitable, ec));
    if (ec) co_return std::unexpected(transport_error(ec, "reading the response header from " + where()));

    stream_result out;
    out.status = p.get().result_int();
    out.retry_after = std::string(p.get()[http::field::retry_after]);
    std::vector<char> buf(out.status == 200 ? 64 * 1024 : 8 * 1024);
    while (!p.is_done()) {
      p.get().body().data = buf.data();
      p.get().body().size = buf.size();
      c.lowest().expires_after(out.status == 200 ? idle_timeout : opts.request_timeout);
      co_await http::async_read_some(s, c.buffer, p, net::redirect_error(use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      const std::size_t n = buf.size() - p.get().body().size;
      if (n > 0) {
        std::string_view bytes(buf.data(), n);
        if (out.status != 200) {
          if (out.error_body.size() < (1u << 20)) out.error_body.append(bytes);
        } else if (!on_bytes(bytes)) {
          out.end = stream_end::stopped;
          co_return out;
        }
      }
      if (ec) {
        // A watch ends by the server closing the body; a TLS peer that closes without
        // close_notify (stream_truncated) or a TCP reset mid-body means the stream is cut, and
        // the caller re-watches from its last resourceVersion either way.
        out.end = ec == beast::error::timeout ? stream_end::idle_timeout : stream_end::truncated;
        out.detail = "stream from " + where() + ": " + ec.message();
        co_return out;
      }
    }
    out.end = stream_end::complete;
    co_return out;
  }
};

http_client::http_client(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
http_client::~http_client() = default;

std::expected<std::shared_ptr<http_client>, std::string> http_client::create(net::any_io_executor ex, kube_config cfg,
                                                                             client_options opts) {
  auto addr = parse_server(cfg.server);
  if (!addr) return std::unexpected(cfg.origin + ": " + addr.error());
  if (!addr->tls && !is_loopback(addr->host) && !cfg.allow_insecure_http)
    return std::unexpected(cfg.origin + ": refusing plaintext " + cfg.server +
                           " (tokens would cross the network unencrypted); use https, or pass --allow-insecure-http "
                           "(allow_insecure_http) to accept it");
  auto p = std::make_shared<impl>();
  p->ex = ex;
  p->opts = opts;
  p->addr = *addr;
  if (addr->tls) {
    auto ctx = make_tls_context(cfg);
    if (!ctx) return std::unexpected(ctx.error());
    p->tls_ctx.emplace(std::move(*ctx));
  }
  p->tokens = token_source(cfg.token, cfg.token_file);
  p->cfg = std::move(cfg);
  return std::shared_ptr<http_client>(new http_client(std::move(p)));
}

awaitable<std::expected<http_response, api_error>> http_client::request(http::verb method, std::string target, std::string body,
                                                                        std::string content_type) {
  const auto self = impl_;  // the frame keeps the impl alive (see impl)
  auto r = co_await self->send_once(method, target, body, content_type);
  // A 401 with a token file: the token may have rotated under us. Re-read it and try once more.
  if (r.response && r.response->status == 401 && self->tokens.invalidate())
    r = co_await self->send_once(method, target, body, content_type);
  co_return std::move(r.response);
}

awaitable<std::expected<stream_result, api_error>> http_client::stream(std::string target,
                                                                       std::function<bool(std::string_view)> on_bytes,
                                                                       std::chrono::milliseconds idle_timeout) {
  const auto self = impl_;
  for (int attempt = 0;; ++attempt) {
    auto c = co_await self->connect();
    if (!c) co_return std::unexpected(c.error());
    connection& conn = **c;
    std::expected<stream_result, api_error> r;
    if (conn.tls) r = co_await self->stream_on(*conn.tls, conn, target, on_bytes, idle_timeout);
    else r = co_await self->stream_on(*conn.plain, conn, target, on_bytes, idle_timeout);
    conn.close();
    if (attempt == 0 && r && r->status == 401 && self->tokens.invalidate()) continue;
    co_return r;
  }
}

const kube_config& http_client::config() const { return impl_->cfg; }
const server_address& http_client::address() const { return impl_->addr; }
std::size_t http_client::idle_connections() const { return impl_->idle.size(); }
std::uint64_t http_client::connections_opened() const { return impl_->opened; }

}  // namespace qpu::kube
