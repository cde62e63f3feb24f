#pragma once
// The controller's state: what the cluster looks like (the reflector stores) and, per
// QuayRegistry, where its upgrade stands. A value: the reducers take it and return it.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/events.hpp"
#include "core/pg_version.hpp"
#include "core/resources.hpp"

namespace qpu {

// The phases of one registry's upgrade (DESIGN.md section 3). Idle phases: detecting (until the
// version is known), up_to_date, refused (downgrade), unsupported, unmanaged, succeeded, failed,
// blocked (an upgrade is due but must not start now: `block_reason` says why; nothing touched),
// queued (an upgrade is due and waits for its turn: the registry's other database goes first),
// and after a manual revert (annotation quay-pg-upgrader.quay.io/revert-to-claim): reverted,
// revert_failed (back on the upgraded claim), revert_refused (the request named the wrong claim).
// When a Quay operator renders the database, pausing_operator comes before the app is quiesced
// and resuming_operator after it is back. planned: a dry run (run --dry-run, or annotation
// quay-pg-upgrader.quay.io/dry-run) detected and checked what the upgrade would do, and stopped
// there with its plan; nothing was stopped. archiving: a clone upgrade is verified and the app is
// back; the backup clone's logical archive is being written (its failure never undoes the upgrade).
// analyzing: a copy upgrade (logical, or pg_upgrade on a copy) is verified and the app is back;
// a Job makes the new cluster's statistics (vacuumdb --analyze-in-stages, which neither pg_restore
// nor pg_upgrade carries), off the downtime; its failure never undoes the upgrade either.
// verify_failed: a clone upgrade verified after the resume (config verify_after_resume) differs
// from the old data: the app is stopped again and the database stays on the upgraded claim with
// the writes made since the resume; the revert annotation takes it back to the old claim, those
// writes backed up into a claim of their own first.
enum class phase : std::uint8_t {
  detecting,
  up_to_date,
  refused,
  unsupported,
  unmanaged,
  preflight,
  pausing_operator,
  quiescing,
  backing_up,
  stopping,
  upgrading,
  switching,
  verifying,
  resuming,
  resuming_operator,
  archiving,
  analyzing,
  verify_failed,
  succeeded,
  rolling_back,
  failed,
  revert_quiescing,
  revert_backing_up,
  revert_stopping,
  revert_switching,
  revert_verifying,
  revert_resuming,
  reverted,
  revert_rolling_back,
  revert_failed,
  revert_refused,
  blocked,
  queued,
  planned,
};
const char* to_string(phase p);  // snake_case, as in the state dump
const char* condition_reason(phase p);  // CamelCase, as in conditions
bool is_active(phase p);  // between preflight and rolling_back, or a revert under way: the controller owns the database
bool is_reverting(phase p);  // a revert under way (revert_quiescing .. revert_resuming, revert_rolling_back)

enum class upgrade_method : std::uint8_t { logical, pg_upgrade };
const char* to_string(upgrade_method m);

// A manual revert of a finished upgrade: back to the old claim and image, after a backup of the
// upgraded data into a claim of its own. Runs inside the upgrade's attempt; `run` counts the
// reverts begun in it, and names and effect ids carry it, so a second request never reuses the
// first one's objects.
struct revert_record {
  std::int32_t run = 0;
  std::string token;  // the annotation value last acted on (a revert or a refusal), cleared when it is removed
  std::string refused;  // why the last request was refused
  std::string new_image;  // the image the database ran when the revert began (and returns to on failure)
  std::optional<timestamp> started;
  std::optional<timestamp> finished;
  std::optional<database_facts> measured;  // the upgraded database's size, to size its backup claim
  std::optional<database_facts> verified;  // the old database after the switch back
  std::optional<std::int32_t> db_replicas;  // recorded before stopping the upgraded database
  std::map<std::string, std::int32_t> app_replicas;  // recorded before quiescing, by Deployment name
  bool switched = false;  // the database Deployment was patched to the old claim
  std::string error;  // why the revert failed
  phase failed_in = phase::detecting;
  std::string restore_incomplete;  // the return to the upgraded claim ran out of time: what did not come back
  bool operator==(const revert_record&) const = default;
};

// The Quay operator that renders a registry's database, as the attempt found it: the upgrade
// pauses it (scales its Deployment to 0) before touching anything and restores it at the end, and
// ends in the state its templates produce: its expected image on the claim it names.
struct operator_record {
  object_key deployment;
  std::string expected_image;  // its RELATED_IMAGE_COMPONENT_POSTGRES (CLAIRPOSTGRES for Clair's): the target
  std::optional<std::int32_t> replicas;  // recorded when it was paused
  bool operator==(const operator_record&) const = default;
};

// A Kubernetes Event sent and not yet acknowledged, kept so that a transient failure can send the
// same Event again.
struct unsent_event {
  std::string type;  // Normal | Warning
  std::string reason;
  std::string message;
  timestamp at = 0;
  bool operator==(const unsent_event&) const = default;
};

// How far the data-moving work of the current phase has come (backup, upgrade), from the Job's
// own progress lines; the stage's first line is kept for the rate (core/progress.hpp).
struct progress_record {
  phase in = phase::detecting;  // the phase the Job's lines belong to
  std::string stage;
  std::string unit;
  std::int64_t done = 0;
  std::int64_t total = 0;
  timestamp at = 0;  // the latest line, by the Job's clock
  std::int64_t first_done = 0;  // the stage's first line
  timestamp first_at = 0;
  std::int32_t told_tenth = -1;  // the last tenth (10 %, 20 %, ...) an Event told
  timestamp told_at = 0;  // when that Event was decided (event time)
  timestamp told_line = 0;  // the line it told (the Job's clock): the minute's Event needs a newer one
  bool operator==(const progress_record&) const = default;
};

// The upgrade of one database of one registry. Times are event timestamps.
struct registry_upgrade {
  object_key registry;
  db_component component = db_component::quay;
  phase current = phase::detecting;
  std::int32_t attempt = 1;
  timestamp phase_since = 0;
  std::optional<timestamp> started;  // entered preflight
  std::optional<timestamp> finished;  // reached succeeded or failed
  std::optional<pg_major> from;
  std::optional<pg_major> to;
  upgrade_method method = upgrade_method::logical;
  std::string old_image;
  std::string old_claim;
  std::string detected_image;  // the database image the last detection looked at
  std::string detected_pgdata;  // and its container's env PGDATA (usually unset)
  std::optional<operator_record> quay_operator;  // set when the attempt planned with an operator
  std::string block_reason;  // CamelCase, while blocked (OperatorMigrating, ClaimExists, ...)
  std::optional<database_facts> before;  // facts of the old database (manifest once measured)
  std::optional<database_facts> after;  // facts of the upgraded database (verification)
  std::optional<std::int32_t> db_replicas;  // recorded before stopping the database
  std::map<std::string, std::int32_t> app_replicas;  // recorded before quiescing, by Deployment name
  bool switched = false;  // the database Deployment was patched to the new claim
  std::string last_error;  // why the upgrade failed, or why detection cannot go on
  phase failed_in = phase::detecting;
  std::string rollback_incomplete;  // set when the rollback ran out of time: what did not come back
  std::string retry_token;  // the retry annotation value this attempt consumed
  revert_record revert;  // a manual revert after success (none while run == 0)
  std::set<effect_id> in_flight;  // effects issued, result not yet seen
  std::set<effect_id> done;  // effects that succeeded
  std::map<effect_id, std::int32_t> transient_failures;
  std::map<effect_id, timestamp> retry_at;  // transient failures wait until
  std::optional<timestamp> wakeup;  // the requeue armed for this registry
  std::string status_written;  // the status last sent (phase + error), to send each once
  std::map<effect_id, unsent_event> unsent_events;  // Events in flight or waiting to be sent again
  // Why a new claim is not Bound yet (its StorageClass, its latest Event), by role ("backup",
  // "data"), as the last inspection before the downtime found it.
  std::map<std::string, claim_facts> claims_seen;
  std::optional<timestamp> claims_requested;  // the new claims were first asked for (before the downtime)
  // Claims this attempt read by name (read_claim) because no watch carries them: the old data
  // claim of an installation made by hand, without the quay-component label. By name.
  std::map<std::string, claim> claims_read;
  // The current phase's Jobs (backup, upgrade) the watch has shown; one of them missing again was
  // deleted by someone else before it finished. Emptied at every phase change.
  std::set<std::string> jobs_seen;
  std::optional<progress_record> progress;  // the backup's or the upgrade's, while it runs
  bool dry_run = false;  // this attempt only plans (config dry_run or the registry's dry-run annotation)
  std::string dry_run_token;  // the dry-run annotation's value when the attempt planned
  std::string plan;  // the dry run's report, once planned
  std::optional<timestamp> downtime_started;  // entered quiescing (the app stopped writing)
  // The storage clones (config clone_storage_classes): the backup and new data claims are clones
  // of the stopped old claim, and the backup's logical archive is written after the app is back.
  bool clone = false;
  std::string clone_note;  // why a configured clone was not chosen (a copy instead), for the plan and status
  std::optional<timestamp> archived;  // the archive Job completed
  std::string archive_error;  // why the archive failed (the upgrade stands)
  // Verification after the resume (config verify_after_resume, clone upgrades only): no manifest
  // in the downtime; the archive Job reads both from clones (the backup clone, and the data claim
  // cloned between the upgrade Job and the switch) and prints them in its log, from which they
  // become `before` and `after`. Set once both manifests were read and match.
  bool verify_after_resume = false;
  std::optional<timestamp> verified_after_resume;
  std::optional<timestamp> analyzed;  // the analyze Job after resume completed (copy upgrades)
  std::string analyze_error;  // why it failed (the upgrade stands; autovacuum analyzes in time)
  bool operator==(const registry_upgrade&) const = default;
};

// The reflector stores, one per resource kind, with relists buffered until their InitDone. A kind
// watched as several streams (core/events.hpp) is synced once each of them has listed.
struct cluster_state {
  object_store<quay_registry> registries;
  object_store<deployment> deployments;
  object_store<pod> pods;
  object_store<job> jobs;
  object_store<claim> claims;
  std::array<std::string, 5> rv{};  // last resourceVersion seen, by resource_kind
  std::array<bool, 5> synced{};  // a relist of every stream completed since the controller started
  std::array<std::uint8_t, 5> streams_listed{};  // by kind, a bit per stream whose relist completed
  // By kind, how many streams its relists said it has (0 before one did). More than one: the kind
  // is watched by label selectors, and an object of it the upgrade needs may carry none of their
  // labels (a claim made by hand), so it is read by name (read_claim).
  std::array<std::uint8_t, 5> streams{};
  // Between Init and InitDone, by kind and stream.
  std::array<std::array<std::optional<std::vector<object_view>>, max_watch_streams>, 5> relisting{};
  bool operator==(const cluster_state&) const = default;
};

// A downtime this cluster had: the database's measured size and how long its app was stopped
// (quiescing until the app was back), for a dry run's estimate.
struct downtime_record {
  std::int64_t database_bytes = 0;
  duration_ms took = 0;
  database_key database;
  bool operator==(const downtime_record&) const = default;
};

struct state {
  std::optional<config> cfg;  // from the last controller_started
  cluster_state cluster;
  std::map<database_key, registry_upgrade> upgrades;  // Quay's database, and Clair's where it has one
  // The last successful upgrade's downtime by method ("logical", "pg_upgrade").
  std::map<std::string, downtime_record> downtimes;
  std::uint64_t last_seq = 0;
  timestamp now = 0;  // the last event's timestamp
  std::uint64_t malformed_inputs = 0;
  std::uint64_t watch_errors = 0;
  bool operator==(const state&) const = default;
};

}  // namespace qpu
