#pragma once
// The Beast side of kube-sim: accepts connections (plain HTTP or HTTPS), reads requests with
// keep-alive, answers through api_handler, and streams watches with chunked encoding.
// One coroutine per connection, all on the io_context's single thread (which is the strand).
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "api_handler.hpp"
#include "tls_identity.hpp"
#include "watch_recorder.hpp"

namespace kube_sim {

struct server_options {
  std::chrono::milliseconds bookmark_interval{10000};
  std::optional<tls_identity> tls;  // HTTPS with this certificate when set
};

class http_server {
 public:
  http_server(boost::asio::io_context& io, api_handler& handler, watch_recorder& recorder, server_options options);
  ~http_server();

  /// Binds and listens; returns the bound endpoint (port 0 picks a free port).
  result<boost::asio::ip::tcp::endpoint> listen(const boost::asio::ip::tcp::endpoint& at);
  /// Starts accepting on the io_context.
  void start();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace kube_sim
