#pragma once
// Events: past-tense facts the controller observed. Every input (watch streams, timers, effect
// results, the controller's own start) becomes one of these, is appended to the event log, and is
// folded by the reducers. Plain values with defaulted equality.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/config.hpp"
#include "core/effect_id.hpp"
#include "core/resources.hpp"
#include "core/time.hpp"

namespace qpu {

enum class watch_type : std::uint8_t { added, modified, deleted };

// ADDED / MODIFIED / DELETED from a watch stream.
struct object_event {
  watch_type type = watch_type::added;
  object_view object;
  bool operator==(const object_event&) const = default;
};

// BOOKMARK: only moves the resourceVersion.
struct bookmark_seen {
  resource_kind kind{};
  std::string rv;
  bool operator==(const bookmark_seen&) const = default;
};

// An ERROR event's Status (410 Expired means the watch layer relists).
struct watch_error {
  resource_kind kind{};
  std::int32_t code = 0;
  std::string reason;
  std::string message;
  bool operator==(const watch_error&) const = default;
};

// A kind may be watched as several label-selected streams (the Quay operator's objects, this
// controller's own; see app/controller.cpp): their selectors are disjoint, each stream lists and
// watches on its own, and its objects carry its number (object_meta::stream). A store is synced
// once every stream of its kind has listed. One stream (number 0 of 1) is what logs written
// before there were several hold.
inline constexpr std::uint8_t max_watch_streams = 4;

// The relist markers (kube-rs's Init / InitApply / InitDone): the objects of `kind` from `stream`
// are rebuilt from the items between relist_started and relist_done and swapped in at once.
struct relist_started {
  resource_kind kind{};
  std::uint8_t stream = 0;
  bool operator==(const relist_started&) const = default;
};
struct relist_item {
  object_view object;
  bool operator==(const relist_item&) const = default;
};
struct relist_done {
  resource_kind kind{};
  std::string rv;  // the list's metadata.resourceVersion
  std::uint8_t stream = 0;
  std::uint8_t streams = 1;  // how many streams the kind is watched as
  bool operator==(const relist_done&) const = default;
};

// A watch line that could not be decoded: kept so that replay skips it exactly as the live
// controller did.
struct malformed_input {
  std::string source;
  std::string error;
  bool operator==(const malformed_input&) const = default;
};

// A requeue timer for one database of a QuayRegistry went off.
struct timer_fired {
  object_key registry;
  db_component component = db_component::quay;
  bool operator==(const timer_fired&) const = default;
};

struct table_digest {
  std::string table;  // "public.manifest"
  std::int64_t rows = 0;
  std::string checksum;  // order-independent digest of every row's text
  std::string database;  // empty: the database inspected (the app's); else another of the cluster
  bool operator==(const table_digest&) const = default;
};

// One property of the cluster's catalog, as the verification compares it: object "database quay"
// or "role auditor", attribute "owner", "acl", "settings", "member of readers", ...; value its text
// (effects/manifest_sql.hpp, catalog_query). A role's password is never a value: only whether it
// has one, or a keyed digest of its hash (the controller's redaction key).
struct catalog_fact {
  std::string object;
  std::string attribute;
  std::string value;
  bool operator==(const catalog_fact&) const = default;
};

// What a database inspection found.
struct database_facts {
  std::int32_t server_version_num = 0;
  std::int64_t database_bytes = 0;  // sum of pg_database_size over user databases
  bool has_pg_trgm = false;
  bool has_manifest = false;  // `tables` was measured (it may legitimately be empty)
  std::vector<table_digest> tables;
  // Read with the manifest: the databases, roles and their settings the restore must bring back,
  // ordered by object then attribute. Empty without has_catalog (a log from before it existed).
  bool has_catalog = false;
  std::vector<catalog_fact> catalog;
  // The cluster's template0 encoding and locale and its install user (the role of OID 10): what
  // the pg_upgrade Job's initdb must repeat. Read before the downtime, so that the Job need not
  // start the stopped old server to learn them. Empty install_user: not read (a log from before).
  std::string cluster_encoding;
  std::string cluster_collate;
  std::string cluster_ctype;
  std::string install_user;
  bool operator==(const database_facts&) const = default;
};

// Why a claim is not Bound, as the cluster tells it: its StorageClass and the latest Event the
// storage controllers wrote on the claim.
struct claim_facts {
  std::string storage_class;
  bool class_exists = true;
  std::string binding_mode;  // Immediate | WaitForFirstConsumer
  std::string provisioner;
  std::string event_type;  // Normal | Warning; empty: no Event on the claim
  std::string event_reason;  // ProvisioningFailed, ExternalProvisioning, WaitForFirstConsumer, ...
  std::string event_message;
  bool operator==(const claim_facts&) const = default;
};

// How far a Job's data-moving step has come, as the Job itself measured it: its last
// `QPU_PROGRESS` log line (effects/scripts/common.sh, progress_begin).
struct job_progress {
  std::string stage;  // what the Job does: "dump", "restore", "copy"
  std::string unit;  // "bytes"
  std::int64_t done = 0;
  std::int64_t total = 0;  // the measured (or, for the dump, estimated) total
  timestamp at = 0;  // when the Job measured it, by its own clock
  bool operator==(const job_progress&) const = default;
};

struct effect_succeeded {
  effect_id id;
  std::optional<database_facts> facts;  // for inspect_database
  std::optional<claim_facts> claim = std::nullopt;  // for inspect_claim
  std::optional<job_progress> progress = std::nullopt;  // for read_job_progress, when the log had a line
  std::optional<qpu::claim> object = std::nullopt;  // for read_claim: the claim as read
  bool operator==(const effect_succeeded&) const = default;
};

// code: the HTTP status for API calls; 0 for a connection, database or local failure.
struct effect_failed {
  effect_id id;
  std::int32_t code = 0;
  std::string reason;  // Kubernetes Status reason (AlreadyExists, Forbidden, ...) or our own
  std::string message;
  bool operator==(const effect_failed&) const = default;
};

// An effect under way measured how far it has come (the controller's manifest of the upgraded
// database, table after table): logged like its result, folded into the progress it shows.
struct effect_progress {
  effect_id id;
  job_progress progress;
  bool operator==(const effect_progress&) const = default;
};

struct controller_started {
  config cfg;
  std::string version;  // the controller's own version, for the record
  bool operator==(const controller_started&) const = default;
};

using event = std::variant<object_event, bookmark_seen, watch_error, relist_started, relist_item, relist_done, malformed_input,
                           timer_fired, effect_succeeded, effect_failed, controller_started, effect_progress>;

// One line of the event log.
struct logged_event {
  std::uint64_t seq = 0;
  timestamp ts = 0;
  std::string source;  // "watch/jobs", "controller", "timer", "effect"
  event body;
  bool operator==(const logged_event&) const = default;
};

// Is this failure worth trying again (throttling, server errors, connection trouble)?
inline bool is_transient(const effect_failed& f) {
  return f.code == 0 ? f.reason == "ConnectionFailed" || f.reason == "Timeout" : f.code == 429 || f.code >= 500;
}

}  // namespace qpu
