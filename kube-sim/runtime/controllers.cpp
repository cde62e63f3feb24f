// The Deployment and Job controllers, reduced to what the upgrade relies on (issue 4):
// Deployments own their Pods directly (no ReplicaSets; pods are still named
// DEPLOY-<template hash>-<suffix> and labelled pod-template-hash) and every strategy behaves
// as Recreate; Jobs run pods per attempt with backoffLimit, activeDeadlineSeconds and the
// Kubernetes 1.31+ terminal conditions.
#include <ctime>

#include "object_meta.hpp"
#include "runtime.hpp"

namespace kube_sim::runtime {
namespace {

// The apiserver's rand.SafeEncodeString alphabet (no vowels, no confusable digits).
std::string template_hash(const json& tmpl) {
  std::uint32_t h = 2166136261u;
  for (unsigned char ch : tmpl.dump()) h = (h ^ ch) * 16777619u;
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 10; ++i) {
    out += alphabet[h % 27];
    h = h / 27 + (h << 7) * 2654435761u;
  }
  return out;
}

bool owned_by(const json& o, const std::string& uid) {
  for (const auto& r : o.value("/metadata/ownerReferences"_json_pointer, json::array()))
    if (r.value("uid", "") == uid) return true;
  return false;
}

bool pod_ready(const json& pod) {
  for (const auto& c : pod.value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  return false;
}

bool terminating(const json& o) { return o["metadata"].contains("deletionTimestamp"); }

std::time_t parse_time(const std::string& rfc3339) {
  std::tm tm{};
  if (std::sscanf(rfc3339.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return ::timegm(&tm);
}

json owner_ref(const json& owner, const std::string& api_version, const std::string& kind) {
  return {{"apiVersion", api_version},        {"kind", kind},       {"name", object_name(owner)},
          {"uid", meta_string(owner, "uid")}, {"controller", true}, {"blockOwnerDeletion", true}};
}

// A condition list with `type` set, keeping lastTransitionTime when the status is unchanged. A new
// condition's other time is `stamp`: a Deployment's conditions have lastUpdateTime, a Job's
// lastProbeTime (their messages in apps/v1 and batch/v1 have only that one).
void set_condition(json& conditions, const std::string& type, const std::string& status, const std::string& reason,
                   const std::string& message, const char* stamp) {
  const auto now = now_rfc3339();
  for (auto& c : conditions)
    if (c.value("type", "") == type) {
      if (c.value("status", "") != status) c["lastTransitionTime"] = now;
      c["status"] = status;
      c["reason"] = reason;
      c["message"] = message;
      return;
    }
  conditions.push_back(
      {{"type", type}, {"status", status}, {"reason", reason}, {"message", message}, {stamp, now}, {"lastTransitionTime", now}});
}

bool has_condition(const json& conditions, const std::string& type) {
  for (const auto& c : conditions)
    if (c.value("type", "") == type && c.value("status", "") == "True") return true;
  return false;
}

}  // namespace

void runtime::sync_deployments() {
  const auto pods = list("pods");
  for (const auto& d : list("deployments.apps")) {
    if (terminating(d)) continue;
    const auto ns = object_namespace(d), name = object_name(d), uid = meta_string(d, "uid");
    const auto& tmpl = d["spec"]["template"];
    const auto hash = template_hash(tmpl);
    const int replicas = d["spec"].value("replicas", 1);
    std::vector<json> current, old;
    int old_alive = 0;
    for (const auto& p : pods) {
      if (object_namespace(p) != ns || !owned_by(p, uid)) continue;
      const auto phase = p.value("/status/phase"_json_pointer, std::string());
      const bool dead = phase == "Succeeded" || phase == "Failed";
      if (p.value("/metadata/labels/pod-template-hash"_json_pointer, std::string()) == hash) {
        if (dead && !terminating(p)) (void)store_.remove(type("pods"), ns, object_name(p));  // replace it
        else if (!dead) current.push_back(p);
      } else {
        old.push_back(p);
        ++old_alive;
      }
    }
    // Recreate: every old pod is deleted, and new ones start only when the old are gone.
    for (const auto& p : old)
      if (!terminating(p)) (void)store_.remove(type("pods"), ns, object_name(p));
    std::vector<json> live;
    for (const auto& p : current)
      if (!terminating(p)) live.push_back(p);
    if (old_alive == 0 && !d["spec"].value("paused", false)) {
      for (int i = static_cast<int>(live.size()); i < replicas; ++i) {
        json pod = {{"apiVersion", "v1"},
                    {"kind", "Pod"},
                    {"metadata", tmpl.value("metadata", json::object())},
                    {"spec", tmpl.value("spec", json::object())}};
        pod["metadata"]["labels"]["pod-template-hash"] = hash;
        pod["metadata"]["name"] = name + "-" + hash + "-" + random_name_suffix();
        pod["metadata"]["namespace"] = ns;
        pod["metadata"]["ownerReferences"] = json::array({owner_ref(d, "apps/v1", "Deployment")});
        if (auto made = store_.create(type("pods"), ns, pod)) live.push_back(*made);
      }
      // Scale down: the not-ready and the newest go first, as the ReplicaSet controller ranks them.
      std::stable_sort(live.begin(), live.end(), [](const json& a, const json& b) {
        if (pod_ready(a) != pod_ready(b)) return pod_ready(a);
        return meta_string(a, "creationTimestamp") < meta_string(b, "creationTimestamp");
      });
      while (static_cast<int>(live.size()) > replicas) {
        (void)store_.remove(type("pods"), ns, object_name(live.back()));
        live.pop_back();
      }
    }
    int ready = 0;
    for (const auto& p : live) ready += pod_ready(p) ? 1 : 0;
    const int total = static_cast<int>(current.size() + old.size());
    json conditions = d.value("/status/conditions"_json_pointer, json::array());
    set_condition(conditions, "Available", ready >= replicas ? "True" : "False",
                  ready >= replicas ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                  ready >= replicas ? "Deployment has minimum availability." : "Deployment does not have minimum availability.",
                  "lastUpdateTime");
    const bool done = old.empty() && static_cast<int>(live.size()) == replicas && ready == replicas;
    set_condition(conditions, "Progressing", "True", done ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                  "ReplicaSet \"" + name + "-" + hash + "\" " + (done ? "has successfully progressed." : "is progressing."),
                  "lastUpdateTime");
    json status = {{"observedGeneration", d["metadata"].value("generation", 1)},
                   {"replicas", total},
                   {"updatedReplicas", static_cast<int>(current.size())},
                   {"readyReplicas", ready},
                   {"availableReplicas", ready},
                   {"unavailableReplicas", std::max(0, replicas - ready)},
                   {"conditions", conditions}};
    // Kubernetes omits zero counts; so do we, so a scaled-down Deployment looks the same.
    for (const char* k : {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"})
      if (status[k] == 0) status.erase(k);
    if (d.value("status", json::object()) != status) {
      json next = d;
      next["status"] = status;
      (void)store_.update(type("deployments.apps"), ns, name, next, subresource::status);
    }
  }
}

void runtime::sync_jobs() {
  const auto pods = list("pods");
  const auto now_wall = std::time(nullptr);
  for (const auto& j : list("jobs.batch")) {
    if (terminating(j)) continue;
    const auto ns = object_namespace(j), name = object_name(j), uid = meta_string(j, "uid");
    json status = j.value("status", json::object());
    json conditions = status.value("conditions", json::array());
    const json before = status;
    if (has_condition(conditions, "Complete") || has_condition(conditions, "Failed")) continue;
    const auto& spec = j["spec"];
    if (spec.value("suspend", false)) continue;
    if (!status.contains("startTime")) status["startTime"] = now_rfc3339();

    int active = 0, ready = 0, succeeded = 0, failed = 0, restarts = 0;
    std::vector<json> running;
    for (const auto& p : pods) {
      if (object_namespace(p) != ns || !owned_by(p, uid)) continue;
      const auto phase = p.value("/status/phase"_json_pointer, std::string());
      for (const auto& cs : p.value("/status/containerStatuses"_json_pointer, json::array()))
        restarts += cs.value("restartCount", 0);
      if (phase == "Succeeded") ++succeeded;
      else if (phase == "Failed") ++failed;
      else {
        ++active;
        ready += pod_ready(p) ? 1 : 0;
        running.push_back(p);
      }
    }
    const int completions = spec.value("completions", 1);
    const int parallelism = spec.value("parallelism", 1);
    const int backoff_limit = spec.value("backoffLimit", 6);
    const bool on_failure = spec.value("/template/spec/restartPolicy"_json_pointer, std::string("Never")) == "OnFailure";
    // OnFailure restarts the container in place; those restarts count against backoffLimit.
    const int failures = failed + (on_failure ? restarts : 0);

    auto kill_running = [&] {
      for (const auto& p : running)
        if (!terminating(p)) (void)store_.remove(type("pods"), ns, object_name(p));
    };
    const bool failing = has_condition(conditions, "FailureTarget");
    const bool succeeding = has_condition(conditions, "SuccessCriteriaMet");
    if (!failing && !succeeding) {
      const auto deadline = spec.value("activeDeadlineSeconds", 0);
      if (succeeded >= completions) {
        set_condition(conditions, "SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods",
                      "lastProbeTime");
      } else if (failures > backoff_limit) {
        set_condition(conditions, "FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                      "lastProbeTime");
      } else if (deadline > 0 && now_wall - parse_time(status["startTime"]) >= deadline) {
        set_condition(conditions, "FailureTarget", "True", "DeadlineExceeded", "Job was active longer than specified deadline",
                      "lastProbeTime");
      }
    }
    if (has_condition(conditions, "FailureTarget") || has_condition(conditions, "SuccessCriteriaMet")) {
      kill_running();
      // The terminal condition follows once no pod of the Job runs any more.
      if (active == 0) {
        if (has_condition(conditions, "SuccessCriteriaMet")) {
          set_condition(conditions, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods",
                        "lastProbeTime");
          status["completionTime"] = now_rfc3339();
        } else {
          for (const auto& c : conditions)
            if (c.value("type", "") == "FailureTarget")
              set_condition(conditions, "Failed", "True", c.value("reason", ""), c.value("message", ""), "lastProbeTime");
        }
      }
    } else {
      // Start pods, after the back-off that follows a failure.
      auto& not_before = job_not_before_[uid];
      const int seen_failures = status.value("failed", 0);
      if (failed > seen_failures && failed > 0) {
        auto delay = options_.backoff_base * (1 << std::min(failed - 1, 10));
        if (delay > options_.backoff_cap) delay = options_.backoff_cap;
        not_before = clock::now() + delay;
      }
      const auto& tmpl = spec["template"];
      for (int i = active; i < parallelism && succeeded + i < completions && clock::now() >= not_before; ++i) {
        json pod = {{"apiVersion", "v1"},
                    {"kind", "Pod"},
                    {"metadata", tmpl.value("metadata", json::object())},
                    {"spec", tmpl.value("spec", json::object())}};
        auto& labels = pod["metadata"]["labels"];
        labels["job-name"] = name;
        labels["batch.kubernetes.io/job-name"] = name;
        labels["controller-uid"] = uid;
        labels["batch.kubernetes.io/controller-uid"] = uid;
        pod["metadata"]["name"] = name + "-" + random_name_suffix();
        pod["metadata"]["namespace"] = ns;
        pod["metadata"]["ownerReferences"] = json::array({owner_ref(j, "batch/v1", "Job")});
        if (store_.create(type("pods"), ns, pod)) ++active;
      }
    }
    status["active"] = active;
    status["ready"] = ready;
    status["succeeded"] = succeeded;
    status["failed"] = failed;
    status["conditions"] = conditions;
    status["uncountedTerminatedPods"] = json::object();
    for (const char* k : {"active", "succeeded", "failed"})
      if (status[k] == 0) status.erase(k);
    if (conditions.empty()) status.erase("conditions");
    if (status != before) {
      json next = j;
      next["status"] = status;
      (void)store_.update(type("jobs.batch"), ns, name, next, subresource::status);
    }
  }
}

}  // namespace kube_sim::runtime
