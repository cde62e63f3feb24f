#pragma once
// The manual revert's guards and actions (its rows are in revert_table.cpp).
//
// After a successful upgrade, annotation quay-pg-upgrader.quay.io/revert-to-claim naming the old
// claim puts the database back on it, with the old image: quiesce, back up the UPGRADED data into
// a claim of its own (never owner-referenced, so it outlives the registry), stop, switch back,
// verify against the manifest taken before the upgrade (the old claim has not been written since
// its server stopped), resume. Writes made after the upgrade are not carried back; they stay in
// that backup and in the upgraded claim. A failure goes back to the upgraded claim and image.
#include <string>
#include <string_view>

#include "reducers/context.hpp"

namespace qpu::reducers {

// guards
bool revert_annotation_new(const upgrade_ctx& c);
bool revert_annotation_removed(const upgrade_ctx& c);
bool revert_refused_now(const upgrade_ctx& c);
bool revert_backup_failed(const upgrade_ctx& c);
bool revert_backup_complete(const upgrade_ctx& c);
bool reverted_and_ready(const upgrade_ctx& c);
bool revert_verification_mismatch(const upgrade_ctx& c);
bool revert_verification_matches(const upgrade_ctx& c);
bool revert_apps_resumed(const upgrade_ctx& c);
bool revert_rollback_complete(const upgrade_ctx& c);

// actions
void note_revert_refused(upgrade_ctx& c);
void note_revert_refused_again(upgrade_ctx& c);
void forget_revert_request(upgrade_ctx& c);
void begin_revert(upgrade_ctx& c);
void revert_scale_apps_down(upgrade_ctx& c);
void take_revert_backup(upgrade_ctx& c);
void revert_stop_database(upgrade_ctx& c);
void revert_switch(upgrade_ctx& c);
void revert_verify(upgrade_ctx& c);
void revert_resume_apps(upgrade_ctx& c);
void finish_revert(upgrade_ctx& c);
void fail_revert_backup(upgrade_ctx& c);
void fail_revert_switch_deadline(upgrade_ctx& c);
void fail_revert_verification(upgrade_ctx& c);
void revert_roll_back(upgrade_ctx& c);
void finish_revert_failure(upgrade_ctx& c);
void give_up_revert_rollback(upgrade_ctx& c);

// For the reports: a step of the current revert is done; its backup Job, when it exists.
bool revert_done(const upgrade_ctx& c, step_kind step, std::string target = {});
const job* revert_job(const upgrade_ctx& c);

}  // namespace qpu::reducers
