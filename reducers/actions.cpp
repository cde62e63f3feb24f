#include "reducers/actions.hpp"

#include <algorithm>

#include "core/image_ref.hpp"
#include "reducers/claims.hpp"
#include "reducers/guards.hpp"
#include "reducers/issue.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"
#include "reducers/plan.hpp"
#include "reducers/progress.hpp"
#include "reducers/report.hpp"
#include "reducers/revert.hpp"
#include "reducers/schedule.hpp"

namespace qpu::reducers {

namespace {

// Gives a paused operator its recorded replicas back and clears the record (the last step of a
// success, a rollback, or a pause found left behind).
void restore_operator(upgrade_ctx& c, step_kind step) {
  const auto& op = c.u.quay_operator;
  if (!op || !op->replicas || sibling_needs_operator_paused(c)) return;
  if (step == step_kind::restore && holds_operator_after_rollback(c.u)) return;
  issue(c, scale_deployment{step_id(c.u, step, "operator"), op->deployment, *op->replicas, std::nullopt, true});
}

void block(upgrade_ctx& c, const char* reason, std::string message) {
  if (const auto* db = database(c)) {
    c.u.detected_image = db->image;
    c.u.detected_pgdata = db->pgdata;
  }
  c.u.block_reason = reason;
  c.u.last_error = std::move(message) + "; nothing was changed";
}

std::string operator_name(const upgrade_ctx& c) {
  const auto* op = managing_operator(c);
  return op ? "the Quay operator " + to_string(op->meta.key) : std::string("the Quay operator");
}

effect_id inspect_version_step(const upgrade_ctx& c) {
  const auto* db = database(c);
  return inspect_version_id(c.u, db ? db->meta.generation : 0);
}

void fail_claim_too_small(upgrade_ctx& c, const std::string& name, std::int64_t wanted) {
  const auto* cl = find_claim(c, name);
  record_failure(c, claim_too_small_message(cl->meta.key, std::max(cl->requested_bytes, cl->capacity_bytes), wanted));
}

}  // namespace

// Records why the step or phase failed (the revert keeps its own record); the row that calls it
// names where the table goes next.
void record_failure(upgrade_ctx& c, std::string reason) {
  if (is_reverting(c.u.current)) {
    c.u.revert.error = std::move(reason);
    c.u.revert.failed_in = c.u.current;
    return;
  }
  c.u.last_error = std::move(reason);
  c.u.failed_in = c.u.current;
}

// A step failed for good (the every-phase rows): the failure is the reason.
void fail_step(upgrade_ctx& c) {
  record_failure(c, std::move(c.failure->reason));
  c.failure.reset();
}

// A step failed for good where giving up is no option (detection touched nothing; a rollback
// must not stop half-way): say why, and issue it again after the requeue period.
void keep_trying_step(upgrade_ctx& c) {
  if (c.u.current == phase::detecting) release_turn(c);  // detection cannot confirm the version now
  auto& f = *c.failure;
  if (c.u.current == phase::revert_rolling_back) {
    if (c.u.revert.error.empty()) c.u.revert.error = std::move(f.reason);
  } else if (c.u.current != phase::verify_failed) {  // there the difference found stays the error
    c.u.last_error = std::move(f.reason);
  }
  c.u.retry_at[f.id] = c.now + c.cfg.requeue_s * 1000;
  c.failure.reset();
}

namespace {
constexpr std::string_view partial_resume_prefix = "part of the app already runs on the ";
}  // namespace

void hold_partial_resume(upgrade_ctx& c) {
  const bool revert = c.u.current == phase::revert_resuming;
  const bool first = !c.u.last_error.starts_with(partial_resume_prefix);
  auto resume = [&] {
    if (revert) revert_resume_apps(c);
    else resume_apps(c);
  };
  // Past the deadline each event passes here: the message stays the one of the last failure.
  if (!c.failure && !first) return resume();
  std::string why;
  if (c.failure) {
    why = std::move(c.failure->reason);
    c.u.retry_at[c.failure->id] = c.now + c.cfg.requeue_s * 1000;
    c.failure.reset();
  } else {
    why = "phase " + std::string(to_string(c.u.current)) + " passed its deadline of " +
          std::to_string(phase_deadline_s(c.cfg, c.u.current)) + " s";
  }
  std::string up, pending;
  for (const auto& [name, n] : revert ? c.u.revert.app_replicas : c.u.app_replicas) {
    const auto id = revert ? revert_step_id(c.u, step_kind::scale_up, name) : step_id(c.u, step_kind::scale_up, name);
    auto& list = issued_or_done(c, id) && n > 0 ? up : pending;
    list += (list.empty() ? "" : ", ") + c.u.registry.ns + "/" + name;
  }
  c.u.last_error =
      std::string(partial_resume_prefix) + (revert ? "old database again" : "upgraded database") +
      " and may have written to it (scaled up: " + up + "), so the " + (revert ? "revert" : "upgrade") +
      " is not undone: switching the database back would leave those writes in a claim nobody serves. " +
      (pending.empty() ? std::string("Waiting for the scale-ups sent to be answered") : "Still to scale up: " + pending) + " (" +
      why + "); retried every " + std::to_string(c.cfg.requeue_s) +
      " s until it goes through: fix what refuses it (the Deployment, a quota, an admission policy)";
  if (first) {
    effect_id id = event_id(c.u, c.seq, c.u.current);
    id.target += "/partly-resumed";
    send_event(
        c, id,
        {"Warning", std::string(profile_of(c.u.component).condition_prefix) + "UpgradePartlyResumed", c.u.last_error, c.now});
  }
  resume();
}

void nothing(upgrade_ctx&) {}

void inspect_version(upgrade_ctx& c) { inspect(c, inspect_version_step(c), false); }

// Detection decided to upgrade: fix the plan for this attempt.
void plan_upgrade(upgrade_ctx& c) {
  const auto* db = database(c);
  c.u.from = confirmed(c);
  c.u.to = target_major(c);
  if (const auto* op = managing_operator(c))
    c.u.quay_operator = operator_record{
        op->meta.key, c.u.component == db_component::clair ? op->operator_clair_postgres_image : op->operator_postgres_image, {}};
  c.u.old_image = db->image;
  c.u.old_claim = db->data_claim;
  c.u.started = c.now;
  c.u.finished.reset();
  c.u.last_error.clear();
  c.u.block_reason.clear();  // a turn that came (schedule.hpp) is taken
  c.u.claims_requested.reset();
  c.u.claims_seen.clear();
  c.u.claims_read.clear();
  c.u.dry_run = dry_run_wanted(c);
  c.u.dry_run_token = c.registry.dry_run;
  c.u.plan.clear();
  const bool image_can =
      !c.cfg.upgrade_image.empty() &&
      std::find(c.cfg.upgrade_image_from.begin(), c.cfg.upgrade_image_from.end(), *c.u.from) != c.cfg.upgrade_image_from.end();
  c.u.method = image_can && c.registry.method_override != "logical" ? upgrade_method::pg_upgrade : upgrade_method::logical;
  choose_clone(c);
  c.u.verify_after_resume = c.u.clone && c.cfg.verify_after_resume;
}

void note_unmanaged(upgrade_ctx& c) { c.u.last_error.clear(); }

void note_no_target(upgrade_ctx& c) {
  if (const auto* db = database(c)) {
    c.u.detected_image = db->image;
    c.u.detected_pgdata = db->pgdata;
  }
  c.u.last_error = "the target image \"" + target_image(c) +
                   "\" names no PostgreSQL version: set --target-version (or an image whose name carries it)";
}

void note_detected(upgrade_ctx& c) {
  c.u.last_error.clear();
  if (c.u.block_reason == turn_came_reason) c.u.block_reason.clear();  // no upgrade after all: the place is free
  if (const auto* db = database(c)) {
    c.u.detected_image = db->image;
    c.u.detected_pgdata = db->pgdata;
  }
}

void note_refused(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error = "the database runs PostgreSQL " + to_string(*confirmed(c)) + ", newer than the target " +
                   to_string(*target_major(c)) + "; downgrades are refused and nothing was changed";
}

void note_too_old(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error = "the database runs PostgreSQL " + to_string(*confirmed(c)) + ", older than " +
                   to_string(oldest_supported_source) + ", which pg_dump and pg_upgrade no longer read";
}

void note_layout(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error = "the target image \"" + target_image(c) + "\" looks for its data in " +
                   data_directory_of(target_image(c), database(c)->pgdata) +
                   ", but the upgrade writes the new cluster where the Quay operator's (sclorg) images keep it, " +
                   std::string(sclorg_pgdata) +
                   " on the claim mounted at /var/lib/pgsql/data: after the switch the server would start on an empty "
                   "directory. Use a target image of the sclorg family (such as quay.io/sclorg/postgresql-15-c9s) or set "
                   "PGDATA=" +
                   std::string(sclorg_pgdata) + " on the database container; nothing was changed";
}

void note_no_claim(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error = "the database Deployment mounts no PersistentVolumeClaim at /var/lib/pgsql/data; nothing to upgrade";
}

// A new attempt: everything of the last one is forgotten but its number; the row moves it on.
void start_retry(upgrade_ctx& c) {
  registry_upgrade fresh;
  fresh.registry = c.u.registry;
  fresh.component = c.u.component;
  fresh.current = c.u.current;
  fresh.phase_since = c.u.phase_since;
  fresh.attempt = c.u.attempt + 1;
  fresh.retry_token = c.registry.retry_token;
  fresh.revert.token = c.registry.revert_to_claim;  // present when the attempt began: not a request for it
  c.u = std::move(fresh);
}

// Something changed under an idle registry: detect afresh. After a finished upgrade that is a new
// attempt, so no name or effect id of the last one is reused.
void redetect(upgrade_ctx& c) {
  if (c.u.started) return start_retry(c);
  c.u.before.reset();
  c.u.after.reset();
}

void start_check_job(upgrade_ctx& c) { create_job_for(c, job_role::check, c.cfg.deadlines.preflight_s); }

void scale_apps_down(upgrade_ctx& c) {
  for (const auto* d : app_deployments(c)) {
    const std::string& name = d->meta.key.name;
    if (!c.u.app_replicas.contains(name)) c.u.app_replicas[name] = d->recorded_replicas.value_or(d->replicas);
    issue(c, scale_deployment{step_id(c.u, step_kind::scale_down, name), d->meta.key, 0, c.u.app_replicas[name], false});
  }
}

// The manifest of the quiet database (row counts and checksums: a full read of every table) is
// taken beside the backup Job, not before it: both read the same quiesced data, and at scale the
// manifest alone takes about as long as the dump. The claim is sized from the size detection
// measured; the phase ends when both the Job and the manifest are done.
//
// On cloning storage the backup is a clone of the old claim made once the server stopped
// (run_upgrade): this phase only takes the manifest.
//
// Verified after the resume (clone upgrades, config verify_after_resume): no manifest here at all;
// the archive Job reads both sides from clones once the app is back.
void take_backup(upgrade_ctx& c) {
  const bool manifest_now = !c.u.verify_after_resume;
  if (!c.u.before) return inspect(c, step_id(c.u, step_kind::inspect_manifest), manifest_now);
  if (c.u.clone) {
    if (!c.u.before->has_manifest && manifest_now) inspect(c, step_id(c.u, step_kind::inspect_manifest), true);
    return;
  }
  if (!c.u.before->has_manifest) inspect(c, step_id(c.u, step_kind::inspect_manifest), true);
  issue(c, create_claim{step_id(c.u, step_kind::create_claim, "backup"),
                        {c.u.registry.ns, backup_claim_name(c.u)},
                        owner(c),
                        claim_role::backup,
                        backup_claim_bytes(c),
                        storage_class(c),
                        {}});
  if (!done(c, step_kind::create_claim, "backup")) return;
  create_job_for(c, job_role::backup, c.cfg.deadlines.backup_s);
  watch_job_progress(c);
}

void stop_database(upgrade_ctx& c) {
  const auto* db = database(c);
  if (!db) return;
  if (!c.u.db_replicas) c.u.db_replicas = db->recorded_replicas.value_or(db->replicas);
  issue(c, scale_deployment{step_id(c.u, step_kind::scale_down, "database"), db->meta.key, 0, c.u.db_replicas, false});
}

// On cloning storage both claims are clones of the stopped old claim (made now, constant time),
// and the Job runs once they are Bound; otherwise the data claim exists since preflight.
void run_upgrade(upgrade_ctx& c) {
  if (c.u.clone) {
    prepare_claims(c);
    if (!claims_ready(c)) return;
    create_job_for(c, job_role::upgrade_pg_upgrade, c.cfg.deadlines.upgrade_s);
    watch_job_progress(c);
    return;
  }
  issue(c, create_claim{step_id(c.u, step_kind::create_claim, "data"),
                        {c.u.registry.ns, data_claim_name(c.u)},
                        owner(c),
                        claim_role::data,
                        data_claim_bytes(c),
                        storage_class(c),
                        {}});
  if (!done(c, step_kind::create_claim, "data")) return;
  create_job_for(c, upgrade_role(c.u), c.cfg.deadlines.upgrade_s);
  watch_job_progress(c);
}

void switch_database(upgrade_ctx& c) {
  const auto* db = database(c);
  if (!db) return;
  c.u.switched = true;
  issue(c, patch_database_deployment{step_id(c.u, step_kind::switch_database), db->meta.key, target_image(c),
                                     data_claim_name(c.u), std::max(1, c.u.db_replicas.value_or(1))});
}

// Verified after the resume: only what the server reports (its version, pg_trgm) before the app
// is back; every row is proven from the clones afterwards.
void verify(upgrade_ctx& c) { inspect(c, step_id(c.u, step_kind::inspect_verify), !c.u.verify_after_resume); }

void resume_apps(upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.app_replicas)
    issue(c, scale_deployment{step_id(c.u, step_kind::scale_up, name), {c.u.registry.ns, name}, n, std::nullopt, true});
}

// Success: the database now runs the target image, which is what detection compares against.
void finish_success(upgrade_ctx& c) {
  if (c.u.last_error.starts_with(partial_resume_prefix)) c.u.last_error.clear();  // the resume went through
  c.u.finished = c.now;
  c.u.detected_image = target_image(c);
  if (const auto* db = database(c)) c.u.detected_pgdata = db->pgdata;
}

// ---- after the app is back: the clone's logical archive or the statistics, off the downtime --

void run_after_resume(upgrade_ctx& c) {
  const auto role = after_resume_role(c.u);
  create_job_for(c, role, phase_deadline_s(c.cfg, c.u.current));
  if (role == job_role::archive) watch_job_progress(c);
}

// The upgrade is done (verified, the app back): it counts as finished; the Job follows.
void begin_after_resume(upgrade_ctx& c) {
  finish_success(c);
  run_after_resume(c);
}

// A complete archive Job of an upgrade verified after the resume compared both manifests itself
// (it fails on a difference); the controller compared them again when it could read them.
void finish_after_resume(upgrade_ctx& c) {
  (c.u.clone ? c.u.archived : c.u.analyzed) = c.now;
  if (c.u.verify_after_resume) c.u.verified_after_resume = c.now;
}

// The archive Job ended: read the two manifests it printed (the old data, the upgraded data).
void read_manifests(upgrade_ctx& c) {
  const auto* j = find_job(c, job_name(c.u, job_role::archive));
  const auto* p = j ? job_pod(c, *j) : nullptr;
  if (!p) return;
  for (const char* side : {"old", "new"})
    issue(c, read_job_manifest{step_id(c.u, step_kind::read_manifest, side), p->meta.key, side});
}

// The upgraded data differs from the old: the app has written to it since the resume, so there is
// no going back without a person. The app is stopped again (its replica counts kept on its
// Deployments), the database stays as it is, and the revert is offered.
void fail_verification_after_resume(upgrade_ctx& c) {
  const std::string lead = "the verification after the resume found the upgraded data different from the old data";
  const bool both = c.u.before && c.u.before->has_manifest && c.u.after && c.u.after->has_manifest;
  const auto* j = find_job(c, job_name(c.u, job_role::archive));
  record_failure(c, both ? differences_text(lead, mismatches(c))
                         : lead + " (its manifests could not be read from the Job's log; the Job reported: " +
                               (j ? trim_end(job_report(c, *j)) : std::string()) + ")");
  stop_apps_again(c);
}

void stop_apps_again(upgrade_ctx& c) {
  for (const auto& [name, n] : c.u.app_replicas)
    issue(c,
          scale_deployment{step_id(c.u, step_kind::scale_down, name + "/verify-failed"), {c.u.registry.ns, name}, 0, n, false});
}

namespace {

// What the Job after the resume does, as its failure names it ("<work> Job ns/name failed: ...").
const char* after_resume_work(const registry_upgrade& u) { return u.clone ? "backup archive" : "analyze"; }
// The same as the subject of a sentence ("the <subject> failed: ...").
std::string after_resume_subject(const registry_upgrade& u) {
  return std::string("the ") + after_resume_work(u) + (u.clone ? "" : " Job");
}

// A failure after the resume is that Job's alone: the upgraded database stays as it is.
void note_after_resume_failure(upgrade_ctx& c, std::string why) {
  const bool unverified = c.u.verify_after_resume && !c.u.verified_after_resume;
  const std::string stands =
      unverified ? ". The upgrade is NOT verified (the verification after the resume did not complete: it runs in this Job): "
                   "the app serves PostgreSQL " +
                       to_string(*c.u.to) + " from claim " + data_claim_name(c.u) +
                       "; compare the manifests of the backup clone and of the upgraded data by hand, or set annotation " +
                       annotation_revert + " to go back"
                 : ". The upgrade stands (verified, the app serves PostgreSQL " + to_string(*c.u.to) + " from claim " +
                       data_claim_name(c.u) + ")";
  if (c.u.clone)
    c.u.archive_error = std::move(why) + stands + "; claim " + backup_claim_name(c.u) +
                        " still holds the physical copy of the old data taken at the stop, and the old claim " + c.u.old_claim +
                        " is untouched";
  else
    c.u.analyze_error = std::move(why) + stands +
                        "; until autovacuum analyzes its tables the planner lacks statistics: run `vacuumdb "
                        "--analyze-in-stages` against it";
}

}  // namespace

void fail_after_resume_job(upgrade_ctx& c) {
  note_after_resume_failure(c, job_failure(c, *find_job(c, job_name(c.u, after_resume_role(c.u))), after_resume_work(c.u)));
}

void fail_after_resume_on_deadline(upgrade_ctx& c) {
  const auto role = after_resume_role(c.u);
  const auto* j = find_job(c, job_name(c.u, role));
  if (j && j->complete) return finish_after_resume(c);  // done; its pod's report never came
  note_after_resume_failure(c, after_resume_subject(c.u) + " did not finish within " +
                                   std::to_string(phase_deadline_s(c.cfg, c.u.current)) +
                                   " s; at the deadline: " + waiting_for(c));
  if (j && !j->has_failed) issue(c, delete_job{step_id(c.u, step_kind::delete_job, to_string(role)), j->meta.key});
}

void fail_after_resume_step(upgrade_ctx& c) {
  note_after_resume_failure(c, after_resume_subject(c.u) + " failed: " + c.failure->reason);
  c.failure.reset();
}

void fail_on_deadline(upgrade_ctx& c) {
  const auto configured = phase_deadline_s(c.cfg, c.u.current);
  const auto grace = enforced_deadline_s(c.cfg, c.u.current) - configured;  // a Job's verdict was awaited
  record_failure(c, std::string("phase ") + to_string(c.u.current) + " did not finish within " + std::to_string(configured) +
                        " s" + (grace > 0 ? " (nor did its Job end within " + std::to_string(grace) + " s more)" : "") +
                        "; at the deadline: " + waiting_for(c));
}

void read_claims(upgrade_ctx& c) {
  for (const auto& [role, name] : claims_to_read(c))
    issue(c, read_claim{step_id(c.u, step_kind::read_claim, role), {c.u.registry.ns, name}});
}

void fail_no_claim(upgrade_ctx& c) {
  record_failure(c, "the database claim " + c.u.registry.ns + "/" + c.u.old_claim + " was not found; nothing was changed");
}

void fail_check_job(upgrade_ctx& c) {
  const std::string text = trim_end(job_failure(c, *find_job(c, job_name(c.u, job_role::check)), "preflight check"));
  record_failure(c, text + ". Nothing was stopped: Quay kept serving");
}

void fail_backup_job(upgrade_ctx& c) {
  record_failure(
      c, job_failure(c, *find_job(c, job_name(c.u, job_role::backup)), "backup") + unbound_claim_note(c, backup_claim_name(c.u)));
}

void fail_job_deleted(upgrade_ctx& c) {
  const auto job = waited_job(c);
  record_failure(c, "the " + job->second + " Job " + c.u.registry.ns + "/" + job->first +
                        " was deleted before this controller read its outcome (it deletes its Jobs only when rolling back)");
}

void fail_backup_claim(upgrade_ctx& c) { fail_claim_too_small(c, backup_claim_name(c.u), backup_claim_bytes(c)); }

void fail_upgrade_job(upgrade_ctx& c) {
  record_failure(
      c, job_failure(c, *find_job(c, job_name(c.u, upgrade_role(c.u))), "upgrade") + unbound_claim_note(c, data_claim_name(c.u)));
}

void fail_data_claim(upgrade_ctx& c) { fail_claim_too_small(c, data_claim_name(c.u), data_claim_bytes(c)); }

void fail_verification(upgrade_ctx& c) { record_failure(c, differences_text("verification found differences", mismatches(c))); }

// Undo, in order: stop Jobs still running, put the database back on its old claim and image,
// then bring the app back once the old database serves again. Every claim is kept.
void roll_back(upgrade_ctx& c) {
  for (job_role role : {job_role::backup, upgrade_role(c.u)}) {
    const auto* j = c.u.from && c.u.to ? find_job(c, job_name(c.u, role)) : nullptr;
    if (j && !j->complete && !j->has_failed)
      issue(c, delete_job{step_id(c.u, step_kind::delete_job, to_string(role)), j->meta.key});
  }
  const bool db_touched = c.u.switched || c.u.db_replicas.has_value();
  if (db_touched) {
    const auto* db = database(c);
    if (db) {
      issue(c, patch_database_deployment{step_id(c.u, step_kind::restore, "database"), db->meta.key, c.u.old_image, c.u.old_claim,
                                         std::max(1, c.u.db_replicas.value_or(1))});
    }
    if (!database_serving(c, c.u.old_image, c.u.old_claim)) return;
  }
  for (const auto& [name, n] : c.u.app_replicas)
    issue(c, scale_deployment{step_id(c.u, step_kind::restore, name), {c.u.registry.ns, name}, n, std::nullopt, true});
  restore_operator(c, step_kind::restore);
}

void finish(upgrade_ctx& c) { c.u.finished = c.now; }

// The rollback ran out of time: the app still comes back at its recorded replicas (the state
// before the upgrade began), and the message says plainly what did not come back.
void give_up_rollback(upgrade_ctx& c) {
  const std::string what = waiting_for(c);
  for (const auto& [name, n] : c.u.app_replicas)
    issue(c, scale_deployment{step_id(c.u, step_kind::restore, name), {c.u.registry.ns, name}, n, std::nullopt, true});
  restore_operator(c, step_kind::restore);
  c.u.rollback_incomplete = "the rollback did not complete within " +
                            std::to_string(phase_deadline_s(c.cfg, phase::rolling_back)) + " s (" + what +
                            "): check the database Deployment " + database_deployment_name(c.u) +
                            " by hand; the app was scaled back to its recorded replicas";
  c.u.finished = c.now;
}

// ---- a Quay operator renders the database (QUAY-OPERATOR.md) -------------------------------

void note_operator_migrating(upgrade_ctx& c) {
  block(c, "OperatorMigrating",
        operator_name(c) + " is migrating this database itself (its Deployment " + database_deployment_name(c.u) +
            "-old or Job " + c.u.registry.name + std::string(profile_of(c.u.component).operator_claim) +
            "upgrade is there); the controller stands aside and looks again when that migration is over");
}

void note_operator_not_found(upgrade_ctx& c) {
  block(c, "OperatorNotFound",
        "the database Deployment " + database_deployment_name(c.u) + " is owned by QuayRegistry " + c.u.registry.name +
            ", so a Quay operator renders it, but no Deployment with env RELATED_IMAGE_COMPONENT_POSTGRES is visible to the "
            "controller: without pausing that operator it would undo the upgrade or start its own migration on top of it. "
            "Let the controller watch the operator's namespace (run it without --namespace)");
}

void note_target_conflict(upgrade_ctx& c) {
  const auto* op = managing_operator(c);
  const bool clair = c.u.component == db_component::clair;
  const std::string flag = clair ? "--clair-target-image" : "--target-image";
  block(c, "TargetConflictsWithOperator",
        operator_name(c) + " renders this database with " +
            (clair ? op->operator_clair_postgres_image : op->operator_postgres_image) + ", but " + flag + " is " +
            (clair ? c.cfg.clair_target_image : c.cfg.target_image) +
            ": after the upgrade the operator would start its own migration back to the image it expects. Drop " + flag +
            " (the operator's image is then the target) or upgrade the operator first");
}

void note_claim_taken(upgrade_ctx& c) {
  const std::string claim = operator_claim_name(database_of(c.u), *target_major(c));
  block(c, "ClaimExists",
        "the claim " + c.u.registry.ns + "/" + claim + ", which " + operator_name(c) + " renders for PostgreSQL " +
            to_string(*target_major(c)) +
            ", exists already and this controller did not create it (a failed operator migration leaves a half-filled "
            "one): it is never adopted or overwritten. Check what it holds, delete it if it is not needed, and the upgrade "
            "starts by itself");
}

void note_operator_not_pausable(upgrade_ctx& c) {
  block(c, "OperatorNotPaused",
        operator_name(c) +
            " runs and pausing it is turned off (--pause-operator=false): it would undo the upgrade or start its own "
            "migration on top of it. Scale it to 0 for the upgrade, or let the controller pause it");
}

void note_literal_password(upgrade_ctx& c) {
  const auto* db = database(c);
  auto literal = [](const env_source& e) { return e.secret_name.empty() && !e.value.empty(); };
  std::string names;
  if (literal(db->credentials->password)) names = "POSTGRESQL_PASSWORD";
  if (literal(db->credentials->admin_password)) names += std::string(names.empty() ? "" : " and ") + "POSTGRESQL_ADMIN_PASSWORD";
  const std::string& ns = db->meta.key.ns;
  block(c, "LiteralPassword",
        "the database Deployment " + to_string(db->meta.key) + " sets " + names +
            " as a literal value in its env: the upgrade's Jobs take passwords only from Secrets (a literal would be "
            "written into their specs), and the event log keeps only a token of it. Move it into a Secret and refer to "
            "it (kubectl -n " +
            ns + " create secret generic " + db->meta.key.name +
            "-credentials --from-literal=password=...; then env valueFrom.secretKeyRef {name: " + db->meta.key.name +
            "-credentials, key: password}), and the upgrade starts by itself");
}

void note_queued(upgrade_ctx& c) {
  note_detected(c);
  c.u.last_error.clear();
}

void note_window_invalid(upgrade_ctx& c) {
  block(c, "MaintenanceWindowInvalid",
        "annotation quay-pg-upgrader.quay.io/maintenance-window is \"" + c.registry.maintenance_window +
            "\": it must be a daily window in UTC written HH:MM-HH:MM (for example 02:00-04:30, or 22:00-02:00 across "
            "midnight); no downtime starts until it can be read or is removed");
}

void note_waiting(upgrade_ctx& c) {
  note_detected(c);
  c.u.block_reason = queue_reason(c);
  c.u.last_error = queue_text(c);
}

// Its turn came: it detects again (what it waited on may have changed) and holds its place in the
// meantime, so that a registry queued behind it does not overtake it.
void note_turn_came(upgrade_ctx& c) {
  c.u.block_reason = c.u.block_reason.empty() ? "" : turn_came_reason;
  c.u.last_error.clear();
}

// A registry whose turn came but whose database cannot be detected now (missing, not ready, not
// answering) gives its place back: the next in the queue goes, and this one queues again once its
// version is confirmed.
void release_turn(upgrade_ctx& c) {
  if (c.u.block_reason == turn_came_reason) c.u.block_reason.clear();
}

void note_unblocked(upgrade_ctx& c) {
  c.u.block_reason.clear();
  c.u.last_error.clear();
}

void pause_operator(upgrade_ctx& c) {
  const auto* op = managing_operator(c);
  if (!op) return;
  auto& record = *c.u.quay_operator;
  if (!record.replicas) record.replicas = op->recorded_replicas.value_or(op->replicas);
  issue(c, scale_deployment{step_id(c.u, step_kind::scale_down, "operator"), op->meta.key, 0, record.replicas, false});
}

void resume_operator(upgrade_ctx& c) {
  const auto& op = c.u.quay_operator;
  if (!op || !op->replicas) return;
  issue(c, scale_deployment{step_id(c.u, step_kind::scale_up, "operator"), op->deployment, *op->replicas, std::nullopt, true});
}

void fail_operator_migrating(upgrade_ctx& c) {
  record_failure(c, operator_name(c) +
                        " started its own migration of this database before it could be paused; the controller stood aside "
                        "and touched nothing else");
}

// A pause found left behind (the record on the operator's Deployment) while nothing is under way.
void restore_left_paused_operator(upgrade_ctx& c) {
  const auto* op = managing_operator(c);
  if (!op || !op->recorded_replicas) return;
  issue(c,
        scale_deployment{step_id(c.u, step_kind::restore, "operator"), op->meta.key, *op->recorded_replicas, std::nullopt, true});
}

}  // namespace qpu::reducers
