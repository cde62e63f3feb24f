#include "test_server.hpp"

#include <utility>  // before Boost 1.74 asio: its awaitable.hpp uses std::exchange unincluded

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace qpu::watch::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

struct test_server::impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::optional<ssl::context> ctx;
  handler h;
  std::thread accept_thread;
  std::mutex mu;
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<tcp::socket>> sockets;
  std::vector<test_request> requests;
  std::atomic<bool> stopping{false};

  template <class Stream>
  void serve(Stream& s) {
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> p;
      p.body_limit(64u << 20);
      beast::error_code ec;
      http::read(s, buf, p, ec);
      if (ec) return;
      auto& req = p.get();
      test_request tr;
      tr.method = std::string(req.method_string());
      tr.target = std::string(req.target());
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        tr.headers[name] = std::string(f.value());
      }
      tr.body = req.body();
      {
        std::lock_guard lock(mu);
        requests.push_back(tr);
      }
      test_response res = h(tr);
      std::ostringstream head;
      head << "HTTP/1.1 " << res.status << " X\r\nContent-Type: " << res.content_type << "\r\n";
      for (const auto& [k, v] : res.headers) head << k << ": " << v << "\r\n";
      if (res.close) head << "Connection: close\r\n";
      if (res.chunks.empty()) {
        head << "Content-Length: " << res.body.size() << "\r\n\r\n" << res.body;
        net::write(s, net::buffer(head.str()), ec);
        if (ec) return;
      } else {
        head << "Transfer-Encoding: chunked\r\n\r\n";
        net::write(s, net::buffer(head.str()), ec);
        if (ec) return;
        for (const auto& c : res.chunks) {
          if (res.chunk_delay.count()) std::this_thread::sleep_for(res.chunk_delay);
          std::ostringstream chunk;
          chunk << std::hex << c.size() << "\r\n" << c << "\r\n";
          net::write(s, net::buffer(chunk.str()), ec);
          if (ec) return;
        }
        if (res.cut) return;
        net::write(s, net::buffer(std::string("0\r\n\r\n")), ec);
        if (ec) return;
      }
      if (res.close) return;
    }
  }
};

test_server::test_server(handler h, std::optional<tls_files> tls) : impl_(std::make_unique<impl>()) {
  impl_->h = std::move(h);
  if (tls) {
    tls_ = true;
    impl_->ctx.emplace(ssl::context::tls_server);
    impl_->ctx->use_certificate_chain(net::buffer(tls->cert_pem));
    impl_->ctx->use_private_key(net::buffer(tls->key_pem), ssl::context::pem);
    if (!tls->client_ca_pem.empty()) {
      impl_->ctx->add_certificate_authority(net::buffer(tls->client_ca_pem));
      impl_->ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
  }
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] {
    for (;;) {
      auto sock = std::make_shared<tcp::socket>(impl_->ioc);
      beast::error_code ec;
      impl_->acceptor.accept(*sock, ec);
      if (ec || impl_->stopping) return;
      ++connections_;
      std::lock_guard lock(impl_->mu);
      impl_->sockets.push_back(sock);
      impl_->threads.emplace_back([this, sock] {
        if (impl_->ctx) {
          ssl::stream<tcp::socket&> s(*sock, *impl_->ctx);
          beast::error_code ec;
          s.handshake(ssl::stream_base::server, ec);
          if (!ec) impl_->serve(s);
        } else {
          impl_->serve(*sock);
        }
        beast::error_code ignored;
        sock->shutdown(tcp::socket::shutdown_both, ignored);
      });
    }
  });
}

test_server::~test_server() {
  impl_->stopping = true;
  beast::error_code ec;
  // Wake the blocking accept with a connection of our own, then stop every connection.
  {
    net::io_context ioc;
    tcp::socket wake(ioc);
    wake.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  }
  impl_->accept_thread.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& s : impl_->sockets) s->shutdown(tcp::socket::shutdown_both, ec);
    threads = std::move(impl_->threads);
  }
  for (auto& t : threads) t.join();
}

std::string test_server::url() const { return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_); }

std::vector<test_request> test_server::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

temp_dir::temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "qpu-watch-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

void temp_dir::write(const std::string& name, const std::string& content) const {
  std::ofstream out(file(name), std::ios::binary);
  out << content;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

test_pki::test_pki(const temp_dir& d) {
  const std::string p = d.path;
  d.write("san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string cmd =
      "(cd " + p + " && openssl req -x509" + key + " -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca" +
      " && openssl req -x509" + key + " -keyout other.key -out other.crt -days 2 -subj /CN=other-ca" + " && openssl req" + key +
      " -keyout server.key -out server.csr -subj /CN=127.0.0.1" +
      " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext" +
      " && openssl req" + key + " -keyout wrong.key -out wrong.csr -subj /CN=elsewhere" +
      " && echo subjectAltName=DNS:elsewhere.example > wrong.ext" +
      " && openssl x509 -req -in wrong.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out wrong.crt -days 2 -extfile wrong.ext" +
      " && openssl req" + key + " -keyout client.key -out client.csr -subj /CN=client" +
      " && openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2" +
      ") >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed to make test certificates in " + p);
  ca_pem = read_text(d.file("ca.crt"));
  other_ca_pem = read_text(d.file("other.crt"));
  server_cert_pem = read_text(d.file("server.crt"));
  server_key_pem = read_text(d.file("server.key"));
  client_cert_pem = read_text(d.file("client.crt"));
  client_key_pem = read_text(d.file("client.key"));
  wrong_name_cert_pem = read_text(d.file("wrong.crt"));
  wrong_name_key_pem = read_text(d.file("wrong.key"));
}

}  // namespace qpu::watch::testing
