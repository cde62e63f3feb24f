// Writes the golden scenarios' event logs: `scenario_gen OUTDIR` creates OUTDIR/<name>/events.jsonl
// for each scenario below. Run by tests/replay/regenerate.sh; the logs are generated, never
// hand-edited.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include "tests/unit/scenario.hpp"

using qpu::testing::scenario_options;

namespace {

struct named {
  const char* name;
  std::function<void(scenario_options&)> tweak;
};

const named scenarios[] = {
    {"logical-10-to-15", [](scenario_options&) {}},
    {"pg-upgrade-13-to-15", [](scenario_options& o) { use_pg_upgrade_13(o); }},
    // The statistics after the app is back (issue 16, item 4): a failed analyze Job is reported,
    // the upgrade stands.
    {"analyze-fails", [](scenario_options& o) { o.analyze_fails = true; }},
    // On cloning storage (issue 16, item 2): clones after the stop, --link in the data clone, the
    // archive after the app is back; an archive that fails; storage that does not clone.
    {"clone-13-to-15",
     [](scenario_options& o) {
       use_pg_upgrade_13(o);
       o.clone_storage_classes = {"standard"};
     }},
    {"clone-archive-fails",
     [](scenario_options& o) {
       use_pg_upgrade_13(o);
       o.clone_storage_classes = {"standard"};
       o.archive_fails = true;
     }},
    {"clone-refused",
     [](scenario_options& o) {
       use_pg_upgrade_13(o);
       o.clone_storage_classes = {"standard"};
       o.clone_refused = true;
     }},
    // Docker Hub's postgres:14 reads $PGDATA: the database container points it into the sclorg
    // layout the upgrade writes, as an installation that moves to that image must.
    {"logical-10-to-14",
     [](scenario_options& o) {
       o.target_image = "postgres:14";
       o.db_pgdata = "/var/lib/pgsql/data/userdata";
       o.mirror_replicas = 0;
     }},
    // The same target without PGDATA would look in /var/lib/postgresql/data: refused, untouched.
    {"target-layout-differs", [](scenario_options& o) { o.target_image = "postgres:14"; }},
    // A claim of the backup's name left by an earlier attempt, too small: refused before the downtime.
    {"leftover-claim-too-small", [](scenario_options& o) { o.leftover_backup_claim_bytes = 256 * 1024; }},
    {"up-to-date",
     [](scenario_options& o) {
       o.db_image = "quay.io/sclorg/postgresql-15-c9s";
       o.db_major = 15;
     }},
    {"downgrade-refused",
     [](scenario_options& o) {
       o.db_image = "postgres:15";
       o.db_major = 15;
       o.target_image = "quay.io/sclorg/postgresql-13-c9s";
     }},
    {"image-hint-wrong",
     [](scenario_options& o) {
       o.db_image = "quay.io/sclorg/postgresql-13-c9s";
       o.db_major = 10;
     }},
    {"backup-job-fails", [](scenario_options& o) { o.backup_fails = true; }},
    {"upgrade-job-fails", [](scenario_options& o) { o.upgrade_fails = true; }},
    {"verification-mismatch", [](scenario_options& o) { o.verify_mismatch = true; }},
    // A grant on the app's database did not come back (issue 19, item 3): the catalog differs.
    {"catalog-mismatch", [](scenario_options& o) { o.catalog_mismatch = true; }},
    // The new claims bind before the downtime or the upgrade is refused (issue 15, item 3): a
    // provisioner that never acts (refused at --claim-bind-timeout), a StorageClass that does not
    // exist (refused at the first look), a WaitForFirstConsumer class (no refusal: the Jobs bind them).
    {"data-claim-pending", [](scenario_options& o) { o.data_claim_never_binds = true; }},
    {"claim-class-missing", [](scenario_options& o) { o.claim_class_missing = true; }},
    // The check Job finds an extension the target lacks: refused before anything is stopped.
    {"check-fails", [](scenario_options& o) { o.check_fails = true; }},
    {"claims-wait-for-first-consumer", [](scenario_options& o) { o.claims_bind_on_first_use = true; }},
    // Two registries, one downtime at a time (issue 15, item 5); a maintenance window that opens
    // half an hour after the start.
    {"two-registries-one-at-a-time",
     [](scenario_options& o) {
       o.more_registries = {"second"};
       o.max_concurrent_upgrades = 1;
     }},
    {"maintenance-window", [](scenario_options& o) { o.maintenance_window = "00:30-01:00"; }},
    {"database-never-stops", [](scenario_options& o) { o.database_never_stops = true; }},
    // A dry run (issue 15, item 4): planned, nothing touched; then lifted, the real upgrade.
    {"dry-run", [](scenario_options& o) { o.dry_run_annotation = "true"; }},
    {"dry-run-lifted",
     [](scenario_options& o) {
       o.dry_run_annotation = "true";
       o.lift_dry_run_after_plan = true;
     }},
    {"retry-after-failure",
     [](scenario_options& o) {
       o.backup_fails = true;
       o.retry_token_after_failure = "2026-11-24-try-again";
     }},
    {"restart-mid-upgrade", [](scenario_options& o) { o.restart_after_seq = 45; }},
    {"malformed-lines", [](scenario_options& o) { o.malformed_lines = true; }},
    // Every status and Event write fails once, the switch too: each is sent again after its
    // back-off and the upgrade ends as the fault-free one does.
    {"transient-api-errors", [](scenario_options& o) { o.reports_fail_once = true; }},
    // Manual revert (issue 6, item 6): after the upgrade, the annotation names the old claim.
    {"revert-succeeds", [](scenario_options& o) { o.revert_to_claim_after_success = "registry-quay-database"; }},
    // It names the NEW claim instead: refused, nothing touched.
    {"revert-refused-wrong-claim", [](scenario_options& o) { o.revert_to_claim_after_success = "registry-quay-database-pg15"; }},
    // The backup of the upgraded data fails: the database never left the upgraded claim.
    {"revert-backup-fails",
     [](scenario_options& o) {
       o.revert_to_claim_after_success = "registry-quay-database";
       o.revert_backup_fails = true;
     }},
    // The old database, back on its claim, lacks a row: back to the upgraded claim and image.
    {"revert-verification-mismatch",
     [](scenario_options& o) {
       o.revert_to_claim_after_success = "registry-quay-database";
       o.revert_verify_mismatch = true;
     }},
    // A Quay operator renders the database and expects postgresql-13-c9s (the 3.8 -> 3.9 operator
    // upgrade): it is paused first, the upgrade goes to 13 on the claim the operator renders, and
    // the operator is resumed last (issue 13).
    {"operator-10-to-13", [](scenario_options& o) { o.operator_managed = true; }},
    // The controller restarts while the operator is paused: it carries on and resumes it.
    {"operator-restart-while-paused",
     [](scenario_options& o) {
       o.operator_managed = true;
       o.restart_after_seq = 40;
     }},
    // The backup fails: the rollback restores the database, the app and then the operator.
    {"operator-rollback",
     [](scenario_options& o) {
       o.operator_managed = true;
       o.backup_fails = true;
     }},
    // The operator is already migrating the database itself: the controller stands aside until
    // its migration is over, then finds the database up to date.
    {"operator-migrating",
     [](scenario_options& o) {
       o.operator_managed = true;
       o.operator_migrating = true;
     }},
    // Pausing is turned off and the operator runs: refused, nothing touched.
    {"operator-pause-off",
     [](scenario_options& o) {
       o.operator_managed = true;
       o.pause_operator = false;
     }},
    // The claim the operator renders for 13 is there already (a failed operator migration): refused.
    {"operator-claim-exists",
     [](scenario_options& o) {
       o.operator_managed = true;
       o.operator_claim_exists = true;
     }},
    // A controller that lost its event log finds the operator at 0 with its own record, the
    // database already upgraded: it gives the operator its replicas back.
    {"operator-left-paused",
     [](scenario_options& o) {
       o.operator_managed = true;
       o.operator_left_paused = true;
       o.db_image = "quay.io/sclorg/postgresql-13-c9s";
       o.db_major = 13;
     }},
    // An explicit --target-image of another repository than the operator's: refused.
    {"operator-target-conflict",
     [](scenario_options& o) {
       o.operator_managed = true;
       o.target_image_explicit = true;
     }},
    // Clair's database too (issue 14): one after the other, Quay's first; Clair's app stops only
    // for Clair's downtime, Quay's only for Quay's.
    {"clair-one-after-the-other", [](scenario_options& o) { o.clair = true; }},
    // --databases-side-by-side: both downtimes at once.
    {"clair-side-by-side",
     [](scenario_options& o) {
       o.clair = true;
       o.side_by_side = true;
     }},
    // Clair's upgrade fails (full volume): Clair's database alone rolls back, Quay's stays upgraded.
    {"clair-fails-quay-succeeds",
     [](scenario_options& o) {
       o.clair = true;
       o.upgrade_fails = true;
       o.failing_database = "clair";
     }},
    // The reverse: Quay's fails and rolls back; Clair's is upgraded after it all the same.
    {"quay-fails-clair-succeeds",
     [](scenario_options& o) {
       o.clair = true;
       o.upgrade_fails = true;
       o.failing_database = "quay";
     }},
    // An operator renders both (quay 13 and clair 15, its expected images): one pause for both,
    // each on the claim the operator renders (R-quay-postgres-13, R-clair-postgres-15).
    {"clair-operator",
     [](scenario_options& o) {
       o.clair = true;
       o.operator_managed = true;
     }},
    // The revert annotation names Clair's previous claim: Clair's database goes back, Quay's stays.
    {"clair-revert",
     [](scenario_options& o) {
       o.clair = true;
       o.revert_to_claim_after_success = "registry-clair-postgres";
     }},
    // The admin opted Clair's database out (Clair rebuilds its own): only Quay's is upgraded.
    {"clair-skipped",
     [](scenario_options& o) {
       o.clair = true;
       o.skip_databases = "clair";
     }},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: scenario_gen OUTDIR\n";
    return 2;
  }
  for (const auto& s : scenarios) {
    scenario_options o;
    s.tweak(o);
    const auto dir = std::filesystem::path(argv[1]) / s.name;
    std::filesystem::create_directories(dir);
    std::ofstream out(dir / "events.jsonl", std::ios::binary | std::ios::trunc);
    const auto lines = qpu::testing::run_scenario(o);
    for (const auto& l : lines) out << l;
    std::cout << s.name << ": " << lines.size() << " events\n";
  }
  return 0;
}
