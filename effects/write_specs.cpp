#include "effects/write_specs.hpp"

#include <cstdint>
#include <cstdio>

#include "core/codec.hpp"
#include "core/time.hpp"
#include "effects/labels.hpp"

namespace qpu::effects {

using nlohmann::json;

json scale_patch(const scale_deployment& s) {
  json patch = {{"spec", {{"replicas", s.replicas}}}};
  if (s.record_original)
    patch["metadata"]["annotations"][std::string(original_replicas_annotation)] = std::to_string(*s.record_original);
  else if (s.clear_record) patch["metadata"]["annotations"][std::string(original_replicas_annotation)] = nullptr;
  return patch;
}

namespace {

// RFC 6901: '~' -> "~0", '/' -> "~1".
std::string pointer_token(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string rfc3339(timestamp t) { return format_rfc3339_seconds(t); }

}  // namespace

std::expected<json, std::string> database_deployment_patch(const patch_database_deployment& p, const json& d) {
  const json pod = d.value("/spec/template/spec"_json_pointer, json::object());
  const json containers = pod.value("containers", json::array());
  if (containers.empty()) return std::unexpected("Deployment " + to_string(p.key) + " has no containers");
  std::size_t ci = 0;
  for (std::size_t i = 0; i < containers.size(); ++i)
    if (containers[i].value("name", "") == "postgres") ci = i;
  std::string volume_name;
  for (const auto& m : containers[ci].value("volumeMounts", json::array()))
    if (m.value("mountPath", "") == "/var/lib/pgsql/data" || m.value("mountPath", "") == "/var/lib/pgsql/data/")
      volume_name = m.value("name", "");
  const json volumes = pod.value("volumes", json::array());
  std::optional<std::size_t> vi;
  for (std::size_t i = 0; i < volumes.size(); ++i)
    if (volumes[i].value("name", "") == volume_name && volumes[i].contains("persistentVolumeClaim")) vi = i;
  if (volume_name.empty() || !vi)
    return std::unexpected("Deployment " + to_string(p.key) + ": container " + containers[ci].value("name", "?") +
                           " mounts no claim at /var/lib/pgsql/data");
  const std::string rv = d.value("/metadata/resourceVersion"_json_pointer, std::string());
  const std::string container_path = "/spec/template/spec/containers/" + std::to_string(ci);
  json patch = json::array();
  // Kubernetes makes a write carrying metadata.resourceVersion conditional on it (409 Conflict
  // when stale), for patches as for PUT. A JSON-patch "test" op would fail as 422 Invalid instead.
  patch.push_back({{"op", "replace"}, {"path", "/metadata/resourceVersion"}, {"value", rv}});
  patch.push_back(
      {{"op", containers[ci].contains("image") ? "replace" : "add"}, {"path", container_path + "/image"}, {"value", p.image}});
  patch.push_back({{"op", "replace"},
                   {"path", "/spec/template/spec/volumes/" + std::to_string(*vi) + "/persistentVolumeClaim/claimName"},
                   {"value", p.claim}});
  patch.push_back(
      {{"op", d.contains("/spec/replicas"_json_pointer) ? "replace" : "add"}, {"path", "/spec/replicas"}, {"value", p.replicas}});
  if (d.contains(json::json_pointer("/metadata/annotations/" + pointer_token(original_replicas_annotation))))
    patch.push_back({{"op", "remove"}, {"path", "/metadata/annotations/" + pointer_token(original_replicas_annotation)}});
  return patch;
}

json merge_conditions(const json& existing, const std::vector<condition>& ours) {
  json out = json::array();
  auto to_json = [](const condition& c, const json* old) {
    std::string since = rfc3339(c.last_transition);
    if (old && old->value("status", "") == c.status && old->contains("lastTransitionTime"))
      since = (*old)["lastTransitionTime"].get<std::string>();
    return json{{"type", c.type},       {"status", c.status},          {"reason", c.reason},
                {"message", c.message}, {"lastTransitionTime", since}, {"observedGeneration", c.observed_generation}};
  };
  std::vector<bool> used(ours.size(), false);
  if (existing.is_array()) {
    for (const auto& e : existing) {
      bool replaced = false;
      for (std::size_t i = 0; i < ours.size(); ++i)
        if (!used[i] && e.value("type", "") == ours[i].type) {
          out.push_back(to_json(ours[i], &e));
          used[i] = replaced = true;
          break;
        }
      if (!replaced) out.push_back(e);
    }
  }
  for (std::size_t i = 0; i < ours.size(); ++i)
    if (!used[i]) out.push_back(to_json(ours[i], nullptr));
  return out;
}

json registry_status_patch(const update_registry_status& u, const json& registry) {
  const auto& s = u.summary;
  auto text = [](const std::string& v) { return v.empty() ? json(nullptr) : json(v); };
  auto time = [](const std::optional<timestamp>& t) { return t ? json(rfc3339(*t)) : json(nullptr); };
  json summary = {{"phase", text(s.phase)},
                  {"from", text(s.from)},
                  {"to", text(s.to)},
                  {"method", text(s.method)},
                  {"attempt", s.attempt},
                  {"started", time(s.started)},
                  {"finished", time(s.finished)},
                  {"backupClaim", text(s.backup_claim)},
                  {"previousClaim", text(s.previous_claim)},
                  {"newClaim", text(s.new_claim)},
                  {"lastError", text(s.last_error)},
                  {"revertBackupClaim", text(s.revert_backup_claim)},
                  {"quayOperator", text(s.quay_operator)},
                  {"backupArchive", text(s.backup_archive)},
                  {"statistics", text(s.statistics)},
                  {"progress", s.progress ? progress_json(*s.progress) : json(nullptr)}};
  return {{"metadata", {{"resourceVersion", registry.value("/metadata/resourceVersion"_json_pointer, std::string())}}},
          {"status",
           {{"conditions", merge_conditions(registry.value("/status/conditions"_json_pointer, json::array()), u.conditions)},
            {u.component == db_component::clair ? "clairPostgresUpgrade" : "postgresUpgrade", summary}}}};
}

std::string event_name(const emit_event& e) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : to_string(e.id)) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return e.registry.key.name + "." + hex;
}

namespace {

// At most `max` bytes, never splitting a UTF-8 sequence.
std::string truncate_utf8(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}

}  // namespace

json event_body(const emit_event& e) {
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", event_name(e)}, {"namespace", e.registry.key.ns}}},
          {"involvedObject",
           {{"apiVersion", "quay.redhat.com/v1"},
            {"kind", "QuayRegistry"},
            {"name", e.registry.key.name},
            {"namespace", e.registry.key.ns},
            {"uid", e.registry.uid}}},
          {"reason", e.reason},
          {"message", truncate_utf8(e.message, 1024)},
          {"type", e.type},
          {"firstTimestamp", format_rfc3339_seconds(e.at)},
          {"lastTimestamp", format_rfc3339_seconds(e.at)},
          {"eventTime", nullptr},
          {"count", 1},
          {"source", {{"component", std::string(component_name)}}},
          {"reportingComponent", std::string(component_name)},
          {"reportingInstance", std::string(component_name)}};
}

}  // namespace qpu::effects
