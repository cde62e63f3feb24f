#pragma once
// The upgrade's actions: what a row of the table does when it fires. They issue effects (through
// issue(), so issuing twice is harmless) and record what the upgrade learned; they never change
// the phase: the row's target does.
#include <string>

#include "reducers/context.hpp"

namespace qpu::reducers {

void nothing(upgrade_ctx& c);

// detecting
void inspect_version(upgrade_ctx& c);
void plan_upgrade(upgrade_ctx& c);
void note_unmanaged(upgrade_ctx& c);
void note_no_target(upgrade_ctx& c);
void note_detected(upgrade_ctx& c);
void note_refused(upgrade_ctx& c);
void note_too_old(upgrade_ctx& c);
void note_layout(upgrade_ctx& c);
void note_no_claim(upgrade_ctx& c);
// idle phases: a new attempt, or a fresh detection
void start_retry(upgrade_ctx& c);
void redetect(upgrade_ctx& c);
// the way through
void start_check_job(upgrade_ctx& c);
void scale_apps_down(upgrade_ctx& c);
void take_backup(upgrade_ctx& c);
void stop_database(upgrade_ctx& c);
void run_upgrade(upgrade_ctx& c);
void switch_database(upgrade_ctx& c);
void verify(upgrade_ctx& c);
void resume_apps(upgrade_ctx& c);
void finish_success(upgrade_ctx& c);
// after the app is back, one Job finishes the upgrade (names.hpp after_resume_role): the backup
// clone's logical archive (archiving) or the statistics (analyzing); its failure never undoes it
void begin_after_resume(upgrade_ctx& c);
void run_after_resume(upgrade_ctx& c);
void finish_after_resume(upgrade_ctx& c);
void fail_after_resume_job(upgrade_ctx& c);
void fail_after_resume_on_deadline(upgrade_ctx& c);
void fail_after_resume_step(upgrade_ctx& c);
// verification after the resume (config verify_after_resume): the manifests the archive Job
// printed; a difference stops the app again (verify_failed) and offers the revert
void read_manifests(upgrade_ctx& c);
void fail_verification_after_resume(upgrade_ctx& c);
void stop_apps_again(upgrade_ctx& c);
// failures: each records why; its row says where the upgrade goes
void record_failure(upgrade_ctx& c, std::string reason);
void fail_on_deadline(upgrade_ctx& c);
// Claims the attempt needs by name that no watch carries: read each once (guards.hpp, claims_to_read).
void read_claims(upgrade_ctx& c);
void fail_no_claim(upgrade_ctx& c);
void fail_check_job(upgrade_ctx& c);
void fail_backup_job(upgrade_ctx& c);
/// The phase's Job was deleted by someone else: waiting for it would hold the downtime until the deadline.
void fail_job_deleted(upgrade_ctx& c);
void fail_backup_claim(upgrade_ctx& c);
void fail_upgrade_job(upgrade_ctx& c);
void fail_data_claim(upgrade_ctx& c);
void fail_verification(upgrade_ctx& c);
void fail_step(upgrade_ctx& c);
void keep_trying_step(upgrade_ctx& c);
// resuming, revert_resuming after part of the app was scaled up (guards.hpp app_partly_resumed):
// never switch the database back; say so loudly (status, one Warning Event) and keep scaling up.
void hold_partial_resume(upgrade_ctx& c);
// a Quay operator renders the database
void note_operator_migrating(upgrade_ctx& c);
void note_operator_not_found(upgrade_ctx& c);
void note_target_conflict(upgrade_ctx& c);
void note_claim_taken(upgrade_ctx& c);
void note_operator_not_pausable(upgrade_ctx& c);
void note_unblocked(upgrade_ctx& c);
void note_queued(upgrade_ctx& c);
void note_window_invalid(upgrade_ctx& c);
void note_literal_password(upgrade_ctx& c);
// queued for --max-concurrent-upgrades or the maintenance window: why, and the place in the queue
void note_waiting(upgrade_ctx& c);
void note_turn_came(upgrade_ctx& c);
void release_turn(upgrade_ctx& c);
void pause_operator(upgrade_ctx& c);
void resume_operator(upgrade_ctx& c);
void fail_operator_migrating(upgrade_ctx& c);
void restore_left_paused_operator(upgrade_ctx& c);
// rolling back
void roll_back(upgrade_ctx& c);
void finish(upgrade_ctx& c);
void give_up_rollback(upgrade_ctx& c);

}  // namespace qpu::reducers
