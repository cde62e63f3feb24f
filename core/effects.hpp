#pragma once
// Effects: imperative commands the reducers decide and the effects layer performs. Plain data, so
// they compare, print and sit in golden files. Every effect has a stable `id` (core/effect_id.hpp:
// the registry, the attempt and the step, never a clock or a counter) so its result event is
// routed back by it, and so that issuing it again after a restart names the same object.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/effect_id.hpp"
#include "core/pg_version.hpp"
#include "core/resources.hpp"
#include "core/time.hpp"

namespace qpu {

enum class claim_role : std::uint8_t { backup, data };
// archive: after a clone upgrade, the backup clone's logical archive, made off the downtime.
// analyze: after a copy upgrade, the new cluster's statistics, made while the app serves.
enum class job_role : std::uint8_t { check, backup, upgrade_logical, upgrade_pg_upgrade, archive, analyze };
const char* to_string(claim_role r);
const char* to_string(job_role r);

// The database as clients reach it: its Service, and the credentials' sources.
struct database_endpoint {
  object_key service;
  std::int32_t port = 5432;
  db_credentials credentials;
  bool operator==(const database_endpoint&) const = default;
};

// The QuayRegistry an object is made for (owner references, labels, Events).
struct owner_ref {
  object_key key;
  std::string uid;
  bool operator==(const owner_ref&) const = default;
};

struct create_claim {
  effect_id id;
  object_key key;
  owner_ref registry;  // labels always; an owner reference only for the data claim
  claim_role role{};
  std::int64_t size_bytes = 0;
  std::string storage_class;  // empty: the cluster's default
  // A clone of this claim (spec.dataSource), made after its server stopped; empty: an empty claim.
  // The clone carries the effect's id in an annotation: only a claim with it is adopted, never an
  // older clone holding older data.
  std::string source_claim;
  bool operator==(const create_claim&) const = default;
};

// Why an existing claim of a create_claim's name is not adopted: it is smaller than asked for.
// Shared by the reducer (claim in its store) and the effects (409 AlreadyExists on create).
std::string claim_too_small_message(const object_key& claim, std::int64_t have_bytes, std::int64_t wanted_bytes);

// What the pg_upgrade Job's initdb must repeat of the old cluster (its template0's encoding and
// locale, its install user), as the inspection before the downtime read them (database_facts).
// Given, the Job starts its initdb at once; empty, it starts the stopped old cluster to read them,
// about 0.7 s more of the downtime.
struct old_cluster_settings {
  std::string encoding;
  std::string collate;
  std::string ctype;
  std::string install_user;
  bool empty() const { return install_user.empty(); }
  bool operator==(const old_cluster_settings&) const = default;
};

struct create_job {
  effect_id id;
  object_key key;
  owner_ref registry;
  job_role role{};
  std::string image;
  pg_major from;
  pg_major to;
  std::string old_claim;  // mounted read-only
  std::string backup_claim;
  std::string new_claim;
  database_endpoint db;
  std::int64_t deadline_s = 0;  // activeDeadlineSeconds
  // The check Job: also look for what only pg_upgrade refuses (tables WITH OIDS, reg* columns,
  // prepared transactions); the logical method carries those.
  bool pg_upgrade_checks = false;
  // The check Job of the pg_upgrade method runs the real `pg_upgrade --check` against the running
  // server: it mounts the old claim read-only, on `node`, where the database's pod runs (a
  // ReadWriteOnce claim may be mounted by several pods of one node); empty: not known.
  bool live_check = false;
  std::string node;
  // The check Job: the free space a claim of the backup's (the new data's) name that exists
  // already must have, after the Job that writes it clears its own folders; 0: not checked.
  std::int64_t backup_space_bytes = 0;
  std::int64_t data_space_bytes = 0;
  // The pg_upgrade Job: the new claim is a clone of the stopped old claim, so its data directory
  // is the old cluster, moved aside for `pg_upgrade --link` (no copy; the old claim not mounted).
  bool cloned = false;
  // The backup Job also writes a manifest of each database beside its archive (a second full,
  // hashing read of every row). An upgrade's backup does not: the controller's own manifest of
  // the quiet database, taken beside it, is the one the upgrade is verified against, and a second
  // one beside the dump took about as long as the dump itself. A revert's backup does.
  bool with_manifest = false;
  // The archive Job of an upgrade verified after the resume (config verify_after_resume): this
  // claim, a clone of the upgraded data taken before the switch, is mounted too; the Job starts the
  // new server on it and the old one on the backup clone, prints both manifests of the app's
  // database in its log (read_job_manifest) and fails at once, reason VerificationMismatch, when
  // they differ. Empty: no verification in the Job.
  std::string verify_claim;
  // The pg_upgrade Job: the old cluster's settings, when known before the downtime.
  old_cluster_settings old_cluster;
  bool operator==(const create_job&) const = default;
};

// Scale a Deployment. `record_original` also writes the annotation that keeps the replica count
// to restore in the cluster itself; `clear_record` removes it when restoring.
struct scale_deployment {
  effect_id id;
  object_key key;
  std::int32_t replicas = 0;
  std::optional<std::int32_t> record_original;
  bool clear_record = false;
  bool operator==(const scale_deployment&) const = default;
};

// Point the database Deployment at an image and a data claim, with a replica count.
struct patch_database_deployment {
  effect_id id;
  object_key key;
  std::string image;
  std::string claim;
  std::int32_t replicas = 1;
  bool operator==(const patch_database_deployment&) const = default;
};

// metav1.Condition.
struct condition {
  std::string type;
  std::string status;  // True | False | Unknown
  std::string reason;  // CamelCase
  std::string message;
  timestamp last_transition = 0;
  std::int64_t observed_generation = 0;
  bool operator==(const condition&) const = default;
};

// status.postgresUpgrade.progress: how far the backup or the upgrade has come (core/progress.hpp).
struct summary_progress {
  std::string stage;  // dump | restore | copy
  std::string unit;  // bytes
  std::int64_t done = 0;
  std::int64_t total = 0;
  std::int32_t percent = 0;
  std::optional<std::int64_t> seconds_left;  // none until a rate is measured
  std::string text;  // "dump: 512 MiB of 1.0 GiB (50 %), about 6 s left"
  bool operator==(const summary_progress&) const = default;
};

// status.postgresUpgrade: the summary block a platform engineer reads first.
struct upgrade_summary {
  std::string phase;
  std::string from;
  std::string to;
  std::string method;
  std::int32_t attempt = 0;
  std::optional<timestamp> started;
  std::optional<timestamp> finished;
  std::string backup_claim;
  std::string previous_claim;
  std::string new_claim;
  std::string last_error;
  std::string revert_backup_claim;  // set once a manual revert began: the backup of the upgraded data
  std::string quay_operator;  // the Quay operator (namespace/name) the upgrade pauses, when one renders the database
  std::optional<summary_progress> progress;  // while the backup or the upgrade Job moves data
  // A clone upgrade: "clone" while the archive is due, then what became of the backup's logical
  // archive ("Pending", "Complete: ...", "Failed: ..."); empty on the copy path.
  std::string backup_archive;
  // A copy upgrade: the statistics made after the app is back ("Running", "Complete: ...",
  // "Failed: ..."); empty before the resume and on the clone path (its archive Job analyzes).
  std::string statistics;
  bool operator==(const upgrade_summary&) const = default;
};

// The status of one database of a QuayRegistry: its condition pair and its summary block
// (Quay's: PostgresUpgrade*, status.postgresUpgrade; Clair's: ClairPostgresUpgrade*,
// status.clairPostgresUpgrade).
struct update_registry_status {
  effect_id id;
  object_key registry;
  db_component component = db_component::quay;
  std::vector<condition> conditions;
  upgrade_summary summary;
  bool operator==(const update_registry_status&) const = default;
};

// A Kubernetes Event on the QuayRegistry.
struct emit_event {
  effect_id id;
  owner_ref registry;
  std::string type;  // Normal | Warning
  std::string reason;
  std::string message;
  timestamp at = 0;
  bool operator==(const emit_event&) const = default;
};

// Connect with libpq and report version, size, pg_trgm and (optionally) the per-table manifest.
struct inspect_database {
  effect_id id;
  object_key registry;
  database_endpoint db;
  bool with_manifest = false;
  bool operator==(const inspect_database&) const = default;
};

// Read why a new claim is not Bound: its StorageClass (does it exist, its binding mode and
// provisioner) and the latest Event on the claim.
struct inspect_claim {
  effect_id id;
  object_key key;
  std::string storage_class;  // the claim's spec.storageClassName as the API server keeps it
  bool operator==(const inspect_claim&) const = default;
};

// Read one claim by name (GET): one the watches do not carry, such as an old data claim made by
// hand without the quay-component label (app/controller.hpp, watch_selectors). The result holds
// the claim as read (effect_succeeded::object), or it fails with 404 when there is none.
struct read_claim {
  effect_id id;
  object_key key;
  bool operator==(const read_claim&) const = default;
};

// Read the last progress line a Job's pod wrote to its log (GET pods/<pod>/log?tailLines=...).
struct read_job_progress {
  effect_id id;
  object_key pod;
  bool operator==(const read_job_progress&) const = default;
};

// Read one side's manifest from the archive Job's pod log (the whole log): its lines
// "QPU_MANIFEST <side> schema.table<TAB>rows<TAB>checksum" and the closing "QPU_MANIFEST_END <side>
// <tables>", side "old" (the backup clone) or "new" (the clone of the upgraded data). The result's
// facts hold the tables; has_manifest only when the closing line came with the right count.
struct read_job_manifest {
  effect_id id;
  object_key pod;
  std::string side;
  bool operator==(const read_job_manifest&) const = default;
};

struct delete_job {
  effect_id id;
  object_key key;
  bool operator==(const delete_job&) const = default;
};

// Wake this registry's reducer after a while. Built only through the named constructors; the
// effects layer keeps one timer per registry and the earliest deadline wins.
struct requeue_after {
  effect_id id;
  database_key database;
  duration_ms after = 0;
  bool operator==(const requeue_after&) const = default;

  static requeue_after while_waiting(const database_key& database, duration_ms d) { return make(database, d); }
  static requeue_after at_deadline(const database_key& database, duration_ms d) { return make(database, d); }
  static requeue_after for_retry(const database_key& database, duration_ms d) { return make(database, d); }

 private:
  static requeue_after make(const database_key& database, duration_ms d) {
    return requeue_after{requeue_id(database), database, d < 0 ? 0 : d};
  }
};

using effect =
    std::variant<create_claim, create_job, scale_deployment, patch_database_deployment, update_registry_status, emit_event,
                 inspect_database, delete_job, requeue_after, inspect_claim, read_job_progress, read_job_manifest, read_claim>;

const effect_id& id_of(const effect& e);

}  // namespace qpu
