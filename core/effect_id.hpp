#pragma once
// The id of an effect: which registry, which attempt (and which manual revert in it), which step,
// and for status and Event writes the event that decided them. Derived from the registry, the
// attempt and the step, never from a clock or a counter, so issuing the same step again after a
// restart gives the same id, and its result is routed back by these fields.
//
// The text form ("quay/registry/a1/create-job/backup", "quay/registry/a1/revert-2/inspect-verify",
// "quay/registry/a1/status@45", "quay/registry/requeue"; Clair's database inserts "clair/" after
// the registry: "quay/registry/clair/a1/switch") is written only where the event log and
// the replay output are written, and parsed only where the log is read; the two are exact
// inverses (parse_effect_id refuses any text it would not write back byte for byte).
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/resources.hpp"

namespace qpu {

enum class step_kind : std::uint8_t {
  inspect_version,  // inspect-version/g<generation>: confirm the server's version
  inspect_manifest,  // inspect-manifest: size, pg_trgm and every table's rows and checksum
  inspect_verify,  // inspect-verify: the same, after the switch
  inspect_size,  // inspect-size: a revert measures the upgraded database
  create_claim,  // create-claim/<backup|data>
  create_job,  // create-job/<role>
  scale_down,  // scale-down/<Deployment name|database>
  scale_up,  // scale-up/<Deployment name>
  switch_database,  // switch
  restore,  // restore/<database|Deployment name>: a rollback's undo
  delete_job,  // delete-job/<role>
  status,  // status@<seq>: a status write
  event,  // event@<seq>/<phase>: a Kubernetes Event
  requeue,  // the registry's requeue timer (no attempt)
  inspect_claim,  // inspect-claim/<backup|data>/g<n>: why a new claim is not Bound (its class, its Events)
  read_progress,  // read-progress/<job role>/g<n>: a running Job's last progress line
  read_manifest,  // read-manifest/<old|new>: a manifest the archive Job printed (verification after the resume)
  read_claim,  // read-claim/<old|backup|data>: a claim by name, when the watches select claims by label
};

struct effect_id {
  object_key registry;
  db_component component = db_component::quay;  // which of the registry's databases
  std::int32_t attempt = 0;  // 1, 2, ...; 0 only for requeue
  std::int32_t revert_run = 0;  // > 0: a step of that manual revert ("revert-N/...")
  step_kind step{};
  std::string target;  // what the step acts on: "backup", "registry-quay-app", a phase name
  std::int64_t generation = 0;  // inspect_version: the database Deployment's generation
  std::uint64_t seq = 0;  // status and event: the folded event that decided them
  auto operator<=>(const effect_id&) const = default;
  bool operator==(const effect_id&) const = default;

  bool is_report() const { return step == step_kind::status || step == step_kind::event; }
  // A step whose failure never fails an upgrade: a report, or a look at a Job's progress.
  bool is_advisory() const { return is_report() || step == step_kind::read_progress; }
};

// A database's requeue timer.
effect_id requeue_id(const database_key& database);
database_key database_of(const effect_id& id);

// The text form, for the event log and the replay output.
std::string to_string(const effect_id& id);
// The step part of the text ("create-claim/backup", "revert-1/inspect-verify"), for messages.
std::string step_text(const effect_id& id);
// The id a text names, if it is one this controller writes.
std::optional<effect_id> parse_effect_id(std::string_view text);

}  // namespace qpu
