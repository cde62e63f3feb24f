#include "reducers/names.hpp"

namespace qpu::reducers {

namespace {

// "15" for 15, "96" for 9.6: object names may not rely on dots being welcome everywhere.
std::string name_token(pg_major v) { return v.code >= 1000 ? std::to_string(v.code / 100) : std::to_string(v.code); }

std::string version_token(const std::optional<pg_major>& v) { return v ? name_token(*v) : std::string("unknown"); }

}  // namespace

const database_profile& profile_of(db_component c) {
  static constexpr database_profile quay{db_component::quay, "-quay-database", "-pg",
                                         "-quay-postgres-",  "postgres",       {"-quay-app", "-quay-mirror"},
                                         "Postgres",         "the database"};
  static constexpr database_profile clair{db_component::clair, "-clair-postgres",  "-clair-pg",     "-clair-postgres-",
                                          "clair-postgres",    {"-clair-app", ""}, "ClairPostgres", "Clair's database"};
  return c == db_component::clair ? clair : quay;
}

database_key database_of(const registry_upgrade& u) { return database_key{u.registry, u.component}; }

std::string database_deployment_name(const database_key& database) {
  return database.registry.name + std::string(profile_of(database.component).stem);
}
std::string database_deployment_name(const registry_upgrade& u) { return database_deployment_name(database_of(u)); }

std::string backup_claim_name(const registry_upgrade& u) {
  return database_deployment_name(u) + "-backup-pg" + version_token(u.from);
}

std::string revert_backup_claim_name(const registry_upgrade& u) {
  return database_deployment_name(u) + "-backup-pg" + version_token(u.to) + "-revert-" + std::to_string(u.attempt) + "-" +
         std::to_string(u.revert.run);
}

std::string operator_claim_name(const database_key& database, pg_major v) {
  if (v < pg_major::of(13)) return database_deployment_name(database);
  return database.registry.name + std::string(profile_of(database.component).operator_claim) + name_token(v);
}

std::string data_claim_name(const registry_upgrade& u) {
  if (u.quay_operator && u.to) return operator_claim_name(database_of(u), *u.to);
  return database_deployment_name(u) + "-pg" + version_token(u.to);
}

std::string verify_claim_name(const registry_upgrade& u) { return data_claim_name(u) + "-verify-" + std::to_string(u.attempt); }

std::string job_name(const registry_upgrade& u, job_role role) {
  const std::string base = u.registry.name + std::string(profile_of(u.component).job_stem);
  switch (role) {
    case job_role::check: return base + "-check-" + std::to_string(u.attempt);
    case job_role::backup: return base + name_token(*u.from) + "-backup-" + std::to_string(u.attempt);
    case job_role::upgrade_logical:
    case job_role::upgrade_pg_upgrade: return base + name_token(*u.to) + "-upgrade-" + std::to_string(u.attempt);
    case job_role::archive: return base + name_token(*u.from) + "-archive-" + std::to_string(u.attempt);
    case job_role::analyze: return base + name_token(*u.to) + "-analyze-" + std::to_string(u.attempt);
  }
  return base;
}

std::string revert_job_name(const registry_upgrade& u) {
  return u.registry.name + std::string(profile_of(u.component).job_stem) + name_token(*u.to) + "-revert-backup-" +
         std::to_string(u.attempt) + "-" + std::to_string(u.revert.run);
}

job_role upgrade_role(const registry_upgrade& u) {
  return u.method == upgrade_method::pg_upgrade ? job_role::upgrade_pg_upgrade : job_role::upgrade_logical;
}

job_role after_resume_role(const registry_upgrade& u) { return u.clone ? job_role::archive : job_role::analyze; }

effect_id step_id(const registry_upgrade& u, step_kind step, std::string target) {
  effect_id id;
  id.registry = u.registry;
  id.component = u.component;
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
