#pragma once
// A scripted stand-in for a cluster and the effects layer, used to AUTHOR event logs: it answers
// each effect the reducer decides the way Kubernetes and the effects layer would (results, watch
// events, timers) and writes every input as an event-log line. The golden replays under
// tests/replay/ are produced by it (tests/replay/regenerate.sh) and then checked by replaying them
// with the real CLI, so the logs stay realistic without hand-editing hundreds of lines.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/effects.hpp"

namespace qpu::testing {

struct scenario_options {
  std::string ns = "quay";
  std::string registry = "registry";
  std::string db_image = "centos/postgresql-10-centos7@sha256:8a2b5f3e9c7d1a4b6e0f2c8d9a7b3e5f1c4d6a8b0e2f4c6d8a0b2c4d6e8f0a1b";
  int db_major = 10;  // what the server really runs (the image may say otherwise)
  std::string target_image = "quay.io/sclorg/postgresql-15-c9s";
  std::string db_pgdata;  // env PGDATA on the database container (unset when empty)
  // Claims are watched as two label-selected streams, as the controller does by default: claims
  // the attempt needs by name are read by name first (read_claim) when no watch carries them.
  bool claims_selected = false;
  // The old data claim exists but no watch carries it (made by hand, no quay-component label): only
  // a read by name finds it. old_claim_absent: there is none at all.
  bool old_claim_unwatched = false;
  bool old_claim_absent = false;
  bool leftover_claims_unwatched = false;  // the leftover claims below carry no label: only a read by name finds them
  std::int64_t leftover_backup_claim_bytes = 0;  // a claim of the backup's name exists already
  std::int64_t leftover_data_claim_bytes = 0;  // a claim of the new data's name (target 15) exists already
  bool preflight_check = true;  // --preflight-check (run's default): the check Job before anything is stopped
  bool live_check = true;  // --live-check (run's default): pg_upgrade's check runs the real pg_upgrade --check
  bool no_admin_password = false;  // the database's env has no POSTGRESQL_ADMIN_PASSWORD
  // The database's POSTGRESQL_PASSWORD is this literal env value (as the redacted log holds it: a
  // token) instead of a Secret key; moved into a Secret once the upgrade is blocked when
  // password_to_secret_after_block.
  std::string literal_password;
  bool password_to_secret_after_block = false;
  bool check_fails = false;  // the check Job finds an extension the target lacks
  std::string upgrade_image;  // set for the pg_upgrade method
  std::vector<int> upgrade_from;  // majors the upgrade image carries
  int app_replicas = 2;
  int mirror_replicas = 1;  // 0: no mirror Deployment
  bool backup_fails = false;
  // Someone deletes the first attempt's Job of this role (and its pod) 5 s after it started; the
  // revert's backup Job instead of the upgrade's with job_deleted_in_revert.
  std::optional<job_role> job_deleted;
  bool job_deleted_in_revert = false;
  bool upgrade_fails = false;
  bool verify_mismatch = false;
  // The upgraded database lost a grant on the app's database (its catalog differs; issue 19 item 3).
  bool catalog_mismatch = false;
  bool data_claim_never_binds = false;  // its StorageClass's provisioner never acts (an Event says it waits for it)
  bool claim_class_missing = false;  // --storage-class names a class that does not exist: both claims Pending, a Warning
  bool claims_bind_on_first_use = false;  // volumeBindingMode WaitForFirstConsumer: a claim binds when a Job mounts it
  bool database_never_stops = false;
  std::uint64_t restart_after_seq = 0;  // a new controller process starts after this event
  bool malformed_lines = false;  // inject a wrong-typed watch line and an unparsable one
  bool reports_fail_once = false;  // every status and Event write fails once (503), the switch once (429)
  std::string retry_token_after_failure;  // set the retry annotation once the upgrade failed
  std::string revert_to_claim_after_success;  // set the revert annotation once the upgrade succeeded
  bool revert_backup_fails = false;  // the revert's backup Job of the upgraded data fails
  bool revert_verify_mismatch = false;  // the old database, back on its claim, misses a row
  // The scale-up (replicas > 0) of this app Deployment is refused (403, for good) this many times
  // during the resume (of the upgrade, or of a revert when scale_up_refused_in_revert), while the
  // other app Deployments scale up: part of the app runs on the database already.
  std::string scale_up_refused;
  int scale_up_refusals = 0;
  bool scale_up_refused_in_revert = false;
  // A Quay operator renders the database (QUAY-OPERATOR.md): the database Deployment is owned by
  // the QuayRegistry and a Deployment quay-operator/quay-operator carries the operator's env.
  bool operator_managed = false;
  std::string operator_image = "quay.io/sclorg/postgresql-13-c9s";  // its RELATED_IMAGE_COMPONENT_POSTGRES
  bool target_image_explicit = false;  // the controller was given --target-image
  bool pause_operator = true;  // --pause-operator
  bool operator_migrating = false;  // the operator's own migration is under way at the start; it ends later
  bool operator_claim_exists = false;  // a claim of the name the operator renders for the target exists (not ours)
  bool operator_left_paused = false;  // the operator is at 0 with this controller's record (a lost event log)
  // Clair's database (QUAY-OPERATOR.md): R-clair-postgres on its own claim, used by R-clair-app.
  bool clair = false;
  int clair_db_major = 10;
  std::string clair_db_image =
      "centos/postgresql-10-centos7@sha256:8a2b5f3e9c7d1a4b6e0f2c8d9a7b3e5f1c4d6a8b0e2f4c6d8a0b2c4d6e8f0a1b";
  std::string clair_target_image;  // --clair-target-image; "" : the Quay target, as the CLI defaults it
  std::string operator_clair_image = "quay.io/sclorg/postgresql-15-c9s";  // RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES
  bool side_by_side = false;  // --databases-side-by-side
  std::string failing_database;  // "quay" | "clair": the *_fails and verify_mismatch options hit only it; "": both
  std::string skip_databases;  // annotation quay-pg-upgrader.quay.io/skip-databases
  // More registries in the same namespace, each like the first (a Quay database 10 on its own
  // claim, its app and mirror), without an operator or Clair.
  std::vector<std::string> more_registries;
  int max_concurrent_upgrades = 0;  // --max-concurrent-upgrades (0: no limit, the config's default)
  std::string maintenance_window;  // annotation quay-pg-upgrader.quay.io/maintenance-window on the first registry
  bool dry_run = false;  // run --dry-run
  std::string dry_run_annotation;  // annotation quay-pg-upgrader.quay.io/dry-run on the first registry
  bool lift_dry_run_after_plan = false;  // remove that annotation once planned: the real upgrade follows
  std::string storage_class;  // --storage-class
  std::vector<std::string> clone_storage_classes;  // --clone-storage-classes (the claims' class is "standard")
  bool clone_refused = false;  // the driver does not clone: a clone stays Pending with a Warning Event
  bool archive_fails = false;  // the archive Job (after a clone upgrade) fails
  bool analyze_fails = false;  // the analyze Job (after a copy upgrade resumed the app) fails
  bool verify_after_resume = false;  // --verify after-resume
  // The archive Job's verification finds the upgraded clone one row short: it fails with
  // VerificationMismatch, its log holding both manifests.
  bool verify_after_resume_mismatch = false;
  // The inspections read no cluster settings (template0's encoding and locale, the install user),
  // as before they existed: the pg_upgrade Job then reads them itself.
  bool no_cluster_settings = false;
  bool job_log_gone = false;  // reading a Job's log answers 404 (its pod was deleted)
  std::uint64_t max_events = 5000;
};

// A PostgreSQL 13 database and an upgrade image carrying 13: the pg_upgrade method to 15.
inline void use_pg_upgrade_13(scenario_options& o) {
  o.db_image = "quay.io/sclorg/postgresql-13-c9s";
  o.db_major = 13;
  o.upgrade_image = "quay.io/quay-pg-upgrader/pg-upgrade:13-15";
  o.upgrade_from = {13};
}

// The event log lines (each ending in '\n') of one scripted run.
std::vector<std::string> run_scenario(const scenario_options& o);

}  // namespace qpu::testing
