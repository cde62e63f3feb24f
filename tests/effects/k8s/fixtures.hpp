// Builders of the effects the tests send (a QuayRegistry "registry" in namespace "quay", as the
// scenario in kube-sim/scenarios/quay-pg10 lays it out).
#pragma once
#include "core/effects.hpp"
#include "tests/support/effect_ids.hpp"

namespace qpu::effects::testing {

inline owner_ref a_registry() { return owner_ref{{"quay", "registry"}, "6f1c2d3e-0000-4000-8000-000000000001"}; }

inline db_credentials scenario_credentials() {
  db_credentials c;
  c.user = {"", "registry-quay-postgres-config", "database-username"};
  c.password = {"", "registry-quay-postgres-config", "database-password"};
  c.database = {"", "registry-quay-postgres-config", "database-name"};
  c.admin_password = {"", "registry-quay-postgres-config", "database-root-password"};
  return c;
}

inline create_job a_job(job_role role) {
  create_job j;
  j.id = qpu::testing::eid(std::string("quay/registry/a1/create-job/") + to_string(role));
  j.key = {"quay", std::string("registry-pg15-") + to_string(role) + "-1"};
  j.registry = a_registry();
  j.role = role;
  j.image =
      role == job_role::upgrade_pg_upgrade ? "quay.io/quay-pg-upgrader/pg-upgrade:13-15" : "quay.io/sclorg/postgresql-15-c9s";
  j.from = pg_major::of(role == job_role::upgrade_pg_upgrade ? 13 : 10);
  j.to = pg_major::of(15);
  j.old_claim = "registry-quay-database";
  j.backup_claim = "registry-quay-database-backup-pg10";
  j.new_claim = "registry-quay-database-pg15";
  j.db = {{"quay", "registry-quay-database"}, 5432, scenario_credentials()};
  j.deadline_s = 3600;
  return j;
}

}  // namespace qpu::effects::testing
