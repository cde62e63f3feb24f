// A real PostgreSQL server of one major for a test: initdb into a private temp folder as the
// unprivileged qpu-pg user (when running as root), started on a free 127.0.0.1 port with its
// socket in that folder; stopped (immediate) and removed on destruction. Local connections are
// trusted, TCP ones need the superuser's password (md5, which also accepts SCRAM secrets).
#pragma once

#include <cstdint>
#include <string>

#include "effects/db_inspect.hpp"

namespace qpu::test {

inline constexpr const char* pg_password = "Corr3ct-H0rse-Battery";

// <cache>/<major>/bin, from QPU_PG_CACHE or the default cache folder.
std::string pg_bindir(int major);

class pg_server {
 public:
  // tls: the server also speaks TLS (ssl=on) with a self-signed certificate for 127.0.0.1
  // (subjectAltName IP), which is its own CA: ca_file().
  explicit pg_server(int major, bool tls = false);
  ~pg_server();
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  int major() const { return major_; }
  std::uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string ca_file() const { return dir_ + "/server.crt"; }
  effects::connection_spec spec(const std::string& dbname = "postgres") const;

  // Runs 15's psql (the client tools the project ships) over TCP with -X -q -At and
  // ON_ERROR_STOP on a file; returns its stdout. Throws on a non-zero exit.
  std::string psql_file(const std::string& dbname, const std::string& path) const;
  std::string psql(const std::string& dbname, const std::string& sql) const;

 private:
  int major_;
  std::string dir_;
  std::uint16_t port_ = 0;
  bool started_ = false;
};

// A temp folder removed on destruction.
struct temp_dir {
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string path;
};

void write_file(const std::string& path, const std::string& text);

// A free TCP port on 127.0.0.1 (bound to port 0 and released; a race is retried by callers).
std::uint16_t free_port();

}  // namespace qpu::test
