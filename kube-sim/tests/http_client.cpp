#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kube_sim::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

http_result send(unsigned short port, const std::string& method, const std::string& target, const std::string& body,
                 const std::string& content_type, const std::string& user_agent) {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, "127.0.0.1");
  if (!user_agent.empty()) request.set(http::field::user_agent, user_agent);
  if (!body.empty()) request.set(http::field::content_type, content_type);
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::error_code ec;
  http::read(stream, buffer, parser, ec);
  http_result r;
  r.complete = !ec;
  r.status = static_cast<int>(parser.get().result_int());
  r.body = parser.get().body();
  r.content_type = std::string(parser.get()[http::field::content_type]);
  r.retry_after = std::string(parser.get()[http::field::retry_after]);
  r.transfer_encoding = std::string(parser.get()[http::field::transfer_encoding]);
  return r;
}

}  // namespace kube_sim::testing
