// Folding one event: update the reflector stores or the upgrade bookkeeping, then let every
// registry the event may concern run its transition table (reducers/upgrade_table.cpp).
#include "reducers/reduce.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <vector>

#include "reducers/issue.hpp"
#include "reducers/progress.hpp"
#include "reducers/names.hpp"
#include "reducers/schedule.hpp"
#include "reducers/table.hpp"

namespace qpu::reducers {

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

std::size_t index(resource_kind k) { return static_cast<std::size_t>(k); }

template <class View>
object_store<View>& store_for(cluster_state& c) {
  if constexpr (std::is_same_v<View, quay_registry>) return c.registries;
  else if constexpr (std::is_same_v<View, deployment>) return c.deployments;
  else if constexpr (std::is_same_v<View, pod>) return c.pods;
  else if constexpr (std::is_same_v<View, job>) return c.jobs;
  else return c.claims;
}

// The store keeps only what the reducers read of an object's metadata: not its resourceVersion
// (the fold reads the event's, for the kind's), and its uid only for a QuayRegistry (the owner of
// what the controller creates). Both are unique texts, the costliest to hold (issue 17 item 2).
template <class T>
T& stored(T& v) {
  v.meta.rv = {};
  if constexpr (!std::is_same_v<T, quay_registry>) v.meta.uid = {};
  return v;
}

// Moves the view in (a relist's buffered items are not needed after InitDone).
void put(cluster_state& c, object_view&& o) {
  std::visit([&](auto& v) { store_for<std::decay_t<decltype(v)>>(c).insert_or_assign(std::move(stored(v))); }, o);
}

void put(cluster_state& c, const object_view& o) { put(c, object_view(o)); }

// DELETED from one stream removes the object only if that stream holds it: an object whose labels
// moved it to another stream is ADDED there and DELETED here, in either order.
void erase(cluster_state& c, const object_view& o) {
  std::visit(
      [&](const auto& v) {
        auto& store = store_for<std::decay_t<decltype(v)>>(c);
        if (auto it = store.find(v.meta.key); it != store.end() && it->second.meta.stream == v.meta.stream) store.erase(it);
      },
      o);
}

// InitDone: the relisted objects replace the stream's objects at once; keys that vanished from the
// stream are deleted.
void swap_in(cluster_state& c, resource_kind kind, std::uint8_t stream, std::vector<object_view>&& items) {
  auto rebuild = [&](auto& store) {
    erase_if(store, [&](const auto& kv) { return kv.second.meta.stream == stream; });
    for (auto& o : items) put(c, std::move(o));
  };
  switch (kind) {
    case resource_kind::quay_registry: rebuild(c.registries); break;
    case resource_kind::deployment: rebuild(c.deployments); break;
    case resource_kind::pod: rebuild(c.pods); break;
    case resource_kind::job: rebuild(c.jobs); break;
    case resource_kind::claim: rebuild(c.claims); break;
  }
}

bool synced(const state& s) {
  return s.cfg && std::all_of(s.cluster.synced.begin(), s.cluster.synced.end(), [](bool b) { return b; });
}

// Whether an object event of a registry's namespace may change what that registry's table reads
// (reducers/observe.cpp finds every object it reads by these), so that an event runs only the
// registries it concerns rather than every registry of the namespace:
//  - every name it reads begins with the registry's: R-quay-database, R-clair-postgres, the apps
//    R-quay-app..., Jobs R-pg10-backup-1 and their pods, the claims R-quay-database-pg15,
//    R-quay-postgres-15, ...; the QuayRegistry R itself;
//  - a pod counts by its labels: quay-operator/quayregistry naming R, or quay-component without
//    naming any registry (pods_of takes those for every registry), or a Job's pod (job-name R-...);
//  - a claim may also be named freely by the database Deployment (the old data claim): it
//    concerns R when R's database mounts it or R's upgrade recorded it as the old claim.
// Anything else of the namespace is read by no registry's table. The Quay operator's own
// Deployment concerns every registry (the caller's scope::all).
bool named_for(std::string_view name, std::string_view registry) {
  return name.size() > registry.size() && name.starts_with(registry) && name[registry.size()] == '-';
}

bool concerns(const state& s, const object_view& o, const database_key& key, const registry_upgrade& u) {
  const std::string& r = key.registry.name;
  return std::visit(
      [&](const auto& v) -> bool {
        using V = std::decay_t<decltype(v)>;
        const std::string& name = v.meta.key.name;
        if constexpr (std::is_same_v<V, quay_registry>) {
          return name == r;
        } else if constexpr (std::is_same_v<V, pod>) {
          if (!v.component.empty()) return v.registry.empty() || v.registry == r;
          return named_for(name, r) || named_for(v.job_name, r);
        } else if constexpr (std::is_same_v<V, claim>) {
          if (named_for(name, r) || v.created_for == r || name == u.old_claim) return true;
          const auto db = s.cluster.deployments.find(key_view{key.registry.ns, database_deployment_name(key)});
          return db != s.cluster.deployments.end() && db->second.data_claim == name;
        } else {
          return named_for(name, r);
        }
      },
      o);
}

// The registries of the object's namespace that may read it, found by name rather than by walking
// every registry of the namespace: each prefix of its name up to a dash ("registry" and
// "registry-quay" for "registry-quay-database"), the registry its labels name, and for a Job's pod
// the prefixes of its Job's name. Empty when the object needs the walk: a claim (an old data
// claim's name is free) or a pod that carries quay-component without naming a registry.
std::optional<std::vector<std::string_view>> candidate_registries(const object_view& o) {
  std::vector<std::string_view> out;
  auto prefixes = [&](std::string_view name) {
    for (auto dash = name.find('-'); dash != std::string_view::npos; dash = name.find('-', dash + 1))
      if (dash > 0) out.push_back(name.substr(0, dash));
  };
  const bool walk = std::visit(
      [&](const auto& v) -> bool {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, claim>) {
          return true;
        } else if constexpr (std::is_same_v<V, quay_registry>) {
          out.push_back(v.meta.key.name);
        } else if constexpr (std::is_same_v<V, pod>) {
          if (!v.component.empty() && v.registry.empty()) return true;
          if (!v.component.empty()) out.push_back(v.registry);
          prefixes(v.meta.key.name);
          prefixes(v.job_name);
        } else {
          prefixes(v.meta.key.name);
        }
        return false;
      },
      o);
  if (walk) return std::nullopt;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Which databases an event may concern: none, one, a namespace's, or all.
struct scope {
  enum { none, one, ns, all } what = none;
  database_key key;
};

void track(state& s, const database_key& key, const quay_registry& reg) {
  if (s.upgrades.contains(key)) return;
  registry_upgrade u;
  u.registry = key.registry;
  u.component = key.component;
  u.phase_since = s.now;
  u.retry_token = reg.retry_token;  // an annotation present from the start is not a retry
  u.revert.token = reg.revert_to_claim;  // nor a revert request
  s.upgrades.emplace(key, std::move(u));
}

// Databases come and go with their QuayRegistry objects: Quay's is always tracked, Clair's once its
// Deployment has been seen (a registry without Clair has none) and then for as long as the registry.
void track_registry(state& s, const object_key& key) {
  const database_key quay{key, db_component::quay}, clair{key, db_component::clair};
  const auto reg = s.cluster.registries.find(key);
  if (reg == s.cluster.registries.end()) {
    s.upgrades.erase(quay);
    s.upgrades.erase(clair);
    return;
  }
  track(s, quay, reg->second);
  if (s.cluster.deployments.contains(key_view{key.ns, database_deployment_name(clair)})) track(s, clair, reg->second);
}

// After a relist of QuayRegistries or Deployments: every registry known gets its records,
// vanished ones lose them.
void track_all_registries(state& s) {
  for (const auto& [key, r] : s.cluster.registries) track_registry(s, key);
  std::erase_if(s.upgrades, [&](const auto& kv) { return !s.cluster.registries.contains(kv.first.registry); });
}

// A Deployment that may be a registry's Clair database ("<registry>-clair-postgres").
void track_clair_deployment(state& s, const object_key& deployment) {
  constexpr std::string_view suffix = "-clair-postgres";
  if (!deployment.name.ends_with(suffix)) return;
  const object_key registry{deployment.ns, deployment.name.substr(0, deployment.name.size() - suffix.size())};
  if (s.cluster.registries.contains(registry)) track_registry(s, registry);
}

// A registry left its downtime: the queued databases, first come first served, may take the place
// (one that waits in another namespace saw no event of this one).
void wake_queue(state& s, std::uint64_t seq, std::vector<effect>& out) {
  std::vector<registry_upgrade*> queued;
  for (auto& [key, u] : s.upgrades)
    if (u.current == phase::queued) queued.push_back(&u);
  std::sort(queued.begin(), queued.end(),
            [](const registry_upgrade* a, const registry_upgrade* b) { return queued_before(*a, *b); });
  for (auto* u : queued) {
    const auto reg = s.cluster.registries.find(u->registry);
    if (reg == s.cluster.registries.end()) continue;
    upgrade_ctx c{s, *u, reg->second, *s.cfg, out, s.now, seq, std::nullopt, false};
    advance(c);
  }
}

}  // namespace

step_result reduce(state s, const logged_event& e) {
  std::vector<effect> out;
  std::optional<step_failure> failure;  // a step that failed for good, for the table's every-phase rows
  s.last_seq = e.seq;
  s.now = std::max(s.now, e.ts);  // time never runs backwards inside the fold
  scope sc;
  const object_view* routed = nullptr;  // an object event: only the registries it concerns

  std::visit(overloaded{
                 [&](const object_event& ev) {
                   const auto kind = kind_of(ev.object);
                   s.cluster.rv[index(kind)] = meta_of(ev.object).rv;
                   if (ev.type == watch_type::deleted) erase(s.cluster, ev.object);
                   else put(s.cluster, ev.object);
                   if (kind == resource_kind::quay_registry) track_registry(s, meta_of(ev.object).key);
                   if (kind == resource_kind::deployment && ev.type != watch_type::deleted)
                     track_clair_deployment(s, meta_of(ev.object).key);
                   sc = {scope::ns, {meta_of(ev.object).key, db_component::quay}};
                   routed = &ev.object;
                   // A Quay operator serves registries of every namespace: its changes concern them all.
                   if (const auto* d = std::get_if<deployment>(&ev.object); d && d->is_quay_operator()) sc.what = scope::all;
                 },
                 [&](const bookmark_seen& ev) { s.cluster.rv[index(ev.kind)] = ev.rv; },
                 [&](const watch_error&) { ++s.watch_errors; },
                 [&](const relist_started& ev) { s.cluster.relisting[index(ev.kind)][ev.stream].emplace(); },
                 [&](const relist_item& ev) {
                   auto& buffer = s.cluster.relisting[index(kind_of(ev.object))][meta_of(ev.object).stream];
                   if (!buffer) buffer.emplace();  // an item without its start marker still counts
                   buffer->push_back(ev.object);
                 },
                 [&](const relist_done& ev) {
                   auto& buffer = s.cluster.relisting[index(ev.kind)][ev.stream];
                   swap_in(s.cluster, ev.kind, ev.stream, buffer ? std::move(*buffer) : std::vector<object_view>{});
                   buffer.reset();
                   s.cluster.rv[index(ev.kind)] = ev.rv;
                   s.cluster.streams[index(ev.kind)] = ev.streams;
                   auto& listed = s.cluster.streams_listed[index(ev.kind)];
                   listed |= static_cast<std::uint8_t>(1u << ev.stream);
                   const auto all = static_cast<std::uint8_t>((1u << ev.streams) - 1);
                   s.cluster.synced[index(ev.kind)] = (listed & all) == all;
                   if (ev.kind == resource_kind::quay_registry || ev.kind == resource_kind::deployment) track_all_registries(s);
                   sc.what = scope::all;
                 },
                 [&](const malformed_input&) { ++s.malformed_inputs; },
                 [&](const timer_fired& ev) {
                   const database_key key{ev.registry, ev.component};
                   auto it = s.upgrades.find(key);
                   if (it == s.upgrades.end()) return;
                   if (it->second.wakeup && *it->second.wakeup <= s.now) it->second.wakeup.reset();
                   sc = {scope::one, key};
                 },
                 [&](const effect_succeeded& ev) {
                   auto it = s.upgrades.find(database_of(ev.id));
                   if (it == s.upgrades.end() || !it->second.in_flight.contains(ev.id)) return;  // stale or foreign
                   note_succeeded(it->second, ev);
                   sc = {scope::one, database_of(ev.id)};
                 },
                 [&](const effect_failed& ev) {
                   auto it = s.upgrades.find(database_of(ev.id));
                   if (it == s.upgrades.end() || !it->second.in_flight.contains(ev.id)) return;
                   failure = note_failed(it->second, ev, s.cfg, s.now);
                   sc = {scope::one, database_of(ev.id)};
                 },
                 [&](const effect_progress& ev) {
                   auto it = s.upgrades.find(database_of(ev.id));
                   if (it == s.upgrades.end() || !it->second.in_flight.contains(ev.id)) return;
                   if (note_effect_progress(it->second, ev)) sc = {scope::one, database_of(ev.id)};
                 },
                 [&](const controller_started& ev) {
                   const bool target_changed = !s.cfg || s.cfg->target_image != ev.cfg.target_image ||
                                               effective_target(*s.cfg) != effective_target(ev.cfg);
                   const bool clair_target_changed = !s.cfg || s.cfg->clair_target_image != ev.cfg.clair_target_image ||
                                                     effective_clair_target(*s.cfg) != effective_clair_target(ev.cfg);
                   s.cfg = ev.cfg;
                   // A new process: its caches start empty and nothing it had in flight will report back.
                   s.cluster.synced = {};
                   s.cluster.streams_listed = {};
                   s.cluster.relisting = {};
                   for (auto& [key, u] : s.upgrades) {
                     forget_in_flight(u);
                     const auto reg = s.cluster.registries.find(key.registry);
                     if (reg == s.cluster.registries.end()) continue;
                     const bool changed = key.component == db_component::clair ? clair_target_changed : target_changed;
                     upgrade_ctx c{s, u, reg->second, *s.cfg, out, s.now, e.seq, std::nullopt, changed};
                     restart(c);
                   }
                 },
             },
             e.body);

  // Nothing is decided before every store has synced: a half-known cluster would re-create what
  // already exists.
  if (sc.what == scope::none || !synced(s)) return {std::move(s), std::move(out)};
  // Only the registries the event may concern: one, the namespace's (a map range), or all.
  auto first = s.upgrades.begin(), last = s.upgrades.end();
  if (sc.what == scope::one) {
    first = s.upgrades.find(sc.key);
    last = first == s.upgrades.end() ? first : std::next(first);
  } else if (sc.what == scope::ns) {
    first = s.upgrades.lower_bound(database_key{{sc.key.registry.ns, ""}, db_component::quay});
    last = first;
    while (last != s.upgrades.end() && last->first.registry.ns == sc.key.registry.ns) ++last;
  }
  // Both maps are ordered by key and every upgrade's registry is in the store: walk the store
  // alongside instead of a lookup per registry (a namespace-wide event evaluates every registry of
  // the namespace; the lookups were a measurable share of the fold).
  bool place_freed = false;
  auto run = [&](registry_upgrade& u, const quay_registry& reg) {
    upgrade_ctx c{s, u, reg, *s.cfg, out, s.now, e.seq, failure, false};
    const bool held = holds_place(u);
    advance(c);
    place_freed = place_freed || (held && !holds_place(u));
  };
  // An object event: only the registries it concerns, looked up by name where its name says which.
  if (sc.what == scope::ns && routed) {
    if (const auto candidates = candidate_registries(*routed)) {
      for (const auto name : *candidates) {
        const object_key key{sc.key.registry.ns, std::string(name)};
        const auto reg = s.cluster.registries.find(key);
        if (reg == s.cluster.registries.end()) continue;
        for (const auto component : {db_component::quay, db_component::clair}) {
          const auto it = s.upgrades.find(database_key{key, component});
          if (it == s.upgrades.end() || !concerns(s, *routed, it->first, it->second)) continue;
          run(it->second, reg->second);
        }
      }
      if (place_freed && s.cfg->max_concurrent_upgrades > 0) wake_queue(s, e.seq, out);
      return {std::move(s), std::move(out)};
    }
  }
  auto reg = first == last ? s.cluster.registries.end() : s.cluster.registries.lower_bound(first->first.registry);
  for (auto it = first; it != last; ++it) {
    while (reg != s.cluster.registries.end() && reg->first < it->first.registry) ++reg;
    if (reg == s.cluster.registries.end() || reg->first != it->first.registry) continue;
    if (sc.what == scope::ns && routed && !concerns(s, *routed, it->first, it->second)) continue;
    run(it->second, reg->second);
  }
  if (place_freed && s.cfg->max_concurrent_upgrades > 0) wake_queue(s, e.seq, out);
  return {std::move(s), std::move(out)};
}

}  // namespace qpu::reducers
