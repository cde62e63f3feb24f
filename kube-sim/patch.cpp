#include "patch.hpp"

#include <algorithm>
#include <optional>
#include <string>

namespace kube_sim {
namespace {

constexpr std::string_view set_order_prefix = "$setElementOrder/";
constexpr std::string_view delete_primitive_prefix = "$deleteFromPrimitiveList/";

// The patchMergeKey of list fields in the Kubernetes Go types, by field name; the item itself
// decides for "ports" because containers key them by containerPort and services by port.
std::optional<std::string> merge_key(std::string_view field, const json& item) {
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" || field == "volumes" ||
      field == "env" || field == "imagePullSecrets")
    return "name";
  if (field == "volumeMounts") return "mountPath";
  if (field == "volumeDevices") return "devicePath";
  if (field == "conditions") return "type";
  if (field == "ownerReferences") return "uid";
  if (field == "hostAliases") return "ip";
  if (field == "ports") return item.is_object() && item.contains("containerPort") ? "containerPort" : "port";
  return std::nullopt;
}

bool is_set_list(std::string_view field) { return field == "finalizers"; }

void strip_directives(json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      if (!it.key().empty() && it.key().front() == '$') it = j.erase(it);
      else strip_directives(*it++);
    }
  } else if (j.is_array()) {
    for (auto& v : j) strip_directives(v);
  }
}

json strategic_map(json target, const json& patch);

json::iterator find_keyed(json& list, const std::string& key, const json& value) {
  return std::find_if(list.begin(), list.end(),
                      [&](const json& item) { return item.is_object() && item.contains(key) && item[key] == value; });
}

json strategic_list(json target, const json& patch, std::string_view field) {
  if (!target.is_array()) target = json::array();
  for (const auto& item : patch) {
    auto key = merge_key(field, item);
    if (!key || !item.is_object() || !item.contains(*key)) continue;
    auto found = find_keyed(target, *key, item[*key]);
    if (item.value("$patch", "") == "delete") {
      if (found != target.end()) target.erase(found);
    } else if (found != target.end()) {
      *found = strategic_map(*found, item);
    } else {
      json added = item;
      strip_directives(added);
      target.push_back(std::move(added));
    }
  }
  return target;
}

// kubectl sends the desired order of a merged list as $setElementOrder/<field>.
void reorder(json& list, const json& order, std::string_view field) {
  if (!list.is_array() || !order.is_array() || order.empty()) return;
  auto key = merge_key(field, order.front());
  json sorted = json::array();
  for (const auto& want : order) {
    json::iterator found = key && want.is_object() && want.contains(*key) ? find_keyed(list, *key, want[*key])
                                                                          : std::find(list.begin(), list.end(), want);
    if (found != list.end()) {
      sorted.push_back(*found);
      list.erase(found);
    }
  }
  for (auto& rest : list) sorted.push_back(rest);
  list = std::move(sorted);
}

json strategic_map(json target, const json& patch) {
  if (!patch.is_object()) return patch;
  if (patch.value("$patch", "") == "replace") {
    json replaced = patch;
    strip_directives(replaced);
    return replaced;
  }
  if (!target.is_object()) target = json::object();
  for (const auto& [key, value] : patch.items()) {
    std::string_view k = key;
    if (k.starts_with(set_order_prefix) || k == "$patch" || k == "$retainKeys") continue;
    if (k.starts_with(delete_primitive_prefix)) {
      std::string field(k.substr(delete_primitive_prefix.size()));
      if (target.contains(field) && target[field].is_array()) {
        auto& list = target[field];
        for (const auto& gone : value) list.erase(std::remove(list.begin(), list.end(), gone), list.end());
      }
      continue;
    }
    if (value.is_null()) {
      target.erase(key);
    } else if (value.is_object() && value.value("$patch", "") == "delete") {
      target.erase(key);
    } else if (value.is_object()) {
      target[key] = strategic_map(target.contains(key) ? target[key] : json::object(), value);
    } else if (value.is_array() && !value.empty() && merge_key(k, value.front())) {
      target[key] = strategic_list(target.contains(key) ? target[key] : json::array(), value, k);
    } else if (value.is_array() && is_set_list(k) && target.contains(key) && target[key].is_array()) {
      for (const auto& v : value)
        if (std::find(target[key].begin(), target[key].end(), v) == target[key].end()) target[key].push_back(v);
    } else {
      json copy = value;
      strip_directives(copy);
      target[key] = std::move(copy);
    }
  }
  for (const auto& [key, value] : patch.items()) {
    std::string_view k = key;
    if (!k.starts_with(set_order_prefix)) continue;
    std::string field(k.substr(set_order_prefix.size()));
    if (target.contains(field)) reorder(target[field], value, field);
  }
  if (patch.contains("$retainKeys") && patch["$retainKeys"].is_array()) {
    const auto& keep = patch["$retainKeys"];
    for (auto it = target.begin(); it != target.end();) {
      if (std::find(keep.begin(), keep.end(), it.key()) == keep.end()) it = target.erase(it);
      else ++it;
    }
  }
  return target;
}

}  // namespace

result<patch_kind> patch_kind_from_content_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto media = content_type.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media == "application/merge-patch+json") return patch_kind::merge;
  if (media == "application/json-patch+json") return patch_kind::json_patch;
  if (media == "application/strategic-merge-patch+json") return patch_kind::strategic;
  if (media == "application/apply-patch+yaml" || media == "application/apply-patch+json") return patch_kind::apply;
  return std::unexpected(
      unsupported_media_type("the body of the request was in an unknown format - accepted media types include: "
                             "application/json-patch+json, application/merge-patch+json, "
                             "application/apply-patch+yaml, application/strategic-merge-patch+json"));
}

json merge_patch(json target, const json& patch) {
  target.merge_patch(patch);
  return target;
}

result<json> json_patch(const json& target, const json& patch) {
  if (!patch.is_array()) return std::unexpected(bad_request("json patch must be an array of operations"));
  try {
    return target.patch(patch);
  } catch (const json::exception& e) {
    return std::unexpected(api_error{422, "Invalid",
                                     std::string("the server rejected our request "
                                                 "due to an error in our request: ") +
                                         e.what()});
  }
}

json strategic_merge_patch(json target, const json& patch) { return strategic_map(std::move(target), patch); }

json apply_merge(json live, const json& applied, bool custom) {
  if (custom) return merge_patch(std::move(live), applied);
  return strategic_map(std::move(live), applied);
}

}  // namespace kube_sim
