// Folding one event: update the reflector stores or the upgrade bookkeeping, then let every
// registry the event may concern run its transition table (reducers/upgrade_table.cpp).
#include "reducers/reduce.hpp"

#include <algorithm>

#include "reducers/upgrade_table.hpp"

namespace qpu::reducers {

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

std::size_t index(resource_kind k) { return static_cast<std::size_t>(k); }

template <class View>
std::map<object_key, View>& store_for(cluster_state& c) {
  if constexpr (std::is_same_v<View, quay_registry>) return c.registries;
  else if constexpr (std::is_same_v<View, deployment>) return c.deployments;
  else if constexpr (std::is_same_v<View, pod>) return c.pods;
  else if constexpr (std::is_same_v<View, job>) return c.jobs;
  else return c.claims;
}

void put(cluster_state& c, const object_view& o) {
  std::visit([&](const auto& v) { store_for<std::decay_t<decltype(v)>>(c)[v.meta.key] = v; }, o);
}

// The same, moving the view in (a relist's buffered items are not needed after InitDone).
void put(cluster_state& c, object_view&& o) {
  std::visit([&](auto& v) { store_for<std::decay_t<decltype(v)>>(c).insert_or_assign(v.meta.key, std::move(v)); }, o);
}

void erase(cluster_state& c, const object_view& o) {
  std::visit([&](const auto& v) { store_for<std::decay_t<decltype(v)>>(c).erase(v.meta.key); }, o);
}

// InitDone: the relisted objects replace the store at once; keys that vanished are deleted.
void swap_in(cluster_state& c, resource_kind kind, std::vector<object_view>&& items) {
  auto rebuild = [&](auto& store) {
    store.clear();
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

// Backing off a transient failure: 1 s, 2 s, 4 s ... 60 s, each plus up to half as much again.
// The spread comes from the effect id and the failure's time (both in the log, so a replay gives
// the same delays; no random numbers): without it, retries timed only from the failure marched in
// step with a server's periodic trouble and met it every time (CI's faults-errors: 8 of 8
// retries of one create failed, 1 s to 60 s apart).
duration_ms backoff(std::int32_t failures, const std::string& id, timestamp now) {
  const duration_ms base = std::min<duration_ms>(60'000, 1000LL << std::min(failures - 1, 6));
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a
  for (const unsigned char ch : id) h = (h ^ ch) * 1099511628211ULL;
  h = (h ^ static_cast<std::uint64_t>(now)) * 1099511628211ULL;
  return base + static_cast<duration_ms>(h % static_cast<std::uint64_t>(base / 2 + 1));
}

bool is_report(const std::string& id) {
  return is_status_id(id) || id.find("/event@") != std::string::npos;
}

// Which registries an event may concern: none, one, a namespace's, or all.
struct scope {
  enum { none, one, ns, all } what = none;
  object_key key;
};

// Registries come and go with their QuayRegistry objects.
void track_registry(state& s, const object_key& key) {
  const auto reg = s.cluster.registries.find(key);
  if (reg == s.cluster.registries.end()) {
    s.upgrades.erase(key);
    return;
  }
  if (s.upgrades.contains(key)) return;
  registry_upgrade u;
  u.registry = key;
  u.phase_since = s.now;
  u.retry_token = reg->second.retry_token;  // an annotation present from the start is not a retry
  u.revert.token = reg->second.revert_to_claim;  // nor a revert request
  s.upgrades.emplace(key, std::move(u));
}

// After a relist of QuayRegistries: every one known gets its upgrade record, vanished ones lose it.
void track_all_registries(state& s) {
  for (const auto& [key, r] : s.cluster.registries) track_registry(s, key);
  std::erase_if(s.upgrades, [&](const auto& kv) { return !s.cluster.registries.contains(kv.first); });
}

void on_effect_failed(state& s, registry_upgrade& u, const effect_failed& f, std::vector<effect>& out, std::uint64_t seq) {
  u.in_flight.erase(f.id);
  const std::int32_t failures = ++u.transient_failures[f.id];
  const std::int64_t max_retries = s.cfg ? s.cfg->max_transient_retries : 8;
  if (is_transient(f) && failures <= max_retries) {
    u.retry_at[f.id] = s.now + backoff(failures, f.id, s.now);
    return;
  }
  if (is_report(f.id)) {
    // A status or Event that could not be written never fails an upgrade; given up, it is forgotten
    // (the next status change writes the status again).
    u.unsent_events.erase(f.id);
    u.transient_failures.erase(f.id);
    return;
  }
  // "ns/name/aN/step": the step names what failed.
  std::size_t cut = 0;
  for (int i = 0; i < 3 && cut != std::string::npos; ++i) cut = f.id.find('/', cut == 0 && i == 0 ? 0 : cut + 1);
  const std::string what = cut == std::string::npos ? f.id : f.id.substr(cut + 1);
  const std::string reason = what + " failed" + (f.code ? " with HTTP " + std::to_string(f.code) : std::string()) +
                             (f.reason.empty() ? "" : " " + f.reason) + (f.message.empty() ? "" : ": " + f.message);
  const std::int64_t requeue = s.cfg ? s.cfg->requeue_s * 1000 : 60'000;
  if (u.current == phase::revert_rolling_back) {
    // Going back to the upgraded claim must not give up either.
    u.revert.error = u.revert.error.empty() ? reason : u.revert.error;
    u.retry_at[f.id] = s.now + requeue;
    return;
  }
  if (u.current == phase::detecting || u.current == phase::rolling_back) {
    // Detection touched nothing and a rollback must not give up: keep trying, say why.
    u.last_error = reason;
    u.retry_at[f.id] = s.now + requeue;
    return;
  }
  if (!is_active(u.current) || !s.cfg) return;
  const auto reg = s.cluster.registries.find(u.registry);
  if (reg == s.cluster.registries.end()) return;
  upgrade_ctx c{s, u, reg->second, *s.cfg, out, s.now, seq};
  fail(c, reason);
}

}  // namespace

std::optional<object_key> registry_of_effect(const std::string& id) {
  const auto first = id.find('/');
  if (first == std::string::npos) return std::nullopt;
  const auto second = id.find('/', first + 1);
  return object_key{id.substr(0, first), id.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1)};
}

step_result reduce(state s, const logged_event& e) {
  std::vector<effect> out;
  s.last_seq = e.seq;
  s.now = std::max(s.now, e.ts);  // time never runs backwards inside the fold
  scope sc;

  std::visit(
      overloaded{
          [&](const object_event& ev) {
            const auto kind = kind_of(ev.object);
            s.cluster.rv[index(kind)] = meta_of(ev.object).rv;
            if (ev.type == watch_type::deleted) erase(s.cluster, ev.object);
            else put(s.cluster, ev.object);
            if (kind == resource_kind::quay_registry) track_registry(s, meta_of(ev.object).key);
            sc = {scope::ns, meta_of(ev.object).key};
          },
          [&](const bookmark_seen& ev) { s.cluster.rv[index(ev.kind)] = ev.rv; },
          [&](const watch_error&) { ++s.watch_errors; },
          [&](const relist_started& ev) {
            s.cluster.relisting[index(ev.kind)].emplace();
          },
          [&](const relist_item& ev) {
            auto& buffer = s.cluster.relisting[index(kind_of(ev.object))];
            if (!buffer) buffer.emplace();  // an item without its start marker still counts
            buffer->push_back(ev.object);
          },
          [&](const relist_done& ev) {
            auto& buffer = s.cluster.relisting[index(ev.kind)];
            swap_in(s.cluster, ev.kind, buffer ? std::move(*buffer) : std::vector<object_view>{});
            buffer.reset();
            s.cluster.rv[index(ev.kind)] = ev.rv;
            s.cluster.synced[index(ev.kind)] = true;
            if (ev.kind == resource_kind::quay_registry) track_all_registries(s);
            sc.what = scope::all;
          },
          [&](const malformed_input&) { ++s.malformed_inputs; },
          [&](const timer_fired& ev) {
            auto it = s.upgrades.find(ev.registry);
            if (it == s.upgrades.end()) return;
            if (it->second.wakeup && *it->second.wakeup <= s.now) it->second.wakeup.reset();
            sc = {scope::one, ev.registry};
          },
          [&](const effect_succeeded& ev) {
            const auto key = registry_of_effect(ev.id);
            auto it = key ? s.upgrades.find(*key) : s.upgrades.end();
            if (it == s.upgrades.end() || !it->second.in_flight.contains(ev.id)) return;  // stale or foreign
            auto& u = it->second;
            u.in_flight.erase(ev.id);
            u.unsent_events.erase(ev.id);
            u.done.insert(ev.id);
            u.transient_failures.erase(ev.id);
            if (ev.facts) {
              // A revert's inspections (".../revert-N/inspect-...") keep the upgrade's facts intact.
              const bool revert = ev.id.find("/revert-") != std::string::npos;
              const bool verify = ev.id.find("/inspect-verify") != std::string::npos;
              if (revert) (verify ? u.revert.verified : u.revert.measured) = ev.facts;
              else if (verify) u.after = ev.facts;
              else u.before = ev.facts;
              if (u.current == phase::detecting) u.last_error.clear();
            }
            sc = {scope::one, *key};
          },
          [&](const effect_failed& ev) {
            const auto key = registry_of_effect(ev.id);
            auto it = key ? s.upgrades.find(*key) : s.upgrades.end();
            if (it == s.upgrades.end() || !it->second.in_flight.contains(ev.id)) return;
            on_effect_failed(s, it->second, ev, out, e.seq);
            sc = {scope::one, *key};
          },
          [&](const controller_started& ev) {
            const bool target_changed = !s.cfg || s.cfg->target_image != ev.cfg.target_image ||
                                        effective_target(*s.cfg) != effective_target(ev.cfg);
            s.cfg = ev.cfg;
            // A new process: its caches start empty and nothing it had in flight will report back.
            s.cluster.synced = {};
            s.cluster.relisting = {};
            for (auto& [key, u] : s.upgrades) {
              // An Event in flight may have been written: sending it again could double it. One
              // that failed and waits for its retry is sent again by the new process.
              std::erase_if(u.unsent_events, [&](const auto& kv) { return u.in_flight.contains(kv.first); });
              u.in_flight.clear();
              u.wakeup.reset();
              u.status_written.clear();
              // A reverted registry stays so: a person went back on purpose, and a person (a new
              // database image, or the retry annotation) decides when to upgrade again.
              const bool idle = u.current == phase::up_to_date || u.current == phase::refused ||
                                u.current == phase::unsupported || u.current == phase::succeeded ||
                                u.current == phase::revert_failed || u.current == phase::revert_refused;
              if (idle && target_changed) {
                u.current = phase::detecting;
                u.phase_since = s.now;
              }
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
    first = s.upgrades.lower_bound(object_key{sc.key.ns, ""});
    last = first;
    while (last != s.upgrades.end() && last->first.ns == sc.key.ns) ++last;
  }
  // Both maps are ordered by key and every upgrade's registry is in the store: walk the store
  // alongside instead of a lookup per registry (a namespace-wide event evaluates every registry of
  // the namespace; the lookups were a measurable share of the fold).
  auto reg = first == last ? s.cluster.registries.end() : s.cluster.registries.lower_bound(first->first);
  for (auto it = first; it != last; ++it) {
    while (reg != s.cluster.registries.end() && reg->first < it->first) ++reg;
    if (reg == s.cluster.registries.end() || reg->first != it->first) continue;
    upgrade_ctx c{s, it->second, reg->second, *s.cfg, out, s.now, e.seq};
    advance(c);
  }
  return {std::move(s), std::move(out)};
}

}  // namespace qpu::reducers
