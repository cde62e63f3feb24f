#include "reducers/report.hpp"

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "core/image_ref.hpp"
#include "core/progress.hpp"
#include "reducers/guards.hpp"
#include "reducers/issue.hpp"
#include "reducers/claims.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"
#include "reducers/plan.hpp"
#include "reducers/progress.hpp"
#include "reducers/revert.hpp"

namespace qpu::reducers {

namespace {

// When the image name suggested another version than the server reported (the server counts).
std::string hint_note(const registry_upgrade& u) {
  if (!u.from) return "";
  const auto ref = parse_image_ref(u.old_image);
  const auto hint = ref ? pg_major_hint(*ref) : std::nullopt;
  if (!hint || *hint == *u.from) return "";
  return " [the image name suggests PostgreSQL " + to_string(*hint) + ", the server reports " + to_string(*u.from) +
         ", which counts]";
}

// "; dump: 512 MiB of 1.0 GiB (50 %), about 6 s left", or "" before the Job's first line.
std::string progress_note(const registry_upgrade& u) {
  const auto* p = current_progress(u);
  return p ? "; " + progress_text(*p) : std::string();
}

}  // namespace

std::string summary_message(const upgrade_ctx& c) {
  const auto& u = c.u;
  const std::string versions = u.from && u.to ? "PostgreSQL " + to_string(*u.from) + " -> " + to_string(*u.to) + " (" +
                                                    to_string(u.method) + ")" + hint_note(u)
                                              : "";
  switch (u.current) {
    case phase::up_to_date:
      return "the database runs PostgreSQL " + (confirmed(c) ? to_string(*confirmed(c)) : std::string("?")) + ", the target";
    case phase::succeeded: {
      std::int64_t rows = 0;
      if (u.after)
        for (const auto& t : u.after->tables) rows += t.rows;
      const std::string verified =
          !u.verify_after_resume
              ? "verified " + std::to_string(u.after ? u.after->tables.size() : 0) + " tables, " + std::to_string(rows) + " rows"
          : u.verified_after_resume && u.after && u.after->has_manifest
              ? "verified after the resume: " + std::to_string(u.after->tables.size()) + " tables, " + std::to_string(rows) +
                    " rows"
          : u.verified_after_resume ? std::string("verified after the resume by the archive Job")
                                    : std::string("NOT verified (the verification after the resume did not complete)");
      std::string text = "upgraded " + versions + (u.clone ? " on clones of the old claim" : "") + "; " + verified +
                         "; the old data stays in claim " + u.old_claim + ", the backup in claim " + backup_claim_name(u);
      // A StorageClass named in --clone-storage-classes that this attempt did not clone: say why.
      if (!u.clone && !u.clone_note.empty()) text += "; copied, not cloned: " + u.clone_note;
      if (u.clone)
        text += u.archive_error.empty()
                    ? " (a clone of the old claim taken at the stop, with its logical archive)"
                    : " (a clone of the old claim taken at the stop); its logical archive FAILED: " + u.archive_error;
      else if (!u.analyze_error.empty()) text += "; its ANALYZE after the resume FAILED: " + u.analyze_error;
      if (u.quay_operator)
        text += "; the Quay operator " + to_string(u.quay_operator->deployment) +
                " was paused for the upgrade and resumed: the database runs its image " + u.quay_operator->expected_image +
                " on the claim it renders, " + data_claim_name(u);
      return text;
    }
    case phase::verify_failed: {
      std::string text = u.last_error + ". The app is stopped again (its replica counts kept on its Deployments); PostgreSQL " +
                         to_string(*u.to) + " keeps the writes made since the resume on claim " + data_claim_name(u) +
                         "; the old data is untouched on claim " + u.old_claim + " and cloned in " + backup_claim_name(u) +
                         ". Set annotation " + annotation_revert + " to " + u.old_claim +
                         " to go back to it (the upgraded data, those writes included, is backed up into a claim of its "
                         "own first), or scale the app up again to accept the upgraded data as it is";
      if (!u.revert.refused.empty()) text += "; the revert request was refused: " + u.revert.refused;
      return text;
    }
    case phase::failed: {
      std::string text = u.last_error;
      if (!u.rollback_incomplete.empty())
        text += "; " + u.rollback_incomplete + "; every claim is kept; set annotation " + annotation_retry +
                " to a new value to try again";
      else
        text += u.started ? "; the database runs on its old claim " + u.old_claim + " and image " + u.old_image +
                                ", every claim is kept; set annotation " + annotation_retry + " to a new value to try again"
                          : std::string("; set annotation ") + annotation_retry + " to a new value to try again";
      if (holds_operator_after_rollback(u)) {
        const auto& op = *u.quay_operator;
        text += ". The Quay operator " + to_string(op.deployment) + " stays paused (its " + std::to_string(*op.replicas) +
                " replicas recorded on its Deployment): resumed now, it would start its own migration and take claim " +
                data_claim_name(u) +
                ", which holds this failed attempt's data, for its result. A successful retry resumes it; to let the "
                "operator migrate instead, delete claim " +
                data_claim_name(u) + " and scale " + to_string(op.deployment) + " back to " + std::to_string(*op.replicas) +
                " replicas";
      }
      return text;
    }
    case phase::refused:
    case phase::unsupported:
    case phase::blocked: return u.last_error;
    case phase::planned: return u.plan;
    case phase::unmanaged:
      if (u.component == db_component::clair)
        return c.registry.clair_postgres_managed
                   ? "annotation quay-pg-upgrader.quay.io/skip-databases names clair: the controller leaves Clair's database "
                     "alone"
                   : "spec.components clairpostgres is unmanaged: the controller leaves Clair's database alone";
      if (c.registry.postgres_managed)
        return "annotation quay-pg-upgrader.quay.io/skip-databases names quay: the controller leaves this database alone";
      return "spec.components postgres is unmanaged: the controller leaves this database alone";
    case phase::rolling_back: return "rolling back: " + u.last_error;
    case phase::reverted: {
      std::int64_t rows = 0;
      const auto& v = u.revert.verified;
      if (v)
        for (const auto& t : v->tables) rows += t.rows;
      return "reverted on request (annotation " + std::string(annotation_revert) + "): the database runs PostgreSQL " +
             to_string(*u.from) + " again on its previous claim " + u.old_claim + " with image " + u.old_image + "; verified " +
             std::to_string(v ? v->tables.size() : 0) + " tables, " + std::to_string(rows) +
             " rows against the manifest taken before the upgrade. Writes made after the upgrade are NOT carried back: "
             "they are in claim " +
             revert_backup_claim_name(u) +
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
             revert_backup_claim_name(u) + "): " + waiting_for(c) +
             (u.current == phase::revert_resuming && !u.last_error.empty() ? " (last error: " + u.last_error + ")" : "");
    default: {
      std::string text = versions.empty() ? std::string() : versions + ": ";
      text += waiting_for(c);
      // Queued for the limit or the window: waiting_for already says why (last_error holds it).
      if (!u.last_error.empty() && u.current != phase::queued) text += " (last error: " + u.last_error + ")";
      return text;
    }
  }
}

std::string waiting_for(const upgrade_ctx& c) {
  const auto& u = c.u;
  auto job_text = [&](job_role role, const char* what) {
    const auto* j = u.from && u.to ? find_job(c, job_name(u, role)) : nullptr;
    if (!j)
      return std::string("waiting for the ") + what + " Job " + (u.from && u.to ? job_name(u, role) : "") + " to be created";
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
      if (!db) return "waiting for the database Deployment " + database_deployment_name(u);
      if (db->ready_replicas < 1) return "waiting for the database to be ready to confirm its version";
      return "confirming the server version of " + database_deployment_name(u);
    }
    case phase::preflight: {
      const std::string check = check_wanted(c) ? job_text(job_role::check, "preflight check") : "";
      const std::string claims = claims_text(c);
      if (check.empty()) return claims.empty() ? "checking" : claims;
      return claims.empty() ? check : check + "; " + claims;
    }
    case phase::pausing_operator: {
      const auto* op = managing_operator(c);
      if (operator_stopped(c) && !claims_text(c).empty()) return "the Quay operator is paused; " + claims_text(c);
      return "pausing the Quay operator " + (op ? to_string(op->meta.key) : std::string("(gone)")) +
             " before anything is touched: its Deployment is scaled to 0 (" + std::to_string(op ? op->status_replicas : 0) +
             " pods remain)";
    }
    case phase::resuming_operator:
      if (sibling_needs_operator_paused(c))
        return "keeping the Quay operator " + to_string(u.quay_operator->deployment) + " paused until " +
               std::string(profile_of(sibling(c)->component).title) + " of this registry is upgraded too";
      return "resuming the Quay operator " + to_string(u.quay_operator->deployment) + " at its recorded " +
             std::to_string(u.quay_operator->replicas.value_or(0)) + " replicas";
    case phase::blocked: return "nothing until what blocks the upgrade goes away: " + u.last_error;
    case phase::queued: {
      if (!u.block_reason.empty()) return "waiting for its turn: " + u.last_error;
      const auto* other = sibling(c);
      return "waiting for its turn: " + std::string(profile_of(other ? other->component : u.component).title) +
             " of this registry is upgraded first (one at a time; --databases-side-by-side runs both at once)";
    }
    case phase::quiescing: {
      std::string text = "waiting for the app to stop:";
      for (const auto* d : app_deployments(c))
        text += " " + d->meta.key.name + " has " + std::to_string(d->status_replicas) + " replicas;";
      text += " " + std::to_string(app_pods(c).size()) + " app pods remain";
      return text;
    }
    case phase::backing_up: {
      if (u.clone)
        return "measuring row counts and checksums of every table (the backup will be a clone of claim " + u.old_claim +
               " made once the database stopped)";
      const std::string measuring =
          u.before && u.before->has_manifest ? "" : "measuring row counts and checksums of every table; ";
      const auto t = claim_text(backup_claim_name(u), "backup");
      if (!t.empty() && !done(c, step_kind::create_claim, "backup")) return measuring + t;
      return measuring + (t.empty() ? job_text(job_role::backup, "backup") : t + "; " + job_text(job_role::backup, "backup")) +
             progress_note(u);
    }
    case phase::stopping:
      return "waiting for the database to stop: " + std::to_string(database_pods(c).size()) + " database pods remain";
    case phase::upgrading: {
      if (u.clone) {
        const auto clones = claims_text(c);
        return clones.empty() ? job_text(upgrade_role(u), "upgrade") + " (pg_upgrade --link in the data clone)" + progress_note(u)
                              : clones;
      }
      const auto t = claim_text(data_claim_name(u), "new data");
      if (!t.empty() && !done(c, step_kind::create_claim, "data")) return t;
      return (t.empty() ? job_text(upgrade_role(u), "upgrade") : t + "; " + job_text(upgrade_role(u), "upgrade")) +
             progress_note(u);
    }
    case phase::switching: {
      const auto* db = database(c);
      return "waiting for " + database_deployment_name(u) + " to run " + target_image(c) + " on claim " + data_claim_name(u) +
             " (ready " + std::to_string(db ? db->ready_replicas : 0) + ")";
    }
    case phase::verifying:
      return u.verify_after_resume
                 ? "checking the upgraded server's version (every row is verified after the resume, from clones)"
                 : "comparing the upgraded database with the manifest";
    case phase::resuming: return "scaling the app back to its replica counts";
    case phase::archiving:
      if (u.verify_after_resume)
        return "the app serves; verifying the upgraded data (its clone " + verify_claim_name(u) +
               ") against the old data (the backup clone " + backup_claim_name(u) +
               "), then writing the logical archive: " + job_text(job_role::archive, "archive") + progress_note(u);
      return "the upgrade is verified and the app serves; writing the logical archive of the backup clone " +
             backup_claim_name(u) + " (pg_dump of the old data, pg_restore --list): " + job_text(job_role::archive, "archive") +
             progress_note(u);
    case phase::analyzing:
      return "the upgrade is verified and the app serves; making the planner's statistics of the new cluster "
             "(vacuumdb --analyze-in-stages, which neither pg_restore nor pg_upgrade carries): " +
             job_text(job_role::analyze, "analyze");
    case phase::rolling_back: return "restoring the old database and the app";
    case phase::failed:
      return std::string("waiting for a person: fix the cause, then set annotation ") + annotation_retry + " to a new value";
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
      if (!t.empty() && !revert_done(c, step_kind::create_claim, "backup")) return t;
      const auto* j = revert_job(c);
      const std::string jt = !j ? "waiting for the backup Job " + revert_job_name(u) + " to be created"
                                : "waiting for the backup Job " + to_string(j->meta.key) + " (active " +
                                      std::to_string(j->active) + ", failed pods " + std::to_string(j->failed) + ")";
      return (t.empty() ? jt : t + "; " + jt) + progress_note(u);
    }
    case phase::revert_stopping:
      return "waiting for the upgraded database to stop: " + std::to_string(database_pods(c).size()) + " database pods remain";
    case phase::revert_switching: {
      const auto* db = database(c);
      return "waiting for " + database_deployment_name(u) + " to run " + u.old_image + " on claim " + u.old_claim + " (ready " +
             std::to_string(db ? db->ready_replicas : 0) + ")";
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
    case phase::planned:
      return std::string("nothing: a dry run planned the upgrade; remove annotation ") + annotation_dry_run +
             " (or run without --dry-run) to upgrade";
    default: return "nothing: the database needs no upgrade";
  }
}

// The Kubernetes Event for a phase just entered.
void announce(upgrade_ctx& c) {
  const auto& u = c.u;
  const bool warning = u.current == phase::failed || u.current == phase::refused || u.current == phase::unsupported ||
                       u.current == phase::revert_rolling_back || u.current == phase::revert_failed ||
                       u.current == phase::revert_refused || u.current == phase::rolling_back || u.current == phase::blocked ||
                       u.current == phase::verify_failed ||
                       (u.current == phase::succeeded && (!u.archive_error.empty() || !u.analyze_error.empty()));
  const effect_id id = event_id(u, c.seq, u.current);
  if (issued_or_done(c, id)) return;
  send_event(c, id,
             {warning ? "Warning" : "Normal",
              std::string(profile_of(u.component).condition_prefix) + "Upgrade" + condition_reason(u.current), summary_message(c),
              c.now});
}

// The QuayRegistry's status, written when the phase or the error changed since the last write.
namespace {

// What became of the Job after the resume (names.hpp after_resume_role), for the status summary:
// "Complete: <its pod's report>" (or `done_text`), "Failed: <why>", "Running" while its phase
// lasts, else "Pending".
std::string after_resume_text(const upgrade_ctx& c, bool done, const std::string& error, phase running, const char* done_text) {
  if (done) {
    const auto* j = find_job(c, job_name(c.u, after_resume_role(c.u)));
    const std::string report = j ? trim_end(job_report(c, *j)) : std::string();
    return "Complete: " + (report.empty() ? std::string(done_text) : report);
  }
  if (!error.empty()) return "Failed: " + error;
  return c.u.current == running ? "Running" : "Pending";
}

}  // namespace

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
  // Before the downtime the new claims' state is news too (created, Pending and why, Bound).
  if (u.current == phase::preflight || u.current == phase::pausing_operator) append({claims_text(c)});
  // While a Job moves data, each new progress line is news.
  const auto* progress = current_progress(u);
  if (progress) append({progress_text(*progress)});
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
    if (id.step == step_kind::status) {
      retry_due = retry_due || at <= c.now;
      if (const auto n = u.transient_failures.find(id); n != u.transient_failures.end()) failures = std::max(failures, n->second);
    }
  if (u.status_written == key && !retry_due) return;
  std::erase_if(c.u.retry_at, [](const auto& kv) { return kv.first.step == step_kind::status; });
  std::erase_if(c.u.transient_failures,
                [&](const auto& kv) { return kv.first.step == step_kind::status && !u.in_flight.contains(kv.first); });
  c.u.status_written = key;

  const std::string message = summary_message(c);
  std::vector<condition> conditions;
  const std::int64_t generation = c.registry.meta.generation;
  const std::string prefix(profile_of(u.component).condition_prefix);
  conditions.push_back({prefix + "UpgradeProgressing",
                        is_active(u.current) || u.current == phase::archiving || u.current == phase::analyzing ? "True" : "False",
                        condition_reason(u.current), message, u.phase_since, generation});
  std::string done_status = "Unknown", done_reason = "InProgress";
  switch (u.current) {
    case phase::succeeded:
    case phase::archiving:
    case phase::analyzing:
      done_status = "True";
      done_reason = "Succeeded";
      break;
    case phase::up_to_date:
      done_status = "True";
      done_reason = "UpToDate";
      break;
    case phase::failed:
      done_status = "False";
      done_reason = "Failed";
      break;
    case phase::verify_failed:
      done_status = "False";
      done_reason = "VerificationFailedAfterResume";
      break;
    case phase::refused:
      done_status = "False";
      done_reason = "DowngradeRefused";
      break;
    case phase::unsupported:
      done_status = "False";
      done_reason = "Unsupported";
      break;
    case phase::unmanaged:
      done_status = "False";
      done_reason = "Unmanaged";
      break;
    case phase::detecting: done_reason = "Detecting"; break;
    case phase::queued: done_reason = "Queued"; break;
    case phase::planned:
      done_status = "False";
      done_reason = "Planned";
      break;
    case phase::blocked:
      done_status = "False";
      done_reason = u.block_reason;
      break;
    // After a revert the database no longer runs the upgraded version; a refused or failed
    // revert leaves it upgraded.
    case phase::reverted:
      done_status = "False";
      done_reason = "Reverted";
      break;
    case phase::revert_failed:
      done_status = "True";
      done_reason = "RevertFailed";
      break;
    case phase::revert_refused:
      done_status = "True";
      done_reason = "RevertRefused";
      break;
    default:
      if (is_reverting(u.current)) done_reason = "Reverting";
      break;
  }
  conditions.push_back({prefix + "Upgraded", done_status, done_reason, message, u.phase_since, generation});
  // A clone upgrade's backup: its logical archive is written after the app is back.
  if (u.clone && u.started && u.switched) {
    const bool failed = !u.archive_error.empty();
    conditions.push_back({prefix + "BackupArchived",
                          u.archived ? "True"
                          : failed   ? "False"
                                     : "Unknown",
                          u.archived ? "Complete"
                          : failed   ? "Failed"
                                     : "Pending",
                          u.archived ? "the logical archive of the backup clone " + backup_claim_name(u) + " is complete"
                          : failed   ? u.archive_error
                                     : "written from the backup clone " + backup_claim_name(u) + " once the app is back",
                          u.phase_since, generation});
  }

  // Verification after the resume: Unknown until the archive Job compared the clones' manifests.
  if (u.verify_after_resume && u.started && u.switched) {
    const bool differs = u.current == phase::verify_failed || (u.failed_in == phase::archiving && !u.last_error.empty());
    const bool unverified = !u.verified_after_resume && u.current == phase::succeeded;
    conditions.push_back(
        {prefix + "UpgradeVerified",
         u.verified_after_resume ? "True"
         : differs               ? "False"
                                 : "Unknown",
         u.verified_after_resume ? "VerifiedAfterResume"
         : differs               ? "Mismatch"
         : unverified            ? "NotVerified"
                                 : "Pending",
         u.verified_after_resume
             ? "every table of the upgraded data, as it was at the resume, matched the old data's rows and checksums"
         : differs ? u.last_error
         : unverified
             ? u.archive_error
             : "the archive Job compares the old data (backup clone) with the upgraded data (its clone) once the app is back",
         u.phase_since, generation});
  }

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
  if (u.quay_operator) summary.quay_operator = to_string(u.quay_operator->deployment);
  if (r.run > 0) summary.revert_backup_claim = revert_backup_claim_name(u);
  if (u.clone && u.started) {
    // Complete: the archive Job's own report (its ANALYZE of the upgraded database included).
    summary.backup_archive =
        after_resume_text(c, u.archived.has_value(), u.archive_error, phase::archiving, "the logical archive is written");
  }
  if (!u.clone && (u.analyzed || !u.analyze_error.empty() || u.current == phase::analyzing))
    summary.statistics =
        after_resume_text(c, u.analyzed.has_value(), u.analyze_error, phase::analyzing, "the statistics are made");
  if (progress) {
    const auto left = time_left(*progress);
    summary.progress = summary_progress{
        progress->stage,         progress->unit,     progress->done,
        progress->total,         percent(*progress), left ? std::optional<std::int64_t>((*left + 500) / 1000) : std::nullopt,
        progress_text(*progress)};
  }
  if (u.current == phase::revert_refused) summary.last_error = r.refused;
  if (u.current == phase::revert_rolling_back || u.current == phase::revert_failed) summary.last_error = r.error;
  const effect_id id = status_id(u, c.seq);
  c.out.push_back(update_registry_status{id, u.registry, u.component, std::move(conditions), std::move(summary)});
  c.u.in_flight.insert(id);
  if (failures > 0) c.u.transient_failures[id] = failures;
}

}  // namespace qpu::reducers
