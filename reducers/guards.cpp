#include "reducers/guards.hpp"

#include <algorithm>

#include "core/image_ref.hpp"
#include "reducers/issue.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"
#include "reducers/revert.hpp"
#include "reducers/schedule.hpp"

namespace qpu::reducers {

namespace {

bool job_failed_and_reported(const upgrade_ctx& c, job_role role) {
  const auto* j = find_job(c, job_name(c.u, role));
  return j && j->has_failed && pods_reported(c, *j);
}

bool verified(const upgrade_ctx& c) { return c.u.after.has_value(); }

// A claim of the name this attempt creates that exists already and is smaller than wanted: a
// leftover of an earlier or a manual attempt. Adopting it would fail half-way for lack of space, so
// the phase fails before its Job, naming the claim (the controller never deletes or shrinks one).
const claim* undersized(const upgrade_ctx& c, const std::string& name, std::int64_t wanted) {
  const auto* cl = find_claim(c, name);
  return cl && std::max(cl->requested_bytes, cl->capacity_bytes) < wanted ? cl : nullptr;
}

}  // namespace

bool always(const upgrade_ctx&) { return true; }

bool deadline_passed(const upgrade_ctx& c) {
  const std::int64_t limit = enforced_deadline_s(c.cfg, c.u.current);
  return limit > 0 && c.now >= c.u.phase_since + limit * 1000;
}

// The annotation's list ("clair", "clair, quay"): exact names, spaces ignored.
bool skips(const quay_registry& r, std::string_view name) {
  std::string_view rest = r.skip_databases;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == name) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

// Quay's database: spec.components postgres; Clair's: clairpostgres; either unless the admin left
// it out with annotation quay-pg-upgrader.quay.io/skip-databases (Clair can rebuild its own).
bool unmanaged(const upgrade_ctx& c) {
  if (c.u.component == db_component::quay) return !c.registry.postgres_managed || skips(c.registry, "quay");
  return !c.registry.clair_postgres_managed || skips(c.registry, "clair");
}

bool managed(const upgrade_ctx& c) { return !unmanaged(c); }

bool no_target(const upgrade_ctx& c) { return !target_major(c).has_value(); }

bool db_missing(const upgrade_ctx& c) { return database(c) == nullptr; }

bool literal_password(const upgrade_ctx& c) {
  const auto* db = database(c);
  auto literal = [](const env_source& e) { return e.secret_name.empty() && !e.value.empty(); };
  return db && (literal(db->credentials->password) || literal(db->credentials->admin_password));
}

bool db_not_ready(const upgrade_ctx& c) { return database(c)->ready_replicas < 1; }

bool same_version(const upgrade_ctx& c) { return confirmed(c) && *confirmed(c) == *target_major(c); }

bool newer_version(const upgrade_ctx& c) { return confirmed(c) && *confirmed(c) > *target_major(c); }

bool too_old(const upgrade_ctx& c) { return confirmed(c) && *confirmed(c) < oldest_supported_source; }

bool no_data_claim(const upgrade_ctx& c) { return confirmed(c) && database(c)->data_claim.empty(); }

// The upgraded cluster is written in the sclorg layout; a target image that looks elsewhere (the
// Docker library's postgres without PGDATA pointing there) would start on an empty directory.
bool target_layout_differs(const upgrade_ctx& c) {
  return confirmed(c) && data_directory_of(target_image(c), database(c)->pgdata) != sclorg_pgdata;
}

bool older_version(const upgrade_ctx& c) { return confirmed(c).has_value(); }

bool image_changed(const upgrade_ctx& c) {
  const auto* db = database(c);
  return db && (db->image != c.u.detected_image || db->pgdata != c.u.detected_pgdata);
}

bool image_changed_or_unmanaged(const upgrade_ctx& c) { return image_changed(c) || unmanaged(c); }

bool retry_requested(const upgrade_ctx& c) {
  return !c.registry.retry_token.empty() && c.registry.retry_token != c.u.retry_token;
}

// The claims the attempt needs by name (the old data claim, the backup's and the new data's), when
// claims are watched by label selectors: one that no watch carries (made by hand, no label) must
// be read by name before the upgrade relies on its absence.
std::vector<std::pair<std::string, std::string>> claims_to_read(const upgrade_ctx& c) {
  std::vector<std::pair<std::string, std::string>> out;
  if (c.s.cluster.streams[static_cast<std::size_t>(resource_kind::claim)] <= 1) return out;
  for (auto [role, name] : {std::pair<std::string, std::string>{"old", c.u.old_claim},
                            {"backup", backup_claim_name(c.u)},
                            {"data", data_claim_name(c.u)}})
    if (!find_claim(c, name) && !done(c, step_kind::read_claim, role)) out.emplace_back(role, name);
  return out;
}

bool claims_unread(const upgrade_ctx& c) { return !claims_to_read(c).empty(); }

bool old_claim_missing(const upgrade_ctx& c) { return find_claim(c, c.u.old_claim) == nullptr; }

bool check_wanted(const upgrade_ctx& c) { return c.cfg.preflight_check; }

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

bool apps_resumed(const upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.app_replicas)
    if (!done(c, step_kind::scale_up, name)) return false;
  return true;
}

bool app_partly_resumed(const upgrade_ctx& c) {
  const bool revert = c.u.current == phase::revert_resuming;
  if (!revert && c.u.current != phase::resuming) return false;
  for (const auto& [name, n] : revert ? c.u.revert.app_replicas : c.u.app_replicas) {
    const auto id = revert ? revert_step_id(c.u, step_kind::scale_up, name) : step_id(c.u, step_kind::scale_up, name);
    if (n > 0 && issued_or_done(c, id)) return true;
  }
  return false;
}

bool step_failed_nothing_resumed(const upgrade_ctx& c) { return c.failure.has_value() && !app_partly_resumed(c); }
bool step_failed_partly_resumed(const upgrade_ctx& c) { return c.failure.has_value() && app_partly_resumed(c); }
bool deadline_passed_nothing_resumed(const upgrade_ctx& c) { return deadline_passed(c) && !app_partly_resumed(c); }

bool deadline_passed_partly_resumed(const upgrade_ctx& c) {
  const bool all = c.u.current == phase::revert_resuming ? revert_apps_resumed(c) : apps_resumed(c);
  return deadline_passed(c) && app_partly_resumed(c) && !all;
}

bool backup_job_failed(const upgrade_ctx& c) { return job_failed_and_reported(c, job_role::backup); }

std::optional<std::pair<std::string, std::string>> waited_job(const upgrade_ctx& c) {
  if (!c.u.from || !c.u.to) return std::nullopt;
  switch (c.u.current) {
    case phase::backing_up: return std::pair{job_name(c.u, job_role::backup), std::string("backup")};
    case phase::upgrading: return std::pair{job_name(c.u, upgrade_role(c.u)), std::string("upgrade")};
    case phase::revert_backing_up: return std::pair{revert_job_name(c.u), std::string("backup of the upgraded data")};
    default: return std::nullopt;
  }
}

bool waited_job_deleted(const upgrade_ctx& c) {
  const auto job = waited_job(c);
  return job && c.u.jobs_seen.contains(job->first) && !find_job(c, job->first);
}

bool backup_job_complete(const upgrade_ctx& c) {
  const auto* j = find_job(c, job_name(c.u, job_role::backup));
  return j && j->complete && c.u.before && c.u.before->has_manifest;
}

bool clone_manifest_taken(const upgrade_ctx& c) {
  return c.u.clone && c.u.before && (c.u.before->has_manifest || c.u.verify_after_resume);
}

// Only a claim this attempt did not create or adopt: the size wanted follows the latest
// measurement, and a database that grew past a rounding step while the claim was made must not
// fail the backup on its own claim.
bool backup_claim_too_small(const upgrade_ctx& c) {
  return c.u.before && !c.u.clone && !done(c, step_kind::create_claim, "backup") &&
         !find_job(c, job_name(c.u, job_role::backup)) && undersized(c, backup_claim_name(c.u), backup_claim_bytes(c));
}

bool upgrade_job_failed(const upgrade_ctx& c) { return job_failed_and_reported(c, upgrade_role(c.u)); }

bool upgrade_job_complete(const upgrade_ctx& c) {
  const auto* j = find_job(c, job_name(c.u, upgrade_role(c.u)));
  return j && j->complete;
}

bool data_claim_too_small(const upgrade_ctx& c) {
  return !c.u.clone && !find_job(c, job_name(c.u, upgrade_role(c.u))) && undersized(c, data_claim_name(c.u), data_claim_bytes(c));
}

bool switched_and_ready(const upgrade_ctx& c) { return database_serving(c, target_image(c), data_claim_name(c.u)); }

// The upgraded database against the manifest taken before the backup.
std::vector<std::string> mismatches(const upgrade_ctx& c) { return differences(*c.u.before, *c.u.after, *c.u.to); }

bool verification_mismatch(const upgrade_ctx& c) { return verified(c) && !mismatches(c).empty(); }

bool verification_matches(const upgrade_ctx& c) { return verified(c) && mismatches(c).empty(); }

bool rollback_complete(const upgrade_ctx& c) {
  const bool db_touched = c.u.switched || c.u.db_replicas.has_value();
  if (db_touched && !database_serving(c, c.u.old_image, c.u.old_claim)) return false;
  for (const auto& [name, n] : c.u.app_replicas)
    if (!done(c, step_kind::restore, name)) return false;
  const bool operator_paused = c.u.quay_operator && c.u.quay_operator->replicas;
  return !operator_paused || done(c, step_kind::restore, "operator") || sibling_needs_operator_paused(c) ||
         holds_operator_after_rollback(c.u);
}

// The server runs an older major than the target: an upgrade is due.
bool upgrade_due(const upgrade_ctx& c) { return confirmed(c) && target_major(c) && *confirmed(c) < *target_major(c); }

bool operator_migrating(const upgrade_ctx& c) { return rendered_by_operator(c) && operator_migration_under_way(c); }

bool operator_not_found(const upgrade_ctx& c) { return rendered_by_operator(c) && !managing_operator(c); }

// An explicit --target-image that the operator would not keep: after the upgrade it would start
// its own migration to the image it expects (it compares the last repository segment only).
bool target_conflicts_with_operator(const upgrade_ctx& c) {
  const auto* op = managing_operator(c);
  if (!op) return false;
  if (c.u.component == db_component::clair)
    return c.cfg.clair_target_image_explicit &&
           !same_repository_name(c.cfg.clair_target_image, op->operator_clair_postgres_image);
  return c.cfg.target_image_explicit && !same_repository_name(c.cfg.target_image, op->operator_postgres_image);
}

// The claim the operator would render for the target exists and is not one this controller made
// for this registry: a failed operator migration can leave a half-filled one. Never adopted.
bool operator_claim_taken(const upgrade_ctx& c) {
  if (!upgrade_due(c) || !managing_operator(c)) return false;
  const auto* cl = find_claim(c, operator_claim_name(database_of(c.u), *target_major(c)));
  return cl && cl->created_for != c.u.registry.name;
}

bool operator_not_pausable(const upgrade_ctx& c) {
  const auto* op = managing_operator(c);
  return upgrade_due(c) && op && !c.cfg.pause_operator && (op->replicas > 0 || op->status_replicas > 0);
}

bool operator_to_pause(const upgrade_ctx& c) { return c.u.quay_operator.has_value(); }

// No operator pod is left: a paused operator reconciles nothing.
bool operator_stopped(const upgrade_ctx& c) {
  const auto* op = managing_operator(c);
  return !op || (op->replicas == 0 && op->status_replicas == 0 && op->ready_replicas == 0);
}

bool operator_migrating_while_pausing(const upgrade_ctx& c) { return operator_migration_under_way(c); }

bool apps_resumed_operator_paused(const upgrade_ctx& c) { return apps_resumed(c) && operator_to_pause(c); }

// This database resumed the operator, or its sibling did (the record is gone and it runs again).
bool operator_resumed(const upgrade_ctx& c) {
  if (done(c, step_kind::scale_up, "operator")) return true;
  const auto* op = managing_operator(c);
  return op && !op->recorded_replicas && op->replicas > 0;
}

bool apps_resumed_archive_due(const upgrade_ctx& c) { return c.u.clone && apps_resumed(c); }
bool operator_resumed_archive_due(const upgrade_ctx& c) { return c.u.clone && operator_resumed(c); }
bool apps_resumed_analyze_due(const upgrade_ctx& c) { return !c.u.clone && apps_resumed(c); }
bool operator_resumed_analyze_due(const upgrade_ctx& c) { return !c.u.clone && operator_resumed(c); }
bool after_resume_job_failed(const upgrade_ctx& c) { return job_failed_and_reported(c, after_resume_role(c.u)); }

// Complete, and its pod's report is in the store (the status quotes it; the Job's Complete and
// the pod's final status come on two watch streams in either order, and a pod stream cut and
// relisted may not hold the pod yet at all: e2e faults-streams). A pod that never shows again
// (garbage-collected) is waited for until the phase deadline, which then takes the Job's Complete.
bool after_resume_job_complete(const upgrade_ctx& c) {
  const auto* j = find_job(c, job_name(c.u, after_resume_role(c.u)));
  return j && j->complete && pods_reported(c, *j) && !job_report(c, *j).empty();
}

namespace {

bool manifests_read(const upgrade_ctx& c) {
  return done(c, step_kind::read_manifest, "old") && done(c, step_kind::read_manifest, "new");
}

}  // namespace

bool after_resume_manifests_due(const upgrade_ctx& c) {
  return c.u.verify_after_resume && c.u.current == phase::archiving && !manifests_read(c) &&
         (after_resume_job_failed(c) || after_resume_job_complete(c));
}

// Both manifests read and different; or, when the Job's log could not be read (its pod gone),
// the Job's own report of the difference.
bool after_resume_mismatch(const upgrade_ctx& c) {
  if (!c.u.verify_after_resume || !manifests_read(c)) return false;
  if (c.u.before && c.u.before->has_manifest && c.u.after && c.u.after->has_manifest) return !mismatches(c).empty();
  const auto* j = after_resume_job_failed(c) ? find_job(c, job_name(c.u, job_role::archive)) : nullptr;
  return j && job_report(c, *j).starts_with("VerificationMismatch");
}

// Two downtimes at once double the load on the storage: the registry's databases take turns,
// Quay's first. A sibling that waits in resuming_operator is done with its database (it only keeps
// the operator paused for this one), so it does not hold the turn.
bool must_wait_turn(const upgrade_ctx& c) {
  if (c.cfg.databases_side_by_side) return false;
  const auto* other = sibling(c);
  if (!other || other->current == phase::resuming_operator) return false;
  if (is_active(other->current)) return true;
  return c.u.component == db_component::clair && other->current == phase::detecting;
}

bool waits_for_turn(const upgrade_ctx& c) { return upgrade_due(c) && must_wait_turn(c); }

// Both databases wait to resume the operator (side by side): one scale, by Clair's.
bool sibling_resumes_operator(const upgrade_ctx& c) {
  const auto* other = sibling(c);
  return c.u.component == db_component::quay && other && other->quay_operator && other->current == phase::resuming_operator;
}

bool holds_operator_after_rollback(const registry_upgrade& u) {
  // The data claim holds the failed attempt's data only once the upgrade Job was created: a claim
  // made before the downtime and never written is what the operator's own migration would fill.
  const auto job = step_id(u, step_kind::create_job, to_string(upgrade_role(u)));
  return (u.current == phase::rolling_back || u.current == phase::failed) && u.quay_operator && u.quay_operator->replicas &&
         u.done.contains(step_id(u, step_kind::create_claim, "data")) && u.done.contains(job);
}

bool sibling_needs_operator_paused(const upgrade_ctx& c) {
  const auto* other = sibling(c);
  if (!other || !other->quay_operator) return other && other->current == phase::queued;
  return (is_active(other->current) && other->current != phase::resuming_operator) || other->current == phase::queued ||
         holds_operator_after_rollback(*other);
}

// The operator's Deployment carries this controller's record of its replicas (it was paused
// here) while nothing is under way: a controller that lost its event log, or stopped between the
// pause and its undo, gives it back. One operator serves every registry, so none may be active.
bool operator_left_paused(const upgrade_ctx& c) {
  if (!rendered_by_operator(c)) return false;
  const auto* op = managing_operator(c);
  if (!op || !op->recorded_replicas) return false;
  if (done(c, step_kind::scale_up, "operator") || done(c, step_kind::restore, "operator")) return false;
  for (const auto& [key, other] : c.s.upgrades)
    if (is_active(other.current) || holds_operator_after_rollback(other)) return false;
  return true;
}

std::string block_now(const upgrade_ctx& c) {
  if (operator_migrating(c)) return "OperatorMigrating";
  if (operator_not_found(c)) return "OperatorNotFound";
  if (target_conflicts_with_operator(c)) return "TargetConflictsWithOperator";
  if (literal_password(c)) return "LiteralPassword";
  if (operator_claim_taken(c)) return "ClaimExists";
  if (operator_not_pausable(c)) return "OperatorNotPaused";
  if (window_invalid(c)) return "MaintenanceWindowInvalid";
  return "";
}

bool block_lifted(const upgrade_ctx& c) { return block_now(c) != c.u.block_reason; }

bool operator_migration_over(const upgrade_ctx& c) {
  return c.u.block_reason == "OperatorMigrating" && !operator_migration_under_way(c);
}

}  // namespace qpu::reducers
