#pragma once
// Who may start a downtime now: registries take turns (--max-concurrent-upgrades, first come first
// served), and a registry with a maintenance window starts its downtime only inside it. Pure reads
// of the state and of the folded event's timestamp.
#include <optional>
#include <string>
#include <string_view>

#include "reducers/context.hpp"

namespace qpu::reducers {

// A daily window in UTC, as minutes after midnight; it wraps midnight when end < start.
struct daily_window {
  int start_min = 0;
  int end_min = 0;
};
// "HH:MM-HH:MM" (24 h clock, UTC); nullopt for anything else, or an empty window (start == end).
std::optional<daily_window> parse_daily_window(std::string_view text);
bool inside(const daily_window& w, timestamp t);
// The first moment at or after `t` at which the window opens.
timestamp next_opening(const daily_window& w, timestamp t);

// An upgrade is due and the registry's maintenance-window annotation cannot be read.
bool window_invalid(const upgrade_ctx& c);
// An upgrade is due, the registry has a window, and `now` lies outside it.
bool outside_window(const upgrade_ctx& c);
// An upgrade is due and --max-concurrent-upgrades other registries are in their downtime, or
// enough registries queued before this one take the free places.
bool waits_for_slot(const upgrade_ctx& c);
// The registry is no longer held back by its other database, the limit or its window.
bool turn_came(const upgrade_ctx& c);
// Queued: why (block_reason) or its place in the queue (last_error) is no longer what it says.
bool queue_place_changed(const upgrade_ctx& c);
// Why a queued database waits and where it stands, in words; empty when it waits for nothing of
// this module (the registry's other database goes first: must_wait_turn).
std::string queue_reason(const upgrade_ctx& c);
std::string queue_text(const upgrade_ctx& c);

// A registry whose downtime is under way holds one of the --max-concurrent-upgrades places: a
// database between preflight and resuming, a rollback, or a revert; and one whose turn came and
// that detects again before its preflight (block_reason TurnCame), so that nobody queued behind it
// overtakes it. One that only waits to give the Quay operator back does not.
bool holds_place(const registry_upgrade& u);
// Why a database waits in `queued` (its block_reason; empty: the registry's other database goes
// first), and the mark of one whose turn came.
inline constexpr const char* window_reason = "OutsideMaintenanceWindow";
inline constexpr const char* limit_reason = "ConcurrencyLimit";
inline constexpr const char* turn_came_reason = "TurnCame";
// Queue order: who entered `queued` first, then the key (two in the same fold).
bool queued_before(const registry_upgrade& a, const registry_upgrade& b);

}  // namespace qpu::reducers
