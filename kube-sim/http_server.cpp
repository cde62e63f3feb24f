#include "http_server.hpp"

#include <deque>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace kube_sim {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using net::use_awaitable;

namespace {

constexpr auto io_timeout = std::chrono::seconds(30);
constexpr auto idle_timeout = std::chrono::minutes(10);

// Unsubscribes a watch stream from the store when its coroutine ends, however it ends.
struct subscription {
  store& s;
  std::uint64_t id;
  subscription(store& st, std::uint64_t i) : s(st), id(i) {}
  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;
  ~subscription() { s.unsubscribe(id); }
};

template <class Stream>
void drop(Stream& stream) {
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(stream).socket().close(ignored);
}

}  // namespace

struct http_server::impl {
  net::io_context& io;
  api_handler& handler;
  watch_recorder& recorder;
  server_options options;
  tcp::acceptor acceptor;
  std::optional<ssl::context> tls_context;
  std::uint64_t next_watch_id = 1;

  impl(net::io_context& i, api_handler& h, watch_recorder& r, server_options o)
      : io(i), handler(h), recorder(r), options(std::move(o)), acceptor(i) {}

  net::awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(net::redirect_error(use_awaitable, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) continue;
      // Tiny watch chunks (the chunkBytes fault) must leave as separate segments.
      socket.set_option(tcp::no_delay(true), ec);
      if (tls_context) net::co_spawn(io, tls_session(std::move(socket)), net::detached);
      else net::co_spawn(io, plain_session(std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> plain_session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    if (co_await serve(stream)) {
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  net::awaitable<void> tls_session(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_context);
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(io_timeout);
    co_await stream.async_handshake(ssl::stream_base::server, net::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    if (co_await serve(stream)) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
      co_await stream.async_shutdown(net::redirect_error(use_awaitable, ec));
    }
  }

  // Returns true when the connection should be closed gracefully, false when it is already
  // broken (or deliberately dropped).
  template <class Stream>
  net::awaitable<bool> serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      beast::error_code ec;
      beast::get_lowest_layer(stream).expires_after(idle_timeout);
      co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
      if (ec == http::error::end_of_stream) co_return true;
      if (ec) co_return false;
      auto request = parser.release();
      api_request r{std::string(request.method_string()),
                    std::string(request.target()),
                    std::string(request[http::field::content_type]),
                    std::string(request[http::field::accept]),
                    std::string(request[http::field::authorization]),
                    std::move(request.body()),
                    std::string(request[http::field::user_agent])};
      auto outcome = handler.handle(r);
      if (auto* w = std::get_if<watch_request>(&outcome)) {
        bool intact = co_await stream_watch(stream, *w, request.version(), request.keep_alive(), r.user_agent);
        if (!intact) co_return false;
        if (!request.keep_alive()) co_return true;
        continue;
      }
      auto& reply = std::get<api_reply>(outcome);
      http::response<http::string_body> response{static_cast<http::status>(reply.status), request.version()};
      response.set(http::field::server, "kube-sim");
      response.set(http::field::content_type, reply.content_type);
      response.set(http::field::cache_control, "no-cache, private");
      for (const auto& [name, value] : reply.headers) response.set(name, value);
      response.keep_alive(request.keep_alive());
      response.body() = std::move(reply.body);
      response.prepare_payload();
      beast::get_lowest_layer(stream).expires_after(io_timeout);
      co_await http::async_write(stream, response, net::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
      if (!response.keep_alive()) co_return true;
    }
  }

  template <class Stream>
  net::awaitable<bool> write_event(Stream& stream, const std::string& line, fault_counts& counts) {
    beast::error_code ec;
    const auto piece =
        handler.faults().settings.chunk_bytes > 0 ? static_cast<std::size_t>(handler.faults().settings.chunk_bytes) : line.size();
    if (piece < line.size()) ++counts.chunked_events;
    for (std::size_t at = 0; at < line.size(); at += piece) {
      const auto n = std::min(piece, line.size() - at);
      beast::get_lowest_layer(stream).expires_after(io_timeout);
      co_await net::async_write(stream, http::make_chunk(net::const_buffer(line.data() + at, n)),
                                net::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
    }
    co_return true;
  }

  // A watch response: status and headers first, then one chunk (or, with the chunkBytes
  // fault, many) per event, each event one compact JSON document and a newline; the last
  // chunk closes the response cleanly at timeoutSeconds.
  template <class Stream>
  net::awaitable<bool> stream_watch(Stream& stream, const watch_request& w, unsigned version, bool keep_alive,
                                    const std::string& client) {
    const auto watch_id = next_watch_id++;
    store& s = handler.data();
    auto start = begin_watch(s, w);
    // By reference into a std::map: stable while other connections add clients.
    fault_counts& counts = handler.faults().by_client[client];
    if (start.ends_after_start) ++counts.expired_watches;
    std::deque<json> queue(start.events.begin(), start.events.end());
    net::steady_timer wake(io);
    subscription sub(s, s.subscribe([&](const change& c) {
      if (auto e = event_for(c, w, start.after_rv)) {
        queue.push_back(std::move(*e));
        wake.cancel();
      }
    }));

    http::response<http::empty_body> response{http::status::ok, version};
    response.set(http::field::server, "kube-sim");
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-cache, private");
    response.chunked(true);
    response.keep_alive(keep_alive);
    http::response_serializer<http::empty_body> serializer{response};
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(io_timeout);
    co_await http::async_write_header(stream, serializer, net::redirect_error(use_awaitable, ec));
    if (ec) co_return false;

    const auto deadline = std::chrono::steady_clock::now() + w.timeout;
    auto next_bookmark = std::chrono::steady_clock::now() + options.bookmark_interval;
    std::int64_t sent = 0;
    bool ending = start.ends_after_start;
    for (;;) {
      while (!queue.empty()) {
        json event = std::move(queue.front());
        queue.pop_front();
        if (auto delay = handler.faults().settings.event_delay_ms; delay > 0) {
          ++counts.delayed_events;
          net::steady_timer pause(io, std::chrono::milliseconds(delay));
          co_await pause.async_wait(net::redirect_error(use_awaitable, ec));
        }
        recorder.record(watch_id, w.path, event);
        if (!co_await write_event(stream, event.dump() + "\n", counts)) co_return false;
        ++sent;
        const auto drop_after = handler.faults().settings.drop_watch_after_events;
        if (drop_after > 0 && sent >= drop_after) {
          ++counts.dropped_watches;
          // The dropWatchAfterEvents fault: the connection vanishes mid-response, as when a
          // load balancer or the apiserver goes away; the client must resume from its last RV.
          drop(stream);
          co_return false;
        }
      }
      if (ending) break;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      if (w.allow_bookmarks && now >= next_bookmark) {
        queue.push_back(bookmark_event(w.type, std::max(s.revision(), start.after_rv), false));
        next_bookmark = now + options.bookmark_interval;
        continue;
      }
      wake.expires_at(w.allow_bookmarks ? std::min(deadline, next_bookmark) : deadline);
      co_await wake.async_wait(net::redirect_error(use_awaitable, ec));
    }
    beast::get_lowest_layer(stream).expires_after(io_timeout);
    co_await net::async_write(stream, http::make_chunk_last(), net::redirect_error(use_awaitable, ec));
    co_return !ec;
  }
};

http_server::http_server(net::io_context& io, api_handler& handler, watch_recorder& recorder, server_options options)
    : impl_(std::make_unique<impl>(io, handler, recorder, std::move(options))) {}

http_server::~http_server() = default;

result<tcp::endpoint> http_server::listen(const tcp::endpoint& at) {
  auto& i = *impl_;
  if (i.options.tls) {
    i.tls_context.emplace(ssl::context::tls_server);
    i.tls_context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                               ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    i.tls_context->use_certificate_chain(net::buffer(i.options.tls->server_cert_pem), ec);
    if (!ec) i.tls_context->use_private_key(net::buffer(i.options.tls->server_key_pem), ssl::context::pem, ec);
    if (ec) return std::unexpected(internal_error("cannot load the server certificate: " + ec.message()));
  }
  beast::error_code ec;
  i.acceptor.open(at.protocol(), ec);
  if (!ec) i.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(at, ec);
  if (!ec) i.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return std::unexpected(
        internal_error("cannot listen on " + at.address().to_string() + ":" + std::to_string(at.port()) + ": " + ec.message()));
  return i.acceptor.local_endpoint();
}

void http_server::start() { net::co_spawn(impl_->io, impl_->accept_loop(), net::detached); }

}  // namespace kube_sim
