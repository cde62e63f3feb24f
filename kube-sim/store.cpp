#include "store.hpp"

#include <algorithm>
#include <set>

#include "admission.hpp"
#include "base64.hpp"
#include "object_meta.hpp"

namespace kube_sim {
namespace {

constexpr std::string_view crd_id = "customresourcedefinitions.apiextensions.k8s.io";
constexpr std::string_view namespaces_id = "namespaces";

// What metadata.generation counts: everything a user declares, i.e. all but metadata and status.
json declared_part(json object) {
  object.erase("metadata");
  object.erase("status");
  return object;
}

bool has_finalizers(const json& object) {
  auto md = object.find("metadata");
  if (md == object.end()) return false;
  auto f = md->find("finalizers");
  return f != md->end() && f->is_array() && !f->empty();
}

bool is_terminating(const json& object) {
  return object.contains("metadata") && object["metadata"].contains("deletionTimestamp");
}

// The apiserver refuses a body whose apiVersion or kind names another resource.
result<void> check_type_meta(const resource_type& t, json& object) {
  if (!object.is_object()) return std::unexpected(bad_request("the body of the request must be a JSON object"));
  if (object.contains("apiVersion") && object["apiVersion"] != t.api_version())
    return std::unexpected(bad_request("the API version in the data (" + object["apiVersion"].dump() +
                                       ") does not match the expected API version (" + t.api_version() + ")"));
  if (object.contains("kind") && object["kind"] != t.kind)
    return std::unexpected(
        bad_request("the kind in the data (" + object["kind"].dump() + ") does not match the expected kind (" + t.kind + ")"));
  object["apiVersion"] = t.api_version();
  object["kind"] = t.kind;
  if (!object.contains("metadata") || !object["metadata"].is_object()) object["metadata"] = json::object();
  return {};
}

// Fields a write may not change: identity, creation and deletion bookkeeping.
void keep_system_fields(json& next, const json& old) {
  auto& md = next["metadata"];
  const auto& old_md = old["metadata"];
  for (const char* field : {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                            "generation", "resourceVersion"}) {
    if (old_md.contains(field)) md[field] = old_md[field];
    else md.erase(field);
  }
}

std::string expired_continue_message() {
  return "The provided continue parameter is too old to display a consistent list result. You can "
         "start a new list without the continue parameter, or use the continue token in this "
         "response to retrieve the remainder of the results. Continuing with the provided token "
         "results in an inconsistent list - objects that were created, modified, or deleted "
         "between the time the first chunk was returned and now may show up in the list.";
}

}  // namespace

std::string_view to_string(event_type t) {
  switch (t) {
    case event_type::added: return "ADDED";
    case event_type::modified: return "MODIFIED";
    case event_type::deleted: return "DELETED";
  }
  return "UNKNOWN";
}

store::store(std::size_t history_limit)
    : types_(resource_registry::builtins()), history_limit_(std::max<std::size_t>(history_limit, 1)) {}

result<json> store::create(const resource_type& t, std::string_view ns, json object) {
  if (auto ok = check_type_meta(t, object); !ok) return std::unexpected(ok.error());
  auto& md = object["metadata"];
  if (t.namespaced) {
    if (ns.empty()) return std::unexpected(bad_request("a namespace is required to create " + t.id()));
    if (md.contains("namespace") && md["namespace"] != ns)
      return std::unexpected(
          bad_request("the namespace of the provided object does not match the namespace sent on the request"));
    md["namespace"] = ns;
    auto owner = objects_.find(key{std::string(namespaces_id), "", std::string(ns)});
    if (owner == objects_.end()) return std::unexpected(not_found(*types_.find_id(namespaces_id), ns));
    if (is_terminating(owner->second))
      return std::unexpected(forbidden(t.id() + " is forbidden: unable to create new content in namespace " + std::string(ns) +
                                       " because it is being terminated"));
  } else {
    md.erase("namespace");
    ns = {};
  }
  std::string name = md.value("name", "");
  if (name.empty()) {
    const std::string prefix = md.value("generateName", "");
    if (prefix.empty())
      return std::unexpected(invalid(t, "", "metadata.name", "Required value: name or generateName is required"));
    // The apiserver retries a colliding generated name; so do we, a few times.
    for (int attempt = 0; attempt < 8; ++attempt) {
      name = prefix + random_name_suffix();
      if (!objects_.contains(key{t.id(), std::string(ns), name})) break;
    }
    md["name"] = name;
  }
  if (!valid_object_name(name))
    return std::unexpected(invalid(t, name, "metadata.name",
                                   "Invalid value: \"" + name +
                                       "\": a lowercase RFC 1123 subdomain must "
                                       "consist of lower case alphanumeric characters, '-' or '.', and must "
                                       "start and end with an alphanumeric character"));
  const key k{t.id(), std::string(ns), name};
  if (objects_.contains(k)) return std::unexpected(already_exists(t, name));

  md["uid"] = new_uid();
  md["creationTimestamp"] = now_rfc3339();
  md.erase("deletionTimestamp");
  md.erase("deletionGracePeriodSeconds");
  if (t.tracks_generation) md["generation"] = 1;
  else md.erase("generation");
  // Status belongs to controllers: a create cannot set it on kinds with a /status subresource.
  if (t.has_status) object.erase("status");
  auto allocate = [this] {
    std::set<std::string> used;
    for (const auto& [k2, o] : objects_)
      if (std::get<0>(k2) == "services") used.insert(o.value("/spec/clusterIP"_json_pointer, ""));
    for (int i = 1;; ++i) {
      auto ip = "127.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
      if (!used.contains(ip)) return ip;
    }
  };
  // The newest StorageClass marked the default, as the DefaultStorageClass plugin chooses.
  auto default_class = [this] {
    std::string name, newest;
    for (const auto& [k2, o] : objects_)
      if (std::get<0>(k2) == "storageclasses.storage.k8s.io" &&
          o.value("/metadata/annotations/storageclass.kubernetes.io~1is-default-class"_json_pointer, std::string()) == "true") {
        const auto created = o.value("/metadata/creationTimestamp"_json_pointer, std::string());
        if (name.empty() || created >= newest) {
          name = o["metadata"].value("name", "");
          newest = created;
        }
      }
    return name;
  };
  if (auto ok = admit(t, object, nullptr, allocate, default_class); !ok) return std::unexpected(ok.error());

  md["resourceVersion"] = std::to_string(++revision_);
  put_object(k, object);
  commit(change{event_type::added, t.id(), object, nullptr, revision_});
  if (t.id() == crd_id)
    if (auto served = type_from_crd(object)) types_.add(*served);
  return object;
}

result<json> store::get(const resource_type& t, std::string_view ns, std::string_view name) const {
  auto it = objects_.find(key{t.id(), t.namespaced ? std::string(ns) : "", std::string(name)});
  if (it == objects_.end()) return std::unexpected(not_found(t, name));
  return it->second;
}

result<json> store::update(const resource_type& t, std::string_view ns, std::string_view name, json object, subresource sub) {
  const key k{t.id(), t.namespaced ? std::string(ns) : "", std::string(name)};
  auto it = objects_.find(k);
  if (it == objects_.end()) return std::unexpected(not_found(t, name));
  if (auto ok = check_type_meta(t, object); !ok) return std::unexpected(ok.error());
  const json old = it->second;
  const auto& md = object["metadata"];
  if (md.contains("name") && md["name"] != name)
    return std::unexpected(bad_request("the name of the object (" + md.value("name", "") +
                                       ") does not match the name on the URL (" + std::string(name) + ")"));
  const std::string sent_rv = md.value("resourceVersion", "");
  if (sent_rv.empty()) {
    if (t.custom)
      return std::unexpected(invalid(t, name, "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update"));
  } else if (sent_rv != meta_string(old, "resourceVersion")) {
    return std::unexpected(conflict(t, name));
  }
  json next;
  if (sub == subresource::status) {
    next = old;
    if (object.contains("status")) next["status"] = object["status"];
    else next.erase("status");
  } else {
    next = std::move(object);
    keep_system_fields(next, old);
    if (t.has_status) {
      if (old.contains("status")) next["status"] = old["status"];
      else next.erase("status");
    }
  }
  return commit_update(t, k, old, std::move(next));
}

result<write_outcome> store::patch(const resource_type& t, std::string_view ns, std::string_view name, patch_kind kind,
                                   const json& body, subresource sub, std::string_view field_manager) {
  if (kind == patch_kind::strategic && t.custom)
    return std::unexpected(
        unsupported_media_type("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"));
  if (kind == patch_kind::apply && field_manager.empty())
    return std::unexpected(
        bad_request("PATCH requests with apply content type require a fieldManager "
                    "query parameter (fieldManager is required for apply requests)"));
  if (kind == patch_kind::apply) {
    if (!body.is_object()) return std::unexpected(bad_request("apply configuration must be an object"));
    if (!object_name(body).empty() && object_name(body) != name)
      return std::unexpected(bad_request("the name of the object (" + object_name(body) +
                                         ") does not match the name on the URL (" + std::string(name) + ")"));
  } else if (kind != patch_kind::json_patch && !body.is_object()) {
    return std::unexpected(bad_request("the patch body must be a JSON object"));
  }
  const key k{t.id(), t.namespaced ? std::string(ns) : "", std::string(name)};
  auto it = objects_.find(k);
  if (it == objects_.end()) {
    if (kind != patch_kind::apply || sub != subresource::main) return std::unexpected(not_found(t, name));
    json fresh = body;
    fresh["metadata"]["name"] = name;
    auto created = create(t, ns, std::move(fresh));
    if (!created) return std::unexpected(created.error());
    return write_outcome{std::move(*created), true, false};
  }
  const json old = it->second;
  json patched;
  switch (kind) {
    case patch_kind::merge: patched = merge_patch(old, body); break;
    case patch_kind::strategic: patched = strategic_merge_patch(old, body); break;
    case patch_kind::apply: patched = apply_merge(old, body, t.custom); break;
    case patch_kind::json_patch: {
      auto applied = json_patch(old, body);
      if (!applied) return std::unexpected(applied.error());
      patched = std::move(*applied);
      break;
    }
  }
  if (!patched.is_object()) return std::unexpected(bad_request("the patch removed the whole object"));
  // A patch that names a resourceVersion is a precondition, as with PUT.
  if (meta_string(patched, "resourceVersion") != meta_string(old, "resourceVersion")) return std::unexpected(conflict(t, name));
  patched["apiVersion"] = t.api_version();
  patched["kind"] = t.kind;
  json next;
  if (sub == subresource::status) {
    next = old;
    if (patched.contains("status")) next["status"] = patched["status"];
    else next.erase("status");
  } else {
    next = std::move(patched);
    if (!next.contains("metadata") || !next["metadata"].is_object()) next["metadata"] = json::object();
    keep_system_fields(next, old);
    if (t.has_status) {
      if (old.contains("status")) next["status"] = old["status"];
      else next.erase("status");
    }
  }
  auto done = commit_update(t, k, old, std::move(next));
  if (!done) return std::unexpected(done.error());
  return write_outcome{std::move(*done), false, false};
}

result<json> store::commit_update(const resource_type& t, const key& k, const json& old, json next) {
  auto allocate = [] { return std::string("None"); };
  if (auto ok = admit(t, next, &old, allocate); !ok) return std::unexpected(ok.error());
  if (t.tracks_generation && declared_part(next) != declared_part(old))
    next["metadata"]["generation"] = old["metadata"].value("generation", 0) + 1;
  // No-op writes make no event and no new resourceVersion, as the apiserver's update does.
  if (next == old) return old;
  if (is_terminating(next) && !has_finalizers(next)) {
    put_object(k, std::move(next));
    return json(remove_now(t, k, "Background", old));
  }
  next["metadata"]["resourceVersion"] = std::to_string(++revision_);
  put_object(k, next);
  commit(change{event_type::modified, t.id(), next, old, revision_});
  if (t.id() == crd_id)
    if (auto served = type_from_crd(next)) types_.add(*served);
  return next;
}

result<write_outcome> store::remove(const resource_type& t, std::string_view ns, std::string_view name,
                                    const delete_options& options) {
  const key k{t.id(), t.namespaced ? std::string(ns) : "", std::string(name)};
  auto it = objects_.find(k);
  if (it == objects_.end()) return std::unexpected(not_found(t, name));
  const json& object = it->second;  // read in place: a plain delete copies nothing (remove_now moves it out)
  if (options.precondition_uid && *options.precondition_uid != meta_string(object, "uid"))
    return std::unexpected(api_error{409, "Conflict",
                                     "Precondition failed: UID in precondition: " + *options.precondition_uid +
                                         ", UID in object meta: " + meta_string(object, "uid")});
  if (options.precondition_rv && *options.precondition_rv != meta_string(object, "resourceVersion"))
    return std::unexpected(api_error{409, "Conflict",
                                     "Precondition failed: ResourceVersion in precondition: " + *options.precondition_rv +
                                         ", ResourceVersion in object meta: " + meta_string(object, "resourceVersion")});
  if (is_terminating(object)) return write_outcome{object, false, false};
  const bool is_namespace = t.id() == namespaces_id;
  if (has_finalizers(object) || is_namespace) {
    // Graceful deletion: mark the object; whoever owns the finalizers removes them later.
    json before = object;  // `object` is the stored one, replaced below
    json next = before;
    next["metadata"]["deletionTimestamp"] = now_rfc3339();
    next["metadata"]["deletionGracePeriodSeconds"] = 0;
    if (is_namespace) next["status"]["phase"] = "Terminating";
    next["metadata"]["resourceVersion"] = std::to_string(++revision_);
    put_object(k, next);
    commit(change{event_type::modified, t.id(), next, std::move(before), revision_});
    if (!is_namespace) return write_outcome{next, false, false};
    std::vector<key> contents;
    for (const auto& [k2, o] : objects_)
      if (std::get<1>(k2) == name && std::get<0>(k2) != namespaces_id) contents.push_back(k2);
    for (const auto& k2 : contents)
      if (const auto* type = types_.find_id(std::get<0>(k2)); type && objects_.contains(k2))
        (void)remove(*type, std::get<1>(k2), std::get<2>(k2), {});
    auto still = objects_.find(k);
    if (still == objects_.end()) return write_outcome{next, false, true};
    return write_outcome{still->second, false, false};
  }
  return write_outcome{remove_now(t, k, options.propagation_policy, std::nullopt), false, true};
}

json store::remove_now(const resource_type& t, const key& k, const std::string& propagation, std::optional<json> stored_before) {
  // Moved out of the store, not copied: under pod churn the copies of each deleted object were
  // most of kube-sim's allocations.
  json last = take_object(k);
  json previous = stored_before ? std::move(*stored_before) : last;
  last["metadata"]["resourceVersion"] = std::to_string(++revision_);
  const auto removed = commit(change{event_type::deleted, t.id(), std::move(last), std::move(previous), revision_});
  after_removal(t, removed->object, propagation);
  return removed->object;
}

void store::index_owners(const key& k, const json& object, bool add) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return;
  const auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return;
  for (const auto& r : *refs) {
    const auto uid = r.is_object() ? r.value("uid", "") : std::string();
    if (uid.empty()) continue;
    if (add) {
      dependents_[uid].insert(k);
    } else if (auto it = dependents_.find(uid); it != dependents_.end()) {
      it->second.erase(k);
      if (it->second.empty()) dependents_.erase(it);
    }
  }
}

void store::put_object(const key& k, json object) {
  auto [it, fresh] = objects_.try_emplace(k);
  if (!fresh) index_owners(k, it->second, false);
  index_owners(k, object, true);
  it->second = std::move(object);
}

json store::take_object(const key& k) {
  auto it = objects_.find(k);
  index_owners(k, it->second, false);
  json object = std::move(it->second);
  objects_.erase(it);
  return object;
}

void store::after_removal(const resource_type& t, const json& removed, const std::string& propagation) {
  const auto uid = meta_string(removed, "uid");
  std::vector<key> doomed;
  if (propagation != "Orphan") {
    // Garbage collection of dependents, as the GC controller does for Jobs -> Pods: a namespaced
    // owner's dependents are in its namespace. Found through the owner index, in key order.
    if (const auto found = dependents_.find(uid); !uid.empty() && found != dependents_.end()) {
      const auto ns = object_namespace(removed);
      for (const auto& k : found->second)
        if (!t.namespaced || std::get<1>(k) == ns) doomed.push_back(k);
    }
  }
  if (t.id() == crd_id) {
    if (auto served = type_from_crd(removed)) {
      for (const auto& [k, o] : objects_)
        if (std::get<0>(k) == served->id()) doomed.push_back(k);
    }
  }
  for (const auto& k : doomed) {
    const auto* type = types_.find_id(std::get<0>(k));
    if (type && objects_.contains(k)) (void)remove(*type, std::get<1>(k), std::get<2>(k), {});
  }
  if (t.id() == crd_id)
    if (auto served = type_from_crd(removed)) types_.remove(served->id());
  // A terminating namespace disappears with its last object.
  const auto ns = object_namespace(removed);
  if (!t.namespaced || ns.empty()) return;
  const key ns_key{std::string(namespaces_id), "", ns};
  auto owner = objects_.find(ns_key);
  if (owner == objects_.end() || !is_terminating(owner->second)) return;
  for (const auto& [k, o] : objects_)
    if (std::get<1>(k) == ns && std::get<0>(k) != namespaces_id) return;
  remove_now(*types_.find_id(namespaces_id), ns_key, "Background", std::nullopt);
}

std::shared_ptr<const change> store::commit(change c) {
  auto shared = std::make_shared<const change>(std::move(c));
  history_.push_back(shared);
  while (history_.size() > history_limit_) {
    compacted_ = history_.front()->rv;
    history_.pop_front();
  }
  undelivered_.push_back(shared);
  if (delivering_) return shared;
  delivering_ = true;
  struct reset {
    bool& flag;
    ~reset() { flag = false; }
  } guard{delivering_};
  while (!undelivered_.empty()) {
    const auto next = std::move(undelivered_.front());
    undelivered_.pop_front();
    std::vector<std::uint64_t> ids;
    for (const auto& [id, s] : subscribers_) ids.push_back(id);
    for (auto id : ids) {
      auto it = subscribers_.find(id);
      if (it == subscribers_.end()) continue;
      auto callback = it->second;  // a subscriber may unsubscribe itself while it runs
      callback(*next);
    }
  }
  return shared;
}

void store::visit_at(const std::string& type_id, std::uint64_t at,
                     const std::optional<std::pair<std::string, std::string>>& after,
                     const std::function<bool(const std::string& ns, const json& object)>& visit) const {
  // The state at `at` of each key changed after it: the `previous` of its earliest later change
  // (absent when that change added it). Walking the history backwards, the earliest wins.
  std::map<std::pair<std::string, std::string>, const json*> changed;
  for (auto it = history_.rbegin(); it != history_.rend() && (*it)->rv > at; ++it) {
    const change& c = **it;
    if (c.type_id != type_id) continue;
    changed[{object_namespace(c.object), object_name(c.object)}] = c.type == event_type::added ? nullptr : &c.previous;
  }
  auto now = after ? objects_.upper_bound(key{type_id, after->first, after->second}) : objects_.lower_bound(key{type_id, "", ""});
  auto then = after ? changed.upper_bound(*after) : changed.begin();
  for (;;) {
    const bool have_now = now != objects_.end() && std::get<0>(now->first) == type_id;
    const bool have_then = then != changed.end();
    if (!have_now && !have_then) return;
    const json* object = nullptr;
    const std::string* ns = nullptr;
    if (have_then && (!have_now || std::tie(then->first.first, then->first.second) <=
                                       std::tie(std::get<1>(now->first), std::get<2>(now->first)))) {
      if (have_now &&
          std::tie(then->first.first, then->first.second) == std::tie(std::get<1>(now->first), std::get<2>(now->first)))
        ++now;  // changed since `at`: its state then wins over its state now
      object = then->second;
      ns = &then->first.first;
      ++then;
      if (!object) continue;  // did not exist yet at `at`
    } else {
      object = &now->second;
      ns = &std::get<1>(now->first);
      ++now;
    }
    if (!visit(*ns, *object)) return;
  }
}

result<list_page> store::list(const resource_type& t, std::string_view ns, const list_options& options) const {
  std::uint64_t at = revision_;
  std::optional<std::pair<std::string, std::string>> after;
  if (!options.continue_token.empty()) {
    auto raw = base64_decode(options.continue_token);
    json token = raw ? json::parse(*raw, nullptr, false) : json();
    if (!token.is_object() || !token.contains("rv") || !token.contains("start"))
      return std::unexpected(bad_request("continue key is not valid: invalid continue token"));
    at = token["rv"].get<std::uint64_t>();
    after = std::pair{token["start"][0].get<std::string>(), token["start"][1].get<std::string>()};
    if (at < compacted_) return std::unexpected(expired(expired_continue_message()));
  } else if (!options.resource_version.empty() && options.resource_version != "0") {
    auto rv = parse_rv(options.resource_version);
    if (!rv) return std::unexpected(bad_request("invalid resource version: " + options.resource_version));
    if (*rv > revision_)
      return std::unexpected(api_error{
          504, "Timeout", "Too large resource version: " + options.resource_version + ", current: " + std::to_string(revision_)});
    if (options.resource_version_match == "Exact") {
      if (*rv < compacted_)
        return std::unexpected(
            expired("too old resource version: " + options.resource_version + " (" + std::to_string(compacted_ + 1) + ")"));
      at = *rv;
    }
  }
  list_page page;
  page.revision = at;
  const bool filtered = !options.labels.empty() || !options.fields.empty();
  std::int64_t remaining = 0;
  bool full = false;
  visit_at(t.id(), at, after, [&](const std::string& object_ns, const json& object) {
    if (t.namespaced && !ns.empty() && object_ns != ns) return true;
    if (full) {  // counting what remains after a full page (only without selectors)
      ++remaining;
      return true;
    }
    if (!matches_labels(options.labels, object) || !matches_fields(options.fields, object)) return true;
    if (options.limit > 0 && static_cast<std::int64_t>(page.items.size()) == options.limit) {
      // More remain: hand out a token pinned to this snapshot's revision.
      const auto& last = page.items.back();
      json token = {{"v", "meta.k8s.io/v1"}, {"rv", at}, {"start", json::array({object_namespace(last), object_name(last)})}};
      page.continue_token = base64_encode(token.dump());
      full = true;
      ++remaining;
      return !filtered;
    }
    page.items.push_back(object);
    return true;
  });
  if (full && !filtered) page.remaining_item_count = remaining;
  return page;
}

result<std::vector<change>> store::changes_since(const resource_type& t, std::uint64_t after_rv) const {
  if (after_rv < compacted_)
    return std::unexpected(
        expired("too old resource version: " + std::to_string(after_rv) + " (" + std::to_string(compacted_ + 1) + ")"));
  std::vector<change> out;
  for (const auto& c : history_)
    if (c->rv > after_rv && c->type_id == t.id()) out.push_back(*c);
  return out;
}

void store::compact() {
  history_.clear();
  compacted_ = revision_;
}

void store::expire_history() {
  ++revision_;
  compact();
}

std::uint64_t store::subscribe(subscriber s) {
  const auto id = next_subscriber_++;
  subscribers_.emplace(id, std::move(s));
  return id;
}

void store::unsubscribe(std::uint64_t id) { subscribers_.erase(id); }

json store::save() const {
  json objects = json::array();
  for (const auto& [k, o] : objects_) objects.push_back({{"type", std::get<0>(k)}, {"object", o}});
  return {{"revision", revision_}, {"objects", objects}};
}

result<void> store::load(const json& saved) {
  if (!saved.is_object() || !saved.contains("objects") || !saved.contains("revision"))
    return std::unexpected(bad_request("saved state needs \"revision\" and \"objects\""));
  resource_registry types = resource_registry::builtins();
  std::map<key, json> objects;
  for (const auto& entry : saved["objects"])
    if (entry.value("type", "") == crd_id)
      if (auto served = type_from_crd(entry["object"])) types.add(*served);
  for (const auto& entry : saved["objects"]) {
    const auto* t = types.find_id(entry.value("type", ""));
    if (!t) return std::unexpected(bad_request("saved state holds an unknown type " + entry.value("type", "")));
    const auto& o = entry["object"];
    objects[key{t->id(), t->namespaced ? object_namespace(o) : "", object_name(o)}] = o;
  }
  types_ = std::move(types);
  objects_ = std::move(objects);
  dependents_.clear();
  for (const auto& [k, o] : objects_) index_owners(k, o, true);
  revision_ = saved["revision"].get<std::uint64_t>();
  // The history did not survive the restart: every older RV is too old now, as after a compaction.
  history_.clear();
  compacted_ = revision_;
  return {};
}

json quay_registry_crd() {
  return json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "quayregistries.quay.redhat.com"},
    "spec": {
      "group": "quay.redhat.com",
      "names": {"kind": "QuayRegistry", "listKind": "QuayRegistryList", "plural": "quayregistries",
                "singular": "quayregistry", "shortNames": ["quay"]},
      "scope": "Namespaced",
      "versions": [{
        "name": "v1", "served": true, "storage": true,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
      }]
    }
  })");
}

store seeded_store(std::size_t history_limit) {
  store s(history_limit);
  const auto& ns_type = *s.types().find_id(namespaces_id);
  for (const char* name : {"default", "kube-system"}) (void)s.create(ns_type, "", json{{"metadata", {{"name", name}}}});
  (void)s.create(*s.types().find_id(crd_id), "", quay_registry_crd());
  return s;
}

}  // namespace kube_sim
