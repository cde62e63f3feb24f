#pragma once
// The simulated cluster's workload runtime (issue 4): the parts of a cluster that make stored
// objects happen. A storage provisioner binds PVCs to real disks, a "kubelet" runs Pods as local
// processes, Deployment and Job controllers create and delete Pods, Services get a clusterIP in
// 127.0.0.0/8 with a TCP forwarder to a ready pod, and a garbage collector removes orphans.
//
// Everything runs on the store's io_context thread (the store is not locked), level-triggered:
// any stored change schedules one pass over all objects, and a short tick drives time (probes,
// grace periods, deadlines, back-off). Controllers write through the same store API as clients,
// so every change they make is visible on the watch streams.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "image_map.hpp"
#include "process.hpp"
#include "store.hpp"
#include "volumes.hpp"

namespace kube_sim::runtime {

using clock = std::chrono::steady_clock;

/// How the runtime runs. The defaults suit `kube-sim serve`; tests shorten the timings.
struct runtime_options {
  std::filesystem::path work_dir;  // volumes/ and pods/ (logs) live here
  std::filesystem::path image_map_file = default_image_map_file();
  std::filesystem::path pg_cache = default_pg_cache();
  std::string run_as_user = "qpu-pg";  // pods without securityContext.runAsUser
  std::string default_storage_class = "standard";
  std::optional<volume_mode> force_volume_mode;  // skip detection
  /// Second octet of the addresses used: clusterIPs 127.B.0.x-127.B.63.x, pod IPs from
  /// 127.B.64.1. 0: pick a free block (an flock on /tmp/kube-sim-ip-block-B.lock).
  int address_block = 0;
  std::chrono::milliseconds tick{200};
  /// Kubernetes waits 10 s, doubling to 6 min, between Job pod failures and container
  /// restarts; the simulator starts at 1 s and stops doubling at 30 s.
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{30000};
  std::string api_host;  // KUBERNETES_SERVICE_HOST/PORT for pods, when known
  int api_port = 0;
  /// Run (sh -c) when a pod's last process is gone, before its finalizer comes off, with the
  /// whole simulator waiting: a test sees the pod's volumes exactly as its processes left them,
  /// before anything else can use them. Environment: KUBE_SIM_POD_NAMESPACE, KUBE_SIM_POD_NAME,
  /// KUBE_SIM_POD_LABELS (JSON), KUBE_SIM_POD_CLAIMS (claim names, space-separated).
  std::string pod_exit_hook;
  /// The same, once a pod's volumes are ready and before its first process starts.
  std::string pod_start_hook;
};

/// One container's process and what the kubelet knows about it.
struct container_run {
  std::string name;
  json spec;
  launch_spec launch;
  pid_t pid = 0;
  int restart_count = 0;
  std::string started_at;
  clock::time_point started{};
  json state;  // the containerStatuses[].state value
  json last_state = json::object();
  std::optional<clock::time_point> restart_at;
  bool ready = false;
  int probe_successes = 0;
  int probe_failures = 0;
  clock::time_point next_probe{};
  pid_t probe_pid = 0;
  clock::time_point probe_deadline{};
  std::filesystem::path log;
  std::filesystem::path termination_file;
};

/// One pod the kubelet has admitted.
struct pod_run {
  std::string ns, name, uid;
  std::string ip;
  std::string start_time;
  std::filesystem::path dir;
  std::string hosts;  // what its hosts file holds (services.cpp, refresh_hosts_files)
  std::string restart_policy = "Always";
  std::vector<container_run> containers;
  bool terminating = false;
  clock::time_point kill_at{};
  bool finished = false;  // Succeeded or Failed: nothing runs any more
  std::string ready_since;
  bool was_ready = false;
};

struct service_proxy;

class runtime {
 public:
  runtime(boost::asio::io_context& io, store& s, runtime_options options);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Loads the image map, picks the volume mode, re-mounts known disks, subscribes to the
  /// store and starts the tick. Pods the store says were running are started again.
  result<void> start();
  /// Stops every pod (SIGTERM, up to `grace`, then SIGKILL) and unmounts the disks; the
  /// stored objects are left as they are, so a restart with the same state resumes them.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));

  volume_mode storage_mode() const { return volumes_->mode(); }
  std::string storage_mode_reason() const { return volume_mode_reason_; }
  /// Clones are copy-on-write (the XFS reflink pool); else why not.
  bool storage_pool() const { return volumes_->pool(); }
  std::string storage_pool_reason() const { return volumes_->pool_reason(); }
  /// The log file of a pod's container ("" container: the first), kept after the pod is gone.
  std::filesystem::path pod_log(const std::string& ns, const std::string& pod, const std::string& container = {}) const;
  const image_map& images() const { return images_; }
  int address_block() const { return block_; }

 private:
  // runtime.cpp: the loop.
  int pick_address_block();
  void stop_leftover_containers();
  void schedule_pass();
  void pass();
  void arm_tick();
  void arm_sigchld();
  void wait_sigchld();
  void reap();
  void on_exit(pid_t pid, int status);

  // storage.cpp: PVC provisioner, volume reclaim, garbage collector.
  void sync_claims();
  // snapshots.cpp
  void sync_snapshots();
  // An Event on a Pending claim, once per claim and reason (the PersistentVolume controller's).
  void claim_event(const json& pvc, const std::string& event_type, const std::string& reason, const std::string& message);
  void collect_garbage();

  // kubelet.cpp
  void sync_pods();
  void admit(const json& pod);
  void start_container(pod_run& p, container_run& c);
  void container_exited(pod_run& p, container_run& c, int status);
  void begin_termination(pod_run& p, const json& pod);
  void drive_pod(pod_run& p);
  void probe(pod_run& p, container_run& c);
  void write_pod_status(pod_run& p);
  void finish_pod(pod_run& p);
  void set_finalizer(const std::string& ns, const std::string& name, bool present);
  void bind_to_node(const std::string& ns, const std::string& name);
  void run_pod_hook(const std::string& hook, const json& pod) const;
  void pending_status(const json& pod, json status);

  // controllers.cpp
  void sync_deployments();
  void sync_jobs();

  // services.cpp
  void sync_services();
  std::string allocate_service_ip();
  std::string allocate_pod_ip();
  std::string hosts_file(const std::string& ns, const std::string& pod_name, const std::string& pod_ip) const;
  std::vector<std::string> service_env(const std::string& ns) const;
  void refresh_hosts_files();
  void accept_on(const std::shared_ptr<service_proxy>& proxy);
  std::optional<boost::asio::ip::tcp::endpoint> pick_endpoint(const service_proxy& proxy) const;

  // store access
  const resource_type& type(std::string_view id) const;
  std::vector<json> list(std::string_view id, const std::string& ns = {}) const;
  std::optional<json> get(std::string_view id, const std::string& ns, const std::string& name) const;
  void merge_status(std::string_view id, const std::string& ns, const std::string& name, const json& patch);
  void merge_main(std::string_view id, const std::string& ns, const std::string& name, const json& patch);

  boost::asio::io_context& io_;
  store& store_;
  runtime_options options_;
  image_map images_;
  std::unique_ptr<volume_set> volumes_;
  std::string volume_mode_reason_;
  uid_t default_uid_ = 0;
  gid_t default_gid_ = 0;
  int block_ = 0;
  int block_lock_fd_ = -1;
  std::uint64_t subscription_ = 0;
  bool pass_scheduled_ = false;
  bool services_changed_ = true;
  bool stopped_ = false;
  std::set<std::string> claim_events_;  // "<claim uid>/<reason>" already reported
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed (see ~runtime)
  boost::asio::steady_timer tick_;
  boost::asio::signal_set sigchld_;
  std::map<std::string, pod_run> pods_;  // by pod uid
  std::map<pid_t, std::pair<std::string, std::size_t>> pids_;  // container pid -> pod uid, index
  std::map<pid_t, std::pair<std::string, std::size_t>> probe_pids_;
  std::map<std::string, std::shared_ptr<service_proxy>> proxies_;  // "svc uid/port"
  std::map<std::string, clock::time_point> job_not_before_;  // job uid -> back-off end
  std::set<std::string> used_ips_;
  int next_service_ip_ = 1;
  int next_pod_ip_ = 1;
  clock::time_point last_gc_{};
};

/// Reads every YAML/JSON document in a file or in each *.yaml/*.yml/*.json of a folder (sorted
/// by name) and creates it in the store, as `kubectl create -f` would; existing objects are
/// left alone. Returns "kind/name created" lines, or the first error.
result<std::vector<std::string>> apply_manifests(store& s, const std::filesystem::path& path,
                                                 const std::map<std::string, std::string>& substitutions = {});

}  // namespace kube_sim::runtime
