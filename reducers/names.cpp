#include "reducers/names.hpp"

namespace qpu::reducers {

namespace {

// "15" for 15, "96" for 9.6: object names may not rely on dots being welcome everywhere.
std::string name_token(pg_major v) { return v.code >= 1000 ? std::to_string(v.code / 100) : std::to_string(v.code); }

std::string version_token(const std::optional<pg_major>& v) { return v ? name_token(*v) : std::string("unknown"); }

}  // namespace

std::string database_deployment_name(const object_key& registry) { return registry.name + "-quay-database"; }

std::string backup_claim_name(const registry_upgrade& u) {
  return u.registry.name + "-quay-database-backup-pg" + version_token(u.from);
}

std::string revert_backup_claim_name(const registry_upgrade& u) {
  return u.registry.name + "-quay-database-backup-pg" + version_token(u.to) + "-revert-" + std::to_string(u.attempt) + "-" +
         std::to_string(u.revert.run);
}

std::string operator_claim_name(const object_key& registry, pg_major v) {
  return v >= pg_major::of(13) ? registry.name + "-quay-postgres-" + name_token(v) : registry.name + "-quay-database";
}

std::string data_claim_name(const registry_upgrade& u) {
  if (u.quay_operator && u.to) return operator_claim_name(u.registry, *u.to);
  return u.registry.name + "-quay-database-pg" + version_token(u.to);
}

std::string job_name(const registry_upgrade& u, job_role role) {
  const std::string base = u.registry.name + "-pg";
  switch (role) {
    case job_role::check: return base + "-check-" + std::to_string(u.attempt);
    case job_role::backup: return base + name_token(*u.from) + "-backup-" + std::to_string(u.attempt);
    case job_role::upgrade_logical:
    case job_role::upgrade_pg_upgrade: return base + name_token(*u.to) + "-upgrade-" + std::to_string(u.attempt);
  }
  return base;
}

std::string revert_job_name(const registry_upgrade& u) {
  return u.registry.name + "-pg" + name_token(*u.to) + "-revert-backup-" + std::to_string(u.attempt) + "-" +
         std::to_string(u.revert.run);
}

job_role upgrade_role(const registry_upgrade& u) {
  return u.method == upgrade_method::pg_upgrade ? job_role::upgrade_pg_upgrade : job_role::upgrade_logical;
}

effect_id step_id(const registry_upgrade& u, step_kind step, std::string target) {
  effect_id id;
  id.registry = u.registry;
  id.attempt = u.attempt;
  id.step = step;
  id.target = std::move(target);
  return id;
}

effect_id revert_step_id(const registry_upgrade& u, step_kind step, std::string target) {
  effect_id id = step_id(u, step, std::move(target));
  id.revert_run = u.revert.run;
  return id;
}

effect_id inspect_version_id(const registry_upgrade& u, std::int64_t generation) {
  effect_id id = step_id(u, step_kind::inspect_version);
  id.generation = generation;
  return id;
}

effect_id status_id(const registry_upgrade& u, std::uint64_t seq) {
  effect_id id = step_id(u, step_kind::status);
  id.seq = seq;
  return id;
}

effect_id event_id(const registry_upgrade& u, std::uint64_t seq, phase entered) {
  effect_id id = step_id(u, step_kind::event, to_string(entered));
  id.seq = seq;
  return id;
}

}  // namespace qpu::reducers
