#include "apply.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include "object_meta.hpp"

namespace kube_sim::quay_operator {
namespace {

const char* const registry_type = "quayregistries.quay.redhat.com";
// Where the stand-in remembers the app's replicas while its migration holds the app at 0 (the
// real operator's pgupgrade overlay patches replicas to 0 and its next render gives them back).
const char* const app_replicas_annotation = "kube-sim.io/quay-operator-app-replicas";

bool named_items(const json& list) {
  if (!list.is_array() || list.empty()) return false;
  return std::all_of(list.begin(), list.end(),
                     [](const json& e) { return e.is_object() && e.contains("name") && e["name"].is_string(); });
}

// A reference into `deployment` (json::value would return a copy, and a reference into that
// would dangle).
const json& first_container(const json& deployment) {
  static const json none = json::object();
  const auto ptr = "/spec/template/spec/containers/0"_json_pointer;
  return deployment.contains(ptr) && deployment[ptr].is_object() ? deployment[ptr] : none;
}

// o[key] when o is an object holding a string there; "" otherwise (hand-made objects may hold anything).
std::string string_at(const json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : "";
}

std::string short_kind(const json& o) {
  const auto kind = string_at(o, "kind");
  return kind.empty() ? "object" : kind;
}

bool only_metadata_differs(json before, json after) {
  before.erase("metadata");
  after.erase("metadata");
  return before == after;
}

// What changed in a Deployment, in the terms a reader of the log cares about.
std::string describe(const json& before, const json& after) {
  if (short_kind(after) != "Deployment") return "";
  std::vector<std::string> parts;
  if (image_of(before) != image_of(after)) parts.push_back("image " + image_of(before) + " -> " + image_of(after));
  if (data_claim(before) != data_claim(after)) parts.push_back("claim " + data_claim(before) + " -> " + data_claim(after));
  if (replicas_of(before) != replicas_of(after))
    parts.push_back("replicas " + std::to_string(replicas_of(before)) + " -> " + std::to_string(replicas_of(after)));
  if (parts.empty() && before.value("spec", json()) != after.value("spec", json())) parts.push_back("spec");
  if (parts.empty()) parts.push_back("metadata");
  std::string out = ": ";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out;
}

}  // namespace

json merged(const json& live, const json& want) {
  if (live.is_object() && want.is_object()) {
    json out = live;
    for (const auto& [k, v] : want.items()) out[k] = live.contains(k) ? merged(live[k], v) : v;
    return out;
  }
  if (named_items(live) && named_items(want)) {
    json out = live;
    for (const auto& w : want) {
      auto it = std::find_if(out.begin(), out.end(), [&](const json& e) { return e["name"] == w["name"]; });
      if (it != out.end()) *it = merged(*it, w);
      else out.push_back(w);
    }
    return out;
  }
  return want;
}

std::string image_of(const json& deployment) { return string_at(first_container(deployment), "image"); }

std::string data_claim(const json& deployment) {
  std::string volume;
  const auto& c = first_container(deployment);
  if (c.contains("volumeMounts") && c["volumeMounts"].is_array())
    for (const auto& m : c["volumeMounts"])
      if (string_at(m, "mountPath") == "/var/lib/pgsql/data") volume = string_at(m, "name");
  const auto ptr = "/spec/template/spec/volumes"_json_pointer;
  if (volume.empty() || !deployment.contains(ptr) || !deployment[ptr].is_array()) return {};
  for (const auto& v : deployment[ptr])
    if (string_at(v, "name") == volume && v.contains("persistentVolumeClaim"))
      return string_at(v["persistentVolumeClaim"], "claimName");
  return {};
}

int replicas_of(const json& deployment) {
  const auto ptr = "/spec/replicas"_json_pointer;
  return deployment.contains(ptr) && deployment[ptr].is_number_integer() ? deployment[ptr].get<int>() : 1;
}

bool owned_by(const json& object, const std::string& uid) {
  const auto ptr = "/metadata/ownerReferences"_json_pointer;
  if (!object.contains(ptr) || !object[ptr].is_array()) return false;
  return std::any_of(object[ptr].begin(), object[ptr].end(),
                     [&](const json& r) { return r.is_object() && r.value("uid", json()) == uid; });
}

std::optional<json> reconcile_pass::get(std::string_view id, const std::string& name) const {
  auto got = s.get(type(id), r.ns, name);
  return got ? std::optional<json>(*got) : std::nullopt;
}

void reconcile_pass::note(std::string text, bool of_substance) {
  changes.push_back(std::move(text));
  substantive = substantive || of_substance;
}

std::optional<json> reconcile_pass::apply(std::string_view id, const json& want, mode m) {
  const auto name = object_name(want);
  const auto what = short_kind(want) + " " + name;
  auto live = get(id, name);
  if (!live) {
    auto made = s.create(type(id), r.ns, want);
    if (!made) {
      failed("create " + what, made.error());
      return std::nullopt;
    }
    note("created " + what);
    return *made;
  }
  if (m == mode::create_only) return live;
  json next = *live;
  auto& meta = next["metadata"];
  for (const char* field : {"labels", "annotations"})
    if (want["metadata"].contains(field)) meta[field] = merged(meta.value(field, json::object()), want["metadata"][field]);
  if (!owned_by(*live, r.uid)) {
    if (!meta.contains("ownerReferences") || !meta["ownerReferences"].is_array()) meta["ownerReferences"] = json::array();
    meta["ownerReferences"].push_back(owner_reference(r));
  }
  if (m == mode::full)
    for (const auto& [k, v] : want.items())
      if (k != "apiVersion" && k != "kind" && k != "metadata" && k != "status")
        next[k] = live->contains(k) ? merged((*live)[k], v) : v;
  if (next == *live) return live;
  auto updated = s.update(type(id), r.ns, name, next);
  if (!updated) {
    failed("update " + what, updated.error());
    return live;
  }
  note("updated " + what + describe(*live, next), !only_metadata_differs(*live, next));
  return *updated;
}

void reconcile_pass::remove(std::string_view id, const std::string& name, const std::string& kind) {
  if (!get(id, name)) return;
  delete_options o;
  o.propagation_policy = "Background";
  if (auto done = s.remove(type(id), r.ns, name, o); !done) failed("delete " + kind + " " + name, done.error());
  else note("deleted " + kind + " " + name);
}

void reconcile_pass::update(std::string_view id, const json& object, const std::string& sentence) {
  if (auto done = s.update(type(id), r.ns, object_name(object), object); !done)
    failed("update " + short_kind(object) + " " + object_name(object), done.error());
  else note(sentence);
}

void reconcile_pass::set_condition(const std::string& status, const std::string& reason, const std::string& message) {
  auto reg = s.get(type(registry_type), r.ns, r.name);
  if (!reg) return;
  json next = *reg;
  if (!next.contains("status") || !next["status"].is_object()) next["status"] = json::object();
  json& conditions = next["status"]["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  const auto now = now_rfc3339();
  auto it = std::find_if(conditions.begin(), conditions.end(),
                         [](const json& c) { return c.is_object() && c.value("type", json()) == "ComponentsCreated"; });
  if (it == conditions.end()) {
    conditions.push_back({{"type", "ComponentsCreated"}, {"lastTransitionTime", now}});
    it = conditions.end() - 1;
  } else if (it->value("status", json()) == status && it->value("reason", json()) == reason &&
             it->value("message", json()) == message) {
    return;
  }
  if (it->value("status", json()) != status) (*it)["lastTransitionTime"] = now;
  (*it)["status"] = status;
  (*it)["reason"] = reason;
  (*it)["message"] = message;
  (*it)["lastUpdateTime"] = now;
  if (auto done = s.update(type(registry_type), r.ns, r.name, next, subresource::status); !done)
    failed("status of QuayRegistry " + r.name, done.error());
  else note("condition ComponentsCreated=" + status + " " + reason);
}

int reconcile_pass::running_pods(const json& deployment) const {
  const auto ptr = "/spec/selector/matchLabels"_json_pointer;
  if (!deployment.contains(ptr) || !deployment[ptr].is_object() || deployment[ptr].empty()) return 0;
  const json& match = deployment[ptr];
  auto pods = s.list(type("pods"), r.ns);
  if (!pods) return 0;
  int n = 0;
  for (const auto& p : pods->items) {
    const json labels = p.value("/metadata/labels"_json_pointer, json::object());
    bool all = labels.is_object();
    for (const auto& [k, v] : match.items()) all = all && labels.contains(k) && labels[k] == v;
    if (all && p.value("/status/phase"_json_pointer, json()) == "Running") ++n;
  }
  return n;
}

void reconcile_pass::hold_app(const std::string& app) {
  auto d = get("deployments.apps", app);
  if (!d || replicas_of(*d) == 0) return;
  json next = *d;
  next["metadata"]["annotations"][app_replicas_annotation] = std::to_string(replicas_of(*d));
  next["spec"]["replicas"] = 0;
  update("deployments.apps", next, "scaled Deployment " + app + " to 0 for the migration");
}

void reconcile_pass::release_app(const std::string& app) {
  auto d = get("deployments.apps", app);
  if (!d) return;
  const auto recorded = string_at(d->value("/metadata/annotations"_json_pointer, json::object()), app_replicas_annotation);
  if (recorded.empty()) return;
  int replicas = 1;
  (void)std::from_chars(recorded.data(), recorded.data() + recorded.size(), replicas);
  json next = *d;
  next["metadata"]["annotations"].erase(app_replicas_annotation);
  next["spec"]["replicas"] = replicas;
  update("deployments.apps", next, "scaled Deployment " + app + " back to " + std::to_string(replicas));
}

}  // namespace kube_sim::quay_operator
