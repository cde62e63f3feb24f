// The "kubelet": admits Pods from the store and runs their containers as local processes
// (process.hpp), reports phase, conditions and container states, restarts containers by
// restartPolicy, runs readiness probes and terminates gracefully on deletion.
//
// Graceful deletion: an admitted pod carries the finalizer kube-sim.io/runtime while any of its
// processes may run. A DELETE then only sets deletionTimestamp (as the apiserver does for pods
// on a node); the kubelet sends SIGTERM, waits terminationGracePeriodSeconds, sends SIGKILL and
// removes the finalizer, and only then does the Pod object disappear.
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "base64.hpp"
#include "object_meta.hpp"
#include "quantity.hpp"
#include "runtime.hpp"

extern char** environ;

namespace kube_sim::runtime {
namespace fs = std::filesystem;

namespace {

constexpr const char* finalizer = "kube-sim.io/runtime";
// The one node: its name and the labels every node carries.
constexpr const char* node_name = "kube-sim";
const std::map<std::string, std::string> node_labels = {
    {"kubernetes.io/hostname", node_name}, {"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", "amd64"}};

// One requirement of a NodeSelectorTerm against a value the node has (or not): In, NotIn,
// Exists, DoesNotExist, Gt, Lt, as the scheduler reads them.
bool requirement_met(const json& r, const std::optional<std::string>& have) {
  const auto op = r.value("operator", "");
  const auto values = r.value("values", json::array());
  const auto listed = [&] { return have && std::find(values.begin(), values.end(), *have) != values.end(); };
  if (op == "In") return listed();
  if (op == "NotIn") return !listed();
  if (op == "Exists") return have.has_value();
  if (op == "DoesNotExist") return !have.has_value();
  if ((op == "Gt" || op == "Lt") && have && values.size() == 1 && values[0].is_string()) {
    try {
      const long long mine = std::stoll(*have), bound = std::stoll(values[0].get<std::string>());
      return op == "Gt" ? mine > bound : mine < bound;
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;
}

// Whether the pod may run on the node: spec.nodeName, spec.nodeSelector and the required node
// affinity (any term whose matchExpressions, on the node's labels, and matchFields, on
// metadata.name, all hold). Other scheduling constraints are not modelled.
bool fits_node(const json& spec) {
  if (spec.contains("nodeName") && spec["nodeName"].is_string() && !spec["nodeName"].get<std::string>().empty())
    return spec["nodeName"] == node_name;
  const json selector = spec.value("nodeSelector", json::object());  // named: items() of a temporary dangles
  for (const auto& [key, value] : selector.items()) {
    auto it = node_labels.find(key);
    if (it == node_labels.end() || value != it->second) return false;
  }
  const auto terms = spec.value(
      "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer, json::array());
  if (terms.empty()) return true;
  for (const auto& term : terms) {
    bool all = true;
    for (const auto& r : term.value("matchExpressions", json::array())) {
      auto it = node_labels.find(r.value("key", ""));
      all = all && requirement_met(r, it == node_labels.end() ? std::nullopt : std::optional(it->second));
    }
    for (const auto& r : term.value("matchFields", json::array()))
      all = all && r.value("key", "") == "metadata.name" && requirement_met(r, std::string(node_name));
    if (all) return true;
  }
  return false;
}
const char* const system_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

// $(VAR) references in env values, command and args, as the kubelet expands them; $$ escapes.
std::string expand_refs(const std::string& text, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '(') {
      const auto close = text.find(')', i + 2);
      if (close == std::string::npos) {
        out += text.substr(i);
        break;
      }
      const auto name = text.substr(i + 2, close - i - 2);
      if (auto it = vars.find(name); it != vars.end()) out += it->second;
      else out += text.substr(i, close - i + 1);
      i = close;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<std::string> object_value(const json& object, bool secret, const std::string& key) {
  const auto& data = object.value("data", json::object());
  if (!data.contains(key) || !data[key].is_string()) return std::nullopt;
  if (!secret) return data[key].get<std::string>();
  return base64_decode(data[key].get<std::string>());
}

void chown_if_root(const fs::path& dir, uid_t uid, gid_t gid) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0 && st.st_uid == 0 && uid != 0) (void)!::chown(dir.c_str(), uid, gid);
}

std::string read_file_tail(const fs::path& file, std::size_t max_bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  const auto from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string out(size - from, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

json condition(const std::string& type, bool status, const std::string& since, const std::string& reason = {}) {
  json c = {{"type", type}, {"status", status ? "True" : "False"}, {"lastProbeTime", nullptr}, {"lastTransitionTime", since}};
  if (!reason.empty()) c["reason"] = reason;
  return c;
}

}  // namespace

void runtime::run_pod_hook(const std::string& hook, const json& pod) const {
  if (hook.empty()) return;
  std::string claims, claim_dirs;
  for (const auto& v : pod.value("/spec/volumes"_json_pointer, json::array())) {
    if (!v.contains("/persistentVolumeClaim/claimName"_json_pointer)) continue;
    const auto name = v["persistentVolumeClaim"]["claimName"].get<std::string>();
    claims += (claims.empty() ? "" : " ") + name;
    auto claim = get("persistentvolumeclaims", object_namespace(pod), name);
    if (auto dir = claim ? volumes_->mounted(meta_string(*claim, "uid")) : std::nullopt)
      claim_dirs += (claim_dirs.empty() ? "" : " ") + name + "=" + dir->string();
  }
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  env.push_back("KUBE_SIM_POD_NAMESPACE=" + object_namespace(pod));
  env.push_back("KUBE_SIM_POD_NAME=" + object_name(pod));
  env.push_back("KUBE_SIM_POD_LABELS=" + pod.value("/metadata/labels"_json_pointer, json::object()).dump());
  env.push_back("KUBE_SIM_POD_CLAIMS=" + claims);
  env.push_back("KUBE_SIM_POD_CLAIM_DIRS=" + claim_dirs);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string command = hook;
  std::array<char*, 4> argv{const_cast<char*>("/bin/sh"), const_cast<char*>("-c"), command.data(), nullptr};
  pid_t pid = 0;
  if (::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), envp.data()) != 0) return;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

void runtime::set_finalizer(const std::string& ns, const std::string& name, bool present) {
  auto pod = get("pods", ns, name);
  if (!pod) return;
  auto finalizers = pod->value("/metadata/finalizers"_json_pointer, json::array());
  const bool has = std::find(finalizers.begin(), finalizers.end(), finalizer) != finalizers.end();
  if (has == present) return;
  if (!present) run_pod_hook(options_.pod_exit_hook, *pod);
  if (present) finalizers.push_back(finalizer);
  else finalizers.erase(std::remove(finalizers.begin(), finalizers.end(), finalizer), finalizers.end());
  (*pod)["metadata"]["finalizers"] = finalizers;
  (void)store_.update(type("pods"), ns, name, *pod);
}

// What the scheduler's binding does: spec.nodeName names the node the pod runs on.
void runtime::bind_to_node(const std::string& ns, const std::string& name) {
  auto pod = get("pods", ns, name);
  if (!pod || (*pod)["spec"].value("nodeName", "") == node_name) return;
  (*pod)["spec"]["nodeName"] = node_name;
  (void)store_.update(type("pods"), ns, name, *pod);
}

void runtime::pending_status(const json& pod, json status) {
  json next = pod;
  status["phase"] = "Pending";
  next["status"] = std::move(status);
  (void)store_.update(type("pods"), object_namespace(pod), object_name(pod), next, subresource::status);
}

void runtime::sync_pods() {
  std::set<std::string> seen;
  for (const auto& pod : list("pods")) {
    const auto uid = meta_string(pod, "uid");
    seen.insert(uid);
    const bool deleting = pod["metadata"].contains("deletionTimestamp");
    auto it = pods_.find(uid);
    if (it == pods_.end()) {
      const auto phase = pod.value("/status/phase"_json_pointer, std::string());
      if (deleting) set_finalizer(object_namespace(pod), object_name(pod), false);
      else if (phase != "Succeeded" && phase != "Failed") admit(pod);
      continue;
    }
    if (deleting && !it->second.terminating) begin_termination(it->second, pod);
    drive_pod(it->second);
  }
  for (auto it = pods_.begin(); it != pods_.end();) {
    if (seen.contains(it->first)) {
      ++it;
      continue;
    }
    // Removed without us (force delete, namespace gone): kill at once.
    for (auto& c : it->second.containers)
      if (c.pid > 0) {
        ::kill(-c.pid, SIGKILL);
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, nullptr, 0);
        pids_.erase(c.pid);
      }
    used_ips_.erase(it->second.ip);
    it = pods_.erase(it);
  }
}

void runtime::admit(const json& pod) {
  const auto ns = object_namespace(pod), name = object_name(pod), uid = meta_string(pod, "uid");
  const auto& spec = pod["spec"];
  const auto now = now_rfc3339();
  const json scheduled_ok = condition("PodScheduled", true, now);
  if (!fits_node(spec)) {
    pending_status(
        pod, {{"conditions",
               json::array({{{"type", "PodScheduled"},
                             {"status", "False"},
                             {"lastProbeTime", nullptr},
                             {"lastTransitionTime", now},
                             {"reason", "Unschedulable"},
                             {"message", "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}}})}});
    return;
  }

  // Volumes first: a pod waits for its claims to be bound and its sources to exist.
  struct volume_source {
    std::string path;
    bool read_only = false;
    bool needs_owner = false;
    bool config = false;  // a ConfigMap or Secret: a subPath names one of its files
  };
  std::map<std::string, volume_source> sources;
  pod_run p;
  p.ns = ns;
  p.name = name;
  p.uid = uid;
  p.dir = options_.work_dir / "pods" / (ns + "_" + name + "_" + uid);
  p.restart_policy = spec.value("restartPolicy", "Always");
  const auto& pod_security = spec.value("securityContext", json::object());
  std::vector<json> config_volumes;
  for (const auto& v : spec.value("volumes", json::array())) {
    const auto vname = v.value("name", "");
    if (v.contains("persistentVolumeClaim")) {
      const auto claim_name = v["persistentVolumeClaim"].value("claimName", "");
      auto claim = get("persistentvolumeclaims", ns, claim_name);
      if (!claim || claim->value("/status/phase"_json_pointer, std::string()) != "Bound") {
        pending_status(pod, {{"conditions",
                              json::array({{{"type", "PodScheduled"},
                                            {"status", "False"},
                                            {"lastProbeTime", nullptr},
                                            {"lastTransitionTime", now},
                                            {"reason", "Unschedulable"},
                                            {"message", claim ? "persistentvolumeclaim \"" + claim_name + "\" is not bound"
                                                              : "persistentvolumeclaim \"" + claim_name + "\" not found"}}})}});
        return;
      }
      const auto bytes = parse_quantity_bytes(claim->value("/status/capacity/storage"_json_pointer, std::string("0")));
      auto mounted = volumes_->ensure(meta_string(*claim, "uid"), ns + "/" + claim_name, bytes.value_or(0));
      if (!mounted) {
        pending_status(
            pod, {{"conditions", json::array({scheduled_ok})}, {"message", mounted.error().message}, {"reason", "FailedMount"}});
        return;
      }
      sources[vname] = {mounted->string(), v["persistentVolumeClaim"].value("readOnly", false), true};
    } else if (v.contains("emptyDir")) {
      sources[vname] = {(p.dir / "volumes" / vname).string(), false, true};
    } else if (v.contains("hostPath")) {
      sources[vname] = {v["hostPath"].value("path", ""), false, false};
    } else if (v.contains("configMap") || v.contains("secret")) {
      const bool secret = v.contains("secret");
      const auto& src = secret ? v["secret"] : v["configMap"];
      const auto object_name_ = src.value(secret ? "secretName" : "name", "");
      auto object = get(secret ? "secrets" : "configmaps", ns, object_name_);
      if (!object && !src.value("optional", false)) {
        pending_status(pod, {{"conditions", json::array({scheduled_ok})},
                             {"message", std::string(secret ? "secret" : "configmap") + " \"" + object_name_ + "\" not found"},
                             {"reason", "FailedMount"}});
        return;
      }
      config_volumes.push_back(
          {{"name", vname}, {"secret", secret}, {"object", object ? *object : json::object()}, {"source", src}});
      sources[vname] = {(p.dir / "volumes" / vname).string(), true, false, true};
    } else {
      pending_status(pod, {{"conditions", json::array({scheduled_ok})},
                           {"message", "kube-sim does not support the volume type of \"" + vname + "\""},
                           {"reason", "FailedMount"}});
      return;
    }
  }

  // Environment shared by the pod's containers.
  p.ip = pod.value("/status/podIP"_json_pointer, std::string());
  if (p.ip.empty() || used_ips_.contains(p.ip)) p.ip = allocate_pod_ip();
  used_ips_.insert(p.ip);
  std::map<std::string, std::string> field_values = {{"metadata.name", name},
                                                     {"metadata.namespace", ns},
                                                     {"metadata.uid", uid},
                                                     {"status.podIP", p.ip},
                                                     {"status.hostIP", "127.0.0.1"},
                                                     {"spec.nodeName", node_name},
                                                     {"spec.serviceAccountName", spec.value("serviceAccountName", "default")}};
  std::vector<container_run> containers;
  for (const auto& c : spec.value("containers", json::array())) {
    container_run run;
    run.name = c.value("name", "");
    run.spec = c;
    auto install = images_.resolve(c.value("image", ""));
    if (!install) {
      // No registry to retry against: an image the map does not know fails the pod for good.
      json next = pod;
      next["status"] = {
          {"phase", "Failed"},
          {"reason", "ErrImagePull"},
          {"message", install.error().message},
          {"conditions", json::array({scheduled_ok, condition("Ready", false, now, "ContainersNotReady")})},
          {"startTime", now},
          {"containerStatuses",
           json::array({{{"name", run.name},
                         {"image", c.value("image", "")},
                         {"imageID", ""},
                         {"ready", false},
                         {"restartCount", 0},
                         {"started", false},
                         {"state", {{"waiting", {{"reason", "ErrImagePull"}, {"message", install.error().message}}}}}}})}};
      (void)store_.update(type("pods"), ns, name, next, subresource::status);
      used_ips_.erase(p.ip);
      return;
    }
    std::map<std::string, std::string> env = install->env;
    std::vector<std::string> path = install->path;
    for (const auto& d : split(system_path, ':')) path.push_back(d);
    env["PATH"] = join(path, ':');
    env["HOSTNAME"] = name;
    env["HOME"] = "/tmp";
    env["KUBE_SIM_POD_IP"] = p.ip;
    if (!options_.api_host.empty()) {
      env["KUBERNETES_SERVICE_HOST"] = options_.api_host;
      env["KUBERNETES_SERVICE_PORT"] = std::to_string(options_.api_port);
    }
    for (const auto& kv : service_env(ns)) {
      const auto eq = kv.find('=');
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    std::string config_error;
    for (const auto& from : c.value("envFrom", json::array())) {
      const bool secret = from.contains("secretRef");
      const auto& ref = secret ? from["secretRef"] : from["configMapRef"];
      auto object = get(secret ? "secrets" : "configmaps", ns, ref.value("name", ""));
      if (!object) {
        if (!ref.value("optional", false))
          config_error = std::string(secret ? "secret" : "configmap") + " \"" + ref.value("name", "") + "\" not found";
        continue;
      }
      const json data = object->value("data", json::object());
      for (const auto& [k, v] : data.items())
        if (auto value = object_value(*object, secret, k)) env[from.value("prefix", "") + k] = *value;
    }
    for (const auto& e : c.value("env", json::array())) {
      const auto ename = e.value("name", "");
      if (e.contains("value")) {
        env[ename] = expand_refs(e["value"].is_string() ? e["value"].get<std::string>() : e["value"].dump(), env);
      } else if (e.contains("valueFrom")) {
        const auto& from = e["valueFrom"];
        if (from.contains("fieldRef")) {
          env[ename] = field_values[from["fieldRef"].value("fieldPath", "")];
          continue;
        }
        const bool secret = from.contains("secretKeyRef");
        if (!secret && !from.contains("configMapKeyRef")) continue;
        const auto& ref = secret ? from["secretKeyRef"] : from["configMapKeyRef"];
        const auto what = std::string(secret ? "secret" : "configmap") + " \"" + ref.value("name", "") + "\"";
        auto object = get(secret ? "secrets" : "configmaps", ns, ref.value("name", ""));
        std::optional<std::string> value;
        if (object) value = object_value(*object, secret, ref.value("key", ""));
        if (value) env[ename] = *value;
        else if (!ref.value("optional", false))
          config_error = object ? "couldn't find key " + ref.value("key", "") + " in " + what : what + " not found";
      }
    }
    if (!config_error.empty()) {
      used_ips_.erase(p.ip);
      pending_status(
          pod,
          {{"conditions", json::array({scheduled_ok})},
           {"containerStatuses",
            json::array({{{"name", run.name},
                          {"image", c.value("image", "")},
                          {"imageID", ""},
                          {"ready", false},
                          {"restartCount", 0},
                          {"started", false},
                          {"state", {{"waiting", {{"reason", "CreateContainerConfigError"}, {"message", config_error}}}}}}})}});
      return;
    }

    // Command: the container's command (+ args), else its args, else the image's CMD.
    std::vector<std::string> argv;
    for (const auto& a : c.value("command", json::array())) argv.push_back(expand_refs(a.get<std::string>(), env));
    for (const auto& a : c.value("args", json::array())) argv.push_back(expand_refs(a.get<std::string>(), env));
    if (argv.empty()) argv = install->cmd;
    auto& l = run.launch;
    l.argv = argv;
    for (const auto& [k, v] : env) l.env.push_back(k + "=" + v);
    l.working_dir = c.value("workingDir", "/");
    const auto& security = c.value("securityContext", json::object());
    const bool custom_user = security.contains("runAsUser") || pod_security.contains("runAsUser");
    l.uid = custom_user ? security.value("runAsUser", pod_security.value("runAsUser", 0)) : default_uid_;
    const passwd* pw = custom_user ? ::getpwuid(l.uid) : nullptr;
    l.gid =
        security.value("runAsGroup", pod_security.value("runAsGroup", custom_user ? (pw ? pw->pw_gid : l.uid) : default_gid_));
    if (argv.empty()) argv.push_back("");
    if (auto exe = find_executable(argv[0], path)) l.argv[0] = *exe;

    run.log = p.dir / (run.name + ".log");
    l.log_file = run.log;
    run.termination_file = p.dir / (run.name + ".termination-log");
    // Private /tmp (PostgreSQL's socket lives there), the service hosts file, then the volumes.
    l.mounts.push_back({(p.dir / "tmp").string(), "/tmp", false, false});
    // The private /tmp hides whatever the image map points at below the host's /tmp (a checkout
    // in /tmp, as CI's may be): bind those folders back, read-only, at the same paths.
    for (const auto& dir : install->path) {
      if (dir.rfind("/tmp/", 0) != 0 || !fs::is_directory(dir)) continue;
      fs::create_directories(p.dir / "tmp" / fs::path(dir).lexically_relative("/tmp"));
      l.mounts.push_back({dir, dir, true, false});
    }
    if (fs::is_directory("/var/run/postgresql"))
      l.mounts.push_back({(p.dir / "run-postgresql").string(), "/var/run/postgresql", false, false});
    l.mounts.push_back({(p.dir / "hosts").string(), "/etc/hosts", true, true});
    // Files the image ships (the sclorg images' /usr/libexec/check-container), before the
    // volumes: a volume mounted at the same path hides the image's file, as in a container.
    for (const auto& [target, host_file] : install->files) l.mounts.push_back({host_file, target, true, true});
    for (const auto& m : c.value("volumeMounts", json::array())) {
      auto src = sources.find(m.value("name", ""));
      if (src == sources.end()) continue;
      std::string source = src->second.path;
      bool file = false;
      if (auto sub = m.value("subPath", ""); !sub.empty()) {
        source = (fs::path(source) / sub).string();
        // A subPath of a ConfigMap or Secret volume is one of its files (written below, when
        // the pod's folder is materialised): the Quay operator mounts postgresql.conf.sample
        // and its start hook that way. Any other volume's subPath is a folder, made on demand.
        if (src->second.config) {
          file = true;
        } else {
          fs::create_directories(source);
          chown_if_root(source, l.uid, pod_security.value("fsGroup", l.gid));
        }
      }
      l.mounts.push_back({source, m.value("mountPath", ""), src->second.read_only || m.value("readOnly", false), file});
    }
    l.mounts.push_back({run.termination_file.string(), c.value("terminationMessagePath", "/dev/termination-log"), false, true});
    containers.push_back(std::move(run));
  }
  if (containers.empty()) return;
  run_pod_hook(options_.pod_start_hook, pod);

  // Materialise the pod's folder.
  fs::create_directories(p.dir / "tmp");
  ::chmod((p.dir / "tmp").c_str(), 01777);
  fs::create_directories(p.dir / "run-postgresql");
  (void)!::chown((p.dir / "run-postgresql").c_str(), containers[0].launch.uid, containers[0].launch.gid);
  p.hosts = hosts_file(ns, name, p.ip);
  std::ofstream(p.dir / "hosts", std::ios::trunc) << p.hosts;
  const auto first_uid = containers[0].launch.uid;
  const auto fs_group = static_cast<gid_t>(pod_security.value("fsGroup", containers[0].launch.gid));
  for (const auto& [vname, src] : sources) {
    if (!src.needs_owner) continue;
    fs::create_directories(src.path);
    chown_if_root(src.path, first_uid, fs_group);
  }
  for (const auto& cv : config_volumes) {
    const auto dir = p.dir / "volumes" / cv["name"].get<std::string>();
    fs::create_directories(dir);
    const bool secret = cv["secret"];
    const auto& src = cv["source"];
    std::vector<std::pair<std::string, std::string>> files;
    if (src.contains("items"))
      for (const auto& item : src["items"]) files.emplace_back(item.value("key", ""), item.value("path", ""));
    else {
      const json data = cv["object"].value("data", json::object());
      for (const auto& [k, v] : data.items()) files.emplace_back(k, k);
    }
    for (const auto& [key, rel] : files) {
      auto value = object_value(cv["object"], secret, key);
      if (!value) continue;
      fs::create_directories((dir / rel).parent_path());
      std::ofstream(dir / rel, std::ios::trunc | std::ios::binary) << *value;
      ::chmod((dir / rel).c_str(), static_cast<mode_t>(src.value("defaultMode", 0644)));
    }
  }
  for (auto& c : containers) {
    std::ofstream(c.termination_file, std::ios::trunc).close();
    (void)!::chown(c.termination_file.c_str(), c.launch.uid, c.launch.gid);
  }

  p.start_time = pod.value("/status/startTime"_json_pointer, now);
  p.containers = std::move(containers);
  bind_to_node(ns, name);
  set_finalizer(ns, name, true);
  auto& admitted = pods_[uid] = std::move(p);
  for (auto& c : admitted.containers) start_container(admitted, c);
  write_pod_status(admitted);
}

void runtime::start_container(pod_run& p, container_run& c) {
  c.ready = false;
  c.probe_successes = c.probe_failures = 0;
  c.restart_at.reset();
  std::ofstream(c.termination_file, std::ios::trunc).close();
  auto started = launch(c.launch);
  c.started_at = now_rfc3339();
  if (!started) {
    c.state = {{"terminated",
                {{"exitCode", 128},
                 {"reason", "StartError"},
                 {"message", started.error().message},
                 {"startedAt", c.started_at},
                 {"finishedAt", c.started_at}}}};
    container_exited(p, c, -1);
    return;
  }
  c.pid = *started;
  // Read by a restarted runtime, which kills the container if it still runs (runtime::start).
  std::ofstream(p.dir / (c.name + ".pid"), std::ios::trunc) << c.pid << " " << identify_process(c.pid).start_time << "\n";
  c.started = clock::now();
  const auto index = static_cast<std::size_t>(&c - p.containers.data());
  pids_[c.pid] = {p.uid, index};
  c.state = {{"running", {{"startedAt", c.started_at}}}};
  const auto delay = c.spec.value("/readinessProbe/initialDelaySeconds"_json_pointer, 0);
  c.next_probe = c.started + std::chrono::seconds(delay);
}

void runtime::container_exited(pod_run& p, container_run& c, int status) {
  const auto finished_at = now_rfc3339();
  if (status != -1) {
    c.pid = 0;
    int code = 0, signal = 0;
    if (WIFEXITED(status)) code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) {
      signal = WTERMSIG(status);
      code = 128 + signal;
    }
    std::string message = read_file_tail(c.termination_file, 4096);
    if (message.empty() && code != 0 && c.spec.value("terminationMessagePolicy", "File") == "FallbackToLogsOnError")
      message = read_file_tail(c.log, 2048);
    json terminated = {{"exitCode", code},
                       {"reason", code == 0 ? "Completed" : "Error"},
                       {"startedAt", c.started_at},
                       {"finishedAt", finished_at},
                       {"containerID", "kube-sim://" + std::to_string(c.started.time_since_epoch().count())}};
    if (signal) terminated["signal"] = signal;
    if (!message.empty()) terminated["message"] = message;
    c.state = {{"terminated", terminated}};
  }
  c.ready = false;
  const int code = c.state["terminated"].value("exitCode", 0);
  const bool restart = !p.terminating && (p.restart_policy == "Always" || (p.restart_policy == "OnFailure" && code != 0));
  if (restart) {
    auto delay = options_.backoff_base * (1 << std::min(c.restart_count, 10));
    if (delay > options_.backoff_cap) delay = options_.backoff_cap;
    c.restart_at = clock::now() + delay;
    c.last_state = c.state;
    c.state = {{"waiting",
                {{"reason", "CrashLoopBackOff"},
                 {"message", "back-off " + std::to_string(delay.count() / 1000) + "s restarting failed container=" + c.name +
                                 " pod=" + p.name + "_" + p.ns + "(" + p.uid + ")"}}}};
  }
  const bool all_done =
      std::all_of(p.containers.begin(), p.containers.end(), [](const container_run& x) { return x.pid == 0 && !x.restart_at; });
  if (all_done && !p.terminating) p.finished = true;
  write_pod_status(p);
  if (p.finished) set_finalizer(p.ns, p.name, false);
}

void runtime::begin_termination(pod_run& p, const json& pod) {
  p.terminating = true;
  const auto grace = pod.value("/spec/terminationGracePeriodSeconds"_json_pointer, 30);
  p.kill_at = clock::now() + std::chrono::seconds(grace);
  for (auto& c : p.containers) {
    c.restart_at.reset();
    if (c.pid > 0) ::kill(c.pid, SIGTERM);
    if (c.probe_pid > 0) ::kill(-c.probe_pid, SIGKILL);
  }
}

void runtime::drive_pod(pod_run& p) {
  const auto now = clock::now();
  bool running = false;
  for (auto& c : p.containers) {
    if (c.pid > 0) running = true;
    if (p.terminating) {
      if (c.pid > 0 && now >= p.kill_at) {
        ::kill(-c.pid, SIGKILL);
        ::kill(c.pid, SIGKILL);
      }
      continue;
    }
    if (c.restart_at && now >= *c.restart_at) {
      ++c.restart_count;
      start_container(p, c);
      running = true;
      write_pod_status(p);
      continue;
    }
    if (c.probe_pid > 0 && now >= c.probe_deadline) ::kill(-c.probe_pid, SIGKILL);
    if (c.pid > 0 && c.probe_pid == 0 && now >= c.next_probe) probe(p, c);
  }
  if (p.terminating && !running) finish_pod(p);
}

void runtime::probe(pod_run& p, container_run& c) {
  const bool was_ready = c.ready;
  if (!c.spec.contains("readinessProbe")) {
    c.ready = c.pid > 0;
    c.next_probe = clock::now() + std::chrono::hours(24);
    if (c.ready != was_ready) write_pod_status(p);
    return;
  }
  const auto& probe = c.spec["readinessProbe"];
  c.next_probe = clock::now() + std::chrono::seconds(probe.value("periodSeconds", 10));
  if (probe.contains("exec")) {
    launch_spec l = c.launch;
    l.argv.clear();
    for (const auto& a : probe["exec"].value("command", json::array())) l.argv.push_back(a.get<std::string>());
    if (l.argv.empty()) return;
    std::vector<std::string> path;
    for (const auto& e : l.env)
      if (e.starts_with("PATH=")) path = split(e.substr(5), ':');
    if (auto exe = find_executable(l.argv[0], path)) l.argv[0] = *exe;
    l.mounts.clear();
    l.join_mount_namespace_of = c.pid;
    l.log_file = p.dir / (c.name + ".probe.log");
    std::error_code ec;
    fs::remove(l.log_file, ec);
    if (auto pid = launch(l)) {
      c.probe_pid = *pid;
      c.probe_deadline = clock::now() + std::chrono::seconds(probe.value("timeoutSeconds", 1));
      probe_pids_[*pid] = {p.uid, static_cast<std::size_t>(&c - p.containers.data())};
    }
    return;
  }
  // tcpSocket (and httpGet, checked as a TCP connect): the port accepts on the pod's address.
  const auto& action = probe.contains("tcpSocket") ? probe["tcpSocket"] : probe.value("httpGet", json::object());
  int port = 0;
  if (action.contains("port") && action["port"].is_number()) port = action["port"];
  else if (action.contains("port"))
    for (const auto& cp : c.spec.value("ports", json::array()))
      if (cp.value("name", "") == action["port"]) port = cp.value("containerPort", 0);
  bool ok = false;
  if (port > 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, action.value("host", p.ip).c_str(), &addr.sin_addr);
    ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (fd >= 0) ::close(fd);
  }
  if (ok) {
    c.probe_failures = 0;
    if (++c.probe_successes >= probe.value("successThreshold", 1)) c.ready = true;
  } else {
    c.probe_successes = 0;
    if (++c.probe_failures >= probe.value("failureThreshold", 3)) c.ready = false;
  }
  if (c.ready != was_ready) write_pod_status(p);
}

void runtime::finish_pod(pod_run& p) {
  for (auto& c : p.containers)
    if (c.state.contains("running")) c.state = {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}};
  p.finished = true;
  set_finalizer(p.ns, p.name, false);
}

void runtime::write_pod_status(pod_run& p) {
  auto pod = get("pods", p.ns, p.name);
  if (!pod || meta_string(*pod, "uid") != p.uid) return;
  const bool all_ready = std::all_of(p.containers.begin(), p.containers.end(), [](const container_run& c) { return c.ready; });
  if (all_ready != p.was_ready || p.ready_since.empty()) {
    p.was_ready = all_ready;
    p.ready_since = now_rfc3339();
  }
  std::string phase = "Running";
  if (p.finished) {
    const bool all_ok = std::all_of(p.containers.begin(), p.containers.end(), [](const container_run& c) {
      return c.state.contains("terminated") && c.state["terminated"].value("exitCode", 1) == 0;
    });
    phase = all_ok ? "Succeeded" : "Failed";
  }
  json statuses = json::array();
  for (const auto& c : p.containers) {
    statuses.push_back({{"name", c.name},
                        {"image", c.spec.value("image", "")},
                        {"imageID", "kube-sim://" + c.spec.value("image", "")},
                        {"ready", c.ready},
                        {"started", c.pid > 0},
                        {"restartCount", c.restart_count},
                        {"state", c.state},
                        {"lastState", c.last_state}});
  }
  const bool ready = all_ready && !p.finished;
  json status = {
      {"phase", phase},
      {"conditions", json::array({condition("PodScheduled", true, p.start_time), condition("Initialized", true, p.start_time),
                                  condition("ContainersReady", ready, p.ready_since, ready ? "" : "ContainersNotReady"),
                                  condition("Ready", ready, p.ready_since, ready ? "" : "ContainersNotReady")})},
      {"hostIP", "127.0.0.1"},
      {"hostIPs", json::array({{{"ip", "127.0.0.1"}}})},
      {"podIP", p.ip},
      {"podIPs", json::array({{{"ip", p.ip}}})},
      {"startTime", p.start_time},
      {"containerStatuses", statuses},
      {"qosClass", "BestEffort"}};
  if (pod->value("status", json::object()) == status) return;
  (*pod)["status"] = status;
  (void)store_.update(type("pods"), p.ns, p.name, *pod, subresource::status);
}

}  // namespace kube_sim::runtime
