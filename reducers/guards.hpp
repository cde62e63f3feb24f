#pragma once
// The upgrade's guards: small named questions about the observed cluster and the reported facts,
// each one a column entry of the table (upgrade_table.cpp). Pure reads.
#include <cstdint>
#include <utility>
#include <string>
#include <vector>

#include "reducers/context.hpp"

namespace qpu::reducers {

bool always(const upgrade_ctx& c);
bool deadline_passed(const upgrade_ctx& c);

// detecting
// annotation quay-pg-upgrader.quay.io/skip-databases names `name` ("quay", "clair")
bool skips(const quay_registry& r, std::string_view name);
bool unmanaged(const upgrade_ctx& c);
bool managed(const upgrade_ctx& c);
bool no_target(const upgrade_ctx& c);
bool db_missing(const upgrade_ctx& c);
// the database Deployment's POSTGRESQL_PASSWORD or POSTGRESQL_ADMIN_PASSWORD is a literal env value
// (the event log holds only its token, watch/redact.hpp, and no Job gets a literal password)
bool literal_password(const upgrade_ctx& c);
bool db_not_ready(const upgrade_ctx& c);
bool same_version(const upgrade_ctx& c);
bool newer_version(const upgrade_ctx& c);
bool too_old(const upgrade_ctx& c);
bool no_data_claim(const upgrade_ctx& c);
bool target_layout_differs(const upgrade_ctx& c);
bool older_version(const upgrade_ctx& c);
bool upgrade_due(const upgrade_ctx& c);  // the server runs an older major than the target
// idle phases
bool image_changed(const upgrade_ctx& c);
bool image_changed_or_unmanaged(const upgrade_ctx& c);
bool retry_requested(const upgrade_ctx& c);
// preflight
std::vector<std::pair<std::string, std::string>> claims_to_read(const upgrade_ctx& c);  // (role, name)
bool claims_unread(const upgrade_ctx& c);
bool old_claim_missing(const upgrade_ctx& c);
bool check_wanted(const upgrade_ctx& c);
bool check_job_failed(const upgrade_ctx& c);
bool check_pending(const upgrade_ctx& c);
// quiescing, stopping, resuming
bool apps_stopped(const upgrade_ctx& c);
bool database_stopped(const upgrade_ctx& c);
bool apps_resumed(const upgrade_ctx& c);
// resuming, revert_resuming: a scale-up of an app Deployment was accepted (or sent, its answer not
// seen): its pods may have written to the database it now runs on, so switching the database back
// would leave those acknowledged writes in a claim nobody serves.
bool app_partly_resumed(const upgrade_ctx& c);
bool step_failed_nothing_resumed(const upgrade_ctx& c);
bool step_failed_partly_resumed(const upgrade_ctx& c);
bool deadline_passed_nothing_resumed(const upgrade_ctx& c);
bool deadline_passed_partly_resumed(const upgrade_ctx& c);  // and some of the app is still to scale up
// backing_up
bool backup_job_failed(const upgrade_ctx& c);
/// The Job the current phase waits on (backing_up, upgrading, revert_backing_up), with what it does
/// ("backup", ...); none in other phases or before the versions are known.
std::optional<std::pair<std::string, std::string>> waited_job(const upgrade_ctx& c);
/// That Job was seen (registry_upgrade::jobs_seen) and is gone, finished or not: someone deleted it.
bool waited_job_deleted(const upgrade_ctx& c);
bool backup_job_complete(const upgrade_ctx& c);
// A clone upgrade's backup phase: the manifest of the quiet database is taken (the backup itself
// is a clone made once the server stopped).
bool clone_manifest_taken(const upgrade_ctx& c);
bool backup_claim_too_small(const upgrade_ctx& c);
// upgrading
bool upgrade_job_failed(const upgrade_ctx& c);
bool upgrade_job_complete(const upgrade_ctx& c);
bool data_claim_too_small(const upgrade_ctx& c);
// switching, verifying
bool switched_and_ready(const upgrade_ctx& c);
bool verification_mismatch(const upgrade_ctx& c);
bool verification_matches(const upgrade_ctx& c);
// rolling_back
bool rollback_complete(const upgrade_ctx& c);
// a Quay operator renders the database (QUAY-OPERATOR.md)
bool operator_migrating(const upgrade_ctx& c);
bool operator_not_found(const upgrade_ctx& c);
bool target_conflicts_with_operator(const upgrade_ctx& c);
bool operator_claim_taken(const upgrade_ctx& c);
bool operator_not_pausable(const upgrade_ctx& c);
bool operator_to_pause(const upgrade_ctx& c);
bool operator_stopped(const upgrade_ctx& c);
bool operator_migrating_while_pausing(const upgrade_ctx& c);
bool apps_resumed_operator_paused(const upgrade_ctx& c);
bool operator_resumed(const upgrade_ctx& c);
// After the app is back, off the downtime, one Job finishes the upgrade (after_resume_role): on
// the clone path the backup clone's logical archive, otherwise the new cluster's statistics.
bool apps_resumed_archive_due(const upgrade_ctx& c);
bool operator_resumed_archive_due(const upgrade_ctx& c);
bool apps_resumed_analyze_due(const upgrade_ctx& c);
bool operator_resumed_analyze_due(const upgrade_ctx& c);
bool after_resume_job_failed(const upgrade_ctx& c);
bool after_resume_job_complete(const upgrade_ctx& c);
// Verification after the resume (archiving, config verify_after_resume): the archive Job ended and
// the manifests it printed are not read yet; both are read and differ.
bool after_resume_manifests_due(const upgrade_ctx& c);
bool after_resume_mismatch(const upgrade_ctx& c);
bool operator_left_paused(const upgrade_ctx& c);
// one database of a registry at a time (unless --databases-side-by-side), Quay's first
bool must_wait_turn(const upgrade_ctx& c);
bool waits_for_turn(const upgrade_ctx& c);
// (turn_came, the limit and the maintenance window: schedule.hpp)
// the operator stays paused while the registry's other database still needs it so
// After a rollback the Quay operator stays paused when the failed attempt created the new data
// claim: that claim has the name the operator renders for its target, and a resumed operator,
// whose expected image still differs from the database's, would start its own migration at once
// and, as its migration only fills an EMPTY claim, take the failed attempt's data for its result.
// Until a retry (a new attempt) or a person decides (docs/OPERATIONS.md section 10).
bool holds_operator_after_rollback(const registry_upgrade& u);
bool sibling_needs_operator_paused(const upgrade_ctx& c);
// side by side, both wait to resume it: Clair's database does it, Quay's waits
bool sibling_resumes_operator(const upgrade_ctx& c);
// blocked: why an upgrade that is due must not start now ("" when nothing blocks it)
std::string block_now(const upgrade_ctx& c);
bool block_lifted(const upgrade_ctx& c);
// The operator's migration this registry stood aside for is over: detect afresh (a new attempt,
// so no fact measured before it is reused).
bool operator_migration_over(const upgrade_ctx& c);

// Shared with the actions: what verification found.
std::vector<std::string> mismatches(const upgrade_ctx& c);

}  // namespace qpu::reducers
