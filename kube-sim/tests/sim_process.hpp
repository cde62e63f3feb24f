#pragma once
// Test fixture: runs `kube-sim serve` on port 0 in a fresh temporary directory and stops it
// with SIGTERM when the fixture goes out of scope.
#include <filesystem>
#include <string>
#include <vector>

#include <sys/types.h>

namespace kube_sim::testing {

class sim_process {
 public:
  /// Starts kube-sim with `extra` flags and waits for its "listening on" line.
  explicit sim_process(std::vector<std::string> extra = {}, std::filesystem::path dir = {});
  ~sim_process();
  sim_process(const sim_process&) = delete;
  sim_process& operator=(const sim_process&) = delete;

  void stop();
  /// SIGKILL: the process gets no chance to save anything.
  void kill_now();
  const std::string& url() const { return url_; }
  std::string host() const { return "127.0.0.1"; }
  unsigned short port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path kubeconfig() const { return dir_ / "kubeconfig"; }

 private:
  void end(int sig);

  pid_t pid_ = -1;
  std::filesystem::path dir_;
  std::string url_;
  unsigned short port_ = 0;
};

std::filesystem::path make_temp_dir();

}  // namespace kube_sim::testing
