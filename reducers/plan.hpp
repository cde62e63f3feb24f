#pragma once
// Dry runs (issue 15, item 4): `run --dry-run`, or annotation quay-pg-upgrader.quay.io/dry-run on
// one QuayRegistry. The upgrade detects and runs the checks of the pre-downtime phase (the check
// Job, the StorageClass the new claims would use, leftover claims of their names), then stops in
// phase `planned` with its plan: method, claims and sizes, what would be stopped, the estimated
// downtime and what would refuse it. Nothing is stopped; no claim is created; the check Job is
// deleted again. Removing the annotation (or a run without --dry-run) upgrades for real, as a new
// attempt.
#include <string>

#include "reducers/context.hpp"

namespace qpu::reducers {

inline constexpr const char* annotation_dry_run = "quay-pg-upgrader.quay.io/dry-run";

// The controller runs with --dry-run or the registry carries the annotation.
bool dry_run_wanted(const upgrade_ctx& c);
// In preflight, a dry run whose checks are done: the check Job ended (or is off) and the
// StorageClass was read.
bool dry_run_checked(const upgrade_ctx& c);
bool dry_run_in_preflight(const upgrade_ctx& c);
// In planned: the dry run was lifted, or asked again with a new annotation value.
bool dry_run_changed(const upgrade_ctx& c);

// Runs the check Job and reads the StorageClass the new claims would be created in
// (inspect_claim; no claim is made).
void run_dry_checks(upgrade_ctx& c);
// Writes the plan and deletes the check Job.
void note_plan(upgrade_ctx& c);

// The downtime this cluster's last upgrade by the same method suggests for `bytes`, else the
// documented default; with the words saying which.
struct downtime_estimate {
  duration_ms took = 0;
  std::string basis;
};
// `clone`: the pg_upgrade method on cloning storage, whose downtimes are on record of their own.
downtime_estimate estimate_downtime(const state& s, upgrade_method method, std::int64_t bytes, bool clone = false);
// An upgrade's app came back: its downtime is this cluster's latest for its method.
void record_downtime(upgrade_ctx& c);

// Every store has synced and every database rests: planned, or idle for a reason of its own
// (up to date, blocked, ...), with nothing in flight. `run --dry-run` then prints and exits.
bool dry_run_done(const state& s);

// What `run --dry-run` prints when every database planned (and `plan LOG` with it): one block per
// database, its phase and its plan or why it has none.
std::string dry_run_report(const state& s);

}  // namespace qpu::reducers
