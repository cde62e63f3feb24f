// Prints the Job body the controller would create for a role (the fixtures' registry), so that
// job_scripts_test.sh runs exactly the embedded script with exactly the spec's environment.
//   effects_k8s_job_body backup|upgrade-logical|upgrade-pg-upgrade|check|archive|upgrade-pg-upgrade-cloned|archive-verify
#include <iostream>
#include <string_view>

#include "effects/job_specs.hpp"
#include "fixtures.hpp"

int main(int argc, char** argv) {
  using namespace qpu;
  if (argc != 2) {
    std::cerr << "usage: effects_k8s_job_body ROLE\n";
    return 2;
  }
  if (std::string_view(argv[1]) == "backup-with-manifest") {  // a revert's backup
    auto j = effects::testing::a_job(job_role::backup);
    j.with_manifest = true;
    std::cout << effects::job_body(j).dump() << "\n";
    return 0;
  }
  if (std::string_view(argv[1]) == "upgrade-pg-upgrade-cloned") {
    auto j = effects::testing::a_job(job_role::upgrade_pg_upgrade);
    j.cloned = true;
    // As the controller now sends it: the old cluster's settings read before the downtime (those of
    // the clusters job_scripts_test.sh and tests/bench/downtime.sh make: initdb -U postgres -E UTF8
    // --locale=C), so the Job does not start the stopped cluster to read them. The copy-path body
    // above carries none and reads them itself: both ways run.
    j.old_cluster = {"UTF8", "C", "C", "postgres"};
    std::cout << effects::job_body(j).dump() << "\n";
    return 0;
  }
  if (std::string_view(argv[1]) == "archive-verify") {  // --verify after-resume: the clone of the upgraded data too
    auto j = effects::testing::a_job(job_role::archive);
    j.verify_claim = "registry-quay-database-pg15-verify-1";
    std::cout << effects::job_body(j).dump() << "\n";
    return 0;
  }
  for (auto role : {job_role::check, job_role::backup, job_role::upgrade_logical, job_role::upgrade_pg_upgrade, job_role::archive,
                    job_role::analyze})
    if (std::string_view(argv[1]) == to_string(role)) {
      std::cout << effects::job_body(effects::testing::a_job(role)).dump() << "\n";
      return 0;
    }
  std::cerr << "unknown role " << argv[1] << "\n";
  return 2;
}
