// g++ 12 at -O2 flags the delete of Asio's coroutine frames (awaitable_frame_base's own operator
// new/delete pair) as mismatched: a false positive (GCC PR 109224 family).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include "effects/k8s_effects.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <tuple>

#include <nlohmann/json.hpp>

#include <map>

#include "core/codec.hpp"
#include "core/decode.hpp"
#include "core/quantity.hpp"
#include "effects/claim_specs.hpp"
#include "effects/labels.hpp"
#include "effects/manifest_sql.hpp"
#include "effects/write_specs.hpp"

namespace qpu::effects {

namespace net = boost::asio;
using kube::api_error;
using kube::api_error_kind;
using kube::path_of;
using nlohmann::json;

effect_failed failure(const effect_id& id, const api_error& e) {
  std::string reason = e.reason;
  if (reason.empty())
    reason = e.code == 0 ? (e.kind == api_error_kind::timeout ? "Timeout" : "ConnectionFailed") : kube::to_string(e.kind);
  return effect_failed{id, e.code, reason, describe(e)};
}

namespace {

event succeeded(const effect_id& id) { return effect_succeeded{id, std::nullopt}; }

// POST; 409 AlreadyExists is success: the name is deterministic, so the object that exists is the
// one an earlier run (or a restarted controller) created for this very effect.
net::awaitable<event> create(k8s_context& ctx, const effect_id& id, kube::resource_path collection, const json& body) {
  auto r = co_await ctx.api->create(std::move(collection), body.dump());
  if (r || r.error().kind == api_error_kind::already_exists) co_return succeeded(id);
  co_return failure(id, r.error());
}

kube::resource_path service_path(const object_key& k) { return {"", "v1", "services", k.ns, k.name, ""}; }
kube::resource_path secret_path(const std::string& ns, const std::string& name) { return {"", "v1", "secrets", ns, name, ""}; }
kube::resource_path event_path(const std::string& ns) { return {"", "v1", "events", ns, "", ""}; }

std::string base64_decode(std::string_view in) {
  static const auto table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(chars[i])] = i;
    return t;
  }();
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (unsigned char c : in) {
    const int v = table[c];
    if (v < 0) continue;  // padding, line breaks
    value = (value << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
    }
  }
  return out;
}

api_error local_error(std::int32_t code, std::string reason, std::string message) {
  api_error e;
  e.kind = code == 404 ? api_error_kind::not_found : api_error_kind::invalid;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

}  // namespace

// A claim that exists already is adopted only when it is at least the size asked for: one of the
// same name left by an earlier or a manual attempt may be smaller, and a Job writing into it would
// fail half-way for lack of space. (The reducer checks the same once the claim is in its store;
// this covers the window before the watch delivers it.)
net::awaitable<event> perform(k8s_context& ctx, const create_claim& e) {
  auto r = co_await ctx.api->create(path_of(resource_kind::claim, e.key.ns), claim_body(e).dump());
  if (r) co_return succeeded(e.id);
  if (r.error().kind != api_error_kind::already_exists) co_return failure(e.id, r.error());
  auto current = co_await ctx.api->get(path_of(resource_kind::claim, e.key.ns, e.key.name));
  if (!current) co_return failure(e.id, current.error());
  const json c = json::parse(current->body, nullptr, false);
  if (!e.source_claim.empty()) {
    // A clone is this effect's own (a restart lost the answer) or it is left alone: another claim
    // of the name holds other data, older or not of this source at all.
    const json annotations = c.is_object() ? c.value("/metadata/annotations"_json_pointer, json::object()) : json::object();
    const auto mark = annotations.find(std::string(clone_for_annotation));
    if (mark != annotations.end() && *mark == to_string(e.id)) co_return succeeded(e.id);
    co_return effect_failed{e.id, 409, "AlreadyExists",
                            "claim " + to_string(e.key) + " exists and is not the clone of " + e.source_claim +
                                " this attempt made: a clone is never made over another claim"};
  }
  std::int64_t have = 0;
  for (const auto* ptr : {"/spec/resources/requests/storage", "/status/capacity/storage"}) {
    const json::json_pointer p(ptr);
    if (c.is_object() && c.contains(p) && c.at(p).is_string())
      have = std::max(have, parse_quantity(c.at(p).get<std::string>()).value_or(0));
  }
  if (have >= e.size_bytes) co_return succeeded(e.id);
  co_return effect_failed{e.id, 409, "AlreadyExists", claim_too_small_message(e.key, have, e.size_bytes)};
}

std::optional<job_progress> last_progress_line(std::string_view log) {
  std::optional<job_progress> last;
  while (!log.empty()) {
    const auto nl = log.find('\n');
    std::string_view line = log.substr(0, nl);
    log = nl == std::string_view::npos ? std::string_view() : log.substr(nl + 1);
    if (!line.starts_with("QPU_PROGRESS ")) continue;
    std::array<std::string_view, 5> f;
    line.remove_prefix(13);
    std::size_t n = 0;
    while (n < f.size() && !line.empty()) {
      const auto sp = line.find(' ');
      f[n++] = line.substr(0, sp);
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    }
    if (n != f.size() || !line.empty()) continue;
    auto number = [](std::string_view s) -> std::optional<std::int64_t> {
      std::int64_t v = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
      return v;
    };
    const auto at = number(f[0]), done = number(f[3]), total = number(f[4]);
    if (!at || !done || !total || f[1].empty() || f[2].empty()) continue;
    last = job_progress{std::string(f[1]), std::string(f[2]), *done, *total, *at};
  }
  return last;
}

// The tail of the pod's log: the Job prints a progress line every few seconds, so the last 40
// lines hold one unless a burst of other output came between. No line yet is no progress, not a
// failure; a pod that is gone is a failure the reducer ignores (it looks again).
net::awaitable<event> perform(k8s_context& ctx, const read_job_progress& e) {
  kube::query_params query{{"tailLines", "40"}};
  // A named path moved in: g++ 12 destroys a braced temporary argument of a coroutine call twice.
  kube::resource_path log_path{"", "v1", "pods", e.pod.ns, e.pod.name, "log"};
  auto log = co_await ctx.api->list(std::move(log_path), query);
  if (!log) co_return failure(e.id, log.error());
  co_return effect_succeeded{e.id, std::nullopt, std::nullopt, last_progress_line(log->body)};
}

database_facts manifest_in_log(std::string_view log, std::string_view side) {
  database_facts f;
  const std::string line_prefix = "QPU_MANIFEST " + std::string(side) + " ";
  const std::string end_prefix = "QPU_MANIFEST_END " + std::string(side) + " ";
  while (!log.empty()) {
    const auto nl = log.find('\n');
    std::string_view line = log.substr(0, nl);
    log = nl == std::string_view::npos ? std::string_view() : log.substr(nl + 1);
    if (line.starts_with(line_prefix)) {
      if (auto d = parse_manifest_line(line.substr(line_prefix.size()))) f.tables.push_back(std::move(*d));
    } else if (line.starts_with(end_prefix)) {
      std::size_t n = 0;
      const auto rest = line.substr(end_prefix.size());
      const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
      f.has_manifest = ec == std::errc() && end == rest.data() + rest.size() && n == f.tables.size();
    }
  }
  if (!f.has_manifest) f.tables.clear();
  return f;
}

// The manifest lines come before the archive's own output, so the whole log is read (a Job's log
// holds a few lines per table; a pod that is gone fails the read, which the reducer reports).
net::awaitable<event> perform(k8s_context& ctx, const read_job_manifest& e) {
  kube::resource_path log_path{"", "v1", "pods", e.pod.ns, e.pod.name, "log"};
  auto log = co_await ctx.api->list(std::move(log_path), {});
  if (!log) co_return failure(e.id, log.error());
  co_return effect_succeeded{e.id, manifest_in_log(log->body, e.side)};
}

// One claim by name, decoded as the watches decode it; 404 when there is none.
net::awaitable<event> perform(k8s_context& ctx, const read_claim& e) {
  auto r = co_await ctx.api->get(path_of(resource_kind::claim, e.key.ns, e.key.name));
  if (!r) co_return failure(e.id, r.error());
  json_decoder decoder;
  auto view = decoder.decode_object(resource_kind::claim, r->body);
  if (!view) co_return effect_failed{e.id, 0, "Invalid", "claim " + to_string(e.key) + ": " + view.error()};
  effect_succeeded ok{e.id, std::nullopt};
  ok.object = std::get<claim>(std::move(*view));
  co_return ok;
}

// Why a claim is not Bound: its StorageClass and the latest Event on it. A read the controller may
// not make (no RBAC for StorageClasses when it runs with a namespaced Role) leaves that part
// unknown rather than failing the upgrade; other failures are reported (and retried when transient).
net::awaitable<event> perform(k8s_context& ctx, const inspect_claim& e) {
  claim_facts f;
  f.storage_class = e.storage_class;
  if (!e.storage_class.empty()) {
    kube::resource_path class_path;
    class_path.group = "storage.k8s.io";
    class_path.version = "v1";
    class_path.plural = "storageclasses";
    class_path.name = e.storage_class;
    auto sc = co_await ctx.api->get(std::move(class_path));
    if (sc) {
      const json c = json::parse(sc->body, nullptr, false);
      if (c.is_object()) {
        f.provisioner = c.value("provisioner", "");
        f.binding_mode = c.value("volumeBindingMode", "Immediate");
      }
    } else if (sc.error().kind == api_error_kind::not_found) {
      f.class_exists = false;
    } else if (sc.error().kind != api_error_kind::forbidden) {
      co_return failure(e.id, sc.error());
    }
  }
  // Only this claim's Events: a deleted claim of the same name left its own, which the API keeps
  // for an hour (e2e clone-refused: a retry's new claim read its predecessor's refusal).
  std::string uid;
  if (auto cl = co_await ctx.api->get(path_of(resource_kind::claim, e.key.ns, e.key.name)); cl) {
    const json c = json::parse(cl->body, nullptr, false);
    if (c.is_object()) uid = c.value("/metadata/uid"_json_pointer, std::string());
  } else if (cl.error().kind != api_error_kind::not_found && cl.error().kind != api_error_kind::forbidden) {
    co_return failure(e.id, cl.error());
  }
  kube::query_params query;
  query.emplace_back("fieldSelector", "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=" + e.key.name);
  auto events = co_await ctx.api->list(event_path(e.key.ns), query);
  if (!events && events.error().kind != api_error_kind::forbidden) co_return failure(e.id, events.error());
  if (events) {
    const json list = json::parse(events->body, nullptr, false);
    std::string latest;  // RFC 3339 in UTC: later is greater as text
    for (const auto& ev : list.is_object() ? list.value("items", json::array()) : json::array()) {
      if (!ev.is_object()) continue;
      if (!uid.empty() && ev.value("/involvedObject/uid"_json_pointer, uid) != uid) continue;
      std::string at = ev.value("lastTimestamp", json()).is_string() ? ev["lastTimestamp"].get<std::string>() : "";
      if (at.empty() && ev.value("eventTime", json()).is_string()) at = ev["eventTime"].get<std::string>();
      if (!latest.empty() && at < latest) continue;
      latest = at;
      f.event_type = ev.value("type", "");
      f.event_reason = ev.value("reason", "");
      f.event_message = ev.value("message", "");
    }
  }
  co_return effect_succeeded{e.id, std::nullopt, std::move(f)};
}

net::awaitable<event> perform(k8s_context& ctx, const create_job& e) {
  co_return co_await create(ctx, e.id, path_of(resource_kind::job, e.key.ns), job_body(e, ctx.jobs));
}

net::awaitable<event> perform(k8s_context& ctx, const scale_deployment& e) {
  auto r = co_await ctx.api->patch(path_of(resource_kind::deployment, e.key.ns, e.key.name), kube::patch_type::merge,
                                   scale_patch(e).dump());
  if (!r) co_return failure(e.id, r.error());
  co_return succeeded(e.id);
}

net::awaitable<event> perform(k8s_context& ctx, const patch_database_deployment& e) {
  const auto path = path_of(resource_kind::deployment, e.key.ns, e.key.name);
  auto current = co_await ctx.api->get(path);
  if (!current) co_return failure(e.id, current.error());
  const json d = json::parse(current->body, nullptr, false);
  if (d.is_discarded()) co_return effect_failed{e.id, 0, "InvalidResponse", "GET " + to_string(e.key) + " returned no JSON"};
  auto patch = database_deployment_patch(e, d);
  if (!patch) co_return effect_failed{e.id, 0, "NoDataVolume", patch.error()};
  auto r = co_await ctx.api->patch(path, kube::patch_type::json, patch->dump());
  if (!r) co_return failure(e.id, r.error());
  co_return succeeded(e.id);
}

net::awaitable<event> perform(k8s_context& ctx, const update_registry_status& e) {
  const auto path = path_of(resource_kind::quay_registry, e.registry.ns, e.registry.name);
  api_error last;
  // First on top of the registry as last seen, if known: one PATCH instead of a GET and a PATCH.
  // Its resourceVersion makes the write conditional: a stale copy ends in 409 and the reads below.
  std::optional<json> registry = ctx.statuses ? ctx.statuses->base(e.registry) : std::nullopt;
  for (int attempt = registry ? -1 : 0; attempt <= ctx.conflict_retries; ++attempt) {
    if (!registry) {
      auto current = co_await ctx.api->get(path);
      if (!current) co_return failure(e.id, current.error());
      registry = json::parse(current->body, nullptr, false);
      if (registry->is_discarded())
        co_return effect_failed{e.id, 0, "InvalidResponse", "GET " + to_string(e.registry) + " returned no JSON"};
    }
    auto r = co_await ctx.api->patch_status(path, registry_status_patch(e, *registry).dump());
    registry.reset();
    if (r) {
      if (ctx.statuses) ctx.statuses->seen(e.registry, r->body);
      co_return succeeded(e.id);
    }
    if (r.error().kind != api_error_kind::conflict) co_return failure(e.id, r.error());
    last = r.error();  // someone else wrote in between: read again, merge again
  }
  co_return failure(e.id, last);
}

net::awaitable<event> perform(k8s_context& ctx, const emit_event& e) {
  co_return co_await create(ctx, e.id, event_path(e.registry.key.ns), event_body(e));
}

net::awaitable<event> perform(k8s_context& ctx, const delete_job& e) {
  auto r = co_await ctx.api->remove(path_of(resource_kind::job, e.key.ns, e.key.name), kube::propagation::background);
  if (r || r.error().kind == api_error_kind::not_found) co_return succeeded(e.id);
  co_return failure(e.id, r.error());
}

net::awaitable<std::expected<resolved_database, api_error>> resolve_database(k8s_context& ctx, const database_endpoint& db) {
  resolved_database out;
  auto svc = co_await ctx.api->get(service_path(db.service));
  if (!svc) co_return std::unexpected(svc.error());
  const json s = json::parse(svc->body, nullptr, false);
  out.host = s.is_discarded() ? "" : s.value("/spec/clusterIP"_json_pointer, std::string());
  if (out.host.empty() || out.host == "None")
    co_return std::unexpected(local_error(422, "NoClusterIP", "Service " + to_string(db.service) + " has no clusterIP"));
  out.port = static_cast<std::uint16_t>(db.port);
  const json ports = s.value("/spec/ports"_json_pointer, json::array());
  // A port is an integer in 1..65535; anything else in the Service is passed over (a float read
  // with value<int>() would be a plain cast out of range).
  const auto port_of = [](const json& p) -> std::optional<std::uint16_t> {
    const auto n = p.is_object() && p.contains("port") ? json_integer(p["port"]) : std::nullopt;
    if (!n || *n < 1 || *n > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(*n);
  };
  bool found = false;
  for (const auto& p : ports)
    if (port_of(p) == db.port) found = true;
  if (!found && !ports.empty()) out.port = port_of(ports[0]).value_or(static_cast<std::uint16_t>(db.port));

  // Each Secret once, whatever the number of keys read from it.
  std::map<std::string, json> secrets;
  auto value_of = [&](const env_source& src, const char* what) -> net::awaitable<std::expected<std::string, api_error>> {
    if (src.secret_name.empty()) co_return src.value;
    if (!secrets.contains(src.secret_name)) {
      auto r = co_await ctx.api->get(secret_path(db.service.ns, src.secret_name));
      if (!r) co_return std::unexpected(r.error());
      secrets[src.secret_name] = json::parse(r->body, nullptr, false);
    }
    const json& secret = secrets[src.secret_name];
    const json data = secret.is_discarded() ? json::object() : secret.value("data", json::object());
    if (!data.contains(src.secret_key) || !data[src.secret_key].is_string())
      co_return std::unexpected(local_error(404, "SecretKeyNotFound",
                                            std::string("Secret ") + db.service.ns + "/" + src.secret_name + " has no key " +
                                                src.secret_key + " (for the database " + what + ")"));
    co_return base64_decode(data[src.secret_key].get<std::string>());
  };
  const auto& c = db.credentials;
  for (auto [src, dest, what] :
       {std::tuple{&c.user, &out.user, "user"}, std::tuple{&c.password, &out.password, "password"},
        std::tuple{&c.database, &out.dbname, "name"}, std::tuple{&c.admin_password, &out.admin_password, "admin password"}}) {
    if (src->empty()) continue;
    auto v = co_await value_of(*src, what);
    if (!v) co_return std::unexpected(v.error());
    *dest = std::move(*v);
  }
  if (out.dbname.empty()) out.dbname = out.user;
  co_return out;
}

}  // namespace qpu::effects
