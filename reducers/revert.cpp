#include "reducers/revert.hpp"

#include <algorithm>

#include "reducers/actions.hpp"
#include "reducers/issue.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"
#include "reducers/progress.hpp"
#include "reducers/report.hpp"

namespace qpu::reducers {

namespace {

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
  if (!db) return "the database Deployment " + database_deployment_name(u) + " does not exist";
  if (db->data_claim != data_claim_name(u))
    return "the database Deployment mounts claim " + db->data_claim + ", not the upgraded claim " + data_claim_name(u) +
           " the upgrade switched it to; only that switch is reverted";
  if (db->ready_replicas < 1) return "the upgraded database is not ready, so its data cannot be backed up before the revert";
  if (const auto* op = managing_operator(c); op && (op->replicas > 0 || op->status_replicas > 0))
    return "the Quay operator " + to_string(op->meta.key) + " renders this database with " + op->operator_postgres_image +
           " on claim " + data_claim_name(u) + ": back on " + u.old_claim +
           " it would migrate it again at once. Scale the operator to 0 (or downgrade it to the release that ran " + u.old_image +
           ") before reverting";
  return "";
}

std::vector<std::string> revert_mismatches(const upgrade_ctx& c) {
  return differences(*c.u.before, *c.u.revert.verified, *c.u.from);
}

bool back_on_upgraded_claim(const upgrade_ctx& c) {
  const auto& r = c.u.revert;
  return serving_with(c, r.new_image, data_claim_name(c.u), r.db_replicas.value_or(1));
}

}  // namespace

// One annotation serves both databases of a registry: it asks for the revert of the database whose
// previous claim it names, and the other one leaves it alone (neither refuses nor reverts).
bool names_sibling_claim(const upgrade_ctx& c) {
  const auto* other = sibling(c);
  return other && !other->old_claim.empty() && c.registry.revert_to_claim == other->old_claim &&
         c.registry.revert_to_claim != c.u.old_claim;
}

bool revert_annotation_new(const upgrade_ctx& c) {
  return !c.registry.revert_to_claim.empty() && c.registry.revert_to_claim != c.u.revert.token && !names_sibling_claim(c);
}

bool revert_annotation_removed(const upgrade_ctx& c) { return c.registry.revert_to_claim.empty() && !c.u.revert.token.empty(); }

bool revert_refused_now(const upgrade_ctx& c) { return revert_annotation_new(c) && !revert_refusal(c).empty(); }

bool revert_done(const upgrade_ctx& c, step_kind step, std::string target) {
  return c.u.done.contains(revert_step_id(c.u, step, std::move(target)));
}

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

bool revert_verification_mismatch(const upgrade_ctx& c) { return c.u.revert.verified && !revert_mismatches(c).empty(); }

bool revert_verification_matches(const upgrade_ctx& c) { return c.u.revert.verified && revert_mismatches(c).empty(); }

bool revert_apps_resumed(const upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.revert.app_replicas)
    if (!revert_done(c, step_kind::scale_up, name)) return false;
  return true;
}

bool revert_rollback_complete(const upgrade_ctx& c) {
  const auto& r = c.u.revert;
  if ((r.switched || r.db_replicas) && !back_on_upgraded_claim(c)) return false;
  for (const auto& [name, n] : r.app_replicas)
    if (!revert_done(c, step_kind::restore, name)) return false;
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
    issue(c, scale_deployment{revert_step_id(c.u, step_kind::scale_down, name), d->meta.key, 0, recorded[name], false});
  }
}

void begin_revert(upgrade_ctx& c) {
  const auto* db = database(c);
  revert_record next;
  next.run = c.u.revert.run + 1;
  next.token = c.registry.revert_to_claim;
  next.new_image = db ? db->image.str() : target_image(c);
  next.started = c.now;
  c.u.revert = std::move(next);
  revert_scale_apps_down(c);
}

// The upgraded data, with the image that serves it, into a claim of its own: the only copy of
// what was written after the upgrade once the database is back on the old claim.
void take_revert_backup(upgrade_ctx& c) {
  auto& r = c.u.revert;
  if (!r.measured) return inspect(c, revert_step_id(c.u, step_kind::inspect_size), false);
  issue(c, create_claim{revert_step_id(c.u, step_kind::create_claim, "backup"),
                        {c.u.registry.ns, revert_backup_claim_name(c.u)},
                        owner(c),
                        claim_role::backup,
                        sized_for(c, r.measured->database_bytes, 0),
                        storage_class(c),
                        {}});
  if (!revert_done(c, step_kind::create_claim, "backup")) return;
  create_job j;
  j.id = revert_step_id(c.u, step_kind::create_job, "backup");
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
  j.with_manifest = true;  // the record of what the revert's backup holds
  issue(c, std::move(j));
  watch_job_progress(c);
}

void revert_stop_database(upgrade_ctx& c) {
  const auto* db = database(c);
  if (!db) return;
  auto& r = c.u.revert;
  if (!r.db_replicas) r.db_replicas = db->recorded_replicas.value_or(db->replicas);
  issue(c, scale_deployment{revert_step_id(c.u, step_kind::scale_down, "database"), db->meta.key, 0, r.db_replicas, false});
}

void revert_switch(upgrade_ctx& c) {
  const auto* db = database(c);
  if (!db) return;
  c.u.revert.switched = true;
  issue(c, patch_database_deployment{revert_step_id(c.u, step_kind::switch_database), db->meta.key, c.u.old_image, c.u.old_claim,
                                     std::max(1, c.u.revert.db_replicas.value_or(1))});
}

void revert_verify(upgrade_ctx& c) { inspect(c, revert_step_id(c.u, step_kind::inspect_verify), true); }

void revert_resume_apps(upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.revert.app_replicas)
    issue(c, scale_deployment{revert_step_id(c.u, step_kind::scale_up, name), {c.u.registry.ns, name}, n, std::nullopt, true});
}

// Reverted: the database runs the old image again, which is what detection compares against.
void finish_revert(upgrade_ctx& c) {
  c.u.revert.finished = c.now;
  c.u.detected_image = c.u.old_image;  // the patch back changed image and claim only, never the env
}

void fail_revert_backup(upgrade_ctx& c) {
  record_failure(
      c, job_failure(c, *revert_job(c), "backup of the upgraded data") + unbound_claim_note(c, revert_backup_claim_name(c.u)));
}

// The old server never became ready on its claim: its pod's log holds the reason, which no
// watched field carries (a crash-looping container is waiting, its exit in lastState).
void fail_revert_switch_deadline(upgrade_ctx& c) {
  record_failure(c, std::string("phase ") + to_string(c.u.current) + " did not finish within " +
                        std::to_string(phase_deadline_s(c.cfg, c.u.current)) + " s; at the deadline: " + waiting_for(c) +
                        "; the log of the database pod says why PostgreSQL " + to_string(*c.u.from) +
                        " did not become ready on the old claim (a changed or damaged data directory, for example)");
}

void fail_revert_verification(upgrade_ctx& c) {
  record_failure(c,
                 differences_text("the old database differs from the manifest taken before the upgrade", revert_mismatches(c)));
}

// Undo the revert: stop its backup Job, put the database back on the upgraded claim and image,
// then bring the app back once that serves again. Every claim is kept.
void revert_roll_back(upgrade_ctx& c) {
  const auto& r = c.u.revert;
  if (const auto* j = revert_job(c); j && !j->complete && !j->has_failed)
    issue(c, delete_job{revert_step_id(c.u, step_kind::delete_job, "backup"), j->meta.key});
  if (r.switched || r.db_replicas) {
    if (const auto* db = database(c))
      issue(c, patch_database_deployment{revert_step_id(c.u, step_kind::restore, "database"), db->meta.key, r.new_image,
                                         data_claim_name(c.u), std::max(1, r.db_replicas.value_or(1))});
    if (!back_on_upgraded_claim(c)) return;
  }
  for (const auto& [name, n] : r.app_replicas)
    issue(c, scale_deployment{revert_step_id(c.u, step_kind::restore, name), {c.u.registry.ns, name}, n, std::nullopt, true});
}

void finish_revert_failure(upgrade_ctx& c) { c.u.revert.finished = c.now; }

void give_up_revert_rollback(upgrade_ctx& c) {
  const std::string what = waiting_for(c);
  for (const auto& [name, n] : c.u.revert.app_replicas)
    issue(c, scale_deployment{revert_step_id(c.u, step_kind::restore, name), {c.u.registry.ns, name}, n, std::nullopt, true});
  c.u.revert.restore_incomplete = "the return to the upgraded claim did not complete within " +
                                  std::to_string(phase_deadline_s(c.cfg, phase::revert_rolling_back)) + " s (" + what +
                                  "): check the database Deployment " + database_deployment_name(c.u) +
                                  " by hand; the app was scaled back to its recorded replicas";
  c.u.revert.finished = c.now;
}

}  // namespace qpu::reducers
