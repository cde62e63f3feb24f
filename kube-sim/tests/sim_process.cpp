#include "sim_process.hpp"

#include <array>
#include <csignal>
#include <cstdlib>
#include <stdexcept>

#include <sys/wait.h>
#include <unistd.h>

namespace kube_sim::testing {

std::filesystem::path make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "kube-sim-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

sim_process::sim_process(std::vector<std::string> extra, std::filesystem::path dir)
    : dir_(dir.empty() ? make_temp_dir() : std::move(dir)) {
  std::vector<std::string> args = {KUBE_SIM_BINARY,      "serve", "--listen", "127.0.0.1:0", "--kubeconfig-out",
                                   kubeconfig().string()};
  args.insert(args.end(), extra.begin(), extra.end());
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  const std::string marker = "kube-sim listening on ";
  if (!line.starts_with(marker)) {
    stop();
    throw std::runtime_error("kube-sim did not start: '" + line + "'");
  }
  url_ = line.substr(marker.size());
  port_ = static_cast<unsigned short>(std::stoi(url_.substr(url_.rfind(':') + 1)));
}

sim_process::~sim_process() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void sim_process::stop() { end(SIGTERM); }

void sim_process::kill_now() { end(SIGKILL); }

void sim_process::end(int sig) {
  if (pid_ <= 0) return;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace kube_sim::testing
