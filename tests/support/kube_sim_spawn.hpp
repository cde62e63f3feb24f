#pragma once
// Starts `kube-sim serve` for a test and waits for its "kube-sim listening on URL" line. Shared by
// the tests that need a real API server (tests/watch, tests/effects/k8s). Header-only; no Catch.
#include <spawn.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

extern char** environ;

namespace qpu::testing {

struct spawned_kube_sim {
  pid_t pid = -1;
  std::string url;  // empty when kube-sim exited or never said it listens
};

// `args` are kube-sim's arguments after the binary (e.g. {"serve", "--listen", "127.0.0.1:0", ...}).
inline spawned_kube_sim spawn_kube_sim(const std::string& binary, std::vector<std::string> args) {
  spawned_kube_sim out;
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe(fds) != 0) return out;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  const int rc = posix_spawn(&out.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    out.pid = -1;
    return out;
  }
  FILE* stream = ::fdopen(fds[0], "r");
  char line[512];
  while (std::fgets(line, sizeof line, stream)) {
    const std::string s(line);
    if (const auto at = s.find("kube-sim listening on "); at != std::string::npos) {
      out.url = s.substr(at + 22);
      while (!out.url.empty() && (out.url.back() == '\n' || out.url.back() == '\r')) out.url.pop_back();
      break;
    }
  }
  std::fclose(stream);  // kube-sim may still write: it gets EPIPE, which it ignores
  return out;
}

}  // namespace qpu::testing
