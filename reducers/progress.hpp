#pragma once
// Progress of the phases that move data (backing_up, upgrading, a revert's revert_backing_up): the
// controller reads the running
// Job's last progress line from its pod's log every few seconds, keeps it (core/state.hpp,
// progress_record), shows it with the time left in the status and on `/metrics`, and tells it in
// an Event at each tenth of the work and at least once a minute.
#include <optional>
#include <string>

#include "reducers/context.hpp"

namespace qpu::reducers {

inline constexpr timestamp progress_event_every_ms = 60'000;

// While the current phase's data-moving Job runs: read its pod's log now and every
// --progress-interval seconds.
void watch_job_progress(upgrade_ctx& c);
// A read's result: its line is kept when it belongs to the current phase (a new stage starts a
// new rate). Older reads are dropped from `done`, so a long phase does not grow the state.
void note_progress(registry_upgrade& u, const effect_succeeded& r);
// The controller's own manifest of the upgraded database (verifying), table after table: kept as
// the phase's progress (stage "verify"). False when it belongs to no phase under way.
bool note_effect_progress(registry_upgrade& u, const effect_progress& p);
// The progress of the current phase, or none.
const progress_record* current_progress(const registry_upgrade& u);
// The Event at each tenth and at least every minute, when the last line says more than the last Event.
void tell_progress(upgrade_ctx& c);
// The next read while a Job runs.
std::optional<timestamp> progress_wakeup(const upgrade_ctx& c);

}  // namespace qpu::reducers
