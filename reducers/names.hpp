#pragma once
// The names the controller gives what it creates, derived from the registry, the database, the
// versions and the attempt only (never a clock or a counter): a restarted controller finds what
// it already made. Quay's database keeps the names it always had; Clair's follow the same rules
// with its own stem.
#include <array>
#include <string>
#include <string_view>

#include "core/effects.hpp"
#include "core/state.hpp"

namespace qpu::reducers {

// What differs between the two databases of a registry (QUAY-OPERATOR.md's table).
struct database_profile {
  db_component component;
  std::string_view stem;  // "-quay-database" | "-clair-postgres": its Deployment, Service and 10-era claim
  std::string_view job_stem;  // "-pg" | "-clair-pg": R-pg10-backup-1, R-clair-pg13-backup-1
  std::string_view operator_claim;  // "-quay-postgres-" | "-clair-postgres-": the claim the operator renders from 13 on
  std::string_view pod_component;  // label quay-component of its pods
  std::array<std::string_view, 2> apps;  // the Deployments that use it (suffixes; "" when fewer), stopped while it is down
  std::string_view condition_prefix;  // "Postgres" | "ClairPostgres": PostgresUpgradeProgressing, ...
  std::string_view title;  // "the database" | "Clair's database", in messages
};
const database_profile& profile_of(db_component c);

std::string database_deployment_name(const database_key& database);
std::string database_deployment_name(const registry_upgrade& u);
std::string backup_claim_name(const registry_upgrade& u);
// The claim the upgraded data goes into: the one a Quay operator renders for the target when an
// operator renders the database (R-quay-postgres-<major> from 13 on, R-quay-database before:
// QUAY-OPERATOR.md), so that a resumed operator changes nothing; else R-quay-database-pg<major>.
std::string data_claim_name(const registry_upgrade& u);
std::string operator_claim_name(const database_key& database, pg_major v);
// The clone of the upgraded data that an upgrade verified after the resume reads (config
// verify_after_resume): made between the upgrade Job and the switch, per attempt.
std::string verify_claim_name(const registry_upgrade& u);
// The claim a manual revert backs the upgraded data up into (never owner-referenced: it is kept).
std::string revert_backup_claim_name(const registry_upgrade& u);

std::string job_name(const registry_upgrade& u, job_role role);
std::string revert_job_name(const registry_upgrade& u);
// The upgrade Job's role for the attempt's method.
job_role upgrade_role(const registry_upgrade& u);
// The Job that finishes a verified upgrade once the app is back: the backup clone's archive on the
// clone path, the statistics otherwise.
job_role after_resume_role(const registry_upgrade& u);

database_key database_of(const registry_upgrade& u);

// Effect ids (core/effect_id.hpp): a step of this attempt, a step of the revert under way in it,
// and the reports decided by the folded event `seq`.
effect_id step_id(const registry_upgrade& u, step_kind step, std::string target = {});
effect_id revert_step_id(const registry_upgrade& u, step_kind step, std::string target = {});
effect_id inspect_version_id(const registry_upgrade& u, std::int64_t generation);
effect_id status_id(const registry_upgrade& u, std::uint64_t seq);
effect_id event_id(const registry_upgrade& u, std::uint64_t seq, phase entered);

}  // namespace qpu::reducers
