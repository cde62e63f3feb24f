#include "tests/unit/scenario.hpp"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <set>
#include <stdexcept>

#include "core/codec.hpp"
#include "core/decode.hpp"
#include "core/event_log.hpp"
#include "core/quantity.hpp"
#include "reducers/reduce.hpp"

namespace qpu::testing {

namespace {

using nlohmann::json;

constexpr timestamp t0 = 1'795'478'400'000;  // 2026-11-24T00:00:00Z

struct pending {
  timestamp at;
  std::uint64_t order;
  int epoch;  // the controller process that scheduled it (results and timers die with it)
  bool dies_with_process;
  std::function<std::optional<std::string>(std::uint64_t seq, timestamp now)> make;
  bool operator>(const pending& o) const { return at != o.at ? at > o.at : order > o.order; }
};

struct kind_store {
  resource_kind kind;
  std::map<std::string, json> objects;  // "ns/name" -> object
};

class driver {
 public:
  explicit driver(const scenario_options& o) : o_(o) {}

  std::vector<std::string> run() {
    seed_cluster();
    start_controller(now_);
    while (!queue_.empty() && lines_.size() < o_.max_events) {
      pending p = queue_.top();
      queue_.pop();
      if (p.dies_with_process && p.epoch != epoch_) continue;
      now_ = p.at;
      auto line = p.make(lines_.size() + 1, now_);
      if (!line) continue;
      lines_.push_back(*line);
      fold(*line);
      if (o_.restart_after_seq && lines_.size() == o_.restart_after_seq) crash_and_restart();
      if (finished()) break;
    }
    return lines_;
  }

 private:
  // ---- the log side ----------------------------------------------------------------------

  void fold(const std::string& line) {
    auto ev = parse_log_line(std::string_view(line).substr(0, line.size() - 1));
    if (!ev) throw std::runtime_error("scenario wrote an unreadable line: " + ev.error() + "\n" + line);
    auto r = reducers::reduce(std::move(state_), *ev);
    state_ = std::move(r.next);
    for (const auto& e : r.effects) std::visit([&](const auto& v) { perform(v); }, e);
    const auto* u = upgrade();
    const auto* failed = u && u->current == phase::failed ? u : clair_upgrade();
    if (failed && failed->current == phase::failed && !o_.retry_token_after_failure.empty() && !retried_) {
      retried_ = true;
      at(2000, [this] {
        auto& qr = obj(resource_kind::quay_registry, o_.registry);
        qr["metadata"]["annotations"]["quay-pg-upgrader.quay.io/retry"] = o_.retry_token_after_failure;
        return modified(resource_kind::quay_registry, qr);
      });
    }
    if (u && u->current == phase::blocked && o_.operator_migrating && !operator_migration_over_) {
      operator_migration_over_ = true;
      finish_operator_migration();
    }
    if (u && u->current == phase::blocked && o_.password_to_secret_after_block && !password_moved_) {
      password_moved_ = true;
      at(5'000, [this] {  // the admin moves the password into the Secret the other variables use
        auto& d = obj(resource_kind::deployment, db_name());
        for (auto& e : d["spec"]["template"]["spec"]["containers"][0]["env"])
          if (e["name"] == "POSTGRESQL_PASSWORD")
            e = env_from_secret("POSTGRESQL_PASSWORD", o_.registry + "-quay-postgres-config", "database-password");
        return modified(resource_kind::deployment, d);
      });
    }
    if (u && u->current == phase::planned && o_.lift_dry_run_after_plan && !dry_run_lifted_) {
      dry_run_lifted_ = true;
      at(10'000, [this] {
        auto& qr = obj(resource_kind::quay_registry, o_.registry);
        qr["metadata"]["annotations"].erase("quay-pg-upgrader.quay.io/dry-run");
        return modified(resource_kind::quay_registry, qr);
      });
    }
    // (after a verification after the resume that found a difference, the revert is what is offered)
    if (u && (u->current == phase::succeeded || u->current == phase::verify_failed) &&
        !o_.revert_to_claim_after_success.empty() && !revert_asked_) {
      revert_asked_ = true;
      at(30'000, [this] {  // once the app is back up
        auto& qr = obj(resource_kind::quay_registry, o_.registry);
        qr["metadata"]["annotations"]["quay-pg-upgrader.quay.io/revert-to-claim"] = o_.revert_to_claim_after_success;
        return modified(resource_kind::quay_registry, qr);
      });
    }
  }

  // The operator's own migration ends as the real one's does: the Job completes, the -old
  // Deployment goes, and the database runs the operator's image on the claim it renders.
  void finish_operator_migration() {
    const std::string claim = o_.registry + "-quay-postgres-13";
    at(20'000, [=, this] {
      auto& j = obj(resource_kind::job, o_.registry + "-quay-postgres-upgrade");
      j["status"] = {{"active", 0},
                     {"succeeded", 1},
                     {"conditions", json::array({{{"type", "Complete"}, {"status", "True"}, {"reason", "CompletionsReached"}}})}};
      return modified(resource_kind::job, j);
    });
    at(20'100, [=, this] { return deleted(resource_kind::deployment, db_name() + "-old"); });
    at(20'200, [=, this] {
      json c = claim_json(claim, 50 * gibibyte, "standard", true);
      c["metadata"]["labels"] = json::object();
      claim_major_[claim] = 13;
      return added(resource_kind::claim, c);
    });
    at(20'300, [=, this] {
      auto& d = obj(resource_kind::deployment, db_name());
      d["spec"]["template"]["spec"]["containers"][0]["image"] = o_.operator_image;
      d["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = claim;
      d["spec"]["replicas"] = 1;
      d["metadata"]["generation"] = d["metadata"]["generation"].get<int>() + 1;
      return modified(resource_kind::deployment, d);
    });
    now_ += 20'300;
    roll(db_name(), 1, true);
    now_ -= 20'300;
  }

  const registry_upgrade* upgrade_of(db_component c) const {
    auto it = state_.upgrades.find({{o_.ns, o_.registry}, c});
    return it == state_.upgrades.end() ? nullptr : &it->second;
  }
  const registry_upgrade* upgrade() const { return upgrade_of(db_component::quay); }
  const registry_upgrade* clair_upgrade() const { return upgrade_of(db_component::clair); }

  bool rests(const registry_upgrade* u) const {
    // A write waiting out its back-off (retry_at) is still to come: its timer is due.
    if (!u || !u->in_flight.empty() || !u->retry_at.empty()) return false;
    return ((u->current == phase::succeeded || u->current == phase::verify_failed) &&
            (o_.revert_to_claim_after_success.empty() || revert_asked_)) ||
           u->current == phase::reverted || u->current == phase::revert_failed || u->current == phase::revert_refused ||
           u->current == phase::up_to_date || u->current == phase::refused || u->current == phase::unsupported ||
           (u->current == phase::planned && !o_.lift_dry_run_after_plan) || u->current == phase::unmanaged ||
           (u->current == phase::blocked && !o_.operator_migrating && !(o_.password_to_secret_after_block && !password_moved_)) ||
           (u->current == phase::failed && (o_.retry_token_after_failure.empty() || retried_));
  }

  // Done once every database of the registry rests in a final phase, nothing is in flight and
  // only timers remain.
  bool finished() const {
    if (!rests(upgrade()) || (o_.clair && !rests(clair_upgrade()))) return false;
    for (const auto& name : o_.more_registries) {
      const auto it = state_.upgrades.find({{o_.ns, name}, db_component::quay});
      if (it == state_.upgrades.end() || !rests(&it->second)) return false;
    }
    auto copy = queue_;
    while (!copy.empty()) {
      const auto& p = copy.top();
      if (!(p.dies_with_process && p.epoch != epoch_) && !timers_.contains(p.order)) return false;
      copy.pop();
    }
    return true;
  }

  void schedule(timestamp when, bool dies, std::function<std::optional<std::string>(std::uint64_t, timestamp)> fn) {
    queue_.push(pending{when, order_++, epoch_, dies, std::move(fn)});
  }

  // A cluster change after `delay` ms: `fn` mutates objects and returns the watch line.
  void at(timestamp delay, std::function<std::optional<std::string>()> fn) {
    schedule(now_ + delay, false, [fn = std::move(fn)](std::uint64_t, timestamp) { return fn(); });
  }

  std::string line_for(resource_kind kind, const std::string& type, const json& object) {
    const std::string raw = json{{"type", type}, {"object", object}}.dump();
    return log_line_watch(lines_.size() + 1, now_, kind, raw);
  }

  void result(const effect_id& id, std::optional<database_facts> facts = std::nullopt) {
    schedule(now_ + 30, true, [=](std::uint64_t seq, timestamp ts) {
      return log_line_event(seq, ts, "effect", effect_succeeded{id, facts});
    });
  }

  void failure(const effect_id& id, int code, std::string reason, std::string message) {
    schedule(now_ + 30, true, [=](std::uint64_t seq, timestamp ts) {
      return log_line_event(seq, ts, "effect", effect_failed{id, code, reason, message});
    });
  }

  // ---- the cluster side ----------------------------------------------------------------------

  std::map<resource_kind, kind_store> stores_;
  std::uint64_t rv_ = 1000;

  json& obj(resource_kind k, const std::string& name, const std::string& ns = "") {
    return stores_[k].objects.at((ns.empty() ? o_.ns : ns) + "/" + name);
  }
  bool has(resource_kind k, const std::string& name) { return stores_[k].objects.contains(o_.ns + "/" + name); }
  json* find(resource_kind k, const std::string& name) {
    auto it = stores_[k].objects.find(o_.ns + "/" + name);
    return it == stores_[k].objects.end() ? nullptr : &it->second;
  }

  std::string bump(json& o) {
    o["metadata"]["resourceVersion"] = std::to_string(++rv_);
    return o["metadata"]["resourceVersion"];
  }

  std::optional<std::string> added(resource_kind k, json o) {
    bump(o);
    const std::string key = o["metadata"].value("namespace", "") + "/" + o["metadata"]["name"].get<std::string>();
    stores_[k].kind = k;
    stores_[k].objects[key] = o;
    return line_for(k, "ADDED", o);
  }
  std::optional<std::string> modified(resource_kind k, json& o) {
    bump(o);
    return line_for(k, "MODIFIED", o);
  }
  std::optional<std::string> deleted(resource_kind k, const std::string& name) {
    const std::string key = o_.ns + "/" + name;
    auto it = stores_[k].objects.find(key);
    if (it == stores_[k].objects.end()) return std::nullopt;
    json o = it->second;
    stores_[k].objects.erase(it);
    bump(o);
    return line_for(k, "DELETED", o);
  }

  json meta(const std::string& name, json labels = json::object(), const std::string& ns = "") {
    return json{{"name", name},    {"namespace", ns.empty() ? o_.ns : ns},        {"uid", "uid-" + name},
                {"generation", 1}, {"creationTimestamp", "2026-11-20T10:00:00Z"}, {"labels", labels}};
  }

  json env_from_secret(const std::string& name, const std::string& secret, const std::string& key) {
    return json{{"name", name}, {"valueFrom", {{"secretKeyRef", {{"name", secret}, {"key", key}}}}}};
  }

  // A Deployment of a database: Quay's (component postgres) or Clair's (clair-postgres).
  static bool is_database(const std::string& component) { return component == "postgres" || component == "clair-postgres"; }

  json deployment_json(const std::string& name, const std::string& component, const std::string& image, int replicas,
                       const std::string& claim_name, const std::string& registry = "") {
    const std::string& reg = registry.empty() ? o_.registry : registry;
    json labels{{"quay-component", component}, {"quay-operator/quayregistry", reg}};
    json container{{"name", component}, {"image", image}};
    json volumes = json::array();
    if (!claim_name.empty()) {
      const std::string secret = reg + (component == "clair-postgres" ? "-clairpostgres-config-secret" : "-quay-postgres-config");
      container["env"] = json::array({env_from_secret("POSTGRESQL_USER", secret, "database-username"),
                                      component == "postgres" && !o_.literal_password.empty()
                                          ? json{{"name", "POSTGRESQL_PASSWORD"}, {"value", o_.literal_password}}
                                          : env_from_secret("POSTGRESQL_PASSWORD", secret, "database-password"),
                                      env_from_secret("POSTGRESQL_DATABASE", secret, "database-name")});
      if (!o_.no_admin_password)
        container["env"].push_back(env_from_secret("POSTGRESQL_ADMIN_PASSWORD", secret, "database-root-password"));
      if (component == "postgres" && !o_.db_pgdata.empty())
        container["env"].push_back({{"name", "PGDATA"}, {"value", o_.db_pgdata}});
      container["volumeMounts"] = json::array({{{"name", "postgres-data"}, {"mountPath", "/var/lib/pgsql/data"}}});
      volumes.push_back({{"name", "postgres-data"}, {"persistentVolumeClaim", {{"claimName", claim_name}}}});
    }
    return json{
        {"apiVersion", "apps/v1"},
        {"kind", "Deployment"},
        {"metadata", meta(name, labels)},
        {"spec",
         {{"replicas", replicas},
          {"strategy", {{"type", is_database(component) ? "Recreate" : "RollingUpdate"}}},
          {"selector", {{"matchLabels", labels}}},
          {"template", {{"metadata", {{"labels", labels}}}, {"spec", {{"containers", {container}}, {"volumes", volumes}}}}}}},
        {"status",
         {{"observedGeneration", 1},
          {"replicas", replicas},
          {"readyReplicas", replicas},
          {"updatedReplicas", replicas},
          {"availableReplicas", replicas}}}};
  }

  json pod_json(const std::string& name, const json& labels, const std::string& phase_name) {
    return json{{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", meta(name, labels)},
                // Scheduled (a stuck pod too: its image, not a node, is what it waits for).
                {"spec", {{"containers", json::array({{{"name", "main"}, {"image", "x"}}})}, {"nodeName", "node-1"}}},
                {"status", {{"phase", phase_name}}}};
  }

  json claim_json(const std::string& name, std::int64_t bytes, const std::string& storage_class, bool bound) {
    json o{{"apiVersion", "v1"},
           {"kind", "PersistentVolumeClaim"},
           {"metadata", meta(name, {{"app.kubernetes.io/managed-by", "quay-pg-upgrader"}})},
           {"spec",
            {{"accessModes", {"ReadWriteOnce"}},
             {"resources", {{"requests", {{"storage", format_quantity(bytes)}}}}},
             {"storageClassName", storage_class}}},
           {"status", {{"phase", bound ? "Bound" : "Pending"}}}};
    if (bound) o["status"]["capacity"] = {{"storage", format_quantity(bytes)}};
    return o;
  }

  void seed_cluster() {
    auto put = [&](resource_kind k, json o) {
      o["metadata"]["resourceVersion"] = std::to_string(++rv_);
      const std::string key = o["metadata"].value("namespace", "") + "/" + o["metadata"]["name"].get<std::string>();
      stores_[k].kind = k;
      stores_[k].objects[key] = o;
    };
    put(resource_kind::quay_registry, [&] {
      json components = json::array({{{"kind", "postgres"}, {"managed", true}}, {{"kind", "clair"}, {"managed", true}}});
      if (o_.clair) components.push_back({{"kind", "clairpostgres"}, {"managed", true}});
      json qr{{"apiVersion", "quay.redhat.com/v1"},
              {"kind", "QuayRegistry"},
              {"metadata", meta(o_.registry)},
              {"spec", {{"components", components}}}};
      if (!o_.skip_databases.empty())
        qr["metadata"]["annotations"]["quay-pg-upgrader.quay.io/skip-databases"] = o_.skip_databases;
      if (!o_.maintenance_window.empty())
        qr["metadata"]["annotations"]["quay-pg-upgrader.quay.io/maintenance-window"] = o_.maintenance_window;
      if (!o_.dry_run_annotation.empty())
        qr["metadata"]["annotations"]["quay-pg-upgrader.quay.io/dry-run"] = o_.dry_run_annotation;
      return qr;
    }());
    put(resource_kind::deployment, [&] {
      // During the operator's own migration the database is scaled to 0 (QUAY-OPERATOR.md).
      json d = deployment_json(db_name(), "postgres", o_.db_image, o_.operator_migrating ? 0 : 1, o_.registry + "-quay-database");
      if (o_.operator_managed)
        d["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "quay.redhat.com/v1"},
                                                         {"kind", "QuayRegistry"},
                                                         {"name", o_.registry},
                                                         {"uid", "uid-" + o_.registry},
                                                         {"controller", true}}});
      return d;
    }());
    if (o_.operator_managed) {
      json op = deployment_json("quay-operator", "quay-operator", "quay.io/projectquay/quay-operator:v3.9.0",
                                o_.operator_left_paused ? 0 : 1, "");
      if (o_.operator_left_paused) op["metadata"]["annotations"]["quay-pg-upgrader.quay.io/original-replicas"] = "1";
      const json annotations = op["metadata"].value("annotations", json::object());
      op["metadata"] = meta("quay-operator", {{"name", "quay-operator-alm-owned"}}, "quay-operator");
      if (!annotations.empty()) op["metadata"]["annotations"] = annotations;
      op["spec"]["template"]["spec"]["containers"][0]["env"] =
          json::array({{{"name", "RELATED_IMAGE_COMPONENT_POSTGRES"}, {"value", o_.operator_image}},
                       {{"name", "RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES"}, {"value", o_.operator_clair_image}}});
      put(resource_kind::deployment, op);
    }
    if (o_.operator_migrating) {
      // The operator's own migration (QUAY-OPERATOR.md): its -old Deployment and its Job.
      put(resource_kind::deployment,
          deployment_json(db_name() + "-old", "postgres", o_.db_image, 1, o_.registry + "-quay-database"));
      put(resource_kind::job, json{{"apiVersion", "batch/v1"},
                                   {"kind", "Job"},
                                   {"metadata", meta(o_.registry + "-quay-postgres-upgrade")},
                                   {"spec", {{"backoffLimit", 50}}},
                                   {"status", {{"active", 1}, {"startTime", "2026-11-24T00:00:00Z"}}}});
    }
    if (o_.operator_claim_exists)
      put(resource_kind::claim, [&] {
        json c = claim_json(o_.registry + "-quay-postgres-13", 50 * gibibyte, "standard", true);
        c["metadata"]["labels"] = json::object();  // the operator's, not this controller's
        return c;
      }());
    if (o_.old_claim_unwatched) {
      json c = claim_json(o_.registry + "-quay-database", 10 * gibibyte, "standard", true);
      c["metadata"]["labels"] = json::object();
      c["metadata"]["resourceVersion"] = std::to_string(++rv_);
      unwatched_[o_.ns + "/" + o_.registry + "-quay-database"] = c;
    } else if (!o_.old_claim_absent) {
      put(resource_kind::claim, claim_json(o_.registry + "-quay-database", 10 * gibibyte, "standard", true));
    }
    claim_major_[o_.registry + "-quay-database"] = o_.db_major;
    if (o_.leftover_backup_claim_bytes > 0)
      put(resource_kind::claim, claim_json(o_.registry + "-quay-database-backup-pg" + std::to_string(o_.db_major),
                                           o_.leftover_backup_claim_bytes, "standard", true));
    if (o_.leftover_data_claim_bytes > 0 && o_.leftover_claims_unwatched) {
      json c = claim_json(o_.registry + "-quay-database-pg15", o_.leftover_data_claim_bytes, "standard", true);
      c["metadata"]["labels"] = json::object();
      c["metadata"]["resourceVersion"] = std::to_string(++rv_);
      unwatched_[o_.ns + "/" + o_.registry + "-quay-database-pg15"] = c;
    } else if (o_.leftover_data_claim_bytes > 0) {
      put(resource_kind::claim, claim_json(o_.registry + "-quay-database-pg15", o_.leftover_data_claim_bytes, "standard", true));
    }
    if (!o_.operator_migrating) start_pods(db_name(), 1, false);
    put(resource_kind::deployment,
        deployment_json(o_.registry + "-quay-app", "quay-app", "quay.io/projectquay/quay:3.12", o_.app_replicas, ""));
    start_pods(o_.registry + "-quay-app", o_.app_replicas, false);
    if (o_.mirror_replicas > 0) {
      put(resource_kind::deployment,
          deployment_json(o_.registry + "-quay-mirror", "quay-mirror", "quay.io/projectquay/quay:3.12", o_.mirror_replicas, ""));
      start_pods(o_.registry + "-quay-mirror", o_.mirror_replicas, false);
    }
    if (o_.clair) {
      put(resource_kind::deployment, [&] {
        json d = deployment_json(clair_db_name(), "clair-postgres", o_.clair_db_image, 1, clair_db_name());
        if (o_.operator_managed)
          d["metadata"]["ownerReferences"] = obj(resource_kind::deployment, db_name())["metadata"]["ownerReferences"];
        return d;
      }());
      put(resource_kind::claim, claim_json(clair_db_name(), 20 * gibibyte, "standard", true));
      claim_major_[clair_db_name()] = o_.clair_db_major;
      start_pods(clair_db_name(), 1, false);
      put(resource_kind::deployment,
          deployment_json(o_.registry + "-clair-app", "clair-app", "quay.io/projectquay/clair:4.7", 2, ""));
      start_pods(o_.registry + "-clair-app", 2, false);
    }
    // Noise: objects of another namespace that no rule may touch.
    put(resource_kind::deployment, [&] {
      json d = deployment_json("other-quay-database", "postgres", "postgres:12", 1, "other-quay-database");
      d["metadata"]["namespace"] = "elsewhere";
      return d;
    }());
    for (const auto& name : o_.more_registries) {
      put(resource_kind::quay_registry,
          json{{"apiVersion", "quay.redhat.com/v1"},
               {"kind", "QuayRegistry"},
               {"metadata", meta(name)},
               {"spec", {{"components", json::array({{{"kind", "postgres"}, {"managed", true}}})}}}});
      const std::string db = name + "-quay-database";
      put(resource_kind::deployment, deployment_json(db, "postgres", o_.db_image, 1, db, name));
      put(resource_kind::claim, claim_json(db, 10 * gibibyte, "standard", true));
      claim_major_[db] = o_.db_major;
      start_pods(db, 1, false);
      put(resource_kind::deployment,
          deployment_json(name + "-quay-app", "quay-app", "quay.io/projectquay/quay:3.12", o_.app_replicas, "", name));
      start_pods(name + "-quay-app", o_.app_replicas, false);
    }
  }

  std::string db_name() const { return o_.registry + "-quay-database"; }
  std::string clair_db_name() const { return o_.registry + "-clair-postgres"; }
  // The failure options hit this database's steps ("quay" | "clair", or both when unset).
  bool hits(db_component c) const { return o_.failing_database.empty() || o_.failing_database == to_string(c); }

  std::map<std::string, std::vector<std::string>> pods_of_;  // deployment -> pod names
  std::map<std::string, int> claim_major_;
  // A Job's pod: when it starts running and how long its work takes, for its progress lines.
  struct job_run {
    timestamp started;
    timestamp runtime;
    const char* stage;
  };
  std::map<std::string, job_run> job_runs_;
  std::map<std::string, int> pod_counter_;

  json labels_of(const std::string& deployment_name) {
    return obj(resource_kind::deployment, deployment_name)["spec"]["template"]["metadata"]["labels"];
  }

  // Starts n pods of a Deployment. `watched`: as watch events later; else silently (seeding).
  void start_pods(const std::string& dep, int n, bool watched) {
    for (int i = 0; i < n; ++i) {
      const std::string name = dep + "-5d8f7c9b4-" + std::to_string(++pod_counter_[dep]) + "x" + std::to_string(i);
      pods_of_[dep].push_back(name);
      json p = pod_json(name, labels_of(dep), watched ? "Pending" : "Running");
      if (!watched) {
        p["metadata"]["resourceVersion"] = std::to_string(++rv_);
        stores_[resource_kind::pod].objects[o_.ns + "/" + name] = p;
        continue;
      }
      at(1000, [=, this] { return added(resource_kind::pod, p); });
      at(3000, [=, this]() -> std::optional<std::string> {
        json* live = find(resource_kind::pod, name);
        if (!live) return std::nullopt;
        (*live)["status"]["phase"] = "Running";
        return modified(resource_kind::pod, *live);
      });
    }
  }

  // Rolls a Deployment to `replicas` pods of its current template: old pods terminate first
  // (Recreate), then new ones start, then the status says so.
  void roll(const std::string& dep, int replicas, bool restart_all) {
    const bool never_stops = o_.database_never_stops && dep == db_name();
    auto old = pods_of_[dep];
    const int keep = restart_all ? 0 : std::min<int>(replicas, static_cast<int>(old.size()));
    std::vector<std::string> stopping(old.begin() + keep, old.end());
    pods_of_[dep].resize(keep);
    for (const auto& name : stopping) {
      at(500, [=, this]() -> std::optional<std::string> {
        json* p = find(resource_kind::pod, name);
        if (!p) return std::nullopt;
        (*p)["metadata"]["deletionTimestamp"] = "2026-11-24T00:00:00Z";
        return modified(resource_kind::pod, *p);
      });
      if (!never_stops) at(2500, [=, this] { return deleted(resource_kind::pod, name); });
    }
    at(2600, [=, this] {
      auto& d = obj(resource_kind::deployment, dep);
      d["status"]["observedGeneration"] = d["metadata"]["generation"];
      d["status"]["replicas"] = keep;
      d["status"]["readyReplicas"] = keep;
      d["status"]["updatedReplicas"] = keep;
      return modified(resource_kind::deployment, d);
    });
    if (replicas > keep) {
      now_ += 2600;
      start_pods(dep, replicas - keep, true);
      at(3100, [=, this] {
        auto& d = obj(resource_kind::deployment, dep);
        d["status"]["observedGeneration"] = d["metadata"]["generation"];
        d["status"]["replicas"] = replicas;
        d["status"]["readyReplicas"] = replicas;
        d["status"]["updatedReplicas"] = replicas;
        d["status"]["availableReplicas"] = replicas;
        return modified(resource_kind::deployment, d);
      });
      now_ -= 2600;
    }
  }

  // ---- effects -----------------------------------------------------------------------------

  void perform(const create_claim& e) {
    result(e.id);
    const bool binds = !(o_.data_claim_never_binds && e.role == claim_role::data) && !o_.claim_class_missing &&
                       !o_.claims_bind_on_first_use && !(o_.clone_refused && !e.source_claim.empty());
    json c = claim_json(e.key.name, e.size_bytes, e.storage_class.empty() ? "standard" : e.storage_class, false);
    // A clone carries its source and the effect that made it (effects/claim_specs.cpp).
    if (!e.source_claim.empty()) {
      c["spec"]["dataSource"] = {{"kind", "PersistentVolumeClaim"}, {"name", e.source_claim}};
      c["metadata"]["annotations"]["quay-pg-upgrader.quay.io/clone-for"] = to_string(e.id);
    }
    // As effects/labels.cpp labels what the controller creates: the registry it was made for.
    c["metadata"]["labels"]["quay-pg-upgrader.quay.io/registry"] = e.registry.key.name;
    at(40, [=, this] { return added(resource_kind::claim, c); });
    if (binds) {
      at(1000, [=, this] {
        auto& live = obj(resource_kind::claim, e.key.name);
        live["status"] = {{"phase", "Bound"}, {"capacity", {{"storage", format_quantity(e.size_bytes)}}}};
        return modified(resource_kind::claim, live);
      });
    }
  }

  // A claim by name: from the watched objects, or one no watch carries; else 404.
  void perform(const read_claim& e) {
    const std::string key = e.key.ns + "/" + e.key.name;
    const auto& watched = stores_[resource_kind::claim].objects;
    const json* found = watched.contains(key) ? &watched.at(key) : unwatched_.contains(key) ? &unwatched_.at(key) : nullptr;
    if (!found) {
      schedule(now_ + 20, true, [=](std::uint64_t seq, timestamp ts) {
        return log_line_event(seq, ts, "effect",
                              effect_failed{e.id, 404, "NotFound", "persistentvolumeclaims \"" + e.key.name + "\" not found"});
      });
      return;
    }
    auto view = json_decoder{}.decode_object(resource_kind::claim, found->dump());
    if (!view) throw std::runtime_error("scenario: its own claim does not decode: " + view.error());
    effect_succeeded ok{e.id, std::nullopt};
    ok.object = std::get<claim>(std::move(*view));
    schedule(now_ + 20, true, [=](std::uint64_t seq, timestamp ts) { return log_line_event(seq, ts, "effect", ok); });
  }

  // Why a claim is Pending, as the PersistentVolume controller's Event and the StorageClass say.
  void perform(const inspect_claim& e) {
    claim_facts f;
    f.storage_class = e.storage_class;
    f.binding_mode = "Immediate";
    f.provisioner = "kube-sim.io/local";
    if (o_.claim_class_missing) {
      f.class_exists = false;
      f.binding_mode.clear();
      f.provisioner.clear();
      f.event_type = "Warning";
      f.event_reason = "ProvisioningFailed";
      f.event_message = "storageclass.storage.k8s.io \"" + e.storage_class + "\" not found";
    } else if (o_.clone_refused) {
      f.provisioner = "kube-sim.io/basic";
      f.event_type = "Warning";
      f.event_reason = "ProvisioningFailed";
      f.event_message = "failed to provision volume with StorageClass \"" + e.storage_class +
                        "\": rpc error: code = InvalidArgument desc = volume cloning is not supported";
    } else if (o_.claims_bind_on_first_use) {
      f.binding_mode = "WaitForFirstConsumer";
      f.event_type = "Normal";
      f.event_reason = "WaitForFirstConsumer";
      f.event_message = "waiting for first consumer to be created before binding";
    } else if (o_.data_claim_never_binds) {
      f.provisioner = "ebs.csi.aws.com";
      f.event_type = "Normal";
      f.event_reason = "ExternalProvisioning";
      f.event_message =
          "Waiting for a volume to be created either by the external provisioner 'ebs.csi.aws.com' or manually by "
          "the system administrator.";
    }
    schedule(now_ + 30, true, [=](std::uint64_t seq, timestamp ts) {
      return log_line_event(seq, ts, "effect", effect_succeeded{e.id, std::nullopt, f});
    });
  }

  // The Job's last progress line, as its pod's log tail holds it: the work moves evenly over the
  // Job's runtime; the first line comes a second after the pod started (the total is measured first).
  void perform(const read_job_progress& e) {
    const auto run = job_runs_.find(e.pod.name);
    std::optional<job_progress> line;
    constexpr std::int64_t total = 800 * 1024 * 1024;
    // A pg_upgrade in a clone copies nothing: its Job prints no progress line.
    if (run != job_runs_.end() && *run->second.stage && now_ >= run->second.started + 1000) {
      const timestamp at = run->second.started + (now_ - run->second.started) / 1000 * 1000;  // one line a second
      const auto elapsed = std::min(at - run->second.started, run->second.runtime);
      line = job_progress{run->second.stage, "bytes", total / run->second.runtime * elapsed, total, at};
    }
    schedule(now_ + 30, true, [=](std::uint64_t seq, timestamp ts) {
      return log_line_event(seq, ts, "effect", effect_succeeded{e.id, std::nullopt, std::nullopt, line});
    });
  }

  // The first pod that mounts a WaitForFirstConsumer claim binds it.
  void bind_on_first_use(const std::string& name) {
    at(900, [=, this]() -> std::optional<std::string> {
      json* live = find(resource_kind::claim, name);
      if (!live || (*live)["status"].value("phase", "") == "Bound") return std::nullopt;
      const auto size = (*live)["spec"]["resources"]["requests"]["storage"];
      (*live)["status"] = {{"phase", "Bound"}, {"capacity", {{"storage", size}}}};
      return modified(resource_kind::claim, *live);
    });
  }

  void perform(const create_job& e) {
    result(e.id);
    if (o_.claims_bind_on_first_use) {
      if (e.role == job_role::backup) bind_on_first_use(e.backup_claim);
      if (e.role == job_role::upgrade_logical || e.role == job_role::upgrade_pg_upgrade) bind_on_first_use(e.new_claim);
    }
    const bool first_attempt = e.key.name.ends_with("-1");
    const bool revert = e.key.name.find("-revert-") != std::string::npos;
    const bool fails =
        revert ? o_.revert_backup_fails
               : first_attempt && hits(e.id.component) &&
                     ((e.role == job_role::check && o_.check_fails) || (e.role == job_role::backup && o_.backup_fails) ||
                      (e.role == job_role::archive && (o_.archive_fails || o_.verify_after_resume_mismatch)) ||
                      (e.role == job_role::analyze && o_.analyze_fails) ||
                      ((e.role == job_role::upgrade_logical || e.role == job_role::upgrade_pg_upgrade) && o_.upgrade_fails));
    const bool stuck =
        o_.data_claim_never_binds && (e.role == job_role::upgrade_logical || e.role == job_role::upgrade_pg_upgrade);
    const timestamp runtime = e.role == job_role::backup                                 ? 20'000
                              : e.role == job_role::check || e.role == job_role::analyze ? 10'000
                                                                                         : 45'000;
    json labels{{"app.kubernetes.io/managed-by", "quay-pg-upgrader"}, {"quay-pg-upgrader.quay.io/role", to_string(e.role)}};
    json j{{"apiVersion", "batch/v1"},
           {"kind", "Job"},
           {"metadata", meta(e.key.name, labels)},
           {"spec", {{"backoffLimit", 0}, {"activeDeadlineSeconds", e.deadline_s}}},
           {"status", {{"active", 1}, {"startTime", "2026-11-24T00:00:00Z"}}}};
    const std::string pod_name = e.key.name + "-q7x2p";
    job_runs_[pod_name] = {now_ + 800, runtime - 800,
                           e.role == job_role::backup               ? "dump"
                           : e.role == job_role::upgrade_logical    ? "restore"
                           : e.role == job_role::upgrade_pg_upgrade ? (e.cloned ? "" : "copy")
                           : e.role == job_role::archive            ? "dump"
                           : e.role == job_role::analyze            ? ""
                                                                    : "check"};
    at(40, [=, this] { return added(resource_kind::job, j); });
    json pod_labels{{"job-name", e.key.name}, {"batch.kubernetes.io/job-name", e.key.name}};
    at(800, [=, this] { return added(resource_kind::pod, pod_json(pod_name, pod_labels, stuck ? "Pending" : "Running")); });
    if (o_.job_deleted == e.role && first_attempt && revert == o_.job_deleted_in_revert) {
      at(5000, [=, this] { return deleted(resource_kind::job, e.key.name); });
      at(5500, [=, this] { return deleted(resource_kind::pod, pod_name); });
      return;
    }
    if (stuck) return;
    at(runtime, [=, this]() -> std::optional<std::string> {
      if (!has(resource_kind::pod, pod_name)) return std::nullopt;
      auto& p = obj(resource_kind::pod, pod_name);
      p["status"]["phase"] = fails ? "Failed" : "Succeeded";
      p["status"]["containerStatuses"] = json::array(
          {{{"name", "main"},
            {"state",
             {{"terminated",
               {{"exitCode", fails ? 3 : 0},
                {"message",
                 !fails && e.role == job_role::analyze ? "AnalyzeComplete: statistics made for every database on 15.4 (vacuumdb "
                                                         "--analyze-in-stages, while the app served)"
                 : !fails && e.role == job_role::archive
                     ? "ArchiveComplete: 1 database(s), 91091 bytes in /backup/pg13, beside the clone of the "
                       "old data; the upgraded database: statistics made"
                 : !fails                    ? ""
                 : e.role == job_role::check ? "CheckFailed: step 'report' failed (exit 1)\n"
                                               "extension chkpass is not available in PostgreSQL 15"
                 : e.role == job_role::archive && o_.verify_after_resume_mismatch
                     ? "VerificationMismatch: step 'compare the manifests' failed (exit 1)\nthe upgraded data differs from the "
                       "old data (5 tables before the upgrade); old (<) and upgraded (>):\n< public.tag\t8000\tsum:6376\n> "
                       "public.tag\t7999\tsum:6376"
                 : e.role == job_role::archive ? "ArchiveFailed: step 'pg_dump quay' failed (exit 1)\n"
                                                 "pg_dump: error: could not write to file: No space left on device"
                 : e.role == job_role::analyze ? "AnalyzeFailed: step 'vacuumdb --analyze-in-stages (the app is back)' failed "
                                                 "(exit 1)\nvacuumdb: error: processing of database \"quay\" failed: ERROR:  "
                                                 "canceling statement due to statement timeout"
                                               : "pg_restore: error: could not write to file: No space left on device"}}}}}}});
      return modified(resource_kind::pod, p);
    });
    at(runtime + 200, [=, this]() -> std::optional<std::string> {
      if (!has(resource_kind::job, e.key.name)) return std::nullopt;
      auto& live = obj(resource_kind::job, e.key.name);
      if (fails) {
        live["status"] = {{"active", 0},
                          {"failed", 1},
                          {"startTime", "2026-11-24T00:00:00Z"},
                          {"conditions", json::array({{{"type", "FailureTarget"},
                                                       {"status", "True"},
                                                       {"reason", "BackoffLimitExceeded"},
                                                       {"message", "Job has reached the specified backoff limit"}},
                                                      {{"type", "Failed"},
                                                       {"status", "True"},
                                                       {"reason", "BackoffLimitExceeded"},
                                                       {"message", "Job has reached the specified backoff limit"}}})}};
      } else {
        if (e.role == job_role::upgrade_logical || e.role == job_role::upgrade_pg_upgrade)
          claim_major_[e.new_claim] = e.to.code / 100;
        live["status"] = {
            {"active", 0},
            {"succeeded", 1},
            {"startTime", "2026-11-24T00:00:00Z"},
            {"completionTime", "2026-11-24T00:01:00Z"},
            {"conditions", json::array({{{"type", "SuccessCriteriaMet"}, {"status", "True"}, {"reason", "CompletionsReached"}},
                                        {{"type", "Complete"}, {"status", "True"}, {"reason", "CompletionsReached"}}})}};
      }
      return modified(resource_kind::job, live);
    });
  }

  void perform(const scale_deployment& e) {
    const bool in_revert = e.id.revert_run > 0;
    if (e.key.name == o_.scale_up_refused && e.replicas > 0 && scale_up_refused_ < o_.scale_up_refusals &&
        in_revert == o_.scale_up_refused_in_revert) {
      ++scale_up_refused_;
      return failure(e.id, 403, "Forbidden", "deployments.apps \"" + e.key.name + "\" is forbidden: refused by the scenario");
    }
    result(e.id);
    if (e.key.ns != o_.ns) return scale_elsewhere(e);
    auto& d = obj(resource_kind::deployment, e.key.name);
    d["spec"]["replicas"] = e.replicas;
    d["metadata"]["generation"] = d["metadata"]["generation"].get<int>() + 1;
    if (e.record_original)
      d["metadata"]["annotations"]["quay-pg-upgrader.quay.io/original-replicas"] = std::to_string(*e.record_original);
    if (e.clear_record && d["metadata"].contains("annotations"))
      d["metadata"]["annotations"].erase("quay-pg-upgrader.quay.io/original-replicas");
    at(40, [=, this] {
      auto& live = obj(resource_kind::deployment, e.key.name);
      return modified(resource_kind::deployment, live);
    });
    roll(e.key.name, e.replicas, false);
  }

  // The operator's Deployment: its pods are not modelled, its status follows the spec a second later.
  void scale_elsewhere(const scale_deployment& e) {
    auto& d = obj(resource_kind::deployment, e.key.name, e.key.ns);
    d["spec"]["replicas"] = e.replicas;
    d["metadata"]["generation"] = d["metadata"]["generation"].get<int>() + 1;
    if (e.record_original)
      d["metadata"]["annotations"]["quay-pg-upgrader.quay.io/original-replicas"] = std::to_string(*e.record_original);
    if (e.clear_record && d["metadata"].contains("annotations"))
      d["metadata"]["annotations"].erase("quay-pg-upgrader.quay.io/original-replicas");
    at(40, [=, this] { return modified(resource_kind::deployment, obj(resource_kind::deployment, e.key.name, e.key.ns)); });
    at(1500, [=, this] {
      auto& live = obj(resource_kind::deployment, e.key.name, e.key.ns);
      live["status"]["observedGeneration"] = live["metadata"]["generation"];
      for (const char* field : {"replicas", "readyReplicas", "updatedReplicas", "availableReplicas"})
        live["status"][field] = e.replicas;
      return modified(resource_kind::deployment, live);
    });
  }

  void perform(const patch_database_deployment& e) {
    if (fails_once(to_string(e.id), e.id, 429, "TooManyRequests")) return;
    result(e.id);
    auto& d = obj(resource_kind::deployment, e.key.name);
    auto& c = d["spec"]["template"]["spec"]["containers"][0];
    const bool template_changed =
        c["image"] != e.image || d["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] != e.claim;
    c["image"] = e.image;
    d["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = e.claim;
    d["spec"]["replicas"] = e.replicas;
    d["metadata"]["generation"] = d["metadata"]["generation"].get<int>() + 1;
    if (d["metadata"].contains("annotations")) d["metadata"]["annotations"].erase("quay-pg-upgrader.quay.io/original-replicas");
    at(40, [=, this] { return modified(resource_kind::deployment, obj(resource_kind::deployment, e.key.name)); });
    roll(e.key.name, e.replicas, template_changed);
  }

  // The first try of a write fails when the scenario asks for API errors: `what` names the write
  // (an effect id, or a status by its phase: a status sent again carries a new id).
  bool fails_once(const std::string& what, const effect_id& id, int code, const char* reason) {
    if (!o_.reports_fail_once || !failed_once_.insert(what).second) return false;
    failure(id, code, reason, "injected by the scenario");
    return true;
  }

  void perform(const update_registry_status& e) {
    if (fails_once("status " + e.summary.phase + " " + e.conditions[0].message, e.id, 503, "ServiceUnavailable")) return;
    result(e.id);
    at(40, [=, this] {
      auto& qr = obj(resource_kind::quay_registry, e.registry.name);
      const char* block = e.component == db_component::clair ? "clairPostgresUpgrade" : "postgresUpgrade";
      qr["status"][block] = to_json(effect{e})[block];
      return modified(resource_kind::quay_registry, qr);
    });
  }

  void perform(const emit_event& e) {
    if (!fails_once(to_string(e.id), e.id, 503, "ServiceUnavailable")) result(e.id);
  }

  // The app database's tables as a manifest reads them; `short_by_one`: the table where a
  // mismatch loses a row has one row fewer.
  static std::vector<table_digest> manifest_tables(bool clair, bool short_by_one) {
    using tables = std::initializer_list<std::pair<const char*, std::int64_t>>;
    // Clair v4's big tables (vulnerabilities and their enrichments), Quay's own otherwise.
    const tables quay_tables{{"public.imagestorage", 4200},
                             {"public.manifest", 5000},
                             {"public.repository", 340},
                             {"public.tag", 8000},
                             {"public.user", 120}};
    const tables clair_tables{
        {"public.enrichment", 30000}, {"public.manifest_index", 900}, {"public.package", 12000}, {"public.vuln", 250000}};
    const std::string short_table = clair ? "public.vuln" : "public.tag";
    std::vector<table_digest> out;
    for (auto [table, rows] : clair ? clair_tables : quay_tables)
      out.push_back(
          {table, short_by_one && table == short_table ? rows - 1 : rows, "sum:" + std::to_string(rows * 7919 % 100003), ""});
    return out;
  }

  // The cluster's catalog as an admin's inspection reads it (effects/manifest_sql.hpp,
  // catalog_query): the app's database with a grant to a reporting role, the roles; without that
  // grant when the scenario says the restore lost it.
  static std::vector<catalog_fact> catalog(bool clair, bool lost_grant) {
    const std::string db = clair ? "clair" : "quay";
    std::vector<catalog_fact> out{
        {"database " + db, "acl", "=Tc/" + db + " " + db + "=CTc/" + db + (lost_grant ? "" : " reporting=c/" + db)},
        {"database " + db, "collate", "en_US.utf8"},
        {"database " + db, "comment", ""},
        {"database " + db, "connection limit", "-1"},
        {"database " + db, "ctype", "en_US.utf8"},
        {"database " + db, "encoding", "UTF8"},
        {"database " + db, "owner", db},
        {"database postgres", "owner", "postgres"},
        {"role " + db, "attributes", "NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS"},
        {"role " + db, "password (set by the image)", "set"},
        {"role postgres", "attributes", "SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS"},
        {"role postgres", "password (set by the image)", "set"},
        {"role reporting", "attributes", "NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS"},
        {"role reporting", "password", "qpu-redacted:5f0c2a9e41b7d3c86e1f0a2b4c6d8e90"},
        {"role reporting", "settings", "statement_timeout=30s"},
    };
    return out;
  }

  // The archive Job's log (verification after the resume): both manifests, the upgraded side one
  // row short when the scenario says so.
  void perform(const read_job_manifest& e) {
    if (o_.job_log_gone) return failure(e.id, 404, "NotFound", "pods \"" + e.pod.name + "\" not found");
    database_facts f;
    f.has_manifest = true;
    f.tables = manifest_tables(e.id.component == db_component::clair,
                               e.side == "new" && o_.verify_after_resume_mismatch && hits(e.id.component));
    result(e.id, f);
  }

  void perform(const inspect_database& e) {
    // The Service carries the Deployment's name (R-quay-database, R-clair-postgres).
    auto& d = obj(resource_kind::deployment, e.db.service.name);
    if (d["status"].value("readyReplicas", 0) < 1) return failure(e.id, 0, "ConnectionFailed", "connection to server refused");
    const std::string claim_name = d["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"];
    const int major = claim_major_.at(claim_name);
    const bool clair = e.id.component == db_component::clair;
    database_facts f;
    f.server_version_num = major * 10000 + 7;
    f.database_bytes = 3 * gibibyte + 123'456'789;
    f.has_pg_trgm = true;
    if (!o_.no_cluster_settings) {  // as every inspection reads them now (a log from before: none)
      f.cluster_encoding = "UTF8";
      f.cluster_collate = "en_US.utf8";
      f.cluster_ctype = "en_US.utf8";
      f.install_user = "postgres";
    }
    if (e.with_manifest) {
      f.has_manifest = true;
      const bool upgraded = claim_name != e.db.service.name;
      const bool reverted = e.id.revert_run > 0 && !upgraded;
      f.tables = manifest_tables(
          clair, hits(e.id.component) && ((upgraded && o_.verify_mismatch) || (reverted && o_.revert_verify_mismatch)));
      f.has_catalog = true;
      f.catalog = catalog(clair, hits(e.id.component) && upgraded && o_.catalog_mismatch);
    }
    // The controller's manifest of the upgraded database tells how far it has come, table after
    // table, before its result (effects/dispatch.cpp).
    if (e.with_manifest && e.id.step == step_kind::inspect_verify && e.id.revert_run == 0) {
      constexpr std::int64_t total = 1200 * 1024 * 1024;
      for (const std::int64_t done : {total / 4, total * 3 / 4}) {
        const timestamp at = now_ + (done == total / 4 ? 10 : 20);
        schedule(at, true, [=](std::uint64_t seq, timestamp ts) {
          return log_line_event(seq, ts, "effect", effect_progress{e.id, job_progress{"verify", "bytes", done, total, at}});
        });
      }
    }
    result(e.id, f);
  }

  void perform(const delete_job& e) {
    result(e.id);
    at(40, [=, this] { return deleted(resource_kind::job, e.key.name); });
    at(1500, [=, this] { return deleted(resource_kind::pod, e.key.name + "-q7x2p"); });
  }

  std::map<std::uint64_t, bool> timers_;  // queue orders of timer entries
  std::map<database_key, std::optional<timestamp>> armed_;

  // One timer per database, the earliest deadline wins (effects/requeue_timers.cpp).
  void perform(const requeue_after& e) {
    const timestamp when = now_ + e.after;
    auto& armed = armed_[e.database];
    if (armed && *armed > now_ && *armed <= when) return;
    armed = when;
    timers_[order_] = true;
    schedule(when, true, [this, when, key = e.database](std::uint64_t seq, timestamp ts) -> std::optional<std::string> {
      auto& live = armed_[key];
      if (live != when) return std::nullopt;
      live.reset();
      return log_line_event(seq, ts, "timer", timer_fired{key.registry, key.component});
    });
  }

  // ---- the controller process ----------------------------------------------------------------

  config scenario_config() const {
    config c;
    c.target_image = o_.target_image;
    c.target_image_explicit = o_.target_image_explicit;
    c.pause_operator = o_.pause_operator;
    if (o_.clair) c.clair_target_image = o_.clair_target_image.empty() ? o_.target_image : o_.clair_target_image;
    c.databases_side_by_side = o_.side_by_side;
    c.max_concurrent_upgrades = o_.max_concurrent_upgrades;
    c.preflight_check = o_.preflight_check;
    c.live_check = o_.live_check;
    c.dry_run = o_.dry_run;
    c.storage_class = o_.storage_class;
    c.clone_storage_classes = o_.clone_storage_classes;
    c.verify_after_resume = o_.verify_after_resume;
    c.upgrade_image = o_.upgrade_image;
    for (int m : o_.upgrade_from) c.upgrade_image_from.push_back(pg_major::of(m));
    // Short deadlines keep the failure scenarios' logs readable; the defaults are hours.
    c.deadlines.quiesce_s = 120;
    c.deadlines.backup_s = 600;
    c.deadlines.stop_s = 120;
    c.deadlines.upgrade_s = 600;
    c.deadlines.switch_s = 300;
    c.deadlines.verify_s = 300;
    c.deadlines.resume_s = 120;
    c.deadlines.rollback_s = 300;
    return c;
  }

  void start_controller(timestamp when) {
    schedule(when, true, [this](std::uint64_t seq, timestamp ts) {
      return log_line_event(seq, ts, "controller", controller_started{scenario_config(), "0.1.0"});
    });
    timestamp t = when + 50;
    for (auto kind : all_resource_kinds) {
      schedule(t, true, [kind](std::uint64_t seq, timestamp ts) { return log_line_relist_start(seq, ts, kind); });
      // Items are snapshotted when the list is served, as an API server would.
      schedule(t + 1, true, [this, kind](std::uint64_t, timestamp) -> std::optional<std::string> {
        list_snapshot_ = stores_[kind].objects;
        list_rv_ = std::to_string(rv_);
        snapshot_pos_ = list_snapshot_.begin();
        return std::nullopt;
      });
      for (std::size_t i = 0; i < 64; ++i) {
        schedule(t + 2, true, [this, kind](std::uint64_t seq, timestamp ts) -> std::optional<std::string> {
          if (snapshot_pos_ == list_snapshot_.end()) return std::nullopt;
          json item = snapshot_pos_->second;
          ++snapshot_pos_;
          return log_line_relist_item(seq, ts, kind, item.dump());
        });
      }
      // Claims watched as two label-selected streams (app/controller.hpp): every claim of the
      // scenario is listed on the first, the second lists none.
      const std::uint8_t streams = kind == resource_kind::claim && o_.claims_selected ? 2 : 1;
      schedule(t + 3, true, [this, kind, streams](std::uint64_t seq, timestamp ts) {
        return log_line_relist_done(seq, ts, kind, list_rv_, 0, streams);
      });
      if (streams == 2) {
        schedule(t + 4, true, [kind](std::uint64_t seq, timestamp ts) { return log_line_relist_start(seq, ts, kind, 1); });
        schedule(t + 5, true,
                 [this, kind](std::uint64_t seq, timestamp ts) { return log_line_relist_done(seq, ts, kind, list_rv_, 1, 2); });
      }
      t += 10;
    }
    if (o_.malformed_lines) {
      schedule(t + 5, true, [](std::uint64_t seq, timestamp ts) {
        return log_line_watch(
            seq, ts, resource_kind::job,
            R"({"type":"MODIFIED","object":{"metadata":{"name":"broken","namespace":"quay"},"status":{"active":"two"}}})");
      });
      schedule(t + 6, true, [](std::uint64_t seq, timestamp ts) {
        return log_line_malformed(seq, ts, resource_kind::pod, R"({"type":"ADDED","object":{"metadata":)",
                                  "not JSON: TAPE_ERROR: truncated");
      });
    }
  }

  std::map<std::string, json> list_snapshot_;
  std::map<std::string, json> unwatched_;  // "ns/name" -> an object no watch carries (read by name only)
  std::map<std::string, json>::iterator snapshot_pos_;
  std::string list_rv_;

  // The controller is killed: results and timers it awaited die with it; the cluster goes on.
  void crash_and_restart() {
    ++epoch_;
    armed_.clear();
    start_controller(now_ + 5000);
  }

  scenario_options o_;
  std::priority_queue<pending, std::vector<pending>, std::greater<>> queue_;
  std::uint64_t order_ = 0;
  int epoch_ = 0;
  timestamp now_ = t0;
  std::vector<std::string> lines_;
  state state_;
  bool retried_ = false;
  bool revert_asked_ = false;
  bool dry_run_lifted_ = false;
  bool operator_migration_over_ = false;
  bool password_moved_ = false;
  int scale_up_refused_ = 0;
  std::set<std::string> failed_once_;
};

}  // namespace

std::vector<std::string> run_scenario(const scenario_options& o) { return driver(o).run(); }

}  // namespace qpu::testing
