#include "core/codec.hpp"

#include <set>

#include <limits>
#include <stdexcept>
#include <utility>

#include "core/quantity.hpp"

namespace qpu {

using nlohmann::json;

namespace {

// A field of a logged event that is not what the writer puts there.
struct bad_field : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An integer of a logged event: a value of another type, a fraction or one outside T's range is
// refused by name. nlohmann's value()/get<T>() turn a number such as 3e25 into T with a plain
// cast, which is undefined behaviour (found by fuzz/event_log in CI).
template <class T>
T integer_value(const json& v, const std::string& what) {
  if (!v.is_number_integer()) throw bad_field(what + " is not an integer");
  const auto n = json_integer(v);
  if (!n || *n < std::numeric_limits<T>::min() || *n > std::numeric_limits<T>::max()) throw bad_field(what + " is out of range");
  return static_cast<T>(*n);
}

// The same for an optional field: absent, it is `fallback`.
template <class T>
T integer_field(const json& object, const char* key, T fallback, const std::string& where) {
  const auto it = object.find(key);
  return it == object.end() ? fallback : integer_value<T>(*it, where + "." + key);
}

// An effect result's "id": the text form of an id this controller issues (core/effect_id.hpp).
effect_id effect_id_field(const json& j) {
  const auto text = j.at("id").get<std::string>();
  auto id = parse_effect_id(text);
  if (!id) throw bad_field("id \"" + text + "\" is not an effect id this controller issues");
  return std::move(*id);
}

// Ids in their text order, as the state dump has always listed them.
json sorted_ids(const std::set<effect_id>& ids) {
  std::set<std::string> text;
  for (const auto& id : ids) text.insert(to_string(id));
  return text;
}

// The phase deadlines by their names in the log, for writing and reading alike.
constexpr std::pair<const char*, std::int64_t phase_deadlines::*> deadline_fields[] = {
    {"detect", &phase_deadlines::detect_s},   {"preflight", &phase_deadlines::preflight_s},
    {"quiesce", &phase_deadlines::quiesce_s}, {"backup", &phase_deadlines::backup_s},
    {"stop", &phase_deadlines::stop_s},       {"upgrade", &phase_deadlines::upgrade_s},
    {"switch", &phase_deadlines::switch_s},   {"verify", &phase_deadlines::verify_s},
    {"resume", &phase_deadlines::resume_s},   {"rollback", &phase_deadlines::rollback_s}};

json key_json(const object_key& k) { return json{{"namespace", k.ns}, {"name", k.name}}; }

json env_json(const env_source& e) {
  if (!e.secret_name.empty()) return json{{"secretKeyRef", {{"name", e.secret_name}, {"key", e.secret_key}}}};
  // A literal value in a Deployment's env may be a password: the dump names it, never shows it.
  if (!e.value.empty()) return json{{"value", "<literal>"}};
  return nullptr;
}

json credentials_json(const db_credentials& c) {
  return json{{"user", env_json(c.user)},
              {"password", env_json(c.password)},
              {"database", env_json(c.database)},
              {"adminPassword", env_json(c.admin_password)}};
}

json endpoint_json(const database_endpoint& d) {
  return json{{"service", key_json(d.service)}, {"port", d.port}, {"credentials", credentials_json(d.credentials)}};
}

json owner_json(const owner_ref& o) { return json{{"namespace", o.key.ns}, {"name", o.key.name}, {"uid", o.uid}}; }

json opt_time(const std::optional<timestamp>& t) { return t ? json(format_rfc3339(*t)) : json(nullptr); }

json condition_json(const condition& c) {
  return json{{"type", c.type},
              {"status", c.status},
              {"reason", c.reason},
              {"message", c.message},
              {"lastTransitionTime", format_rfc3339_seconds(c.last_transition)},
              {"observedGeneration", c.observed_generation}};
}

}  // namespace

json progress_json(const summary_progress& p) {
  return json{{"stage", p.stage}, {"unit", p.unit},       {"done", p.done},
              {"total", p.total}, {"percent", p.percent}, {"secondsLeft", p.seconds_left ? json(*p.seconds_left) : json(nullptr)},
              {"text", p.text}};
}

namespace {

json summary_json(const upgrade_summary& s) {
  json j{{"phase", s.phase},
         {"from", s.from},
         {"to", s.to},
         {"method", s.method},
         {"attempt", s.attempt},
         {"started", opt_time(s.started)},
         {"finished", opt_time(s.finished)},
         {"backupClaim", s.backup_claim},
         {"previousClaim", s.previous_claim},
         {"newClaim", s.new_claim},
         {"lastError", s.last_error}};
  // Only after a revert began, so that every log without one keeps its bytes.
  if (!s.revert_backup_claim.empty()) j["revertBackupClaim"] = s.revert_backup_claim;
  if (!s.quay_operator.empty()) j["quayOperator"] = s.quay_operator;
  if (const auto& p = s.progress) j["progress"] = progress_json(*p);
  if (!s.backup_archive.empty()) j["backupArchive"] = s.backup_archive;
  if (!s.statistics.empty()) j["statistics"] = s.statistics;
  return j;
}

struct effect_to_json {
  json operator()(const create_claim& e) const {
    json j{{"effect", "create_claim"},           {"id", to_string(e.id)},     {"claim", key_json(e.key)},
           {"registry", owner_json(e.registry)}, {"role", to_string(e.role)}, {"size", format_quantity(e.size_bytes)},
           {"storageClass", e.storage_class}};
    if (!e.source_claim.empty()) j["sourceClaim"] = e.source_claim;
    return j;
  }
  json operator()(const create_job& e) const {
    json j{{"effect", "create_job"},         {"id", to_string(e.id)},
           {"job", key_json(e.key)},         {"registry", owner_json(e.registry)},
           {"role", to_string(e.role)},      {"image", e.image},
           {"from", to_string(e.from)},      {"to", to_string(e.to)},
           {"oldClaim", e.old_claim},        {"backupClaim", e.backup_claim},
           {"newClaim", e.new_claim},        {"database", endpoint_json(e.db)},
           {"deadlineSeconds", e.deadline_s}};
    if (e.pg_upgrade_checks) j["pgUpgradeChecks"] = true;
    if (e.live_check) j["liveCheck"] = true;
    if (!e.node.empty()) j["node"] = e.node;
    if (e.backup_space_bytes) j["backupSpaceBytes"] = e.backup_space_bytes;
    if (e.data_space_bytes) j["dataSpaceBytes"] = e.data_space_bytes;
    if (e.cloned) j["cloned"] = true;
    if (e.with_manifest) j["withManifest"] = true;
    if (!e.verify_claim.empty()) j["verifyClaim"] = e.verify_claim;
    if (!e.old_cluster.empty()) {
      j["oldCluster"] = {{"encoding", e.old_cluster.encoding},
                         {"collate", e.old_cluster.collate},
                         {"ctype", e.old_cluster.ctype},
                         {"installUser", e.old_cluster.install_user}};
    }
    return j;
  }
  json operator()(const scale_deployment& e) const {
    return json{{"effect", "scale_deployment"},
                {"id", to_string(e.id)},
                {"deployment", key_json(e.key)},
                {"replicas", e.replicas},
                {"recordOriginal", e.record_original ? json(*e.record_original) : json(nullptr)},
                {"clearRecord", e.clear_record}};
  }
  json operator()(const patch_database_deployment& e) const {
    return json{{"effect", "patch_database_deployment"},
                {"id", to_string(e.id)},
                {"deployment", key_json(e.key)},
                {"image", e.image},
                {"claim", e.claim},
                {"replicas", e.replicas}};
  }
  json operator()(const update_registry_status& e) const {
    json conditions = json::array();
    for (const auto& c : e.conditions) conditions.push_back(condition_json(c));
    if (e.component == db_component::clair)
      return json{{"effect", "update_registry_status"}, {"id", to_string(e.id)},
                  {"registry", key_json(e.registry)},   {"database", "clair"},
                  {"conditions", conditions},           {"clairPostgresUpgrade", summary_json(e.summary)}};
    return json{{"effect", "update_registry_status"},
                {"id", to_string(e.id)},
                {"registry", key_json(e.registry)},
                {"conditions", conditions},
                {"postgresUpgrade", summary_json(e.summary)}};
  }
  json operator()(const emit_event& e) const {
    return json{{"effect", "emit_event"}, {"id", to_string(e.id)}, {"registry", owner_json(e.registry)}, {"type", e.type},
                {"reason", e.reason},     {"message", e.message},  {"at", format_rfc3339(e.at)}};
  }
  json operator()(const inspect_database& e) const {
    return json{{"effect", "inspect_database"},
                {"id", to_string(e.id)},
                {"registry", key_json(e.registry)},
                {"database", endpoint_json(e.db)},
                {"withManifest", e.with_manifest}};
  }
  json operator()(const inspect_claim& e) const {
    return json{
        {"effect", "inspect_claim"}, {"id", to_string(e.id)}, {"claim", key_json(e.key)}, {"storageClass", e.storage_class}};
  }
  json operator()(const read_claim& e) const {
    return json{{"effect", "read_claim"}, {"id", to_string(e.id)}, {"claim", key_json(e.key)}};
  }
  json operator()(const read_job_progress& e) const {
    return json{{"effect", "read_job_progress"}, {"id", to_string(e.id)}, {"pod", key_json(e.pod)}};
  }
  json operator()(const read_job_manifest& e) const {
    return json{{"effect", "read_job_manifest"}, {"id", to_string(e.id)}, {"pod", key_json(e.pod)}, {"side", e.side}};
  }
  json operator()(const delete_job& e) const {
    return json{{"effect", "delete_job"}, {"id", to_string(e.id)}, {"job", key_json(e.key)}};
  }
  json operator()(const requeue_after& e) const {
    json j{
        {"effect", "requeue_after"}, {"id", to_string(e.id)}, {"registry", key_json(e.database.registry)}, {"afterMs", e.after}};
    if (e.database.component != db_component::quay) j["database"] = to_string(e.database.component);
    return j;
  }
};

template <class Map>
json objects_json(const Map& m, auto&& fn) {
  json out = json::object();
  for (const auto& [k, v] : m) out[to_string(k)] = fn(v);
  return out;
}

// The stores keep no resourceVersion (reducers/reduce.cpp, stored), so the dump shows none.
json meta_json(const object_meta& m) {
  json j = json::object();
  if (m.generation) j["generation"] = m.generation;
  if (m.deleting) j["deleting"] = true;
  return j;
}

std::expected<object_key, std::string> key_from(const json& j, const char* what) {
  if (!j.is_string()) return std::unexpected(std::string(what) + " must be a \"namespace/name\" string");
  const std::string s = j.get<std::string>();
  const auto slash = s.find('/');
  if (slash == std::string::npos) return std::unexpected(std::string(what) + " \"" + s + "\" is not \"namespace/name\"");
  return object_key{s.substr(0, slash), s.substr(slash + 1)};
}

}  // namespace

json to_json(const effect& e) { return std::visit(effect_to_json{}, e); }

json to_json(const config& c) {
  json from = json::array();
  for (auto m : c.upgrade_image_from) from.push_back(to_string(m));
  json deadlines = json::object();
  for (const auto& [name, member] : deadline_fields) deadlines[name] = c.deadlines.*member;
  json j{{"targetImage", c.target_image},
         {"targetVersion", c.target_major ? json(to_string(*c.target_major)) : json(nullptr)},
         {"upgradeImage", c.upgrade_image},
         {"upgradeImageFrom", from},
         {"namespace", c.watch_namespace},
         {"requeueSeconds", c.requeue_s},
         {"deadlines", deadlines},
         {"headroomPercent", c.headroom_percent},
         {"minClaimBytes", c.min_claim_bytes},
         {"storageClass", c.storage_class},
         {"preflightCheck", c.preflight_check},
         {"maxTransientRetries", c.max_transient_retries}};
  // Written only when not the default, so logs of controllers that had no such setting keep
  // their bytes.
  if (c.target_image_explicit) j["targetImageExplicit"] = true;
  if (!c.pause_operator) j["pauseOperator"] = false;
  if (!c.clair_target_image.empty()) j["clairTargetImage"] = c.clair_target_image;
  if (c.clair_target_image_explicit) j["clairTargetImageExplicit"] = true;
  if (c.clair_target_major) j["clairTargetVersion"] = to_string(*c.clair_target_major);
  if (c.databases_side_by_side) j["databasesSideBySide"] = true;
  if (c.max_concurrent_upgrades != 0) j["maxConcurrentUpgrades"] = c.max_concurrent_upgrades;
  if (c.claim_bind_timeout_s != config{}.claim_bind_timeout_s) j["claimBindTimeoutSeconds"] = c.claim_bind_timeout_s;
  if (c.progress_interval_s != config{}.progress_interval_s) j["progressIntervalSeconds"] = c.progress_interval_s;
  if (c.dry_run) j["dryRun"] = true;
  if (c.live_check) j["liveCheck"] = true;
  if (!c.clone_storage_classes.empty()) j["cloneStorageClasses"] = c.clone_storage_classes;
  if (c.verify_after_resume) j["verify"] = "after-resume";
  return j;
}

std::expected<config, std::string> config_from_json(const json& j) {
  if (!j.is_object()) return std::unexpected("config must be an object");
  config c;
  try {
    c.target_image = j.value("targetImage", "");
    if (j.contains("targetVersion") && !j["targetVersion"].is_null()) {
      c.target_major = parse_pg_major(j["targetVersion"].get<std::string>());
      if (!c.target_major) return std::unexpected("config.targetVersion is not a PostgreSQL major version");
    }
    c.upgrade_image = j.value("upgradeImage", "");
    for (const auto& m : j.value("upgradeImageFrom", json::array())) {
      auto v = parse_pg_major(m.get<std::string>());
      if (!v) return std::unexpected("config.upgradeImageFrom holds a value that is not a PostgreSQL major");
      c.upgrade_image_from.push_back(*v);
    }
    c.watch_namespace = j.value("namespace", "");
    c.requeue_s = integer_field(j, "requeueSeconds", c.requeue_s, "config");
    if (j.contains("deadlines")) {
      const auto& d = j["deadlines"];
      for (const auto& [name, member] : deadline_fields)
        c.deadlines.*member = integer_field(d, name, c.deadlines.*member, "config.deadlines");
    }
    c.headroom_percent = integer_field(j, "headroomPercent", c.headroom_percent, "config");
    c.min_claim_bytes = integer_field(j, "minClaimBytes", c.min_claim_bytes, "config");
    c.storage_class = j.value("storageClass", "");
    c.preflight_check = j.value("preflightCheck", false);
    c.target_image_explicit = j.value("targetImageExplicit", false);
    c.pause_operator = j.value("pauseOperator", true);
    c.clair_target_image = j.value("clairTargetImage", "");
    c.clair_target_image_explicit = j.value("clairTargetImageExplicit", false);
    if (j.contains("clairTargetVersion") && !j["clairTargetVersion"].is_null()) {
      c.clair_target_major = parse_pg_major(j["clairTargetVersion"].get<std::string>());
      if (!c.clair_target_major) return std::unexpected("config.clairTargetVersion is not a PostgreSQL major version");
    }
    c.databases_side_by_side = j.value("databasesSideBySide", false);
    c.max_transient_retries = integer_field(j, "maxTransientRetries", c.max_transient_retries, "config");
    c.max_concurrent_upgrades =
        static_cast<std::int32_t>(integer_field(j, "maxConcurrentUpgrades", c.max_concurrent_upgrades, "config"));
    if (c.max_concurrent_upgrades < 0) return std::unexpected("config.maxConcurrentUpgrades must not be negative");
    c.claim_bind_timeout_s = integer_field(j, "claimBindTimeoutSeconds", c.claim_bind_timeout_s, "config");
    if (c.claim_bind_timeout_s < 1) return std::unexpected("config.claimBindTimeoutSeconds must be at least 1");
    c.progress_interval_s = integer_field(j, "progressIntervalSeconds", c.progress_interval_s, "config");
    c.dry_run = j.value("dryRun", false);
    c.live_check = j.value("liveCheck", false);
    for (const auto& name : j.value("cloneStorageClasses", json::array())) {
      if (!name.is_string() || name.get<std::string>().empty())
        return std::unexpected("config.cloneStorageClasses must hold StorageClass names");
      c.clone_storage_classes.push_back(name.get<std::string>());
    }
    if (c.progress_interval_s < 1) return std::unexpected("config.progressIntervalSeconds must be at least 1");
    const std::string verify = j.value("verify", "before-resume");
    if (verify != "before-resume" && verify != "after-resume")
      return std::unexpected("config.verify must be before-resume or after-resume, not '" + verify + "'");
    c.verify_after_resume = verify == "after-resume";
  } catch (const json::exception& e) {
    return std::unexpected(std::string("config: ") + e.what());
  } catch (const bad_field& e) {
    return std::unexpected(e.what());
  }
  return c;
}

json to_json(const database_facts& f) {
  json tables = json::array();
  for (const auto& t : f.tables) {
    json row{{"table", t.table}, {"rows", t.rows}, {"checksum", t.checksum}};
    if (!t.database.empty()) row["database"] = t.database;
    tables.push_back(std::move(row));
  }
  json j{{"serverVersionNum", f.server_version_num},
         {"databaseBytes", f.database_bytes},
         {"pgTrgm", f.has_pg_trgm},
         {"hasManifest", f.has_manifest},
         {"tables", tables}};
  // Only when read: logs and states from before the catalog existed keep their exact text.
  if (f.has_catalog) {
    json catalog = json::array();
    for (const auto& c : f.catalog) catalog.push_back(json::array({c.object, c.attribute, c.value}));
    j["catalog"] = std::move(catalog);
  }
  // The same: only when read.
  if (!f.install_user.empty()) {
    j["cluster"] = {{"encoding", f.cluster_encoding},
                    {"collate", f.cluster_collate},
                    {"ctype", f.cluster_ctype},
                    {"installUser", f.install_user}};
  }
  return j;
}

json to_json(const claim_facts& f) {
  json j{{"storageClass", f.storage_class},
         {"classExists", f.class_exists},
         {"bindingMode", f.binding_mode},
         {"provisioner", f.provisioner}};
  if (!f.event_reason.empty())
    j["event"] = json{{"type", f.event_type}, {"reason", f.event_reason}, {"message", f.event_message}};
  return j;
}

std::expected<claim_facts, std::string> claim_facts_from_json(const json& j) {
  if (!j.is_object()) return std::unexpected("claim facts must be an object");
  claim_facts f;
  try {
    f.storage_class = j.value("storageClass", "");
    f.class_exists = j.value("classExists", true);
    f.binding_mode = j.value("bindingMode", "");
    f.provisioner = j.value("provisioner", "");
    if (j.contains("event")) {
      const auto& e = j["event"];
      f.event_type = e.value("type", "");
      f.event_reason = e.value("reason", "");
      f.event_message = e.value("message", "");
    }
  } catch (const json::exception& e) {
    return std::unexpected(std::string("claim facts: ") + e.what());
  }
  return f;
}

namespace {

json progress_line_json(const job_progress& p) {
  return json{{"stage", p.stage}, {"unit", p.unit}, {"done", p.done}, {"total", p.total}, {"at", format_rfc3339(p.at)}};
}

// A claim read by name, in the log: every field of the view, so that a replay holds it exactly.
json claim_json(const claim& c) {
  json j{{"claim", to_string(c.meta.key)},
         {"uid", c.meta.uid},
         {"rv", c.meta.rv},
         {"phase", c.phase},
         {"requested", c.requested_bytes},
         {"capacity", c.capacity_bytes},
         {"storageClass", c.storage_class}};
  if (c.meta.generation) j["generation"] = c.meta.generation;
  if (c.meta.deleting) j["deleting"] = true;
  if (!c.created_for.empty()) j["createdFor"] = c.created_for;
  if (!c.clone_for.empty()) j["cloneFor"] = c.clone_for;
  return j;
}

claim claim_from_json(const json& j) {
  const std::string where = "effect_succeeded.object";
  auto key = key_from(j.value("claim", json()), "effect_succeeded.object.claim");
  if (!key) throw bad_field(key.error());
  claim c;
  c.meta.key = std::move(*key);
  c.meta.uid = j.value("uid", "");
  c.meta.rv = j.value("rv", "");
  c.meta.generation = integer_field(j, "generation", std::int64_t{0}, where);
  c.meta.deleting = j.value("deleting", false);
  c.phase = j.value("phase", "");
  c.requested_bytes = integer_field(j, "requested", std::int64_t{0}, where);
  c.capacity_bytes = integer_field(j, "capacity", std::int64_t{0}, where);
  c.storage_class = j.value("storageClass", "");
  c.created_for = j.value("createdFor", "");
  c.clone_for = j.value("cloneFor", "");
  return c;
}

job_progress progress_line_from(const json& p, const std::string& where) {
  const auto at = parse_rfc3339(p.at("at").get<std::string>());
  if (!at) throw bad_field(where + ".at is not an RFC 3339 time");
  return job_progress{p.at("stage").get<std::string>(), p.at("unit").get<std::string>(),
                      integer_field(p, "done", std::int64_t{0}, where), integer_field(p, "total", std::int64_t{0}, where), *at};
}

}  // namespace

json event_payload(const event& e) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, controller_started>) {
          return json{{"type", "controller_started"}, {"version", v.version}, {"config", to_json(v.cfg)}};
        } else if constexpr (std::is_same_v<T, timer_fired>) {
          json j{{"type", "timer_fired"}, {"registry", to_string(v.registry)}};
          if (v.component != db_component::quay) j["database"] = to_string(v.component);
          return j;
        } else if constexpr (std::is_same_v<T, effect_succeeded>) {
          json j{{"type", "effect_succeeded"}, {"id", to_string(v.id)}};
          if (v.facts) j["facts"] = to_json(*v.facts);
          if (v.claim) j["claim"] = to_json(*v.claim);
          if (v.progress) j["progress"] = progress_line_json(*v.progress);
          if (v.object) j["object"] = claim_json(*v.object);
          return j;
        } else if constexpr (std::is_same_v<T, effect_progress>) {
          return json{{"type", "effect_progress"}, {"id", to_string(v.id)}, {"progress", progress_line_json(v.progress)}};
        } else if constexpr (std::is_same_v<T, effect_failed>) {
          return json{
              {"type", "effect_failed"}, {"id", to_string(v.id)}, {"code", v.code}, {"reason", v.reason}, {"message", v.message}};
        } else {
          return nullptr;  // watch input is stored as the API server sent it, not through here
        }
      },
      e);
}

std::expected<event, std::string> event_from_payload(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return std::unexpected("event has no \"type\"");
  const std::string type = j["type"].get<std::string>();
  try {
    if (type == "controller_started") {
      auto c = config_from_json(j.value("config", json::object()));
      if (!c) return std::unexpected(c.error());
      return controller_started{std::move(*c), j.value("version", "")};
    }
    if (type == "timer_fired") {
      auto k = key_from(j.value("registry", json()), "timer_fired.registry");
      if (!k) return std::unexpected(k.error());
      auto component = db_component_from(j.value("database", "quay"));
      if (!component) return std::unexpected("timer_fired.database is neither \"quay\" nor \"clair\"");
      return timer_fired{*k, *component};
    }
    if (type == "effect_succeeded") {
      effect_succeeded s{effect_id_field(j), std::nullopt};
      if (j.contains("facts")) {
        const auto& f = j["facts"];
        database_facts facts;
        facts.server_version_num = integer_field(f, "serverVersionNum", std::int32_t{0}, "facts");
        facts.database_bytes = integer_field(f, "databaseBytes", std::int64_t{0}, "facts");
        facts.has_pg_trgm = f.value("pgTrgm", false);
        facts.has_manifest = f.value("hasManifest", false);
        for (const auto& t : f.value("tables", json::array()))
          facts.tables.push_back({t.at("table").get<std::string>(),
                                  integer_value<std::int64_t>(t.at("rows"), "facts.tables.rows"),
                                  t.at("checksum").get<std::string>(), t.value("database", "")});
        if (f.contains("catalog")) {
          facts.has_catalog = true;
          for (const auto& c : f["catalog"]) {
            if (!c.is_array() || c.size() != 3) throw bad_field("facts.catalog: each entry is [object, attribute, value]");
            facts.catalog.push_back({c[0].get<std::string>(), c[1].get<std::string>(), c[2].get<std::string>()});
          }
        }
        if (f.contains("cluster")) {
          const auto& k = f["cluster"];
          if (!k.is_object()) throw bad_field("facts.cluster is not an object");
          facts.cluster_encoding = k.value("encoding", "");
          facts.cluster_collate = k.value("collate", "");
          facts.cluster_ctype = k.value("ctype", "");
          facts.install_user = k.value("installUser", "");
        }
        s.facts = std::move(facts);
      }
      if (j.contains("claim")) {
        auto c = claim_facts_from_json(j["claim"]);
        if (!c) return std::unexpected(c.error());
        s.claim = std::move(*c);
      }
      if (j.contains("progress")) s.progress = progress_line_from(j["progress"], "effect_succeeded.progress");
      if (j.contains("object")) s.object = claim_from_json(j["object"]);
      return s;
    }
    if (type == "effect_progress") {
      return effect_progress{effect_id_field(j), progress_line_from(j.at("progress"), "effect_progress.progress")};
    }
    if (type == "effect_failed") {
      return effect_failed{effect_id_field(j), integer_field(j, "code", std::int32_t{0}, "effect_failed"), j.value("reason", ""),
                           j.value("message", "")};
    }
  } catch (const json::exception& e) {
    return std::unexpected(type + ": " + e.what());
  } catch (const bad_field& e) {
    return std::unexpected(type + ": " + e.what());
  }
  return std::unexpected("unknown event type \"" + type + "\"");
}

json to_json(const state& s) {
  json cluster{
      {"quayregistries", objects_json(s.cluster.registries,
                                      [](const quay_registry& r) {
                                        json j = meta_json(r.meta);
                                        j["postgresManaged"] = r.postgres_managed;
                                        if (!r.clair_postgres_managed) j["clairPostgresManaged"] = false;
                                        if (!r.skip_databases.empty()) j["skipDatabases"] = r.skip_databases;
                                        if (!r.retry_token.empty()) j["retryToken"] = r.retry_token;
                                        if (!r.method_override.empty()) j["method"] = r.method_override;
                                        if (!r.revert_to_claim.empty()) j["revertToClaim"] = r.revert_to_claim;
                                        if (!r.maintenance_window.empty()) j["maintenanceWindow"] = r.maintenance_window;
                                        if (!r.dry_run.empty()) j["dryRun"] = r.dry_run;
                                        return j;
                                      })},
      {"deployments", objects_json(s.cluster.deployments,
                                   [](const deployment& d) {
                                     json j = meta_json(d.meta);
                                     j["replicas"] = d.replicas;
                                     j["statusReplicas"] = d.status_replicas;
                                     j["readyReplicas"] = d.ready_replicas;
                                     j["updatedReplicas"] = d.updated_replicas;
                                     j["observedGeneration"] = d.observed_generation;
                                     j["image"] = d.image;
                                     if (!d.data_claim.empty()) j["dataClaim"] = d.data_claim;
                                     if (!d.pgdata.empty()) j["pgdata"] = d.pgdata;
                                     if (d.recorded_replicas) j["recordedReplicas"] = *d.recorded_replicas;
                                     if (!d.owner_registry.empty()) j["ownerRegistry"] = d.owner_registry;
                                     if (d.is_quay_operator()) j["operatorPostgresImage"] = d.operator_postgres_image;
                                     if (!d.operator_clair_postgres_image.empty())
                                       j["operatorClairPostgresImage"] = d.operator_clair_postgres_image;
                                     return j;
                                   })},
      {"pods", objects_json(s.cluster.pods,
                            [](const pod& p) {
                              json j = meta_json(p.meta);
                              j["phase"] = p.phase;
                              if (!p.component.empty()) j["component"] = p.component;
                              if (!p.job_name.empty()) j["job"] = p.job_name;
                              if (!p.node.empty()) j["node"] = p.node;
                              return j;
                            })},
      {"jobs", objects_json(s.cluster.jobs,
                            [](const job& jb) {
                              json j = meta_json(jb.meta);
                              j["active"] = jb.active;
                              j["succeeded"] = jb.succeeded;
                              j["failed"] = jb.failed;
                              if (jb.complete) j["complete"] = true;
                              if (jb.has_failed) j["failedCondition"] = json{{"reason", jb.reason}, {"message", jb.message}};
                              return j;
                            })},
      {"persistentvolumeclaims", objects_json(s.cluster.claims,
                                              [](const claim& c) {
                                                json j = meta_json(c.meta);
                                                j["phase"] = c.phase;
                                                j["requested"] = format_quantity(c.requested_bytes);
                                                j["capacity"] = format_quantity(c.capacity_bytes);
                                                j["storageClass"] = c.storage_class;
                                                if (!c.created_for.empty()) j["createdFor"] = c.created_for;
                                                if (!c.clone_for.empty()) j["cloneFor"] = c.clone_for;
                                                return j;
                                              })},
  };
  json rvs = json::object(), synced = json::object();
  for (auto k : all_resource_kinds) {
    rvs[plural(k)] = s.cluster.rv[static_cast<std::size_t>(k)];
    synced[plural(k)] = s.cluster.synced[static_cast<std::size_t>(k)];
  }
  cluster["resourceVersions"] = rvs;
  cluster["synced"] = synced;

  json upgrades = json::object();
  for (const auto& [key, u] : s.upgrades) {
    json apps = json::object();
    for (const auto& [name, n] : u.app_replicas) apps[name] = n;
    json retries = json::object();
    for (const auto& [id, n] : u.transient_failures) retries[to_string(id)] = n;
    upgrades[to_string(key)] = json{
        {"phase", to_string(u.current)},
        {"attempt", u.attempt},
        {"phaseSince", format_rfc3339(u.phase_since)},
        {"started", opt_time(u.started)},
        {"finished", opt_time(u.finished)},
        {"from", u.from ? json(to_string(*u.from)) : json(nullptr)},
        {"to", u.to ? json(to_string(*u.to)) : json(nullptr)},
        {"method", to_string(u.method)},
        {"oldImage", u.old_image},
        {"oldClaim", u.old_claim},
        {"detectedImage", u.detected_image},
        {"before", u.before ? to_json(*u.before) : json(nullptr)},
        {"after", u.after ? to_json(*u.after) : json(nullptr)},
        {"dbReplicas", u.db_replicas ? json(*u.db_replicas) : json(nullptr)},
        {"appReplicas", apps},
        {"switched", u.switched},
        {"lastError", u.last_error},
        {"failedIn", u.last_error.empty() ? json(nullptr) : json(to_string(u.failed_in))},
        {"rollbackIncomplete", u.rollback_incomplete},
        {"retryToken", u.retry_token},
        {"inFlight", sorted_ids(u.in_flight)},
        {"done", sorted_ids(u.done)},
        {"transientFailures", retries},
        {"wakeup", opt_time(u.wakeup)},
    };
    if (!u.detected_pgdata.empty()) upgrades[to_string(key)]["detectedPgdata"] = u.detected_pgdata;
    if (const auto& op = u.quay_operator) {
      upgrades[to_string(key)]["quayOperator"] = json{{"deployment", to_string(op->deployment)},
                                                      {"expectedImage", op->expected_image},
                                                      {"replicas", op->replicas ? json(*op->replicas) : json(nullptr)}};
    }
    if (!u.block_reason.empty()) upgrades[to_string(key)]["blockReason"] = u.block_reason;
    if (!u.claims_seen.empty()) {
      json seen = json::object();
      for (const auto& [role, f] : u.claims_seen) seen[role] = to_json(f);
      upgrades[to_string(key)]["claimsSeen"] = seen;
    }
    if (u.claims_requested) upgrades[to_string(key)]["claimsRequested"] = format_rfc3339(*u.claims_requested);
    if (!u.jobs_seen.empty()) upgrades[to_string(key)]["jobsSeen"] = u.jobs_seen;
    if (!u.claims_read.empty()) {
      json read = json::object();
      for (const auto& [name, cl] : u.claims_read) read[name] = claim_json(cl);
      upgrades[to_string(key)]["claimsRead"] = read;
    }
    if (u.dry_run) upgrades[to_string(key)]["dryRun"] = u.dry_run_token.empty() ? json(true) : json(u.dry_run_token);
    if (!u.plan.empty()) upgrades[to_string(key)]["plan"] = u.plan;
    if (u.downtime_started) upgrades[to_string(key)]["downtimeStarted"] = format_rfc3339(*u.downtime_started);
    if (u.clone) upgrades[to_string(key)]["clone"] = true;
    if (!u.clone_note.empty()) upgrades[to_string(key)]["cloneNote"] = u.clone_note;
    if (u.archived) upgrades[to_string(key)]["archived"] = format_rfc3339(*u.archived);
    if (!u.archive_error.empty()) upgrades[to_string(key)]["archiveError"] = u.archive_error;
    if (u.verify_after_resume) upgrades[to_string(key)]["verifyAfterResume"] = true;
    if (u.verified_after_resume) upgrades[to_string(key)]["verifiedAfterResume"] = format_rfc3339(*u.verified_after_resume);
    if (u.analyzed) upgrades[to_string(key)]["analyzed"] = format_rfc3339(*u.analyzed);
    if (!u.analyze_error.empty()) upgrades[to_string(key)]["analyzeError"] = u.analyze_error;
    if (const auto& p = u.progress)
      upgrades[to_string(key)]["progress"] = json{{"phase", to_string(p->in)},
                                                  {"stage", p->stage},
                                                  {"unit", p->unit},
                                                  {"done", p->done},
                                                  {"total", p->total},
                                                  {"at", format_rfc3339(p->at)},
                                                  {"firstDone", p->first_done},
                                                  {"firstAt", format_rfc3339(p->first_at)},
                                                  {"toldTenth", p->told_tenth},
                                                  {"toldAt", format_rfc3339(p->told_at)},
                                                  {"toldLine", format_rfc3339(p->told_line)}};
    if (!u.unsent_events.empty()) {
      json unsent = json::object();
      for (const auto& [id, e] : u.unsent_events)
        unsent[to_string(id)] = json{{"type", e.type}, {"reason", e.reason}, {"message", e.message}};
      upgrades[to_string(key)]["unsentEvents"] = unsent;
    }
    // The revert block appears once a revert was asked for, so logs without one keep their bytes.
    if (const auto& r = u.revert; r.run > 0 || !r.token.empty() || !r.refused.empty()) {
      json rapps = json::object();
      for (const auto& [name, n] : r.app_replicas) rapps[name] = n;
      upgrades[to_string(key)]["revert"] = json{
          {"run", r.run},
          {"token", r.token},
          {"refused", r.refused},
          {"newImage", r.new_image},
          {"started", opt_time(r.started)},
          {"finished", opt_time(r.finished)},
          {"measured", r.measured ? to_json(*r.measured) : json(nullptr)},
          {"verified", r.verified ? to_json(*r.verified) : json(nullptr)},
          {"dbReplicas", r.db_replicas ? json(*r.db_replicas) : json(nullptr)},
          {"appReplicas", rapps},
          {"switched", r.switched},
          {"error", r.error},
          {"failedIn", r.error.empty() ? json(nullptr) : json(to_string(r.failed_in))},
          {"restoreIncomplete", r.restore_incomplete},
      };
    }
  }
  json out{{"config", s.cfg ? to_json(*s.cfg) : json(nullptr)},
           {"cluster", cluster},
           {"upgrades", upgrades},
           {"lastSeq", s.last_seq},
           {"now", format_rfc3339(s.now)},
           {"malformedInputs", s.malformed_inputs},
           {"watchErrors", s.watch_errors}};
  // Only once an upgrade succeeded, so that every log before the record keeps its bytes.
  for (const auto& [method, d] : s.downtimes)
    out["downtimes"][method] = json{{"databaseBytes", d.database_bytes}, {"tookMs", d.took}, {"database", to_string(d.database)}};
  return out;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::optional<std::int64_t> json_integer(const json& v) {
  if (v.is_number_unsigned()) {
    const auto n = v.get<std::uint64_t>();
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(n);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return std::nullopt;
}

}  // namespace qpu
