#pragma once
// The upgrade of one QuayRegistry as a transition table (see upgrade_table.cpp). Internal to the
// reducers.
#include <string>
#include <vector>

#include "core/effects.hpp"
#include "core/state.hpp"

namespace qpu::reducers {

// What one evaluation of a registry sees and may change.
struct upgrade_ctx {
  state& s;
  registry_upgrade& u;
  const quay_registry& registry;
  const config& cfg;
  std::vector<effect>& out;
  timestamp now;
  std::uint64_t seq;  // the event being folded: status and Event ids derive from it
};

// Runs the table for one registry until no rule changes its phase; arms the requeue timer.
void advance(upgrade_ctx& c);

// Moves an active upgrade to rolling_back (or straight to failed when nothing was touched yet).
void fail(upgrade_ctx& c, std::string reason);

// What the registry waits for now, in plain words (for `plan` and condition messages).
std::string waiting_for(const upgrade_ctx& c);

// The table's rows for the current phase, each marked as holding now or not yet.
std::vector<std::string> upcoming(const upgrade_ctx& c);

// Names the controller gives the objects it creates.
std::string backup_claim_name(const registry_upgrade& u);
std::string data_claim_name(const registry_upgrade& u);
// The claim a manual revert backs the upgraded data up into (never owner-referenced: it is kept).
std::string revert_backup_claim_name(const registry_upgrade& u);
std::string database_deployment_name(const object_key& registry);

// Effect ids of status writes (".../status@SEQ"): one per status sent, retried as the status of
// the moment.
bool is_status_id(const std::string& id);

}  // namespace qpu::reducers
