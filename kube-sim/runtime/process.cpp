#include "process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kube_sim::runtime {
namespace {

// Only async-signal-safe calls between fork and exec: the strings are prepared beforehand.
void say(int fd, const char* a, const char* b = "", const char* c = "") {
  for (const char* s : {a, b, c})
    if (*s) (void)!::write(fd, s, std::strlen(s));
}

[[noreturn]] void fail(int fd, const char* what, const char* path) {
  const int e = errno;
  say(fd, "kube-sim: container start failed: ", what, " ");
  say(fd, path, ": ", ::strerror(e));
  say(fd, "\n");
  ::_exit(127);
}

// close_range over [first, ~0U] with `flags` (Linux 5.9; CLOSE_RANGE_CLOEXEC 5.11); older
// kernels get the same one descriptor at a time up to the descriptor limit (fcntl and close are
// async-signal-safe).
void close_range_or_each(unsigned first, unsigned flags) {
  if (::close_range(first, ~0U, flags) == 0) return;
  rlimit limit{};
  const rlim_t top = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                         ? std::min<rlim_t>(limit.rlim_cur, 1 << 20)
                         : 65536;
  for (rlim_t fd = first; fd < top; ++fd) {
    if (flags & CLOSE_RANGE_CLOEXEC) (void)::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    else (void)::close(static_cast<int>(fd));
  }
}

// Every descriptor above stderr is closed by the exec. kube-sim's own descriptors (its listening
// socket, the Service proxies' listeners, client connections: Asio opens sockets without
// SOCK_CLOEXEC) would otherwise live on in every pod, so a SIGKILLed kube-sim could not listen on
// its port again while its pods run (docs/RELIABILITY.md). Marking rather than closing keeps
// fd 2 and the mount sources usable until the exec.
void close_on_exec_above_stderr() { close_range_or_each(3, CLOSE_RANGE_CLOEXEC); }

// The layers of enter_pid_namespace never exec, so marking kube-sim's descriptors close-on-exec
// does not reach them: they keep `keep` (moved to fd 3) and close everything else above stderr.
void keep_only(int keep) {
  if (keep != 3) {
    ::dup2(keep, 3);
    ::close(keep);
  }
  close_range_or_each(4, 0);
}

// mkdir -p inside the child, one prefix at a time.
void make_dirs(const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) (void)::mkdir(p.c_str(), 0755);
}

// "/proc/self/fd/N" without allocating (the child of a fork).
void fd_path(std::array<char, 32>& out, int fd) {
  static constexpr char prefix[] = "/proc/self/fd/";
  std::size_t n = 0;
  for (; prefix[n]; ++n) out[n] = prefix[n];
  char digits[12];
  std::size_t d = 0;
  do {
    digits[d++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0);
  while (d > 0) out[n++] = digits[--d];
  out[n] = '\0';
}

std::vector<std::string> prefixes_of(const std::string& target, bool file) {
  std::vector<std::string> out;
  std::filesystem::path p(target);
  std::filesystem::path acc;
  auto end = file ? std::prev(p.end()) : p.end();
  for (auto it = p.begin(); it != end; ++it) {
    acc /= *it;
    if (acc != "/") out.push_back(acc.string());
  }
  return out;
}

// The signals a container's processes may be sent from outside (kubelet's SIGTERM, a test's
// SIGINT or SIGHUP): each layer of the PID-namespace split passes them one level down.
constexpr int forwarded_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
volatile pid_t forward_to = 0;

void forward_signal(int sig) {
  if (forward_to > 0) (void)::kill(forward_to, sig);
}

void forward_signals_to(pid_t pid) {
  forward_to = pid;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : forwarded_signals) ::sigaction(s, &sa, nullptr);
}

// A container gets its own PID namespace, as under a real runtime, so that when it ends every
// process it started ends with it: a server that pg_ctl put in a session of its own (setsid)
// escapes kill(-pid) and would otherwise outlive its container, holding the data directory and
// the socket lock, after a Job was deleted or a SIGKILLed kube-sim restarted (reliability/sim-kill
// saw exactly that: the restarted upgrade pod could not start its temporary server).
//
// Three processes, so that the command keeps ordinary signal semantics (PID 1 of a namespace
// ignores signals it has no handler for) and kube-sim keeps waiting for the pid fork returned:
//   the outer process (kube-sim's child, outside the namespace) forwards signals to the init,
//     waits for it, and ends the way the command ended (same exit code, same signal);
//   the init (PID 1) forwards signals to the command, reaps orphans, and reports the command's
//     wait status through a pipe; when it exits the kernel kills whatever is left inside;
//   the command (PID 2) returns from this function and goes on to setuid and exec.
// Only async-signal-safe calls: this runs between fork and exec.
void enter_pid_namespace(int log) {
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) fail(log, "pipe", "");
  if (::unshare(CLONE_NEWPID) != 0) fail(log, "unshare", "CLONE_NEWPID");
  const pid_t init = ::fork();
  if (init < 0) fail(log, "fork", "init");
  if (init == 0) {
    ::close(status_pipe[0]);
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the outer process gone: end the namespace
    const pid_t command = ::fork();
    if (command < 0) fail(log, "fork", "command");
    if (command == 0) return;
    keep_only(status_pipe[1]);
    forward_signals_to(command);
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(-1, &status, 0);
      if (r == command) {
        (void)!::write(3, &status, sizeof status);
        ::_exit(0);
      }
      if (r < 0 && errno == ECHILD) ::_exit(0);
    }
  }
  ::close(status_pipe[1]);
  keep_only(status_pipe[0]);
  forward_signals_to(init);
  int init_status = 0;
  while (::waitpid(init, &init_status, 0) < 0 && errno == EINTR) {
  }
  int status = init_status;
  int reported = 0;
  ssize_t n = 0;
  while ((n = ::read(3, &reported, sizeof reported)) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof reported)) status = reported;
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const rlimit no_core{0, 0};
    (void)::setrlimit(RLIMIT_CORE, &no_core);  // a core of this process would be kube-sim's memory
    ::signal(sig, SIG_DFL);
    (void)::kill(::getpid(), sig);
    ::_exit(128 + sig);
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

}  // namespace

result<std::string> find_executable(const std::string& name, const std::vector<std::string>& path) {
  if (name.find('/') != std::string::npos) return name;
  for (const auto& dir : path) {
    const auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) return candidate.string();
  }
  return std::unexpected(api_error{500, "StartError", "exec: \"" + name + "\": executable file not found in $PATH", nullptr, 0});
}

result<pid_t> launch(const launch_spec& spec) {
  if (spec.argv.empty()) return std::unexpected(internal_error("a container needs a command"));
  const int log = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0)
    return std::unexpected(internal_error("cannot open the log " + spec.log_file.string() + ": " + std::strerror(errno)));
  int ns_fd = -1;
  if (spec.join_mount_namespace_of > 0) {
    const auto ns_path = "/proc/" + std::to_string(spec.join_mount_namespace_of) + "/ns/mnt";
    ns_fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) {
      ::close(log);
      return std::unexpected(internal_error("cannot open " + ns_path + ": " + std::strerror(errno)));
    }
  }

  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::vector<std::vector<std::string>> mount_dirs;
  for (const auto& m : spec.mounts) mount_dirs.push_back(prefixes_of(m.target, m.file));
  // Sources are opened inside the child's new namespace before anything is mounted, and bound
  // through /proc/self/fd/N: once the private /tmp is mounted, a source under the host's /tmp
  // (a test's work folder) is no longer reachable by its path.
  std::vector<int> source_fds(spec.mounts.size(), -1);
  std::vector<std::array<char, 32>> source_paths(spec.mounts.size());
  auto close_sources = [] {};
  const bool privileged = ::geteuid() == 0;

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    close_sources();
    if (ns_fd >= 0) ::close(ns_fd);
    return std::unexpected(internal_error(std::string("fork failed: ") + std::strerror(errno)));
  }
  if (pid > 0) {
    ::close(log);
    if (ns_fd >= 0) ::close(ns_fd);
    close_sources();
    return pid;
  }

  // The child.
  ::setsid();
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(log, 1);
  ::dup2(log, 2);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);

  if (ns_fd >= 0) {
    if (::setns(ns_fd, CLONE_NEWNS) != 0) fail(2, "setns", "mnt");
  } else if (privileged) {
    if (::unshare(CLONE_NEWNS) != 0) fail(2, "unshare", "CLONE_NEWNS");
    // Private propagation: the pod's binds never leak back to the host (or to other pods).
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(2, "make-rprivate", "/");
    for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
      source_fds[i] = ::open(spec.mounts[i].source.c_str(), O_PATH | O_CLOEXEC);
      if (source_fds[i] < 0) fail(2, "open volume source", spec.mounts[i].source.c_str());
      fd_path(source_paths[i], source_fds[i]);
    }
    for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
      const auto& m = spec.mounts[i];
      make_dirs(mount_dirs[i]);
      if (m.file) {
        const int f = ::open(m.target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (f >= 0) ::close(f);
      }
      if (::mount(source_paths[i].data(), m.target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
        fail(2, "bind mount to", m.target.c_str());
      if (m.read_only && ::mount(nullptr, m.target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, nullptr) != 0)
        fail(2, "read-only remount of", m.target.c_str());
    }
    enter_pid_namespace(2);
  }
  if (privileged) {
    const gid_t groups[] = {spec.gid};
    if (::setgroups(1, groups) != 0) fail(2, "setgroups", "");
    if (::setgid(spec.gid) != 0) fail(2, "setgid", "");
    if (::setuid(spec.uid) != 0) fail(2, "setuid", "");
  }
  if (::chdir(spec.working_dir.c_str()) != 0) fail(2, "chdir", spec.working_dir.c_str());
  close_on_exec_above_stderr();
  ::execve(argv[0], argv.data(), envp.data());
  fail(2, "exec", argv[0]);
}

process_identity identify_process(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ... starttime(22) ...": comm may hold spaces and parentheses.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream fields(stat.substr(close + 1));
  std::string state, field;
  fields >> state;
  for (int i = 4; i <= 22 && fields >> field; ++i) {
  }
  if (field.empty()) return {};
  return {field, state != "Z" && state != "X"};
}

tool_result run_tool(const std::vector<std::string>& argv) {
  tool_result out;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return out;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return out;
  }
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    close_on_exec_above_stderr();
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace kube_sim::runtime
