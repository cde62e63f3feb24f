#include "tests/effects/db/pg_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace qpu::test {

namespace {

const char* pg_user = "qpu-pg";

bool is_root() { return ::geteuid() == 0; }

// Runs a shell command; returns (exit status, stdout).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::array<char, 65536> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string as_pg(const std::string& dir, const std::string& cmd) {
  return "cd '" + dir + "' && " + (is_root() ? std::string("runuser -u ") + pg_user + " -- " : "") + cmd;
}

void give_to_pg(const std::string& path) {
  if (!is_root()) return;
  if (const passwd* pw = ::getpwnam(pg_user)) {
    if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown " + path);
  } else {
    throw std::runtime_error("user qpu-pg missing: run scripts/provision-postgres.sh");
  }
}

}  // namespace

std::string pg_bindir(int major) {
  const char* cache = std::getenv("QPU_PG_CACHE");
  return std::string(cache ? cache : "/var/cache/quay-pg-upgrader/pg") + "/" + std::to_string(major) + "/bin";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + path);
}

temp_dir::temp_dir() {
  std::string templ = "/tmp/qpu-dbtest.XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path = templ;
  ::chmod(path.c_str(), 0755);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::uint16_t free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (s >= 0) ::close(s);
    throw std::runtime_error("no free port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

pg_server::pg_server(int major, bool tls) : major_(major) {
  std::string templ = "/tmp/qpu-dbtest-pg" + std::to_string(major) + ".XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = templ;
  ::chmod(dir_.c_str(), 0700);
  give_to_pg(dir_);
  write_file(dir_ + "/pwfile", std::string(pg_password) + "\n");
  give_to_pg(dir_ + "/pwfile");
  const auto bin = pg_bindir(major);
  auto [rc, out] =
      run(as_pg(dir_, bin + "/initdb -D '" + dir_ + "/data' -U postgres --auth-local=trust --auth-host=md5 --pwfile='" + dir_ +
                          "/pwfile' -E UTF8 --locale=C -N >'" + dir_ + "/initdb.log' 2>&1"));
  if (rc != 0) throw std::runtime_error("initdb " + std::to_string(major) + " failed; see " + dir_ + "/initdb.log");
  std::string options;
  if (tls) {
    auto [crc, cout] =
        run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext "
            "subjectAltName=IP:127.0.0.1 -keyout '" +
            dir_ + "/server.key' -out '" + dir_ + "/server.crt' >'" + dir_ + "/openssl.log' 2>&1");
    if (crc != 0) throw std::runtime_error("openssl req failed; see " + dir_ + "/openssl.log");
    ::chmod((dir_ + "/server.key").c_str(), 0600);
    give_to_pg(dir_ + "/server.key");
    give_to_pg(dir_ + "/server.crt");
    options = " -c ssl=on -c ssl_cert_file='" + dir_ + "/server.crt' -c ssl_key_file='" + dir_ + "/server.key'";
  }
  for (int attempt = 0; attempt < 5 && !started_; ++attempt) {
    port_ = free_port();
    auto [src, sout] = run(as_pg(dir_, bin + "/pg_ctl -D '" + dir_ + "/data' -l '" + dir_ + "/server.log' -w -t 60 -o \"-p " +
                                           std::to_string(port_) + " -k '" + dir_ + "' -c listen_addresses=127.0.0.1" + options +
                                           "\" start >/dev/null 2>&1"));
    started_ = src == 0;
  }
  if (!started_) throw std::runtime_error("PostgreSQL " + std::to_string(major) + " did not start; see " + dir_ + "/server.log");
}

pg_server::~pg_server() {
  if (started_) {
    run(as_pg(dir_, pg_bindir(major_) + "/pg_ctl -D '" + dir_ + "/data' -m immediate -w stop >/dev/null 2>&1"));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

effects::connection_spec pg_server::spec(const std::string& dbname) const {
  effects::connection_spec s;
  s.host = "127.0.0.1";
  s.port = port_;
  s.user = "postgres";
  s.password = pg_password;
  s.dbname = dbname;
  return s;
}

std::string pg_server::psql_file(const std::string& dbname, const std::string& path) const {
  auto [rc, out] = run("PGPASSWORD='" + std::string(pg_password) + "' " + pg_bindir(15) +
                       "/psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " + std::to_string(port_) + " -U postgres -d " +
                       dbname + " -f '" + path + "'");
  if (rc != 0) throw std::runtime_error("psql -f " + path + " on PostgreSQL " + std::to_string(major_) + " failed:\n" + out);
  return out;
}

std::string pg_server::psql(const std::string& dbname, const std::string& sql) const {
  temp_dir d;
  write_file(d.path + "/q.sql", sql);
  return psql_file(dbname, d.path + "/q.sql");
}

}  // namespace qpu::test
