// The upgrade of one QuayRegistry, as one table (DESIGN.md section 3; how it runs: table.hpp).
#include "reducers/actions.hpp"
#include "reducers/claims.hpp"
#include "reducers/guards.hpp"
#include "reducers/plan.hpp"
#include "reducers/schedule.hpp"
#include "reducers/table.hpp"

namespace qpu::reducers {

namespace {

bool step_failed(const upgrade_ctx& c) { return c.failure.has_value(); }
bool restarted_with_new_target(const upgrade_ctx& c) { return c.restarted_with_new_target; }

// clang-format off
constexpr every_phase_rule every_phase[] = {
  // a step failed for good (a refusal, or a transient failure out of retries)
  {{phase::preflight},
   "preflight",                                "a step failed for good",                  step_failed, phase::failed,       fail_step},
  {{phase::pausing_operator, phase::quiescing, phase::backing_up, phase::stopping, phase::upgrading, phase::switching, phase::verifying},
   "pausing_operator .. verifying",                   "a step failed for good",                  step_failed, phase::rolling_back, fail_step},
  {{phase::resuming},
   "resuming",                                 "a step failed for good before any of the app was scaled up", step_failed_nothing_resumed, phase::rolling_back, fail_step},
  {{phase::revert_quiescing, phase::revert_backing_up, phase::revert_stopping, phase::revert_switching, phase::revert_verifying},
   "revert_quiescing .. revert_verifying",     "a step failed for good",                  step_failed, phase::revert_rolling_back, fail_step},
  {{phase::revert_resuming},
   "revert_resuming",                          "a step failed for good before any of the app was scaled up", step_failed_nothing_resumed, phase::revert_rolling_back, fail_step},
  // part of the app runs on the database and may have written to it: never switch it back
  {{phase::resuming, phase::revert_resuming},
   "resuming, revert_resuming",                "a step failed for good after part of the app was scaled up", step_failed_partly_resumed, std::nullopt, hold_partial_resume},
  // the upgrade stands: a failed archive or ANALYZE is reported, never rolled back
  {{phase::archiving, phase::analyzing},
   "archiving, analyzing",                     "a step failed for good",                  step_failed, phase::succeeded,    fail_after_resume_step},
  // detection touched nothing and a rollback must not give up: say why, issue it again later
  {{phase::detecting, phase::rolling_back, phase::revert_rolling_back, phase::resuming_operator, phase::verify_failed},
   "detecting, rolling_back, revert_rolling_back, resuming_operator, verify_failed", "a step failed for good", step_failed, std::nullopt, keep_trying_step},
  // a new target while idle: detect afresh (a new attempt after a finished one)
  {{phase::up_to_date, phase::refused, phase::unsupported, phase::succeeded, phase::revert_failed, phase::revert_refused, phase::planned},
   "up_to_date, refused, unsupported, succeeded, revert_failed, revert_refused, planned",
   "the controller started with another target", restarted_with_new_target, phase::detecting, redetect},
  // a Quay operator left at 0 by this controller (its record on the operator's Deployment) while
  // nothing is under way: a controller that lost its event log gives it back
  {{phase::detecting, phase::up_to_date, phase::refused, phase::unsupported, phase::unmanaged, phase::succeeded, phase::failed, phase::blocked, phase::queued, phase::reverted, phase::revert_failed, phase::revert_refused, phase::planned},
   "every idle phase",
   "the Quay operator is left paused by this controller and nothing is under way", operator_left_paused, std::nullopt, restore_left_paused_operator},
};

constexpr rule upgrade[] = {
  // detect: the image is a hint, the running server is the truth
  {phase::detecting,   "the registry does not manage its database",          unmanaged,              phase::unmanaged,   note_unmanaged},
  {phase::detecting,   "the Quay operator is migrating the database itself", operator_migrating,     phase::blocked,     note_operator_migrating},
  {phase::detecting,   "a Quay operator renders the database but is not visible", operator_not_found, phase::blocked,   note_operator_not_found},
  {phase::detecting,   "no target version is configured",                    no_target,              phase::unsupported, note_no_target},
  {phase::detecting,   "--target-image differs from the operator's image",   target_conflicts_with_operator, phase::blocked, note_target_conflict},
  {phase::detecting,   "the database Deployment does not exist yet",         db_missing,             phase::detecting,   release_turn},
  {phase::detecting,   "the database password is a literal in its env",      literal_password,       phase::blocked,     note_literal_password},
  {phase::detecting,   "the server runs the target version",                 same_version,           phase::up_to_date,  note_detected},
  {phase::detecting,   "the server runs a newer version than the target",    newer_version,          phase::refused,     note_refused},
  {phase::detecting,   "the server is older than any tool reads",            too_old,                phase::unsupported, note_too_old},
  {phase::detecting,   "the database has no data claim",                     no_data_claim,          phase::unsupported, note_no_claim},
  {phase::detecting,   "the target image keeps its data elsewhere",          target_layout_differs,  phase::unsupported, note_layout},
  {phase::detecting,   "the claim the operator renders for the target exists", operator_claim_taken, phase::blocked,     note_claim_taken},
  {phase::detecting,   "the operator runs and pausing it is turned off",     operator_not_pausable,  phase::blocked,     note_operator_not_pausable},
  {phase::detecting,   "the maintenance-window annotation cannot be read",   window_invalid,         phase::blocked,     note_window_invalid},
  {phase::detecting,   "the registry's other database goes first (one at a time)", waits_for_turn, phase::queued,    note_queued},
  {phase::detecting,   "the registry's maintenance window is closed",        outside_window,         phase::queued,      note_waiting},
  {phase::detecting,   "--max-concurrent-upgrades registries are in their downtime", waits_for_slot, phase::queued,  note_waiting},
  {phase::detecting,   "the server runs an older version",                   older_version,          phase::preflight,   plan_upgrade},
  {phase::detecting,   "the database is not ready to confirm its version",   db_not_ready,           phase::detecting,   release_turn},
  {phase::detecting,   "the server's version is being confirmed",            always,                 phase::detecting,   inspect_version},
  // idle: look again when the database image or the registry changes
  {phase::up_to_date,  "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::refused,     "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::unsupported, "the database image or its PGDATA changed",           image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::succeeded,   "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::unmanaged,   "the registry manages its database again",            managed,                phase::detecting,   redetect},
  {phase::blocked,     "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::queued,      "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::queued,      "its turn came",                                      turn_came,              phase::detecting,   note_turn_came},
  {phase::queued,      "why it waits or its place in the queue changed",     queue_place_changed,    phase::queued,      note_waiting},
  {phase::blocked,     "the operator's own migration is over",               operator_migration_over, phase::detecting,  start_retry},
  {phase::blocked,     "what blocked the upgrade no longer holds",           block_lifted,           phase::detecting,   note_unblocked},
  // preflight: sizes are known from detection; optionally `pg_upgrade --check`; the new claims are
  // created and must bind while Quay still serves (claims.hpp)
  {phase::preflight,   "the phase deadline passed",                          deadline_passed,        phase::failed,      fail_on_deadline},
  {phase::preflight,   "claims it needs are in no store (watched by label): read by name", claims_unread, phase::preflight, read_claims},
  {phase::preflight,   "the old data claim does not exist",                  old_claim_missing,      phase::failed,      fail_no_claim},
  // a dry run: the same checks, no claim made (its StorageClass is read instead), then the plan
  {phase::preflight,   "a dry run whose checks are done (passed or not): the plan, nothing stopped", dry_run_checked, phase::planned, note_plan},
  {phase::preflight,   "a dry run: the check Job runs, the new claims' StorageClass is read", dry_run_in_preflight, phase::preflight, run_dry_checks},
  {phase::preflight,   "the pg_upgrade --check Job failed",                  check_job_failed,       phase::failed,      fail_check_job},
  {phase::preflight,   "the pg_upgrade --check Job is running",              check_pending,          phase::preflight,   start_check_job},
  {phase::preflight,   "the maintenance window closed before the downtime began", outside_window,    phase::queued,      note_waiting},
  {phase::preflight,   "the checks passed and a Quay operator renders the database", operator_to_pause, phase::pausing_operator, pause_operator},
  {phase::preflight,   "a claim of the backup's name is too small",          backup_claim_too_small, phase::failed,      fail_backup_claim},
  {phase::preflight,   "a claim of the new data's name is too small",        data_claim_too_small,   phase::failed,      fail_data_claim},
  {phase::preflight,   "a new claim cannot bind",                            claim_refused,          phase::failed,      fail_claim},
  {phase::preflight,   "the new claims are Bound (or bind on first use)",    claims_ready,           phase::quiescing,   scale_apps_down},
  {phase::preflight,   "the new claims are being created, Quay still serves", always,                phase::preflight,   prepare_claims},
  // pause the operator: before anything else is touched, so it neither undoes nor redoes the upgrade
  {phase::pausing_operator, "the phase deadline passed",                     deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::pausing_operator, "the operator began its own migration",          operator_migrating_while_pausing, phase::rolling_back, fail_operator_migrating},
  {phase::pausing_operator, "the operator has no pod left and a claim of the backup's name is too small", operator_stopped_backup_claim_too_small, phase::rolling_back, fail_backup_claim},
  {phase::pausing_operator, "the operator has no pod left and a claim of the new data's name is too small", operator_stopped_data_claim_too_small, phase::rolling_back, fail_data_claim},
  {phase::pausing_operator, "the operator has no pod left and a new claim cannot bind", operator_stopped_claim_refused, phase::rolling_back, fail_claim},
  {phase::pausing_operator, "the operator has no pod left and the new claims are Bound", operator_stopped_claims_ready, phase::quiescing, scale_apps_down},
  {phase::pausing_operator, "the operator has no pod left: the new claims are being created", operator_stopped, phase::pausing_operator, prepare_claims},
  {phase::pausing_operator, "the operator is being scaled to 0",             always,                 phase::pausing_operator, pause_operator},
  // quiesce: the app stops writing before anything is copied
  {phase::quiescing,   "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::quiescing,   "no app pod remains",                                 apps_stopped,           phase::backing_up,  take_backup},
  {phase::quiescing,   "the app is being scaled to 0",                       always,                 phase::quiescing,   scale_apps_down},
  // backup: the target image's pg_dump into its own claim, beside the manifest of the quiet database
  {phase::backing_up,  "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::backing_up,  "the backup Job failed",                              backup_job_failed,      phase::rolling_back, fail_backup_job},
  {phase::backing_up,  "the backup Job was deleted by someone else",         waited_job_deleted,     phase::rolling_back, fail_job_deleted},
  {phase::backing_up,  "the backup Job completed and the manifest is taken", backup_job_complete,    phase::stopping,    stop_database},
  {phase::backing_up,  "cloning storage: the manifest is taken (the backup is a clone made after the stop)", clone_manifest_taken, phase::stopping, stop_database},
  {phase::backing_up,  "a claim of the backup's name is too small",          backup_claim_too_small, phase::rolling_back, fail_backup_claim},
  {phase::backing_up,  "the backup is being taken",                          always,                 phase::backing_up,  take_backup},
  // stop: the old server must be gone before its data is read for the upgrade
  {phase::stopping,    "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::stopping,    "no database pod remains",                            database_stopped,       phase::upgrading,   run_upgrade},
  {phase::stopping,    "the database is being scaled to 0",                  always,                 phase::stopping,    stop_database},
  // upgrade: a NEW claim is filled; the old claim is never written
  {phase::upgrading,   "the phase deadline passed",                          deadline_passed,        phase::rolling_back, fail_on_deadline},
  {phase::upgrading,   "the upgrade Job failed",                             upgrade_job_failed,     phase::rolling_back, fail_upgrade_job},
  {phase::upgrading,   "the upgrade Job was deleted by someone else",        waited_job_deleted,     phase::rolling_back, fail_job_deleted},
  {phase::upgrading,   "the clone of the upgraded data (verification after the resume) cannot be made", verify_clone_refused, phase::rolling_back, fail_claim},
  {phase::upgrading,   "the upgrade Job completed; its data is cloned for the verification after the resume", verify_clone_pending, phase::upgrading, clone_upgraded_data},
  {phase::upgrading,   "the upgrade Job completed",                          upgrade_job_complete,   phase::switching,   switch_database},
  {phase::upgrading,   "a claim of the new data's name is too small",        data_claim_too_small,   phase::rolling_back, fail_data_claim},
  {phase::upgrading,   "a clone of the stopped old claim cannot be made",    clone_refused,          phase::rolling_back, fail_claim},
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
  {phase::resuming,    "the phase deadline passed before any of the app was scaled up", deadline_passed_nothing_resumed, phase::rolling_back, fail_on_deadline},
  {phase::resuming,    "the phase deadline passed after part of the app was scaled up", deadline_passed_partly_resumed, phase::resuming, hold_partial_resume},
  {phase::resuming,    "the app is back and the paused operator waits",      apps_resumed_operator_paused, phase::resuming_operator, nothing},
  {phase::resuming,    "the app is back; the backup clone's archive is due", apps_resumed_archive_due, phase::archiving, begin_after_resume},
  {phase::resuming,    "the app is back; the statistics are due",            apps_resumed_analyze_due, phase::analyzing, begin_after_resume},
  {phase::resuming,    "the app is being scaled back",                       always,                 phase::resuming,    resume_apps},
  // resume the operator: no deadline, the app already writes to the upgraded database
  {phase::resuming_operator, "the registry's other database still needs the operator paused", sibling_needs_operator_paused, phase::resuming_operator, nothing},
  {phase::resuming_operator, "the operator is back; the backup clone's archive is due", operator_resumed_archive_due, phase::archiving, begin_after_resume},
  {phase::resuming_operator, "the operator is back; the statistics are due",  operator_resumed_analyze_due, phase::analyzing, begin_after_resume},
  {phase::resuming_operator, "the registry's other database resumes the operator", sibling_resumes_operator, phase::resuming_operator, nothing},
  {phase::resuming_operator, "the operator is being scaled back",            always,                 phase::resuming_operator, resume_operator},
  // archive (clone upgrades): the backup clone's logical archive, written while the app serves
  {phase::archiving,   "the archive deadline passed",                        deadline_passed,        phase::succeeded,   fail_after_resume_on_deadline},
  {phase::archiving,   "the verification after the resume found the upgraded data different", after_resume_mismatch, phase::verify_failed, fail_verification_after_resume},
  {phase::archiving,   "the archive Job ended: the manifests it printed are read (verification after the resume)", after_resume_manifests_due, phase::archiving, read_manifests},
  {phase::archiving,   "the archive Job failed",                             after_resume_job_failed, phase::succeeded,  fail_after_resume_job},
  {phase::archiving,   "the archive Job completed",                          after_resume_job_complete, phase::succeeded, finish_after_resume},
  {phase::archiving,   "the backup clone's archive is being written",        always,                 phase::archiving,   run_after_resume},
  // analyze (copy upgrades): the new cluster's statistics, made while the app serves
  {phase::analyzing,   "the analyze deadline passed",                        deadline_passed,        phase::succeeded,   fail_after_resume_on_deadline},
  {phase::analyzing,   "the analyze Job failed",                             after_resume_job_failed, phase::succeeded,  fail_after_resume_job},
  {phase::analyzing,   "the analyze Job completed",                          after_resume_job_complete, phase::succeeded, finish_after_resume},
  {phase::analyzing,   "the statistics are being made",                      always,                 phase::analyzing,   run_after_resume},
  // rollback: the old claim and image, every claim kept
  {phase::rolling_back, "the rollback deadline passed",                      deadline_passed,        phase::failed,      give_up_rollback},
  {phase::rolling_back, "the old database serves and the app is restored",   rollback_complete,      phase::failed,      finish},
  {phase::rolling_back, "the old database and the app are being restored",   always,                 phase::rolling_back, roll_back},
  // planned: a dry run's plan stands until the dry run is lifted (a real attempt) or asked again
  {phase::planned,     "the database image changed",                         image_changed_or_unmanaged, phase::detecting, redetect},
  {phase::planned,     "the dry run was lifted or asked again",              dry_run_changed,        phase::detecting,   redetect},
  // failed: a person decides; the retry annotation starts a new attempt
  {phase::failed,      "the " "quay-pg-upgrader.quay.io/retry" " annotation has a new value", retry_requested, phase::detecting, start_retry},
};
// clang-format on

}  // namespace

std::span<const rule> upgrade_rules() { return upgrade; }
std::span<const every_phase_rule> every_phase_rules() { return every_phase; }

}  // namespace qpu::reducers
