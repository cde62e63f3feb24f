// The upgrade of one QuayRegistry, as one table (DESIGN.md section 3).
//
// Each row: in phase P, when GUARD holds, go to phase Q and do ACTION. For the current phase the
// rows are tried top to bottom and the first whose guard holds fires. A row whose target is its
// own phase is "keep waiting, and make sure the work is under way": its action issues effects,
// and issuing is idempotent (an effect already issued, or already done, is not issued again).
// A row that changes the phase also reports it (status + Event), then the table runs again for
// the new phase, so a chain of satisfied guards completes in one fold.
//
// Guards read the observed cluster (the reflector stores) and the facts the effects reported;
// nothing here reads a clock: `now` is the folded event's timestamp.
#include "reducers/upgrade_table.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "core/image_ref.hpp"

namespace qpu::reducers {

namespace {

constexpr const char* annotation_retry = "quay-pg-upgrader.quay.io/retry";
constexpr const char* annotation_revert = "quay-pg-upgrader.quay.io/revert-to-claim";

// ---- names -------------------------------------------------------------------------------

// "15" for 15, "96" for 9.6: object names may not rely on dots being welcome everywhere.
std::string name_token(pg_major v) { return v.code >= 1000 ? std::to_string(v.code / 100) : std::to_string(v.code); }

std::string job_name(const registry_upgrade& u, job_role role) {
  const std::string base = u.registry.name + "-pg";
  switch (role) {
    case job_role::check: return base + "-check-" + std::to_string(u.attempt);
    case job_role::backup: return base + name_token(*u.from) + "-backup-" + std::to_string(u.attempt);
    case job_role::upgrade_logical:
    case job_role::upgrade_pg_upgrade: return base + name_token(*u.to) + "-upgrade-" + std::to_string(u.attempt);
  }
  return base;
}

std::string effect_id(const registry_upgrade& u, std::string_view step) {
  return to_string(u.registry) + "/a" + std::to_string(u.attempt) + "/" + std::string(step);
}

// A revert's steps run inside the upgrade's attempt, apart from its steps: "revert-N/<step>".
std::string revert_step(const registry_upgrade& u, std::string_view step) {
  return "revert-" + std::to_string(u.revert.run) + "/" + std::string(step);
}

std::string revert_job_name(const registry_upgrade& u) {
  return u.registry.name + "-pg" + name_token(*u.to) + "-revert-backup-" + std::to_string(u.attempt) + "-" +
         std::to_string(u.revert.run);
}

// ---- observations ------------------------------------------------------------------------

const deployment* find_deployment(const upgrade_ctx& c, const std::string& name) {
  auto it = c.s.cluster.deployments.find({c.u.registry.ns, name});
  return it == c.s.cluster.deployments.end() ? nullptr : &it->second;
}

const deployment* database(const upgrade_ctx& c) { return find_deployment(c, database_deployment_name(c.u.registry)); }

// The Quay workloads that use the database and are stopped during the upgrade.
std::vector<const deployment*> app_deployments(const upgrade_ctx& c) {
  std::vector<const deployment*> apps;
  for (const char* suffix : {"-quay-app", "-quay-mirror"})
    if (const auto* d = find_deployment(c, c.u.registry.name + suffix)) apps.push_back(d);
  return apps;
}

const job* find_job(const upgrade_ctx& c, const std::string& name) {
  auto it = c.s.cluster.jobs.find({c.u.registry.ns, name});
  return it == c.s.cluster.jobs.end() ? nullptr : &it->second;
}

const claim* find_claim(const upgrade_ctx& c, const std::string& name) {
  auto it = c.s.cluster.claims.find({c.u.registry.ns, name});
  return it == c.s.cluster.claims.end() ? nullptr : &it->second;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Pods of one of the registry's workloads, terminating ones included (PROJQUAY-8092: an upgrade
// must not start while an old pod is still shutting down).
std::vector<const pod*> pods_of(const upgrade_ctx& c, std::initializer_list<std::string_view> components,
                                std::initializer_list<std::string_view> name_suffixes) {
  std::vector<const pod*> found;
  const auto& pods = c.s.cluster.pods;
  for (auto it = pods.lower_bound({c.u.registry.ns, ""}); it != pods.end() && it->first.ns == c.u.registry.ns; ++it) {
    const pod& p = it->second;
    bool match = false;
    if (!p.component.empty() && (p.registry.empty() || p.registry == c.u.registry.name)) {
      for (auto comp : components) match = match || p.component == comp;
    } else if (p.component.empty() && p.job_name.empty()) {
      for (auto suffix : name_suffixes) match = match || starts_with(p.meta.key.name, c.u.registry.name + std::string(suffix) + "-");
    }
    if (match) found.push_back(&p);
  }
  return found;
}

std::vector<const pod*> app_pods(const upgrade_ctx& c) {
  return pods_of(c, {"quay-app", "quay-mirror"}, {"-quay-app", "-quay-mirror"});
}
std::vector<const pod*> database_pods(const upgrade_ctx& c) { return pods_of(c, {"postgres"}, {"-quay-database"}); }

bool deadline_passed(const upgrade_ctx& c);

// ---- effects -----------------------------------------------------------------------------

bool issued_or_done(const upgrade_ctx& c, const std::string& id) {
  return c.u.in_flight.contains(id) || c.u.done.contains(id);
}

// Issues an effect unless it is under way, done, or waiting out a transient failure.
void issue(upgrade_ctx& c, effect e) {
  const std::string& id = id_of(e);
  if (issued_or_done(c, id)) return;
  // An object already in the cluster was created by this attempt before a restart lost the
  // result: adopt it instead of asking again.
  const auto* cc = std::get_if<create_claim>(&e);
  const auto* cj = std::get_if<create_job>(&e);
  if (const claim* existing = cc ? find_claim(c, cc->key.name) : nullptr) {
    // Adopted only when big enough; a smaller one is left for the phase's too-small row, which
    // fails the phase before any Job is created on it.
    if (std::max(existing->requested_bytes, existing->capacity_bytes) >= cc->size_bytes) c.u.done.insert(id);
    return;
  }
  if (cj && find_job(c, cj->key.name)) {
    c.u.done.insert(id);
    return;
  }
  if (auto it = c.u.retry_at.find(id); it != c.u.retry_at.end()) {
    if (it->second > c.now) return;
    c.u.retry_at.erase(it);
  }
  c.u.in_flight.insert(id);
  c.out.push_back(std::move(e));
}

bool done(const upgrade_ctx& c, std::string_view step) { return c.u.done.contains(effect_id(c.u, step)); }

owner_ref owner(const upgrade_ctx& c) { return owner_ref{c.u.registry, c.registry.meta.uid}; }

database_endpoint endpoint(const upgrade_ctx& c) {
  database_endpoint e;
  e.service = {c.u.registry.ns, database_deployment_name(c.u.registry)};
  if (const auto* db = database(c)) e.credentials = db->credentials;
  return e;
}

void inspect(upgrade_ctx& c, std::string step, bool with_manifest) {
  issue(c, inspect_database{effect_id(c.u, step), c.u.registry, endpoint(c), with_manifest});
}

std::int64_t phase_deadline_s(const config& cfg, phase p) {
  const auto& d = cfg.deadlines;
  switch (p) {
    case phase::detecting: return d.detect_s;
    case phase::preflight: return d.preflight_s;
    case phase::quiescing: return d.quiesce_s;
    case phase::backing_up: return d.backup_s;
    case phase::stopping: return d.stop_s;
    case phase::upgrading: return d.upgrade_s;
    case phase::switching: return d.switch_s;
    case phase::verifying: return d.verify_s;
    case phase::resuming: return d.resume_s;
    case phase::revert_quiescing: return d.quiesce_s;
    case phase::revert_backing_up: return d.backup_s;
    case phase::revert_stopping: return d.stop_s;
    case phase::revert_switching: return d.switch_s;
    case phase::revert_verifying: return d.verify_s;
    case phase::revert_resuming: return d.resume_s;
    case phase::revert_rolling_back: return d.rollback_s;
    case phase::rolling_back: return d.rollback_s;
    default: return 0;
  }
}

// Claim sizes from the measured database size: headroom on top, whole GiB, never below the
// configured minimum (and, for the data claim, never smaller than the old claim).
std::int64_t sized_for(const upgrade_ctx& c, std::int64_t measured, std::int64_t floor_bytes) {
  const std::int64_t wanted = measured + measured / 100 * c.cfg.headroom_percent;
  constexpr std::int64_t gib = 1LL << 30;
  const std::int64_t rounded = (wanted + gib - 1) / gib * gib;
  return std::max({rounded, c.cfg.min_claim_bytes, floor_bytes});
}

std::int64_t sized_claim(const upgrade_ctx& c, std::int64_t floor_bytes) {
  return sized_for(c, c.u.before ? c.u.before->database_bytes : 0, floor_bytes);
}

std::string storage_class(const upgrade_ctx& c) {
  if (!c.cfg.storage_class.empty()) return c.cfg.storage_class;
  const auto* old = find_claim(c, c.u.old_claim);
  return old ? old->storage_class : std::string{};
}

std::int64_t old_claim_bytes(const upgrade_ctx& c) {
  const auto* old = find_claim(c, c.u.old_claim);
  if (!old) return 0;
  return std::max(old->capacity_bytes, old->requested_bytes);
}

job_role upgrade_role(const registry_upgrade& u) {
  return u.method == upgrade_method::pg_upgrade ? job_role::upgrade_pg_upgrade : job_role::upgrade_logical;
}

void create_job_for(upgrade_ctx& c, job_role role, std::int64_t deadline_s) {
  create_job j;
  j.id = effect_id(c.u, std::string("create-job/") + to_string(role));
  j.key = {c.u.registry.ns, job_name(c.u, role)};
  j.registry = owner(c);
  j.role = role;
  j.image = (role == job_role::upgrade_pg_upgrade || role == job_role::check) ? c.cfg.upgrade_image : c.cfg.target_image;
  j.from = *c.u.from;
  j.to = *c.u.to;
  j.old_claim = c.u.old_claim;
  j.backup_claim = backup_claim_name(c.u);
  j.new_claim = data_claim_name(c.u);
  j.db = endpoint(c);
  j.deadline_s = deadline_s;
  issue(c, std::move(j));
}

// Why a Job failed, in the words of its condition and of its pod's termination message.
std::string job_failure(const upgrade_ctx& c, const job& j, std::string_view what) {
  std::string text = std::string(what) + " Job " + to_string(j.meta.key) + " failed";
  if (!j.reason.empty()) text += ": " + j.reason;
  if (!j.message.empty()) text += " (" + j.message + ")";
  const auto& pods = c.s.cluster.pods;
  std::string last;
  for (auto it = pods.lower_bound({j.meta.key.ns, ""}); it != pods.end() && it->first.ns == j.meta.key.ns; ++it)
    if (it->second.job_name == j.meta.key.name && !it->second.termination_message.empty()) last = it->second.termination_message;
  if (!last.empty()) text += "; the pod reported: " + last;
  return text;
}

// ---- guards --------------------------------------------------------------------------------

using guard_fn = bool (*)(const upgrade_ctx&);
using action_fn = void (*)(upgrade_ctx&);

std::optional<pg_major> confirmed(const upgrade_ctx& c) {
  if (!c.u.before || c.u.before->server_version_num <= 0) return std::nullopt;
  return pg_major::from_server_version_num(c.u.before->server_version_num);
}

std::string inspect_version_step(const upgrade_ctx& c) {
  const auto* db = database(c);
  return "inspect-version/g" + std::to_string(db ? db->meta.generation : 0);
}

bool db_missing(const upgrade_ctx& c) { return database(c) == nullptr; }
bool db_not_ready(const upgrade_ctx& c) { return database(c)->ready_replicas < 1; }
bool image_changed(const upgrade_ctx& c) {
  const auto* db = database(c);
  return db && (db->image != c.u.detected_image || db->pgdata != c.u.detected_pgdata);
}

// A failed Job is acted on once its pods have said why: the Job's Failed condition and its
// pod's termination message arrive on two watch streams in either order, and the reason is what
// a person needs. A pod that is gone or has ended without a message counts as having said all.
bool pods_reported(const upgrade_ctx& c, const job& j) {
  const auto& pods = c.s.cluster.pods;
  for (auto it = pods.lower_bound({j.meta.key.ns, ""}); it != pods.end() && it->first.ns == j.meta.key.ns; ++it) {
    const pod& p = it->second;
    if (p.job_name != j.meta.key.name) continue;
    if (p.termination_message.empty() && p.phase != "Failed" && p.phase != "Succeeded") return false;
  }
  return true;
}

bool job_failed_and_reported(const upgrade_ctx& c, job_role role) {
  const auto* j = find_job(c, job_name(c.u, role));
  return j && j->has_failed && pods_reported(c, *j);
}

bool backup_job_failed(const upgrade_ctx& c) { return job_failed_and_reported(c, job_role::backup); }
bool backup_job_complete(const upgrade_ctx& c) {
  const auto* j = find_job(c, job_name(c.u, job_role::backup));
  return j && j->complete && c.u.before && c.u.before->has_manifest;
}
bool upgrade_job_failed(const upgrade_ctx& c) { return job_failed_and_reported(c, upgrade_role(c.u)); }
bool upgrade_job_complete(const upgrade_ctx& c) {
  const auto* j = find_job(c, job_name(c.u, upgrade_role(c.u)));
  return j && j->complete;
}
bool check_wanted(const upgrade_ctx& c) { return c.cfg.preflight_check && c.u.method == upgrade_method::pg_upgrade; }
bool check_job_failed(const upgrade_ctx& c) { return check_wanted(c) && job_failed_and_reported(c, job_role::check); }
bool check_pending(const upgrade_ctx& c) {
  const auto* j = find_job(c, job_name(c.u, job_role::check));
  return check_wanted(c) && !(j && j->complete);
}

bool apps_stopped(const upgrade_ctx& c) {
  for (const auto* d : app_deployments(c))
    if (d->replicas != 0 || d->status_replicas != 0) return false;
  return app_pods(c).empty();
}

bool database_stopped(const upgrade_ctx& c) {
  const auto* db = database(c);
  return db && db->replicas == 0 && db->status_replicas == 0 && database_pods(c).empty();
}

// The database Deployment runs `image` on `claim`, rolled out and ready.
bool serving_with(const upgrade_ctx& c, const std::string& image, const std::string& claim_name, std::int32_t replicas) {
  const auto* db = database(c);
  if (!db || db->image != image || db->data_claim != claim_name) return false;
  const std::int32_t want = std::max(1, replicas);
  return db->observed_generation >= db->meta.generation && db->ready_replicas >= want && db->updated_replicas >= want;
}

bool database_serving(const upgrade_ctx& c, const std::string& image, const std::string& claim_name) {
  return serving_with(c, image, claim_name, c.u.db_replicas.value_or(1));
}

bool switched_and_ready(const upgrade_ctx& c) { return database_serving(c, c.cfg.target_image, data_claim_name(c.u)); }

bool verified(const upgrade_ctx& c) { return c.u.after.has_value(); }

// Differences between the manifest taken before the backup and a database inspected later that
// must hold the same rows on PostgreSQL `expected`.
std::vector<std::string> differences(const database_facts& before, const database_facts& after, pg_major expected) {
  std::vector<std::string> out;
  const pg_major got = pg_major::from_server_version_num(after.server_version_num);
  if (got != expected) out.push_back("server reports PostgreSQL " + to_string(got) + ", expected " + to_string(expected));
  if (before.has_pg_trgm && !after.has_pg_trgm) out.push_back("extension pg_trgm is missing");
  std::map<std::string, const table_digest*> now;
  for (const auto& t : after.tables) now[t.table] = &t;
  for (const auto& t : before.tables) {
    auto it = now.find(t.table);
    if (it == now.end()) {
      out.push_back("table " + t.table + " is missing");
    } else if (it->second->rows != t.rows) {
      out.push_back("table " + t.table + " has " + std::to_string(it->second->rows) + " rows, expected " + std::to_string(t.rows));
    } else if (it->second->checksum != t.checksum) {
      out.push_back("table " + t.table + " content differs (checksum " + it->second->checksum + ", expected " + t.checksum + ")");
    }
  }
  return out;
}

// The upgraded database against the manifest taken before the backup.
std::vector<std::string> mismatches(const upgrade_ctx& c) { return differences(*c.u.before, *c.u.after, *c.u.to); }

bool verification_mismatch(const upgrade_ctx& c) { return verified(c) && !mismatches(c).empty(); }
bool verification_matches(const upgrade_ctx& c) { return verified(c) && mismatches(c).empty(); }

bool apps_resumed(const upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.app_replicas)
    if (!done(c, "scale-up/" + name)) return false;
  return true;
}

bool rollback_complete(const upgrade_ctx& c) {
  const bool db_touched = c.u.switched || c.u.db_replicas.has_value();
  if (db_touched && !database_serving(c, c.u.old_image, c.u.old_claim)) return false;
  for (const auto& [name, n] : c.u.app_replicas)
    if (!done(c, "restore/" + name)) return false;
  return true;
}

bool retry_requested(const upgrade_ctx& c) {
  return !c.registry.retry_token.empty() && c.registry.retry_token != c.u.retry_token;
}

bool always(const upgrade_ctx&) { return true; }

// ---- actions -------------------------------------------------------------------------------

void nothing(upgrade_ctx&) {}

void inspect_version(upgrade_ctx& c) { inspect(c, inspect_version_step(c), false); }

// Detection decided to upgrade: fix the plan for this attempt.
void plan_upgrade(upgrade_ctx& c) {
  const auto* db = database(c);
  c.u.from = confirmed(c);
  c.u.to = effective_target(c.cfg);
  c.u.old_image = db->image;
  c.u.old_claim = db->data_claim;
  c.u.started = c.now;
  c.u.finished.reset();
  c.u.last_error.clear();
  const bool image_can =
      !c.cfg.upgrade_image.empty() &&
      std::find(c.cfg.upgrade_image_from.begin(), c.cfg.upgrade_image_from.end(), *c.u.from) != c.cfg.upgrade_image_from.end();
  c.u.method = image_can && c.registry.method_override != "logical" ? upgrade_method::pg_upgrade : upgrade_method::logical;
}

void start_check_job(upgrade_ctx& c) { create_job_for(c, job_role::check, c.cfg.deadlines.preflight_s); }

void scale_apps_down(upgrade_ctx& c) {
  for (const auto* d : app_deployments(c)) {
    const std::string& name = d->meta.key.name;
    if (!c.u.app_replicas.contains(name)) c.u.app_replicas[name] = d->recorded_replicas.value_or(d->replicas);
    issue(c, scale_deployment{effect_id(c.u, "scale-down/" + name), d->meta.key, 0, c.u.app_replicas[name], false});
  }
}

// A claim of the name this attempt creates that exists already and is smaller than wanted: a
// leftover of an earlier or a manual attempt. Adopting it would fail half-way for lack of space, so
// the phase fails before its Job, naming the claim (the controller never deletes or shrinks one).
const claim* undersized(const upgrade_ctx& c, const std::string& name, std::int64_t wanted) {
  const auto* cl = find_claim(c, name);
  return cl && std::max(cl->requested_bytes, cl->capacity_bytes) < wanted ? cl : nullptr;
}
std::int64_t backup_claim_bytes(const upgrade_ctx& c) { return sized_claim(c, 0); }
std::int64_t data_claim_bytes(const upgrade_ctx& c) { return sized_claim(c, old_claim_bytes(c)); }
// Only a claim this attempt did not create or adopt: the size wanted follows the latest
// measurement, and a database that grew past a rounding step while the claim was made must not
// fail the backup on its own claim.
bool backup_claim_too_small(const upgrade_ctx& c) {
  return c.u.before && !done(c, "create-claim/backup") && !find_job(c, job_name(c.u, job_role::backup)) &&
         undersized(c, backup_claim_name(c.u), backup_claim_bytes(c));
}
bool data_claim_too_small(const upgrade_ctx& c) {
  return !find_job(c, job_name(c.u, upgrade_role(c.u))) && undersized(c, data_claim_name(c.u), data_claim_bytes(c));
}
void fail_claim_too_small(upgrade_ctx& c, const std::string& name, std::int64_t wanted) {
  const auto* cl = find_claim(c, name);
  fail(c, claim_too_small_message(cl->meta.key, std::max(cl->requested_bytes, cl->capacity_bytes), wanted));
}
void fail_backup_claim(upgrade_ctx& c) { fail_claim_too_small(c, backup_claim_name(c.u), backup_claim_bytes(c)); }
void fail_data_claim(upgrade_ctx& c) { fail_claim_too_small(c, data_claim_name(c.u), data_claim_bytes(c)); }

// The manifest of the quiet database (row counts and checksums: a full read of every table) is
// taken beside the backup Job, not before it: both read the same quiesced data, and at scale the
// manifest alone takes about as long as the dump. The claim is sized from the size detection
// measured; the phase ends when both the Job and the manifest are done.
void take_backup(upgrade_ctx& c) {
  if (!c.u.before) return inspect(c, "inspect-manifest", true);
  if (!c.u.before->has_manifest) inspect(c, "inspect-manifest", true);
  issue(c, create_claim{effect_id(c.u, "create-claim/backup"), {c.u.registry.ns, backup_claim_name(c.u)}, owner(c),
                        claim_role::backup, backup_claim_bytes(c), storage_class(c)});
  if (!done(c, "create-claim/backup")) return;
  create_job_for(c, job_role::backup, c.cfg.deadlines.backup_s);
}

void stop_database(upgrade_ctx& c) {
  const auto* db = database(c);
  if (!db) return;
  if (!c.u.db_replicas) c.u.db_replicas = db->recorded_replicas.value_or(db->replicas);
  issue(c, scale_deployment{effect_id(c.u, "scale-down/database"), db->meta.key, 0, c.u.db_replicas, false});
}

void run_upgrade(upgrade_ctx& c) {
  issue(c, create_claim{effect_id(c.u, "create-claim/data"), {c.u.registry.ns, data_claim_name(c.u)}, owner(c),
                        claim_role::data, data_claim_bytes(c), storage_class(c)});
  if (!done(c, "create-claim/data")) return;
  create_job_for(c, upgrade_role(c.u), c.cfg.deadlines.upgrade_s);
}

void switch_database(upgrade_ctx& c) {
  const auto* db = database(c);
  if (!db) return;
  c.u.switched = true;
  issue(c, patch_database_deployment{effect_id(c.u, "switch"), db->meta.key, c.cfg.target_image, data_claim_name(c.u),
                                     std::max(1, c.u.db_replicas.value_or(1))});
}

void verify(upgrade_ctx& c) { inspect(c, "inspect-verify", true); }

void resume_apps(upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.app_replicas)
    issue(c, scale_deployment{effect_id(c.u, "scale-up/" + name), {c.u.registry.ns, name}, n, std::nullopt, true});
}

void fail_on_deadline(upgrade_ctx& c) {
  fail(c, std::string("phase ") + to_string(c.u.current) + " did not finish within " +
              std::to_string(phase_deadline_s(c.cfg, c.u.current)) + " s; at the deadline: " + waiting_for(c));
}
// A Job that waited on a claim that never bound failed for that reason: say so.
std::string unbound_claim_note(const upgrade_ctx& c, const std::string& claim_name) {
  const auto* cl = find_claim(c, claim_name);
  if (!cl || cl->phase == "Bound") return "";
  return "; claim " + claim_name + " is " + (cl->phase.empty() ? std::string("not bound") : cl->phase) +
         (cl->storage_class.empty() ? std::string() : " (storage class " + cl->storage_class + ")");
}

void fail_backup_job(upgrade_ctx& c) {
  fail(c, job_failure(c, *find_job(c, job_name(c.u, job_role::backup)), "backup") + unbound_claim_note(c, backup_claim_name(c.u)));
}
void fail_upgrade_job(upgrade_ctx& c) {
  fail(c, job_failure(c, *find_job(c, job_name(c.u, upgrade_role(c.u))), "upgrade") + unbound_claim_note(c, data_claim_name(c.u)));
}
void fail_check_job(upgrade_ctx& c) {
  fail(c, job_failure(c, *find_job(c, job_name(c.u, job_role::check)), "pg_upgrade --check"));
}
void fail_verification(upgrade_ctx& c) {
  std::string text = "verification found differences:";
  const auto diffs = mismatches(c);
  for (std::size_t i = 0; i < diffs.size() && i < 5; ++i) text += (i ? "; " : " ") + diffs[i];
  if (diffs.size() > 5) text += "; and " + std::to_string(diffs.size() - 5) + " more";
  fail(c, text);
}
void fail_no_claim(upgrade_ctx& c) {
  fail(c, "the database claim " + c.u.registry.ns + "/" + c.u.old_claim + " was not found; nothing was changed");
}

// Undo, in order: stop Jobs still running, put the database back on its old claim and image,
// then bring the app back once the old database serves again. Every claim is kept.
void roll_back(upgrade_ctx& c) {
  for (job_role role : {job_role::backup, upgrade_role(c.u)}) {
    const auto* j = c.u.from && c.u.to ? find_job(c, job_name(c.u, role)) : nullptr;
    if (j && !j->complete && !j->has_failed) issue(c, delete_job{effect_id(c.u, std::string("delete-job/") + to_string(role)), j->meta.key});
  }
  const bool db_touched = c.u.switched || c.u.db_replicas.has_value();
  if (db_touched) {
    const auto* db = database(c);
    if (db) {
      issue(c, patch_database_deployment{effect_id(c.u, "restore/database"), db->meta.key, c.u.old_image, c.u.old_claim,
                                         std::max(1, c.u.db_replicas.value_or(1))});
    }
    if (!database_serving(c, c.u.old_image, c.u.old_claim)) return;
  }
  for (const auto& [name, n] : c.u.app_replicas)
    issue(c, scale_deployment{effect_id(c.u, "restore/" + name), {c.u.registry.ns, name}, n, std::nullopt, true});
}

void finish(upgrade_ctx& c) { c.u.finished = c.now; }

// The rollback ran out of time: the app still comes back at its recorded replicas (the state
// before the upgrade began), and the message says plainly what did not come back.
void give_up_rollback(upgrade_ctx& c) {
  const std::string what = waiting_for(c);
  for (const auto& [name, n] : c.u.app_replicas)
    issue(c, scale_deployment{effect_id(c.u, "restore/" + name), {c.u.registry.ns, name}, n, std::nullopt, true});
  c.u.rollback_incomplete = "the rollback did not complete within " + std::to_string(phase_deadline_s(c.cfg, phase::rolling_back)) +
                            " s (" + what + "): check the database Deployment " + database_deployment_name(c.u.registry) +
                            " by hand; the app was scaled back to its recorded replicas";
  c.u.finished = c.now;
}

// Success: the database now runs the target image, which is what detection compares against.
void finish_success(upgrade_ctx& c) {
  c.u.finished = c.now;
  c.u.detected_image = c.cfg.target_image;
  if (const auto* db = database(c)) c.u.detected_pgdata = db->pgdata;
}

void start_retry(upgrade_ctx& c) {
  registry_upgrade fresh;
  fresh.registry = c.u.registry;
  fresh.attempt = c.u.attempt + 1;
  fresh.retry_token = c.registry.retry_token;
  fresh.revert.token = c.registry.revert_to_claim;  // present when the attempt began: not a request for it
  fresh.phase_since = c.now;
  c.u = std::move(fresh);
}

// Something changed under an idle registry: detect afresh. After a finished upgrade that is a new
// attempt, so no name or effect id of the last one is reused.
void redetect(upgrade_ctx& c) {
  if (c.u.started) return start_retry(c);
  c.u.before.reset();
  c.u.after.reset();
}

void note_unmanaged(upgrade_ctx& c) { c.u.last_error.clear(); }
void note_no_target(upgrade_ctx& c) {
  if (const auto* db = database(c)) {
    c.u.detected_image = db->image;
    c.u.detected_pgdata = db->pgdata;
  }
  c.u.last_error = "the target image \"" + c.cfg.target_image +
                   "\" names no PostgreSQL version: set --target-version (or an image whose name carries it)";
}
void note_detected(upgrade_ctx& c) {
  c.u.last_error.clear();
  if (const auto* db = database(c)) {
    c.u.detected_image = db->image;
    c.u.detected_pgdata = db->pgdata;
  }
}
void note_refused(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error = "the database runs PostgreSQL " + to_string(*confirmed(c)) + ", newer than the target " +
                   to_string(*effective_target(c.cfg)) + "; downgrades are refused and nothing was changed";
}
void note_too_old(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error = "the database runs PostgreSQL " + to_string(*confirmed(c)) + ", older than " +
                   to_string(oldest_supported_source) + ", which pg_dump and pg_upgrade no longer read";
}
void note_layout(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error = "the target image \"" + c.cfg.target_image + "\" looks for its data in " +
                   data_directory_of(c.cfg.target_image, database(c)->pgdata) +
                   ", but the upgrade writes the new cluster where the Quay operator's (sclorg) images keep it, " +
                   std::string(sclorg_pgdata) +
                   " on the claim mounted at /var/lib/pgsql/data: after the switch the server would start on an empty "
                   "directory. Use a target image of the sclorg family (such as quay.io/sclorg/postgresql-15-c9s) or set "
                   "PGDATA=" + std::string(sclorg_pgdata) + " on the database container; nothing was changed";
}
void note_no_claim(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error = "the database Deployment mounts no PersistentVolumeClaim at /var/lib/pgsql/data; nothing to upgrade";
}

bool no_target(const upgrade_ctx& c) { return !effective_target(c.cfg).has_value(); }
bool unmanaged(const upgrade_ctx& c) { return !c.registry.postgres_managed; }
bool managed(const upgrade_ctx& c) { return c.registry.postgres_managed; }
bool same_version(const upgrade_ctx& c) { return confirmed(c) && *confirmed(c) == *effective_target(c.cfg); }
bool newer_version(const upgrade_ctx& c) { return confirmed(c) && *confirmed(c) > *effective_target(c.cfg); }
bool too_old(const upgrade_ctx& c) { return confirmed(c) && *confirmed(c) < oldest_supported_source; }
bool no_data_claim(const upgrade_ctx& c) { return confirmed(c) && database(c)->data_claim.empty(); }
// The upgraded cluster is written in the sclorg layout; a target image that looks elsewhere (the
// Docker library's postgres without PGDATA pointing there) would start on an empty directory.
bool target_layout_differs(const upgrade_ctx& c) {
  return confirmed(c) && data_directory_of(c.cfg.target_image, database(c)->pgdata) != sclorg_pgdata;
}
bool older_version(const upgrade_ctx& c) { return confirmed(c).has_value(); }
bool old_claim_missing(const upgrade_ctx& c) { return find_claim(c, c.u.old_claim) == nullptr; }
bool deadline_passed(const upgrade_ctx& c) {
  const std::int64_t limit = phase_deadline_s(c.cfg, c.u.current);
  return limit > 0 && c.now >= c.u.phase_since + limit * 1000;
}
bool image_changed_or_unmanaged(const upgrade_ctx& c) { return image_changed(c) || unmanaged(c); }

// ---- the manual revert ---------------------------------------------------------------------
//
// After a successful upgrade, annotation quay-pg-upgrader.quay.io/revert-to-claim naming the old
// claim puts the database back on it, with the old image: quiesce, back up the UPGRADED data into
// a claim of its own (never owner-referenced, so it outlives the registry), stop, switch back,
// verify against the manifest taken before the upgrade (the old claim has not been written since
// its server stopped), resume. Writes made after the upgrade are not carried back; they stay in
// that backup and in the upgraded claim. A failure goes back to the upgraded claim and image.

void announce(upgrade_ctx& c);

bool revert_annotation_new(const upgrade_ctx& c) {
  return !c.registry.revert_to_claim.empty() && c.registry.revert_to_claim != c.u.revert.token;
}
bool revert_annotation_removed(const upgrade_ctx& c) { return c.registry.revert_to_claim.empty() && !c.u.revert.token.empty(); }

// Why a revert request cannot be honoured, or "" when it can. The value must name the claim the
// database ran on before the upgrade (so that it cannot be set by accident), that claim must still
// exist, and the database must still be where the upgrade left it.
std::string revert_refusal(const upgrade_ctx& c) {
  const auto& u = c.u;
  const std::string& asked = c.registry.revert_to_claim;
  if (!u.started || u.old_claim.empty() || !u.from || !u.to || !u.before || !u.before->has_manifest)
    return "no upgrade of this registry finished under this controller, so there is no previous claim to go back to";
  if (asked != u.old_claim)
    return "annotation " + std::string(annotation_revert) + " names claim \"" + asked +
           "\", but the claim this database ran on before the upgrade is " + u.old_claim +
           " (to revert, set the annotation to exactly that name)";
  const auto* old = find_claim(c, u.old_claim);
  if (!old) return "the previous claim " + u.old_claim + " no longer exists, so there is nothing to go back to";
  if (old->meta.deleting) return "the previous claim " + u.old_claim + " is being deleted";
  const auto* db = database(c);
  if (!db) return "the database Deployment " + database_deployment_name(u.registry) + " does not exist";
  if (db->data_claim != data_claim_name(u))
    return "the database Deployment mounts claim " + db->data_claim + ", not the upgraded claim " + data_claim_name(u) +
           " the upgrade switched it to; only that switch is reverted";
  if (db->ready_replicas < 1) return "the upgraded database is not ready, so its data cannot be backed up before the revert";
  return "";
}
bool revert_refused_now(const upgrade_ctx& c) { return revert_annotation_new(c) && !revert_refusal(c).empty(); }

std::string revert_id(const upgrade_ctx& c, std::string_view step) { return effect_id(c.u, revert_step(c.u, step)); }
bool revert_done(const upgrade_ctx& c, std::string_view step) { return c.u.done.contains(revert_id(c, step)); }

const job* revert_job(const upgrade_ctx& c) { return c.u.to && c.u.revert.run > 0 ? find_job(c, revert_job_name(c.u)) : nullptr; }
bool revert_backup_failed(const upgrade_ctx& c) {
  const auto* j = revert_job(c);
  return j && j->has_failed && pods_reported(c, *j);
}
bool revert_backup_complete(const upgrade_ctx& c) {
  const auto* j = revert_job(c);
  return j && j->complete;
}
bool reverted_and_ready(const upgrade_ctx& c) {
  return serving_with(c, c.u.old_image, c.u.old_claim, c.u.revert.db_replicas.value_or(1));
}
std::vector<std::string> revert_mismatches(const upgrade_ctx& c) { return differences(*c.u.before, *c.u.revert.verified, *c.u.from); }
bool revert_verification_mismatch(const upgrade_ctx& c) { return c.u.revert.verified && !revert_mismatches(c).empty(); }
bool revert_verification_matches(const upgrade_ctx& c) { return c.u.revert.verified && revert_mismatches(c).empty(); }
bool revert_apps_resumed(const upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.revert.app_replicas)
    if (!revert_done(c, "scale-up/" + name)) return false;
  return true;
}
bool back_on_upgraded_claim(const upgrade_ctx& c) {
  const auto& r = c.u.revert;
  return serving_with(c, r.new_image, data_claim_name(c.u), r.db_replicas.value_or(1));
}
bool revert_rollback_complete(const upgrade_ctx& c) {
  const auto& r = c.u.revert;
  if ((r.switched || r.db_replicas) && !back_on_upgraded_claim(c)) return false;
  for (const auto& [name, n] : r.app_replicas)
    if (!revert_done(c, "restore/" + name)) return false;
  return true;
}

void note_revert_refused(upgrade_ctx& c) {
  c.u.revert.refused = revert_refusal(c);
  c.u.revert.token = c.registry.revert_to_claim;
}
// Another wrong value while refused: the phase stays, so the new reason is announced here.
void note_revert_refused_again(upgrade_ctx& c) {
  note_revert_refused(c);
  announce(c);
}
void forget_revert_request(upgrade_ctx& c) {
  c.u.revert.token.clear();
  c.u.revert.refused.clear();
}

void revert_scale_apps_down(upgrade_ctx& c) {
  for (const auto* d : app_deployments(c)) {
    const std::string& name = d->meta.key.name;
    auto& recorded = c.u.revert.app_replicas;
    if (!recorded.contains(name)) recorded[name] = d->recorded_replicas.value_or(d->replicas);
    issue(c, scale_deployment{revert_id(c, "scale-down/" + name), d->meta.key, 0, recorded[name], false});
  }
}

void begin_revert(upgrade_ctx& c) {
  const auto* db = database(c);
  revert_record next;
  next.run = c.u.revert.run + 1;
  next.token = c.registry.revert_to_claim;
  next.new_image = db ? db->image : c.cfg.target_image;
  next.started = c.now;
  c.u.revert = std::move(next);
  revert_scale_apps_down(c);
}

// The upgraded data, with the image that serves it, into a claim of its own: the only copy of
// what was written after the upgrade once the database is back on the old claim.
void take_revert_backup(upgrade_ctx& c) {
  auto& r = c.u.revert;
  if (!r.measured) return inspect(c, revert_step(c.u, "inspect-size"), false);
  issue(c, create_claim{revert_id(c, "create-claim/backup"), {c.u.registry.ns, revert_backup_claim_name(c.u)}, owner(c),
                        claim_role::backup, sized_for(c, r.measured->database_bytes, 0), storage_class(c)});
  if (!revert_done(c, "create-claim/backup")) return;
  create_job j;
  j.id = revert_id(c, "create-job/backup");
  j.key = {c.u.registry.ns, revert_job_name(c.u)};
  j.registry = owner(c);
  j.role = job_role::backup;
  j.image = r.new_image;
  j.from = *c.u.to;  // the data being backed up is the upgraded one
  j.to = *c.u.to;
  j.old_claim = data_claim_name(c.u);
  j.backup_claim = revert_backup_claim_name(c.u);
  j.new_claim = c.u.old_claim;
  j.db = endpoint(c);
  j.deadline_s = c.cfg.deadlines.backup_s;
  issue(c, std::move(j));
}

void revert_stop_database(upgrade_ctx& c) {
  const auto* db = database(c);
  if (!db) return;
  auto& r = c.u.revert;
  if (!r.db_replicas) r.db_replicas = db->recorded_replicas.value_or(db->replicas);
  issue(c, scale_deployment{revert_id(c, "scale-down/database"), db->meta.key, 0, r.db_replicas, false});
}

void revert_switch(upgrade_ctx& c) {
  const auto* db = database(c);
  if (!db) return;
  c.u.revert.switched = true;
  issue(c, patch_database_deployment{revert_id(c, "switch"), db->meta.key, c.u.old_image, c.u.old_claim,
                                     std::max(1, c.u.revert.db_replicas.value_or(1))});
}

void revert_verify(upgrade_ctx& c) { inspect(c, revert_step(c.u, "inspect-verify"), true); }

void revert_resume_apps(upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.revert.app_replicas)
    issue(c, scale_deployment{revert_id(c, "scale-up/" + name), {c.u.registry.ns, name}, n, std::nullopt, true});
}

// Reverted: the database runs the old image again, which is what detection compares against.
void finish_revert(upgrade_ctx& c) {
  c.u.revert.finished = c.now;
  c.u.detected_image = c.u.old_image;  // the patch back changed image and claim only, never the env
}

void fail_revert_backup(upgrade_ctx& c) {
  fail(c, job_failure(c, *revert_job(c), "backup of the upgraded data") + unbound_claim_note(c, revert_backup_claim_name(c.u)));
}
// The old server never became ready on its claim: its pod's log holds the reason, which no
// watched field carries (a crash-looping container is waiting, its exit in lastState).
void fail_revert_switch_deadline(upgrade_ctx& c) {
  fail(c, std::string("phase ") + to_string(c.u.current) + " did not finish within " +
              std::to_string(phase_deadline_s(c.cfg, c.u.current)) + " s; at the deadline: " + waiting_for(c) +
              "; the log of the database pod says why PostgreSQL " + to_string(*c.u.from) +
              " did not become ready on the old claim (a changed or damaged data directory, for example)");
}
void fail_revert_verification(upgrade_ctx& c) {
  std::string text = "the old database differs from the manifest taken before the upgrade:";
  const auto diffs = revert_mismatches(c);
  for (std::size_t i = 0; i < diffs.size() && i < 5; ++i) text += (i ? "; " : " ") + diffs[i];
  if (diffs.size() > 5) text += "; and " + std::to_string(diffs.size() - 5) + " more";
  fail(c, text);
}

// Undo the revert: stop its backup Job, put the database back on the upgraded claim and image,
// then bring the app back once that serves again. Every claim is kept.
void revert_roll_back(upgrade_ctx& c) {
  const auto& r = c.u.revert;
  if (const auto* j = revert_job(c); j && !j->complete && !j->has_failed)
    issue(c, delete_job{revert_id(c, "delete-job/backup"), j->meta.key});
  if (r.switched || r.db_replicas) {
    if (const auto* db = database(c))
      issue(c, patch_database_deployment{revert_id(c, "restore/database"), db->meta.key, r.new_image, data_claim_name(c.u),
                                         std::max(1, r.db_replicas.value_or(1))});
    if (!back_on_upgraded_claim(c)) return;
  }
  for (const auto& [name, n] : r.app_replicas)
    issue(c, scale_deployment{revert_id(c, "restore/" + name), {c.u.registry.ns, name}, n, std::nullopt, true});
}

void finish_revert_failure(upgrade_ctx& c) { c.u.revert.finished = c.now; }

void give_up_revert_rollback(upgrade_ctx& c) {
  const std::string what = waiting_for(c);
  for (const auto& [name, n] : c.u.revert.app_replicas)
    issue(c, scale_deployment{revert_id(c, "restore/" + name), {c.u.registry.ns, name}, n, std::nullopt, true});
  c.u.revert.restore_incomplete = "the return to the upgraded claim did not complete within " +
                                  std::to_string(phase_deadline_s(c.cfg, phase::revert_rolling_back)) + " s (" + what +
                                  "): check the database Deployment " + database_deployment_name(c.u.registry) +
                                  " by hand; the app was scaled back to its recorded replicas";
  c.u.revert.finished = c.now;
}

// ---- the table -----------------------------------------------------------------------------

struct rule {
  phase from;
  const char* when;  // plain words, shown by `plan`
  guard_fn guard;
  phase to;
  action_fn action;
};

// clang-format off
constexpr rule table[] = {
  // detect: the image is a hint, the running server is the truth
  {phase::detecting,   "the registry does not manage its database",          unmanaged,              phase::unmanaged,   note_unmanaged},
  {phase::detecting,   "no target version is configured",                    no_target,              phase::unsupported, note_no_target},
  {phase::detecting,   "the database Deployment does not exist yet",         db_missing,             phase::detecting,   nothing},
  {phase::detecting,   "the server runs the target version",                 same_version,           phase::up_to_date,  note_detected},
  {phase::detecting,   "the server runs a newer version than the target",    newer_version,          phase::refused,     note_refused},
  {phase::detecting,   "the server is older than any tool reads",            too_old,                phase::unsupported, note_too_old},
  {phase::detecting,   "the database has no data claim",                     no_data_claim,          phase::unsupported, note_no_claim},
  {phase::detecting,   "the target image keeps its data elsewhere",          target_layout_differs,  phase::unsupported, note_layout},
  {phase::detecting,   "the server runs an older version",                   older_version,          phase::preflight,   plan_upgrade},
  {phase::detecting,   "the database is not ready to confirm its version",   db_not_ready,           phase::detecting,   nothing},
  {phase::detecting,   "the server's version is being confirmed",            always,                 phase::detecting,   inspect_version},
  // idle: look again when the database image or the registry changes
  {phase::up_to_date,  "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::refused,     "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::unsupported, "the database image or its PGDATA changed",           image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::succeeded,   "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  // succeeded: a person may ask for the old database back (annotation quay-pg-upgrader.quay.io/revert-to-claim)
  {phase::succeeded,   "the revert annotation does not name the retained previous claim", revert_refused_now, phase::revert_refused, note_revert_refused},
  {phase::succeeded,   "the revert annotation names the retained previous claim", revert_annotation_new, phase::revert_quiescing, begin_revert},
  {phase::succeeded,   "the revert annotation was removed",                  revert_annotation_removed, phase::succeeded, forget_revert_request},
  {phase::unmanaged,   "the registry manages its database again",            managed,                phase::detecting,   redetect},
  // preflight: sizes are known from detection; optionally `pg_upgrade --check`
  {phase::preflight,   "the phase deadline passed",                          deadline_passed,        phase::failed,      fail_on_deadline},
  {phase::preflight,   "the old data claim does not exist",                  old_claim_missing,      phase::failed,      fail_no_claim},
  {phase::preflight,   "the pg_upgrade --check Job failed",                  check_job_failed,       phase::failed,      fail_check_job},
  {phase::preflight,   "the pg_upgrade --check Job is running",              check_pending,          phase::preflight,   start_check_job},
  {phase::preflight,   "the checks passed",                                  always,                 phase::quiescing,   scale_apps_down},
  // quiesce: the app stops writing before anything is copied
  {phase::quiescing,   "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::quiescing,   "no app pod remains",                                 apps_stopped,           phase::backing_up,  take_backup},
  {phase::quiescing,   "the app is being scaled to 0",                       always,                 phase::quiescing,   scale_apps_down},
  // backup: the target image's pg_dump into its own claim, beside the manifest of the quiet database
  {phase::backing_up,  "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::backing_up,  "the backup Job failed",                              backup_job_failed,      phase::rolling_back, fail_backup_job},
  {phase::backing_up,  "the backup Job completed and the manifest is taken", backup_job_complete,    phase::stopping,    stop_database},
  {phase::backing_up,  "a claim of the backup's name is too small",          backup_claim_too_small, phase::rolling_back, fail_backup_claim},
  {phase::backing_up,  "the backup is being taken",                          always,                 phase::backing_up,  take_backup},
  // stop: the old server must be gone before its data is read for the upgrade
  {phase::stopping,    "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::stopping,    "no database pod remains",                            database_stopped,       phase::upgrading,   run_upgrade},
  {phase::stopping,    "the database is being scaled to 0",                  always,                 phase::stopping,    stop_database},
  // upgrade: a NEW claim is filled; the old claim is never written
  {phase::upgrading,   "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::upgrading,   "the upgrade Job failed",                             upgrade_job_failed,     phase::rolling_back, fail_upgrade_job},
  {phase::upgrading,   "the upgrade Job completed",                          upgrade_job_complete,   phase::switching,   switch_database},
  {phase::upgrading,   "a claim of the new data's name is too small",        data_claim_too_small,   phase::rolling_back, fail_data_claim},
  {phase::upgrading,   "the new claim is being filled",                      always,                 phase::upgrading,   run_upgrade},
  // switch: the database Deployment moves to the target image and the new claim
  {phase::switching,   "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::switching,   "the new database is ready",                          switched_and_ready,     phase::verifying,   verify},
  {phase::switching,   "the database Deployment is being switched",          always,                 phase::switching,   switch_database},
  // verify: every row arrived
  {phase::verifying,   "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::verifying,   "the upgraded database differs from the manifest",    verification_mismatch,  phase::rolling_back, fail_verification},
  {phase::verifying,   "the upgraded database matches the manifest",         verification_matches,   phase::resuming,    resume_apps},
  {phase::verifying,   "the upgraded database is being verified",            always,                 phase::verifying,   verify},
  // resume
  {phase::resuming,    "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::resuming,    "the app is back at its replica counts",              apps_resumed,           phase::succeeded,   finish_success},
  {phase::resuming,    "the app is being scaled back",                       always,                 phase::resuming,    resume_apps},
  // rollback: the old claim and image, every claim kept
  {phase::rolling_back, "the rollback deadline passed",                      deadline_passed,        phase::failed,      give_up_rollback},
  {phase::rolling_back, "the old database serves and the app is restored",   rollback_complete,      phase::failed,      finish},
  {phase::rolling_back, "the old database and the app are being restored",   always,                 phase::rolling_back, roll_back},
  // failed: a person decides; the retry annotation starts a new attempt
  {phase::failed,      "the " "quay-pg-upgrader.quay.io/retry" " annotation has a new value", retry_requested, phase::detecting, start_retry},
  // revert refused: nothing was touched; a person corrects or removes the annotation
  {phase::revert_refused, "the database image changed",                      image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::revert_refused, "the revert annotation was removed",               revert_annotation_removed, phase::succeeded, forget_revert_request},
  {phase::revert_refused, "the revert annotation has another wrong value",   revert_refused_now,     phase::revert_refused, note_revert_refused_again},
  {phase::revert_refused, "the revert annotation names the retained previous claim", revert_annotation_new, phase::revert_quiescing, begin_revert},
  // revert quiesce: the app stops writing to the upgraded database
  {phase::revert_quiescing, "the phase deadline passed",                     deadline_passed,        phase::revert_rolling_back, fail_on_deadline},
  {phase::revert_quiescing, "no app pod remains",                            apps_stopped,           phase::revert_backing_up, take_revert_backup},
  {phase::revert_quiescing, "the app is being scaled to 0",                  always,                 phase::revert_quiescing, revert_scale_apps_down},
  // revert backup: the upgraded data (its writes after the upgrade included) into a claim of its own
  {phase::revert_backing_up, "the phase deadline passed",                    deadline_passed,        phase::revert_rolling_back, fail_on_deadline},
  {phase::revert_backing_up, "the backup Job of the upgraded data failed",   revert_backup_failed,   phase::revert_rolling_back, fail_revert_backup},
  {phase::revert_backing_up, "the backup Job of the upgraded data completed", revert_backup_complete, phase::revert_stopping, revert_stop_database},
  {phase::revert_backing_up, "the upgraded data is being backed up",         always,                 phase::revert_backing_up, take_revert_backup},
  // revert stop: the upgraded server is gone before the old one starts
  {phase::revert_stopping, "the phase deadline passed",                      deadline_passed,        phase::revert_rolling_back, fail_on_deadline},
  {phase::revert_stopping, "no database pod remains",                        database_stopped,       phase::revert_switching, revert_switch},
  {phase::revert_stopping, "the upgraded database is being scaled to 0",     always,                 phase::revert_stopping, revert_stop_database},
  // revert switch: the database Deployment goes back to the old image and the old claim
  {phase::revert_switching, "the phase deadline passed",                     deadline_passed,        phase::revert_rolling_back, fail_revert_switch_deadline},
  {phase::revert_switching, "the old database is ready on the old claim",    reverted_and_ready,     phase::revert_verifying, revert_verify},
  {phase::revert_switching, "the database Deployment is being switched back", always,                phase::revert_switching, revert_switch},
  // revert verify: the old claim still holds what the manifest before the upgrade counted
  {phase::revert_verifying, "the phase deadline passed",                     deadline_passed,        phase::revert_rolling_back, fail_on_deadline},
  {phase::revert_verifying, "the old database differs from the manifest taken before the upgrade", revert_verification_mismatch, phase::revert_rolling_back, fail_revert_verification},
  {phase::revert_verifying, "the old database matches the manifest taken before the upgrade", revert_verification_matches, phase::revert_resuming, revert_resume_apps},
  {phase::revert_verifying, "the old database is being verified",            always,                 phase::revert_verifying, revert_verify},
  // revert resume
  {phase::revert_resuming, "the phase deadline passed",                      deadline_passed,        phase::revert_rolling_back, fail_on_deadline},
  {phase::revert_resuming, "the app is back at its replica counts",          revert_apps_resumed,    phase::reverted,    finish_revert},
  {phase::revert_resuming, "the app is being scaled back",                   always,                 phase::revert_resuming, revert_resume_apps},
  // reverted: stays so until a person changes the database image or asks for a new attempt
  {phase::reverted,    "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::reverted,    "the " "quay-pg-upgrader.quay.io/retry" " annotation has a new value", retry_requested, phase::detecting, start_retry},
  // a failed revert returns to the upgraded claim and image, every claim kept
  {phase::revert_rolling_back, "the phase deadline passed",                  deadline_passed,        phase::revert_failed, give_up_revert_rollback},
  {phase::revert_rolling_back, "the upgraded database serves and the app is restored", revert_rollback_complete, phase::revert_failed, finish_revert_failure},
  {phase::revert_rolling_back, "the upgraded database and the app are being restored", always,      phase::revert_rolling_back, revert_roll_back},
  // revert failed: the upgraded database serves; removing the annotation (and setting it again) retries
  {phase::revert_failed, "the database image changed",                       image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::revert_failed, "the revert annotation was removed",                revert_annotation_removed, phase::succeeded, forget_revert_request},
};
// clang-format on

const rule* first_matching(const upgrade_ctx& c) {
  for (const auto& r : table)
    if (r.from == c.u.current && r.guard(c)) return &r;
  return nullptr;
}

// ---- reporting -----------------------------------------------------------------------------

// When the image name suggested another version than the server reported (the server counts).
std::string hint_note(const registry_upgrade& u) {
  if (!u.from) return "";
  const auto ref = parse_image_ref(u.old_image);
  const auto hint = ref ? pg_major_hint(*ref) : std::nullopt;
  if (!hint || *hint == *u.from) return "";
  return " [the image name suggests PostgreSQL " + to_string(*hint) + ", the server reports " + to_string(*u.from) + ", which counts]";
}

std::string summary_message(const upgrade_ctx& c) {
  const auto& u = c.u;
  const std::string versions =
      u.from && u.to ? "PostgreSQL " + to_string(*u.from) + " -> " + to_string(*u.to) + " (" + to_string(u.method) + ")" + hint_note(u)
                     : "";
  switch (u.current) {
    case phase::up_to_date:
      return "the database runs PostgreSQL " + (confirmed(c) ? to_string(*confirmed(c)) : std::string("?")) + ", the target";
    case phase::succeeded: {
      std::int64_t rows = 0;
      if (u.after)
        for (const auto& t : u.after->tables) rows += t.rows;
      return "upgraded " + versions + "; verified " + std::to_string(u.after ? u.after->tables.size() : 0) + " tables, " +
             std::to_string(rows) + " rows; the old data stays in claim " + u.old_claim + ", the backup in claim " +
             backup_claim_name(u);
    }
    case phase::failed:
      if (!u.rollback_incomplete.empty())
        return u.last_error + "; " + u.rollback_incomplete + "; every claim is kept; set annotation " + annotation_retry +
               " to a new value to try again";
      return u.last_error + (u.started ? "; the database runs on its old claim " + u.old_claim + " and image " + u.old_image +
                                             ", every claim is kept; set annotation " + annotation_retry +
                                             " to a new value to try again"
                                       : std::string("; set annotation ") + annotation_retry + " to a new value to try again");
    case phase::refused:
    case phase::unsupported: return u.last_error;
    case phase::unmanaged: return "spec.components postgres is unmanaged: the controller leaves this database alone";
    case phase::rolling_back: return "rolling back: " + u.last_error;
    case phase::reverted: {
      std::int64_t rows = 0;
      const auto& v = u.revert.verified;
      if (v)
        for (const auto& t : v->tables) rows += t.rows;
      return "reverted on request (annotation " + std::string(annotation_revert) + "): the database runs PostgreSQL " +
             to_string(*u.from) + " again on its previous claim " + u.old_claim + " with image " + u.old_image +
             "; verified " + std::to_string(v ? v->tables.size() : 0) + " tables, " + std::to_string(rows) +
             " rows against the manifest taken before the upgrade. Writes made after the upgrade are NOT carried back: "
             "they are in claim " + revert_backup_claim_name(u) +
             " (a backup of the upgraded database taken just before the revert, kept) and in the upgraded claim " +
             data_claim_name(u) + ". To upgrade again, change the database image or set annotation " + annotation_retry +
             " to a new value";
    }
    case phase::revert_refused:
      return "revert refused: " + u.revert.refused + "; nothing was changed: the database still runs PostgreSQL " +
             (u.to ? to_string(*u.to) : std::string("?")) + " on claim " + data_claim_name(u);
    case phase::revert_rolling_back:
      return "the revert failed, returning to the upgraded claim " + data_claim_name(u) + ": " + u.revert.error;
    case phase::revert_failed: {
      const std::string retry = "; remove annotation " + std::string(annotation_revert) + " and set it again to retry the revert";
      if (!u.revert.restore_incomplete.empty())
        return "the revert to claim " + u.old_claim + " failed: " + u.revert.error + "; " + u.revert.restore_incomplete +
               "; every claim is kept" + retry;
      return "the revert to claim " + u.old_claim + " failed: " + u.revert.error + "; the database runs PostgreSQL " +
             to_string(*u.to) + " again on the upgraded claim " + data_claim_name(u) + " with image " + u.revert.new_image +
             ", as before the revert; every claim is kept, the revert's backup claim " + revert_backup_claim_name(u) +
             " included" + retry;
    }
    case phase::revert_quiescing:
    case phase::revert_backing_up:
    case phase::revert_stopping:
    case phase::revert_switching:
    case phase::revert_verifying:
    case phase::revert_resuming:
      return "reverting to PostgreSQL " + to_string(*u.from) + " on claim " + u.old_claim +
             " (writes made after the upgrade are not carried back; they are backed up into claim " +
             revert_backup_claim_name(u) + "): " + waiting_for(c);
    default: {
      std::string text = versions.empty() ? std::string() : versions + ": ";
      text += waiting_for(c);
      if (!u.last_error.empty()) text += " (last error: " + u.last_error + ")";
      return text;
    }
  }
}

// The Kubernetes Event for a phase just entered.
void announce(upgrade_ctx& c) {
  const auto& u = c.u;
  const bool warning = u.current == phase::failed || u.current == phase::refused || u.current == phase::unsupported ||
                       u.current == phase::revert_rolling_back || u.current == phase::revert_failed ||
                       u.current == phase::revert_refused ||
                       u.current == phase::rolling_back;
  const std::string id = effect_id(u, "event@" + std::to_string(c.seq) + "/" + to_string(u.current));
  if (issued_or_done(c, id)) return;
  unsent_event e{warning ? "Warning" : "Normal", std::string("PostgresUpgrade") + condition_reason(u.current),
                 summary_message(c), c.now};
  c.out.push_back(emit_event{id, owner(c), e.type, e.reason, e.message, e.at});
  c.u.unsent_events.emplace(id, std::move(e));
  c.u.in_flight.insert(id);
}

// Events whose write failed for a transient reason go out again, unchanged, once their back-off
// has passed.
void resend_events(upgrade_ctx& c) {
  for (const auto& [id, e] : c.u.unsent_events) {
    const auto retry = c.u.retry_at.find(id);
    if (c.u.in_flight.contains(id) || retry == c.u.retry_at.end() || retry->second > c.now) continue;
    c.u.retry_at.erase(retry);
    c.out.push_back(emit_event{id, owner(c), e.type, e.reason, e.message, e.at});
    c.u.in_flight.insert(id);
  }
}


// The QuayRegistry's status, written when the phase or the error changed since the last write.
void report_status(upgrade_ctx& c) {
  const auto& u = c.u;
  // The key is built in a reused buffer: this runs for every registry an event may concern (all
  // of a namespace's, on each watch line), and the temporaries of a concatenation were half of
  // the fold's instructions (callgrind, docs/BENCHMARKS.md item 1). Same bytes as before.
  thread_local std::string key;
  const auto append = [](std::initializer_list<std::string_view> fields) {
    for (const auto f : fields) {
      key += '|';
      key += f;
    }
  };
  key.assign(to_string(u.current));
  append({std::to_string(u.attempt), u.last_error, u.rollback_incomplete});
  const auto& r = u.revert;
  if (r.run > 0 || !r.refused.empty()) {
    key += "|r";
    key += std::to_string(r.run);
    append({r.refused, r.error, r.restore_incomplete});
  }
  // A status write that failed for a transient reason waits out its back-off, then the status of
  // that moment is written (a new id; the failure count carries over, so the back-off grows). A
  // changed status is written at once.
  std::int32_t failures = 0;
  bool retry_due = false;
  for (const auto& [id, at] : u.retry_at)
    if (is_status_id(id)) {
      retry_due = retry_due || at <= c.now;
      if (const auto n = u.transient_failures.find(id); n != u.transient_failures.end()) failures = std::max(failures, n->second);
    }
  if (u.status_written == key && !retry_due) return;
  std::erase_if(c.u.retry_at, [](const auto& kv) { return is_status_id(kv.first); });
  std::erase_if(c.u.transient_failures, [&](const auto& kv) { return is_status_id(kv.first) && !u.in_flight.contains(kv.first); });
  c.u.status_written = key;

  const std::string message = summary_message(c);
  std::vector<condition> conditions;
  const std::int64_t generation = c.registry.meta.generation;
  conditions.push_back({"PostgresUpgradeProgressing", is_active(u.current) ? "True" : "False", condition_reason(u.current),
                        message, u.phase_since, generation});
  std::string done_status = "Unknown", done_reason = "InProgress";
  switch (u.current) {
    case phase::succeeded: done_status = "True"; done_reason = "Succeeded"; break;
    case phase::up_to_date: done_status = "True"; done_reason = "UpToDate"; break;
    case phase::failed: done_status = "False"; done_reason = "Failed"; break;
    case phase::refused: done_status = "False"; done_reason = "DowngradeRefused"; break;
    case phase::unsupported: done_status = "False"; done_reason = "Unsupported"; break;
    case phase::unmanaged: done_status = "False"; done_reason = "Unmanaged"; break;
    case phase::detecting: done_reason = "Detecting"; break;
    // After a revert the database no longer runs the upgraded version; a refused or failed
    // revert leaves it upgraded.
    case phase::reverted: done_status = "False"; done_reason = "Reverted"; break;
    case phase::revert_failed: done_status = "True"; done_reason = "RevertFailed"; break;
    case phase::revert_refused: done_status = "True"; done_reason = "RevertRefused"; break;
    default:
      if (is_reverting(u.current)) done_reason = "Reverting";
      break;
  }
  conditions.push_back({"PostgresUpgraded", done_status, done_reason, message, u.phase_since, generation});

  upgrade_summary summary;
  summary.phase = to_string(u.current);
  if (u.from) summary.from = to_string(*u.from);
  if (u.to) summary.to = to_string(*u.to);
  if (u.started) summary.method = to_string(u.method);
  summary.attempt = u.attempt;
  summary.started = u.started;
  summary.finished = u.finished;
  if (u.started) {
    summary.backup_claim = backup_claim_name(u);
    summary.previous_claim = u.old_claim;
    summary.new_claim = data_claim_name(u);
  }
  summary.last_error = u.last_error;
  if (r.run > 0) summary.revert_backup_claim = revert_backup_claim_name(u);
  if (u.current == phase::revert_refused) summary.last_error = r.refused;
  if (u.current == phase::revert_rolling_back || u.current == phase::revert_failed) summary.last_error = r.error;
  const std::string id = effect_id(u, "status@" + std::to_string(c.seq));
  c.out.push_back(update_registry_status{id, u.registry, std::move(conditions), std::move(summary)});
  c.u.in_flight.insert(id);
  if (failures > 0) c.u.transient_failures[id] = failures;
}

bool waits_on_job(phase p) {
  return p == phase::backing_up || p == phase::upgrading || p == phase::preflight || p == phase::revert_backing_up;
}

// One requeue per registry, the earliest wins: the phase deadline, the 60 s Job re-check, and
// the end of a transient failure's back-off.
void arm_wakeup(upgrade_ctx& c) {
  std::optional<timestamp> want;
  auto consider = [&](timestamp t) { want = want ? std::min(*want, t) : t; };
  if (is_active(c.u.current) || c.u.current == phase::detecting) {
    if (const auto limit = phase_deadline_s(c.cfg, c.u.current); limit > 0 && c.u.current != phase::detecting)
      consider(c.u.phase_since + limit * 1000);
    if (waits_on_job(c.u.current)) consider(c.now + c.cfg.requeue_s * 1000);
  }
  // A back-off that has run out and whose effect this pass did not issue again is stale: the step
  // it belonged to is over. Kept, it would arm a requeue in the past on every pass, and the
  // controller would spin on its own timer events.
  std::erase_if(c.u.retry_at, [&](const auto& kv) { return kv.second <= c.now; });
  for (const auto& [id, t] : c.u.retry_at) consider(t);
  if (!want || *want <= c.now) return;
  if (c.u.wakeup && *c.u.wakeup > c.now && *c.u.wakeup <= *want) return;
  c.u.wakeup = *want;
  c.out.push_back(requeue_after::while_waiting(c.u.registry, *want - c.now));
}

}  // namespace

bool is_status_id(const std::string& id) { return id.find("/status@") != std::string::npos; }

std::string database_deployment_name(const object_key& registry) { return registry.name + "-quay-database"; }
std::string backup_claim_name(const registry_upgrade& u) {
  return u.registry.name + "-quay-database-backup-pg" + (u.from ? name_token(*u.from) : std::string("unknown"));
}
std::string revert_backup_claim_name(const registry_upgrade& u) {
  return u.registry.name + "-quay-database-backup-pg" + (u.to ? name_token(*u.to) : std::string("unknown")) + "-revert-" +
         std::to_string(u.attempt) + "-" + std::to_string(u.revert.run);
}
std::string data_claim_name(const registry_upgrade& u) {
  return u.registry.name + "-quay-database-pg" + (u.to ? name_token(*u.to) : std::string("unknown"));
}

void fail(upgrade_ctx& c, std::string reason) {
  if (is_reverting(c.u.current)) {
    // A revert that fails goes back to where it started: the upgraded claim and image.
    if (c.u.current == phase::revert_rolling_back) return;
    c.u.revert.error = std::move(reason);
    c.u.revert.failed_in = c.u.current;
    c.u.current = phase::revert_rolling_back;
    c.u.phase_since = c.now;
    return;
  }
  c.u.last_error = std::move(reason);
  c.u.failed_in = c.u.current;
  const bool touched = c.u.current >= phase::quiescing && c.u.current != phase::failed;
  c.u.current = touched ? phase::rolling_back : phase::failed;
  c.u.phase_since = c.now;
  if (!touched) c.u.finished = c.now;
}

std::string waiting_for(const upgrade_ctx& c) {
  const auto& u = c.u;
  auto job_text = [&](job_role role, const char* what) {
    const auto* j = u.from && u.to ? find_job(c, job_name(u, role)) : nullptr;
    if (!j) return std::string("waiting for the ") + what + " Job " + (u.from && u.to ? job_name(u, role) : "") + " to be created";
    return std::string("waiting for the ") + what + " Job " + to_string(j->meta.key) + " (active " + std::to_string(j->active) +
           ", failed pods " + std::to_string(j->failed) + ")";
  };
  auto claim_text = [&](const std::string& name, const char* what) -> std::string {
    const auto* cl = find_claim(c, name);
    if (!cl) return std::string("waiting for the ") + what + " claim " + name + " to be created";
    if (cl->phase != "Bound")
      return std::string("the ") + what + " claim " + name + " is " + (cl->phase.empty() ? "not bound" : cl->phase) +
             (cl->storage_class.empty() ? std::string() : " (storage class " + cl->storage_class + ")");
    return "";
  };
  switch (u.current) {
    case phase::detecting: {
      const auto* db = database(c);
      if (!db) return "waiting for the database Deployment " + database_deployment_name(u.registry);
      if (db->ready_replicas < 1) return "waiting for the database to be ready to confirm its version";
      return "confirming the server version of " + database_deployment_name(u.registry);
    }
    case phase::preflight: return check_wanted(c) ? job_text(job_role::check, "pg_upgrade --check") : "checking";
    case phase::quiescing: {
      std::string text = "waiting for the app to stop:";
      for (const auto* d : app_deployments(c))
        text += " " + d->meta.key.name + " has " + std::to_string(d->status_replicas) + " replicas;";
      text += " " + std::to_string(app_pods(c).size()) + " app pods remain";
      return text;
    }
    case phase::backing_up: {
      const std::string measuring = u.before && u.before->has_manifest ? "" : "measuring row counts and checksums of every table; ";
      const auto t = claim_text(backup_claim_name(u), "backup");
      if (!t.empty() && !done(c, "create-claim/backup")) return measuring + t;
      return measuring + (t.empty() ? job_text(job_role::backup, "backup") : t + "; " + job_text(job_role::backup, "backup"));
    }
    case phase::stopping:
      return "waiting for the database to stop: " + std::to_string(database_pods(c).size()) + " database pods remain";
    case phase::upgrading: {
      const auto t = claim_text(data_claim_name(u), "new data");
      if (!t.empty() && !done(c, "create-claim/data")) return t;
      return t.empty() ? job_text(upgrade_role(u), "upgrade") : t + "; " + job_text(upgrade_role(u), "upgrade");
    }
    case phase::switching: {
      const auto* db = database(c);
      return "waiting for " + database_deployment_name(u.registry) + " to run " + c.cfg.target_image + " on claim " +
             data_claim_name(u) + " (ready " + std::to_string(db ? db->ready_replicas : 0) + ")";
    }
    case phase::verifying: return "comparing the upgraded database with the manifest";
    case phase::resuming: return "scaling the app back to its replica counts";
    case phase::rolling_back: return "restoring the old database and the app";
    case phase::failed: return std::string("waiting for a person: fix the cause, then set annotation ") + annotation_retry + " to a new value";
    case phase::revert_quiescing: {
      std::string text = "waiting for the app to stop:";
      for (const auto* d : app_deployments(c))
        text += " " + d->meta.key.name + " has " + std::to_string(d->status_replicas) + " replicas;";
      text += " " + std::to_string(app_pods(c).size()) + " app pods remain";
      return text;
    }
    case phase::revert_backing_up: {
      if (!u.revert.measured) return "measuring the size of the upgraded database";
      const auto t = claim_text(revert_backup_claim_name(u), "backup");
      if (!t.empty() && !revert_done(c, "create-claim/backup")) return t;
      const auto* j = revert_job(c);
      const std::string jt = !j ? "waiting for the backup Job " + revert_job_name(u) + " to be created"
                                : "waiting for the backup Job " + to_string(j->meta.key) + " (active " + std::to_string(j->active) +
                                      ", failed pods " + std::to_string(j->failed) + ")";
      return t.empty() ? jt : t + "; " + jt;
    }
    case phase::revert_stopping:
      return "waiting for the upgraded database to stop: " + std::to_string(database_pods(c).size()) + " database pods remain";
    case phase::revert_switching: {
      const auto* db = database(c);
      return "waiting for " + database_deployment_name(u.registry) + " to run " + u.old_image + " on claim " + u.old_claim +
             " (ready " + std::to_string(db ? db->ready_replicas : 0) + ")";
    }
    case phase::revert_verifying: return "comparing the old database with the manifest taken before the upgrade";
    case phase::revert_resuming: return "scaling the app back to its replica counts";
    case phase::revert_rolling_back: {
      const auto* db = database(c);
      return "restoring the upgraded database (" + u.revert.new_image + " on claim " + data_claim_name(u) + ", ready " +
             std::to_string(db ? db->ready_replicas : 0) + ") and the app";
    }
    case phase::reverted:
      return std::string("nothing: the database was reverted on request; change its image or set annotation ") +
             annotation_retry + " to a new value to upgrade again";
    case phase::revert_failed:
      return std::string("waiting for a person: fix the cause, then remove annotation ") + annotation_revert +
             " and set it again to retry the revert";
    case phase::revert_refused:
      return std::string("waiting for a person: set annotation ") + annotation_revert + " to " + u.old_claim +
             " to revert, or remove it";
    case phase::refused: return "nothing: a downgrade needs a person (restore from a backup by hand)";
    default: return "nothing: the database needs no upgrade";
  }
}

void advance(upgrade_ctx& c) {
  // A phase change re-runs the table; the bound is far above the longest chain of transitions.
  for (int steps = 0; steps < 32; ++steps) {
    const rule* r = first_matching(c);
    if (!r) break;
    const phase before = c.u.current;
    const std::int32_t attempt = c.u.attempt;
    r->action(c);  // runs in the old phase; fail() and start_retry() choose the next phase themselves
    const bool moved_itself = c.u.current != before || c.u.attempt != attempt;
    if (!moved_itself && r->to != before) {
      c.u.current = r->to;
      c.u.phase_since = c.now;
    }
    if (c.u.current == before && c.u.attempt == attempt) break;
    if (c.u.current == phase::failed || c.u.current == phase::succeeded) c.u.finished = c.u.finished.value_or(c.now);
    announce(c);
  }
  resend_events(c);
  report_status(c);
  arm_wakeup(c);
}

std::vector<std::string> upcoming(const upgrade_ctx& c) {
  std::vector<std::string> rows;
  for (const auto& r : table)
    if (r.from == c.u.current) rows.push_back(std::string(r.guard(c) ? "[now] " : "[not yet] ") + r.when + " -> " + to_string(r.to));
  return rows;
}

}  // namespace qpu::reducers
