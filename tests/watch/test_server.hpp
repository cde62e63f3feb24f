#pragma once
// A tiny HTTP/1.1 server for the client tests: plain or TLS, keep-alive, one thread per
// connection, scripted by a handler. Responses are either whole bodies or a list of chunks
// written as HTTP chunked encoding exactly at the given boundaries (optionally cut without the
// final chunk), which is how the tests make chunk boundaries fall inside events.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace qpu::watch::testing {

struct test_request {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct test_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;  // used when `chunks` is empty
  std::vector<std::string> chunks;  // chunked body, written one chunk per write
  std::chrono::milliseconds chunk_delay{0};
  bool cut = false;  // close the connection before the final chunk
  bool close = false;  // Connection: close after this response
  std::map<std::string, std::string> headers;
};

struct tls_files {
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;  // when set, a client certificate signed by it is required
};

class test_server {
 public:
  using handler = std::function<test_response(const test_request&)>;
  explicit test_server(handler h, std::optional<tls_files> tls = std::nullopt);
  ~test_server();

  unsigned short port() const { return port_; }
  std::string url() const;  // http(s)://127.0.0.1:PORT
  int connections() const { return connections_.load(); }
  std::vector<test_request> requests() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  unsigned short port_ = 0;
  std::atomic<int> connections_{0};
  bool tls_ = false;
};

// A scratch directory removed at scope exit.
struct temp_dir {
  temp_dir();
  ~temp_dir();
  std::string path;
  std::string file(const std::string& name) const { return path + "/" + name; }
  void write(const std::string& name, const std::string& content) const;
};

std::string read_text(const std::string& path);

// CA, server certificate for 127.0.0.1/localhost signed by it, and a second unrelated CA.
struct test_pki {
  explicit test_pki(const temp_dir& dir);
  std::string ca_pem, server_cert_pem, wrong_name_cert_pem, wrong_name_key_pem, server_key_pem, other_ca_pem, client_cert_pem,
      client_key_pem;
};

}  // namespace qpu::watch::testing
