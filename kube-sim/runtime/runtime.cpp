#include "runtime.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "object_meta.hpp"
#include "yaml_json.hpp"

namespace kube_sim::runtime {
namespace fs = std::filesystem;
namespace net = boost::asio;

runtime::runtime(net::io_context& io, store& s, runtime_options options)
    : io_(io), store_(s), options_(std::move(options)), tick_(io), sigchld_(io) {}

runtime::~runtime() {
  stop(std::chrono::milliseconds(2000));
  if (block_lock_fd_ >= 0) ::close(block_lock_fd_);
  // A handler already queued on the io_context (a SIGCHLD that arrived, a tick that expired) runs
  // after this object is gone when the context keeps running; it checks this first.
  *alive_ = false;
}

result<void> runtime::start() {
  if (options_.work_dir.empty()) return std::unexpected(internal_error("the runtime needs a work folder"));
  fs::create_directories(options_.work_dir / "pods");
  auto loaded = image_map::load(options_.image_map_file, options_.pg_cache);
  if (!loaded) return std::unexpected(loaded.error());
  images_ = std::move(*loaded);

  if (const passwd* pw = ::getpwnam(options_.run_as_user.c_str())) {
    default_uid_ = pw->pw_uid;
    default_gid_ = pw->pw_gid;
  } else if (::geteuid() == 0) {
    return std::unexpected(
        internal_error("user " + options_.run_as_user + " does not exist; run scripts/provision-postgres.sh, which creates it"));
  } else {
    default_uid_ = ::geteuid();
    default_gid_ = ::getegid();
  }

  block_ = options_.address_block;
  if (block_ == 0 && (block_ = pick_address_block()) == 0)
    return std::unexpected(internal_error("no free 127.B.0.0/16 address block (all 64..254 locked)"));

  // The default StorageClass exists as an object, as in every real cluster (a client that reads a
  // claim's class finds it); created unless a restarted simulator kept it.
  if (!options_.default_storage_class.empty() && !get("storageclasses.storage.k8s.io", "", options_.default_storage_class))
    (void)store_.create(type("storageclasses.storage.k8s.io"), "",
                        json{{"apiVersion", "storage.k8s.io/v1"},
                             {"kind", "StorageClass"},
                             {"metadata",
                              {{"name", options_.default_storage_class},
                               {"annotations", {{"storageclass.kubernetes.io/is-default-class", "true"}}}}},
                             {"provisioner", "kube-sim.io/local"},
                             {"reclaimPolicy", "Delete"},
                             {"volumeBindingMode", "Immediate"}});

  volumes_ = std::make_unique<volume_set>(options_.work_dir / "volumes");
  if (options_.force_volume_mode) {
    volumes_->set_mode(*options_.force_volume_mode);
    volume_mode_reason_ = "chosen by the caller";
  } else {
    volumes_->detect(volume_mode_reason_);
    if (volumes_->mode() == volume_mode::directory)
      std::cerr << "kube-sim runtime: claims are plain directories (sizes not enforced): " << volume_mode_reason_ << "\n";
  }
  volumes_->enable_pool();
  if (volumes_->mode() == volume_mode::loop && !volumes_->pool())
    std::cerr << "kube-sim runtime: no copy-on-write pool, a claim's clone is a full copy: " << volumes_->pool_reason() << "\n";

  stop_leftover_containers();

  // Addresses already handed out (a restart with --state-dir) stay taken.
  for (const auto& svc : list("services"))
    if (auto ip = svc.value("/spec/clusterIP"_json_pointer, std::string()); !ip.empty()) used_ips_.insert(ip);

  subscription_ = store_.subscribe([this](const change& c) {
    if (c.type_id == "services") services_changed_ = true;
    if (c.type_id != "events" && c.type_id != "leases") schedule_pass();
  });
  arm_sigchld();
  arm_tick();
  schedule_pass();
  return {};
}

// One block of 127.B.0.0/16 per runtime on the machine (an flock on a file per block), so
// parallel tests never share addresses. A Service's clusterIP never changes in Kubernetes and
// clients (the controller, a test's driver) hold it, so a restart with --state-dir asks first for
// the block its stored Services use. A dead kube-sim's lock is free at once, so the lock file
// also names its work folder: while that folder exists, other runtimes take that block only when
// no other is free. Only when another kube-sim holds the block do the Services move
// (sync_services).
int runtime::pick_address_block() {
  std::map<int, int> stored;  // block -> Services in it
  for (const auto& svc : list("services")) {
    const auto ip = svc.value("/spec/clusterIP"_json_pointer, std::string());
    int a = 0, b = 0;
    if (std::sscanf(ip.c_str(), "%d.%d.", &a, &b) == 2 && a == 127 && b >= 64 && b < 255) ++stored[b];
  }
  std::vector<int> order;
  for (const auto& [b, n] : stored) order.push_back(b);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return stored[x] > stored[y]; });
  const auto ours = fs::absolute(options_.work_dir).lexically_normal().string();
  for (int pass = 0; pass < 3; ++pass) {
    if (pass == 1) {
      for (int b = 64; b < 255; ++b)
        if (!stored.contains(b)) order.push_back(b);
    }
    if (pass == 0 && order.empty()) continue;
    for (int b : order) {
      const auto lock = "/tmp/kube-sim-ip-block-" + std::to_string(b) + ".lock";
      const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
      if (fd < 0) continue;
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        continue;
      }
      std::string owner(4096, '\0');
      const auto n = ::pread(fd, owner.data(), owner.size(), 0);
      owner.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      std::error_code ec;
      const bool reserved = !owner.empty() && owner != ours && fs::exists(owner, ec);
      if (pass == 1 && reserved) {
        ::close(fd);
        continue;
      }
      if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, ours.data(), ours.size(), 0);
      block_lock_fd_ = fd;
      return b;
    }
  }
  return 0;
}

// A kube-sim that was SIGKILLed could not stop its pods: their processes run on, as containers
// outlive a dead kubelet. Started again, the runtime would start a second server on the same
// data directory and pod address while the first still holds them. So the containers a previous
// run recorded (<pod dir>/<container>.pid: pid and kernel start time, which together survive pid
// reuse) are killed first, as a node restart would, and the pods then start again as after a
// clean stop.
void runtime::stop_leftover_containers() {
  std::vector<std::pair<pid_t, std::string>> killed;
  std::error_code ec;
  for (const auto& pod_dir : fs::directory_iterator(options_.work_dir / "pods", ec)) {
    std::error_code ec2;
    for (const auto& e : fs::directory_iterator(pod_dir.path(), ec2)) {
      if (e.path().extension() != ".pid") continue;
      pid_t pid = 0;
      std::string start;
      std::ifstream(e.path()) >> pid >> start;
      fs::remove(e.path(), ec2);
      if (pid <= 1 || start.empty()) continue;
      if (const auto now = identify_process(pid); now.running && now.start_time == start) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        killed.emplace_back(pid, start);
        std::cerr << "kube-sim runtime: killed container process " << pid << " left running by an earlier run ("
                  << pod_dir.path().filename().string() << "/" << e.path().stem().string() << ")\n";
      }
    }
  }
  // SIGKILL is not instant: wait (bounded) until each is gone or a zombie, so its port and its
  // data directory's lock are free before the pods start again.
  for (int i = 0; i < 500 && !killed.empty(); ++i) {
    std::erase_if(killed, [](const auto& k) {
      const auto now = identify_process(k.first);
      return !now.running || now.start_time != k.second;
    });
    if (!killed.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void runtime::stop(std::chrono::milliseconds grace) {
  if (stopped_ || !volumes_) return;
  stopped_ = true;
  if (subscription_) store_.unsubscribe(subscription_);
  tick_.cancel();
  sigchld_.cancel();
  proxies_.clear();
  std::vector<pid_t> running;
  for (auto& [pid, where] : pids_) {
    ::kill(pid, SIGTERM);
    running.push_back(pid);
  }
  for (auto& [pid, where] : probe_pids_) ::kill(-pid, SIGKILL);
  const auto deadline = clock::now() + grace;
  auto wait_all = [&](bool block) {
    std::erase_if(running, [&](pid_t pid) {
      int status = 0;
      const pid_t r = ::waitpid(pid, &status, block ? 0 : WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) {
        ::kill(-pid, SIGKILL);  // the rest of the container's process group
        return true;
      }
      return false;
    });
  };
  while (!running.empty() && clock::now() < deadline) {
    wait_all(false);
    if (!running.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (pid_t pid : running) ::kill(-pid, SIGKILL);
  wait_all(true);
  for (auto& [pid, where] : probe_pids_) ::waitpid(pid, nullptr, 0);
  pids_.clear();
  probe_pids_.clear();
  pods_.clear();
  volumes_->unmount_all();
}

fs::path runtime::pod_log(const std::string& ns, const std::string& pod, const std::string& container) const {
  // Folders are <ns>_<pod>_<uid>; the newest one wins when a name was reused.
  fs::path best;
  fs::file_time_type newest{};
  std::error_code ec;
  const auto prefix = ns + "_" + pod + "_";
  for (const auto& e : fs::directory_iterator(options_.work_dir / "pods", ec)) {
    const auto name = e.path().filename().string();
    if (!name.starts_with(prefix) || name.find('_', prefix.size()) != std::string::npos) continue;
    const auto t = fs::last_write_time(e.path(), ec);
    if (best.empty() || t > newest) {
      best = e.path();
      newest = t;
    }
  }
  if (best.empty()) return {};
  if (!container.empty()) return best / (container + ".log");
  for (const auto& e : fs::directory_iterator(best, ec))
    if (e.path().extension() == ".log") return e.path();
  return {};
}

void runtime::schedule_pass() {
  if (pass_scheduled_ || stopped_) return;
  pass_scheduled_ = true;
  net::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    pass_scheduled_ = false;
    if (!stopped_) pass();
  });
}

void runtime::pass() {
  sync_snapshots();
  sync_claims();
  sync_services();
  sync_deployments();
  sync_jobs();
  sync_pods();
  if (clock::now() - last_gc_ > std::chrono::seconds(1)) {
    last_gc_ = clock::now();
    collect_garbage();
  }
  if (services_changed_) {
    services_changed_ = false;
    refresh_hosts_files();
  }
}

void runtime::arm_tick() {
  tick_.expires_after(options_.tick);
  tick_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec || stopped_) return;
    reap();
    pass();
    arm_tick();
  });
}

void runtime::arm_sigchld() {
  sigchld_.add(SIGCHLD);
  wait_sigchld();
}

// Re-armed from its own handler. (It was a std::function holding a shared_ptr to itself: a
// reference cycle that LeakSanitizer reported at every exit.)
void runtime::wait_sigchld() {
  sigchld_.async_wait([this, alive = alive_](boost::system::error_code ec, int) {
    if (!*alive || ec || stopped_) return;
    reap();
    wait_sigchld();
  });
}

void runtime::reap() {
  std::vector<std::pair<pid_t, int>> exited;
  for (const auto& table : {&pids_, &probe_pids_})
    for (const auto& [pid, where] : *table) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) exited.emplace_back(pid, status);
    }
  for (auto [pid, status] : exited) on_exit(pid, status);
  if (!exited.empty()) schedule_pass();
}

void runtime::on_exit(pid_t pid, int status) {
  if (auto it = probe_pids_.find(pid); it != probe_pids_.end()) {
    auto [uid, index] = it->second;
    probe_pids_.erase(it);
    ::kill(-pid, SIGKILL);
    auto pod = pods_.find(uid);
    if (pod == pods_.end() || index >= pod->second.containers.size()) return;
    auto& c = pod->second.containers[index];
    c.probe_pid = 0;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const auto& probe = c.spec["readinessProbe"];
    if (ok) {
      c.probe_failures = 0;
      if (++c.probe_successes >= probe.value("successThreshold", 1)) c.ready = true;
    } else {
      c.probe_successes = 0;
      if (++c.probe_failures >= probe.value("failureThreshold", 3)) c.ready = false;
    }
    write_pod_status(pod->second);
    return;
  }
  auto it = pids_.find(pid);
  if (it == pids_.end()) return;
  auto [uid, index] = it->second;
  pids_.erase(it);
  // A container ends with its main process: the rest of its process group goes too.
  ::kill(-pid, SIGKILL);
  auto pod = pods_.find(uid);
  if (pod == pods_.end()) return;
  container_exited(pod->second, pod->second.containers[index], status);
}

const resource_type& runtime::type(std::string_view id) const {
  const auto* t = store_.types().find_id(id);
  if (!t) throw std::logic_error("kube-sim runtime: the store does not serve " + std::string(id));
  return *t;
}

std::vector<json> runtime::list(std::string_view id, const std::string& ns) const {
  auto page = store_.list(type(id), ns);
  return page ? std::move(page->items) : std::vector<json>{};
}

std::optional<json> runtime::get(std::string_view id, const std::string& ns, const std::string& name) const {
  auto got = store_.get(type(id), ns, name);
  if (!got) return std::nullopt;
  return std::move(*got);
}

void runtime::merge_status(std::string_view id, const std::string& ns, const std::string& name, const json& patch) {
  (void)store_.patch(type(id), ns, name, patch_kind::merge, patch, subresource::status);
}

void runtime::merge_main(std::string_view id, const std::string& ns, const std::string& name, const json& patch) {
  (void)store_.patch(type(id), ns, name, patch_kind::merge, patch, subresource::main);
}

namespace {

std::vector<std::string> split_documents(const std::string& text) {
  std::vector<std::string> docs;
  std::string current;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("---")) {
      docs.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += line + "\n";
  }
  docs.push_back(std::move(current));
  return docs;
}

bool blank(const std::string& doc) {
  std::istringstream in(doc);
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') return false;
  }
  return true;
}

}  // namespace

result<std::vector<std::string>> apply_manifests(store& s, const fs::path& path,
                                                 const std::map<std::string, std::string>& substitutions) {
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  std::vector<std::string> done;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) return std::unexpected(bad_request("cannot read " + file.string()));
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    for (const auto& [from, to] : substitutions)
      for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    for (const auto& doc : split_documents(text)) {
      if (blank(doc)) continue;
      auto object = yaml_to_json(doc);
      if (!object) return std::unexpected(bad_request(file.string() + ": " + object.error().message));
      const auto* t = s.types().find_kind(object->value("apiVersion", ""), object->value("kind", ""));
      if (!t)
        return std::unexpected(bad_request(file.string() + ": no resource serves " + object->value("apiVersion", "") + " " +
                                           object->value("kind", "")));
      const std::string ns = t->namespaced ? object->value("/metadata/namespace"_json_pointer, std::string("default")) : "";
      const std::string name = object->value("/metadata/name"_json_pointer, std::string());
      // A scenario cannot know the uid its owner will get: an ownerReference without one is given
      // the uid of the object it names in the same namespace (created by an earlier document).
      // kube-sim's own convenience; an apiserver rejects such a reference.
      if (object->contains("metadata") && (*object)["metadata"].contains("ownerReferences"))
        for (auto& ref : (*object)["metadata"]["ownerReferences"]) {
          if (!ref.is_object() || !ref.value("uid", "").empty()) continue;
          const auto* owner_type = s.types().find_kind(ref.value("apiVersion", ""), ref.value("kind", ""));
          auto owner = owner_type ? s.get(*owner_type, owner_type->namespaced ? ns : "", ref.value("name", ""))
                                  : result<json>(std::unexpected(api_error{}));
          if (!owner)
            return std::unexpected(bad_request(file.string() + ": " + name + ": its owner " + ref.value("kind", "") + " " +
                                               ref.value("name", "") + " does not exist (apply it first)"));
          ref["uid"] = meta_string(*owner, "uid");
        }
      const bool had_status = object->contains("status");
      const json status = had_status ? (*object)["status"] : json();
      auto created = s.create(*t, ns, *object);
      if (!created && created.error().code == 409) {
        done.push_back(t->singular + "/" + name + " unchanged");
        continue;
      }
      if (!created)
        return std::unexpected(bad_request(file.string() + ": " + t->kind + " " + name + ": " + created.error().message));
      if (had_status && t->has_status) {
        auto with_status = *created;
        with_status["status"] = status;
        (void)s.update(*t, ns, name, with_status, subresource::status);
      }
      done.push_back(t->singular + "/" + object_name(*created) + " created");
    }
  }
  return done;
}

}  // namespace kube_sim::runtime
