#pragma once
// Starting a container's process without a container runtime (DESIGN.md section 5): a child
// in its own session, mount namespace and (as root) PID namespace, the pod's volumes bind-mounted at their mountPaths,
// a private /tmp, a generated /etc/hosts, then setgid/setuid to an unprivileged user and exec.
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "api_error.hpp"

namespace kube_sim::runtime {

/// `source` appears at `target` inside the child's mount namespace (file or directory).
struct bind_mount {
  std::string source;
  std::string target;
  bool read_only = false;
  bool file = false;  // a file mount point (hosts, termination log) rather than a directory
};

/// Everything one process start needs, resolved in the parent (the child only makes syscalls).
struct launch_spec {
  std::vector<std::string> argv;  // argv[0] an absolute path (see find_executable)
  std::vector<std::string> env;  // "NAME=value"
  std::vector<bind_mount> mounts;  // applied in order: parents before children
  std::string working_dir = "/";
  uid_t uid = 0;
  gid_t gid = 0;
  std::filesystem::path log_file;  // stdout and stderr, appended
  /// Join this process's mount namespace instead of making a new one (exec probes).
  pid_t join_mount_namespace_of = 0;
};

/// Forks and execs; the child is a session leader (its pid is its process group), so the whole
/// container can be killed with kill(-pid). Failures inside the child (a mount, setuid, exec)
/// are written to the log and end it with status 127.
result<pid_t> launch(const launch_spec& spec);

/// What the kernel says of `pid` (/proc/PID/stat): its start time in clock ticks since boot
/// (with the pid, it names one process across pid reuse) and whether it still runs (not a
/// zombie). `start_time` is empty when there is no such process.
struct process_identity {
  std::string start_time;
  bool running = false;
};
process_identity identify_process(pid_t pid);

/// `name` itself when it holds a '/', else the first executable `dir/name` of `path`.
result<std::string> find_executable(const std::string& name, const std::vector<std::string>& path);

/// Runs a host tool as the current user and waits (mkfs, mount); output is returned.
struct tool_result {
  int status = -1;  // exit status, or -1 when it could not run or was signalled
  std::string output;
};
tool_result run_tool(const std::vector<std::string>& argv);

}  // namespace kube_sim::runtime
