#pragma once
// The new claims before the downtime (issue 15, item 3): the backup and data claims are created
// while Quay still serves (in preflight, or once a Quay operator is paused: the data claim carries
// the name the operator renders) and must be Bound, or bind on their first consumer
// (volumeBindingMode WaitForFirstConsumer), before anything is stopped. A claim that cannot bind
// refuses the upgrade with the storage's own reason: a StorageClass that does not exist, a Warning
// Event on the claim (ProvisioningFailed), or no binding within --claim-bind-timeout. Pure reads
// and effects, as every guard and action.
#include <optional>
#include <string>

#include "reducers/context.hpp"

namespace qpu::reducers {

// Whether this attempt's claims are clones of the stopped old claim (config clone_storage_classes,
// the pg_upgrade method, the old claim's class kept, no claim of their names yet), and when a
// configured clone is not taken, why (registry_upgrade::clone_note). Called when the plan is made.
void choose_clone(upgrade_ctx& c);
// A clone of the old claim cannot be made (phase upgrading of a clone attempt).
bool clone_refused(const upgrade_ctx& c);
// Verification after the resume (config verify_after_resume): the upgrade Job is done and the
// clone of the upgraded data is not Bound yet, or cannot be made; the action makes it.
bool verify_clone_pending(const upgrade_ctx& c);
bool verify_clone_refused(const upgrade_ctx& c);
void clone_upgraded_data(upgrade_ctx& c);
// Action: issue both claims (idempotent) and, while one is Pending, read why every few seconds.
void prepare_claims(upgrade_ctx& c);
// Both claims exist and are Bound, or bind on their first consumer.
bool claims_ready(const upgrade_ctx& c);
// One claim cannot bind (its StorageClass is missing, a Warning Event, or the timeout passed).
bool claim_refused(const upgrade_ctx& c);
bool operator_stopped_claims_ready(const upgrade_ctx& c);
bool operator_stopped_claim_refused(const upgrade_ctx& c);
bool operator_stopped_backup_claim_too_small(const upgrade_ctx& c);
bool operator_stopped_data_claim_too_small(const upgrade_ctx& c);
// Action: the refusal, in words, with what to do.
void fail_claim(upgrade_ctx& c);
// What the claims wait for, for the status ("" when both are ready or none was asked for yet).
std::string claims_text(const upgrade_ctx& c);
// The next moment a waiting claim needs a look: its next inspection or its timeout.
std::optional<timestamp> claims_wakeup(const upgrade_ctx& c);

}  // namespace qpu::reducers
