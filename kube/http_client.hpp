#pragma once
// HTTP/1.1 to one API server, over TCP or TLS, on an Asio executor, with C++20 coroutines.
//
// - Plain requests share a small pool of keep-alive connections; a watch stream gets a
//   dedicated connection that is closed when the stream ends (its body is never drained).
// - Every I/O step has a deadline (`expires_after` before each), so a silent peer costs a
//   timeout, never a hung controller.
// - TLS verifies the server against the configured CA and the host name or IP by default.
// - A 401 re-reads the bearer token file and retries once (tokens rotate).
//
// Threading: not thread-safe. Use it from coroutines on one executor (a single-threaded
// io_context, or a strand).
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kube/api_error.hpp"
#include "kube/kube_config.hpp"

namespace qpu::kube {

struct client_options {
  std::chrono::milliseconds connect_timeout{10'000};  // resolve + connect + TLS handshake
  std::chrono::milliseconds request_timeout{30'000};  // each write and read of a plain request
  // Plain requests in flight at once; more wait their turn (watches hold their own connections
  // and are not counted). Unbounded, the 2000 status writes and Events decided right after an
  // initial sync across 1000 registries opened 2000 TLS connections at once: 170 MB of OpenSSL
  // buffers and a handshake each (docs/BENCHMARKS.md, item 4). client-go bounds the same burst
  // with its rate limiter and HTTP/2 multiplexing.
  std::size_t max_requests_in_flight = 8;
  std::size_t max_idle_connections = 8;  // as many as may be in flight: a burst reuses them
  std::size_t body_limit = 256u << 20;  // plain responses (a large list page)
  std::string user_agent = "quay-pg-upgrader/0.1";
};

struct http_response {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;
};

// How a streamed GET ended.
enum class stream_end : std::uint8_t {
  complete,  // the server ended the body (timeoutSeconds expired, or a final chunk)
  truncated,  // the connection closed or broke mid-body
  idle_timeout,  // nothing arrived within the idle deadline
  stopped,  // the consumer asked to stop
};

struct stream_result {
  unsigned status = 0;  // 200, or the error status (then `error_body` holds the body)
  std::string error_body;
  std::string retry_after;
  stream_end end = stream_end::complete;
  std::string detail;  // what broke, for truncated / idle_timeout
};

// Where requests go: scheme, host and port of cfg.server, plus any path prefix.
struct server_address {
  bool tls = true;
  std::string host;  // without IPv6 brackets
  std::string port;
  std::string base_path;  // "" or "/prefix" (clusters behind a path-routing proxy)
};
std::expected<server_address, std::string> parse_server(const std::string& server);
bool is_loopback(const std::string& host);

class http_client {
 public:
  // Fails on an unusable config (bad URL, unusable PEM, plaintext to a non-loopback host).
  static std::expected<std::shared_ptr<http_client>, std::string> create(boost::asio::any_io_executor ex, kube_config cfg,
                                                                         client_options opts = {});
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // One request; any HTTP status is a response (the caller maps >= 400 to api_error), transport
  // and TLS failures are errors. `target` is the path and query, without the base path.
  boost::asio::awaitable<std::expected<http_response, api_error>> request(boost::beast::http::verb method, std::string target,
                                                                          std::string body = {}, std::string content_type = {});

  // A streamed GET: `on_bytes` receives body bytes as they arrive (chunk framing removed) and
  // returns false to stop. `idle_timeout` bounds the wait for each read.
  boost::asio::awaitable<std::expected<stream_result, api_error>> stream(std::string target,
                                                                         std::function<bool(std::string_view)> on_bytes,
                                                                         std::chrono::milliseconds idle_timeout);

  const kube_config& config() const;
  const server_address& address() const;
  std::size_t idle_connections() const;
  std::uint64_t connections_opened() const;

 private:
  struct impl;
  explicit http_client(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace qpu::kube
