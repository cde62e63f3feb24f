#pragma once
// The upgrade of one QuayRegistry as a transition table: the only place a phase changes.
//
// Each row: in phase P, when GUARD holds, go to phase Q and do ACTION. For the current phase the
// rows are tried top to bottom and the first whose guard holds fires. A row whose target is its
// own phase is "keep waiting, and make sure the work is under way": its action issues effects,
// and issuing is idempotent (an effect already issued, or already done, is not issued again).
// A row that changes the phase also reports it (status + Event), then the table runs again for
// the new phase, so a chain of satisfied guards completes in one fold.
//
// The rows live in upgrade_table.cpp (the upgrade, and the rows that apply in every phase of a
// group) and revert_table.cpp (the manual revert). Guards and actions are small named functions
// (guards.hpp, actions.hpp, revert.hpp); they read the observed cluster and the facts the effects
// reported, and never a clock: `now` is the folded event's timestamp. Actions never set the
// phase: the row's target does.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "reducers/context.hpp"

namespace qpu::reducers {

// A row of one phase.
struct rule {
  phase from;
  const char* when;  // plain words, shown by `plan`
  guard_fn guard;
  phase to;
  action_fn action;
};

// A set of phases, for the rows that apply in several.
class phase_set {
 public:
  constexpr phase_set(std::initializer_list<phase> phases) {
    for (const phase p : phases) bits_ |= std::uint64_t{1} << static_cast<unsigned>(p);
  }
  constexpr bool contains(phase p) const { return (bits_ >> static_cast<unsigned>(p) & 1U) != 0; }

 private:
  std::uint64_t bits_ = 0;
};
static_assert(static_cast<unsigned>(phase::planned) < 64,
              "phase_set keeps one bit per phase in 64 bits: widen bits_ before adding more phases");

// A row that applies in every phase of a group: it reacts to the folded event itself (a step that
// failed for good, a controller start with another target). These rows are tried first, before
// the phase's own rows; `to` empty means the phase stays (and its own rows are tried next).
struct every_phase_rule {
  phase_set from;
  const char* phases;  // the group, in words, for `plan`
  const char* when;
  guard_fn guard;
  std::optional<phase> to;
  action_fn action;
};

std::span<const rule> upgrade_rules();
std::span<const rule> revert_rules();
std::span<const every_phase_rule> every_phase_rules();

// Runs the table for one registry until no row changes its phase; reports the phase, writes the
// status, arms the requeue timer.
void advance(upgrade_ctx& c);
// A controller start: only the every-phase rows for a start apply, silently (nothing is reported
// before every store has synced; the next evaluation writes the status of that moment).
void restart(upgrade_ctx& c);
// The rows of the current phase (every-phase rows first), each marked as holding now or not yet.
std::vector<std::string> upcoming(const upgrade_ctx& c);

}  // namespace qpu::reducers
