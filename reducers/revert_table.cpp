// The manual revert of a finished upgrade, as rows of the same table (how it runs: table.hpp;
// what it does: revert.hpp). Its rows for the succeeded phase come after the upgrade's own.
#include "reducers/actions.hpp"
#include "reducers/guards.hpp"
#include "reducers/revert.hpp"
#include "reducers/table.hpp"

namespace qpu::reducers {

namespace {

// clang-format off
constexpr rule revert[] = {
  // succeeded: a person may ask for the old database back (annotation quay-pg-upgrader.quay.io/revert-to-claim)
  {phase::succeeded,   "the revert annotation does not name the retained previous claim", revert_refused_now, phase::revert_refused, note_revert_refused},
  {phase::succeeded,   "the revert annotation names the retained previous claim", revert_annotation_new, phase::revert_quiescing, begin_revert},
  {phase::succeeded,   "the revert annotation was removed",                  revert_annotation_removed, phase::succeeded, forget_revert_request},
  // verify_failed: the app stays stopped; a person reverts (the writes since the resume backed up first)
  {phase::verify_failed, "the revert annotation does not name the retained previous claim", revert_refused_now, phase::verify_failed, note_revert_refused},
  {phase::verify_failed, "the revert annotation names the retained previous claim", revert_annotation_new, phase::revert_quiescing, begin_revert},
  {phase::verify_failed, "the app is kept stopped until a person decides",  always,                 phase::verify_failed, stop_apps_again},
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
  {phase::revert_backing_up, "the backup Job of the upgraded data was deleted by someone else", waited_job_deleted, phase::revert_rolling_back, fail_job_deleted},
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
  {phase::revert_resuming, "the phase deadline passed before any of the app was scaled up", deadline_passed_nothing_resumed, phase::revert_rolling_back, fail_on_deadline},
  {phase::revert_resuming, "the phase deadline passed after part of the app was scaled up", deadline_passed_partly_resumed, phase::revert_resuming, hold_partial_resume},
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

}  // namespace

std::span<const rule> revert_rules() { return revert; }

}  // namespace qpu::reducers
