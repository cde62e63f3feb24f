#include "stand_in.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "apply.hpp"
#include "object_meta.hpp"

namespace kube_sim::quay_operator {
namespace net = boost::asio;

namespace {

const char* const registry_type = "quayregistries.quay.redhat.com";
const char* const components_created = "ComponentsCreated";
const char* const upgrade_in_progress = "PostgresUpgradeInProgress";
const char* const upgrade_failed = "PostgresUpgradeFailed";

bool terminating(const json& o) { return o.contains("metadata") && o["metadata"].contains("deletionTimestamp"); }

bool pod_ready(const json& pod) {
  for (const auto& c : pod.value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  return false;
}

// A component is managed when the registry lists it with managed: true (the real operator first
// writes every unlisted component into the spec; the stand-in never writes the spec).
bool managed(const json& registry, std::string_view kind) {
  for (const auto& c : registry.value("/spec/components"_json_pointer, json::array()))
    if (c.value("kind", "") == kind) return c.value("managed", false);
  return false;
}

const json* find_condition(const json& registry, const std::string& type) {
  const json* found = nullptr;
  if (registry.contains("status") && registry["status"].contains("conditions") && registry["status"]["conditions"].is_array())
    for (const auto& c : registry["status"]["conditions"])
      if (c.value("type", "") == type) found = &c;
  return found;
}

struct pending_migration {
  component c;
  std::string from_image;
  std::string from_claim;
};

// The migration is under way (the operator's PostgresUpgradeRunning): only the Jobs are looked at,
// as checkPostgresUpgradeStatus does.
void check_migration(reconcile_pass& p) {
  for (const auto c : {component::postgres, component::clair_postgres}) {
    const auto n = names_for(p.r, c);
    const auto job = p.get("jobs.batch", n.job);
    if (!job) continue;
    json m = {{"component", to_string(c)}, {"job", n.job}};
    const auto& status = job->value("status", json::object());
    if (status.value("active", 0) >= 1) {
      m["event"] = "running";
      p.migrations.push_back(m);
      return;
    }
    if (status.value("succeeded", 0) >= 1) {
      auto old = p.get("deployments.apps", n.old_deployment);
      if (!old) continue;  // cleaned up before
      const auto old_claim = data_claim(*old);
      p.remove("deployments.apps", n.old_deployment, "Deployment");
      if (!n.old_service.empty()) p.remove("services", n.old_service, "Service");
      // The old claim is released (its ownerReference removed, so a person can delete it) and
      // deleted only when POSTGRES_UPGRADE_DELETE_BACKUP says so.
      if (auto claim = p.get("persistentvolumeclaims", old_claim)) {
        json next = *claim;
        json refs = json::array();
        for (const auto& ref : next["metadata"].value("ownerReferences", json::array()))
          if (!ref.is_object() || ref.value("uid", json()) != p.r.uid) refs.push_back(ref);
        next["metadata"]["ownerReferences"] = refs;
        if (next != *claim) {
          p.update("persistentvolumeclaims", next, "released PersistentVolumeClaim " + old_claim + " (ownerReference removed)");
        }
        if (p.env.delete_backup) p.remove("persistentvolumeclaims", old_claim, "PersistentVolumeClaim");
      }
      p.release_app(n.app);
      m["event"] = "finished";
      m["oldClaim"] = old_claim;
      p.migrations.push_back(m);
      continue;
    }
    // Kubernetes' Job status lags its pods: without a terminal condition it has not failed yet.
    std::string failure;
    for (const auto& cond : status.value("conditions", json::array()))
      if (cond.value("type", "") == "Failed" && cond.value("status", "") == "True")
        failure = cond.value("message", "failed to run postgres upgrade");
    if (failure.empty()) {
      m["event"] = "running";
      m["message"] = "the Job has no running pod yet";
      p.migrations.push_back(m);
      return;
    }
    p.set_condition("False", upgrade_failed, failure);
    m["event"] = "failed";
    m["message"] = failure;
    p.migrations.push_back(m);
    return;
  }
  p.set_condition("True", "ComponentsCreationSuccess", "All registry components created");
}

void render_component(reconcile_pass& p, component c, const pending_migration* migration) {
  const auto n = names_for(p.r, c);
  const auto& image = p.env.expected_image(c);
  const auto claim = claim_for(p.r, c, image);
  p.apply("serviceaccounts", service_account(p.r, c), reconcile_pass::mode::create_only);
  p.apply("secrets", config_secret(p.r, c), reconcile_pass::mode::create_only);
  p.apply("configmaps", conf_sample(p.r, c));
  if (c == component::postgres) p.apply("secrets", bootstrap_secret(p.r));
  p.apply("persistentvolumeclaims", database_claim(p.r, c, claim, p.env.claim_size), reconcile_pass::mode::metadata_only);
  p.apply("services", database_service(p.r, c));
  if (!migration) {
    p.apply("deployments.apps", database_deployment(p.r, c, image, claim, 1));
    return;
  }
  // pgupgrade: the database at 0 on its new image and claim, the -old copy on the old claim with
  // the previous image, and the Job that fills the new claim from it.
  std::string old_claim = migration->from_claim;
  if (old_claim.empty() || old_claim == claim) old_claim = claim_for(p.r, c, p.env.previous_image(c));
  p.remove("jobs.batch", n.job, "Job");  // an earlier run's Job is never taken for this one's
  p.hold_app(n.app);
  p.apply("deployments.apps", database_deployment(p.r, c, image, claim, 0));
  p.apply("persistentvolumeclaims", database_claim(p.r, c, old_claim, p.env.claim_size), reconcile_pass::mode::metadata_only);
  p.apply("deployments.apps", old_deployment(p.r, c, p.env.previous_image(c), old_claim));
  if (!n.old_service.empty()) p.apply("services", old_service(p.r));
  p.apply("jobs.batch", upgrade_job(p.r, c, image, claim), reconcile_pass::mode::create_only);
  p.migrations.push_back({{"component", to_string(c)},
                          {"event", "started"},
                          {"from", repository_segment(migration->from_image)},
                          {"to", repository_segment(image)},
                          {"job", n.job},
                          {"oldClaim", old_claim},
                          {"newClaim", claim}});
}

}  // namespace

stand_in::stand_in(net::io_context& io, store& s, options o)
    : io_(io), store_(s), options_(std::move(o)), journal_(options_.journal_file), timer_(io) {}

stand_in::~stand_in() {
  stop();
  *alive_ = false;
}

void stand_in::start() {
  if (started_) return;
  started_ = true;
  subscription_ = store_.subscribe([this](const change& c) {
    // QuayRegistry changes, and the operator's own Deployment and pods (it starts or stops).
    if (c.type_id == registry_type) schedule();
    else if ((c.type_id == "deployments.apps" || c.type_id == "pods") &&
             object_namespace(c.object) == options_.operator_namespace)
      schedule();
  });
  arm_timer();
  schedule();
}

void stand_in::stop() {
  if (!started_) return;
  started_ = false;
  store_.unsubscribe(subscription_);
  timer_.cancel();
}

void stand_in::set_hold(bool hold) {
  options_.hold = hold;
  schedule();
}

void stand_in::arm_timer() {
  timer_.expires_after(options_.resync);
  timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive || !started_) return;
    ++ticks_;
    reconcile_all();
    arm_timer();
  });
}

void stand_in::schedule() {
  if (scheduled_) return;
  scheduled_ = true;
  net::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    scheduled_ = false;
    if (started_) reconcile_all();
  });
}

gate stand_in::check_gate() const {
  const std::string where = options_.operator_namespace + "/" + options_.operator_name;
  if (options_.hold) return {false, "held (POST /_sim/quay-operator {\"hold\": false} releases it)", {}};
  const auto* deployments = store_.types().find_id("deployments.apps");
  auto d = store_.get(*deployments, options_.operator_namespace, options_.operator_name);
  if (!d) return {false, "no Deployment " + where, {}};
  auto pods = store_.list(*store_.types().find_id("pods"), options_.operator_namespace);
  const json* ready = nullptr;
  if (pods)
    for (const auto& p : pods->items)
      if (owned_by(p, meta_string(*d, "uid")) && !terminating(p) && pod_ready(p)) ready = &p;
  if (!ready) return {false, "Deployment " + where + " has no Ready pod", {}};
  operator_env env;
  const auto env_ptr = "/spec/containers/0/env"_json_pointer;
  const json vars = ready->contains(env_ptr) && (*ready)[env_ptr].is_array() ? (*ready)[env_ptr] : json::array();
  for (const auto& e : vars) {
    // Literal values only: an operator's images are never read from a Secret.
    if (!e.is_object() || !e.contains("value") || !e["value"].is_string() || !e.contains("name") || !e["name"].is_string())
      continue;
    const auto name = e["name"].get<std::string>();
    const auto value = e["value"].get<std::string>();
    if (name == "RELATED_IMAGE_COMPONENT_POSTGRES") env.postgres_image = value;
    else if (name == "RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES") env.clair_postgres_image = value;
    else if (name == "RELATED_IMAGE_COMPONENT_POSTGRES_PREVIOUS" && !value.empty()) env.postgres_previous_image = value;
    else if (name == "RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES_PREVIOUS" && !value.empty())
      env.clair_postgres_previous_image = value;
    else if (name == "POSTGRES_UPGRADE_DELETE_BACKUP") env.delete_backup = value != "false";
    else if (name == "KUBE_SIM_DATABASE_CLAIM_SIZE" && !value.empty()) env.claim_size = value;
  }
  if (env.postgres_image.empty() || env.clair_postgres_image.empty())
    return {false,
            "pod " + object_name(*ready) + " of " + where +
                " lacks RELATED_IMAGE_COMPONENT_POSTGRES or RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES in its env",
            {}};
  return {true, "pod " + object_name(*ready) + " is Ready", env};
}

void stand_in::reconcile_all() {
  const auto g = check_gate();
  if (!was_active_ || *was_active_ != g.active || (!g.active && g.reason != last_reason_)) {
    json entry = {{"operator", g.active ? "running" : "stopped"},
                  {"deployment", options_.operator_namespace + "/" + options_.operator_name},
                  {"reason", g.reason}};
    if (g.active)
      entry["images"] = {{"postgres", g.env.postgres_image},
                         {"postgresPrevious", g.env.postgres_previous_image},
                         {"clairpostgres", g.env.clair_postgres_image},
                         {"clairpostgresPrevious", g.env.clair_postgres_previous_image}};
    journal_.append(entry);
    was_active_ = g.active;
    last_reason_ = g.reason;
  }
  if (!g.active) return;
  auto registries = store_.list(*store_.types().find_id(registry_type), "");
  if (!registries) return;
  for (const auto& reg : registries->items) {
    if (terminating(reg)) continue;
    // A hand-made object of an unexpected shape must not end kube-sim: the reconcile of that
    // registry ends here and says why, as a real operator logs a failed reconcile and requeues.
    try {
      journal_.append(reconcile_registry(reg, g.env));
    } catch (const json::exception& e) {
      journal_.append({{"registry", object_namespace(reg) + "/" + object_name(reg)},
                       {"result", "error"},
                       {"changes", json::array()},
                       {"message", std::string("an object is not shaped as expected: ") + e.what()}});
    }
    ++reconciles_;
  }
}

json stand_in::reconcile_registry(const json& registry, const operator_env& env) {
  reconcile_pass p{store_, {object_namespace(registry), object_name(registry), meta_string(registry, "uid")}, env};
  json entry = {{"registry", p.r.ns + "/" + p.r.name}};
  auto finish = [&]() {
    bool migrating = false;
    for (const auto& m : p.migrations) migrating = migrating || m.value("event", "") != "finished";
    entry["result"] = migrating ? "migrating" : p.substantive ? "changed" : p.changes.empty() ? "no change" : "metadata only";
    entry["changes"] = p.changes;
    if (!p.migrations.empty()) entry["migrations"] = p.migrations;
    return entry;
  };

  std::vector<component> components;
  if (managed(registry, "postgres")) components.push_back(component::postgres);
  if (managed(registry, "clairpostgres")) components.push_back(component::clair_postgres);

  if (const auto* c = find_condition(registry, components_created)) {
    const auto reason = c->value("reason", "");
    if (reason == upgrade_in_progress || reason == upgrade_failed) {
      check_migration(p);
      return finish();
    }
  }

  // checkNeedsPostgresUpgradeForComponent: only the last repository segment counts. A database
  // to migrate is scaled to 0 first, and nothing more happens until no pod of it runs.
  std::vector<pending_migration> pending;
  for (const auto c : components) {
    const auto n = names_for(p.r, c);
    auto d = p.get("deployments.apps", n.deployment);
    if (!d || repository_segment(image_of(*d)) == repository_segment(env.expected_image(c))) continue;
    pending.push_back({c, image_of(*d), data_claim(*d)});
    if (replicas_of(*d) != 0 || d->value("/spec/template/spec/terminationGracePeriodSeconds"_json_pointer, 0) != 600) {
      json next = *d;
      next["spec"]["replicas"] = 0;
      next["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 600;
      p.update("deployments.apps", next,
               "scaled Deployment " + n.deployment + " to 0: its image " + repository_segment(image_of(*d)) + " is not " +
                   repository_segment(env.expected_image(c)));
    }
    if (const int running = p.running_pods(*d); running > 0) {
      p.migrations.push_back({{"component", to_string(c)},
                              {"event", "waiting"},
                              {"message", "waiting for " + std::to_string(running) + " pod(s) of " + n.deployment + " to stop"}});
      return finish();
    }
  }
  if (!pending.empty()) p.set_condition("False", upgrade_in_progress, "running postgres update operations");
  for (const auto c : components) {
    auto it = std::find_if(pending.begin(), pending.end(), [&](const pending_migration& m) { return m.c == c; });
    render_component(p, c, it == pending.end() ? nullptr : &*it);
  }
  return finish();
}

json stand_in::status() const {
  const auto g = check_gate();
  return {{"held", options_.hold},
          {"active", g.active},
          {"reason", g.reason},
          {"ticks", ticks_},
          {"reconciles", reconciles_},
          {"seq", journal_.last_seq()},
          {"journal", journal_.file().string()}};
}

}  // namespace kube_sim::quay_operator
