#pragma once
// What a registry's table reads of the observed cluster (the reflector stores) and of the facts
// the effects reported. Reads only: nothing here changes the state.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reducers/context.hpp"

namespace qpu::reducers {

const deployment* find_deployment(const upgrade_ctx& c, const std::string& name);
const deployment* database(const upgrade_ctx& c);
// The Quay workloads that use the database and are stopped during the upgrade.
std::vector<const deployment*> app_deployments(const upgrade_ctx& c);
const job* find_job(const upgrade_ctx& c, const std::string& name);
const claim* find_claim(const upgrade_ctx& c, const std::string& name);
// Pods of the app and of the database, terminating ones included.
std::vector<const pod*> app_pods(const upgrade_ctx& c);
std::vector<const pod*> database_pods(const upgrade_ctx& c);
// The node of the database's running pod (spec.nodeName); empty when none is known.
std::string database_node(const upgrade_ctx& c);

// The major version the running server reported, once inspected.
std::optional<pg_major> confirmed(const upgrade_ctx& c);
// A failed Job's pods have said why (or are gone, or ended without a message).
bool pods_reported(const upgrade_ctx& c, const job& j);
// The database Deployment runs `image` on `claim`, rolled out and ready.
bool serving_with(const upgrade_ctx& c, const std::string& image, const std::string& claim_name, std::int32_t replicas);
bool database_serving(const upgrade_ctx& c, const std::string& image, const std::string& claim_name);

// Why a Job failed, in the words of its condition and of its pod's termination message.
std::string job_failure(const upgrade_ctx& c, const job& j, std::string_view what);
// The termination message of the Job's last pod that wrote one ("" when none did).
std::string job_report(const upgrade_ctx& c, const job& j);
// The Job's pod that ended (the last in name order with a termination message, or else any), for
// reading its log; null when none is in the store.
const pod* job_pod(const upgrade_ctx& c, const job& j);
// `text` without its trailing line breaks and spaces (a report's last line break, before it is quoted).
std::string trim_end(std::string text);
// "; claim X is Pending (storage class Y)" when a Job waited on a claim that never bound, else "".
std::string unbound_claim_note(const upgrade_ctx& c, const std::string& claim_name);

std::int64_t phase_deadline_s(const config& cfg, phase p);
// When the controller's own timer rolls a phase back: its deadline, plus, in the phases that wait
// on a Job whose activeDeadlineSeconds is that same deadline (backing up, upgrading), 30 s for
// Kubernetes' verdict on the Job (DeadlineExceeded, with the pod's report) to arrive first. Without
// it the two equal deadlines raced, and a loaded cluster decided which message a person read.
inline constexpr std::int64_t job_verdict_grace_s = 30;
std::int64_t enforced_deadline_s(const config& cfg, phase p);
// Claim sizes from the measured database size: headroom on top, whole GiB, never below the
// configured minimum nor `floor_bytes`.
std::int64_t sized_for(const upgrade_ctx& c, std::int64_t measured, std::int64_t floor_bytes);
std::int64_t sized_claim(const upgrade_ctx& c, std::int64_t floor_bytes);
// The sizes this attempt's backup and new data claims are made with (a smaller claim of their
// name is not adopted).
std::int64_t backup_claim_bytes(const upgrade_ctx& c);
std::int64_t data_claim_bytes(const upgrade_ctx& c);
std::string storage_class(const upgrade_ctx& c);
std::int64_t old_claim_bytes(const upgrade_ctx& c);

// Differences between the manifest taken before the backup and a database inspected later that
// must hold the same rows on PostgreSQL `expected`.
std::vector<std::string> differences(const database_facts& before, const database_facts& after, pg_major expected);
// "<lead>: d1; d2; ...; and N more" (the first five differences), for a failure's reason.
std::string differences_text(std::string lead, const std::vector<std::string>& diffs);

// The Quay operator (QUAY-OPERATOR.md). It owns the database Deployment (an ownerReference to the
// QuayRegistry) and re-renders it on every reconcile. The operator is the Deployment the attempt
// recorded, or before the plan the first Deployment carrying the operator's env.
bool rendered_by_operator(const upgrade_ctx& c);
const deployment* managing_operator(const upgrade_ctx& c);
// The operator's own migration is under way: its -old Deployment or its upgrade Job is there.
bool operator_migration_under_way(const upgrade_ctx& c);
// The image and major the database goes to: the operator's expected image when one renders the
// database, else the configured target.
std::string target_image(const upgrade_ctx& c);
std::optional<pg_major> target_major(const upgrade_ctx& c);

// The registry's other database (Clair's for Quay's, Quay's for Clair's), when it is tracked.
const registry_upgrade* sibling(const upgrade_ctx& c);

owner_ref owner(const upgrade_ctx& c);
database_endpoint endpoint(const upgrade_ctx& c);

}  // namespace qpu::reducers
