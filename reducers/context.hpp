#pragma once
// What one evaluation of a registry's table sees and may change. Internal to the reducers.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/effects.hpp"
#include "core/state.hpp"

namespace qpu::reducers {

inline constexpr const char* annotation_retry = "quay-pg-upgrader.quay.io/retry";
inline constexpr const char* annotation_revert = "quay-pg-upgrader.quay.io/revert-to-claim";

// A step of this registry that failed for good (not transient, or out of retries): what failed,
// in words. Set by the fold for the one evaluation that follows the failure; the every-phase rows
// of the table consume it.
struct step_failure {
  effect_id id;  // the effect that failed
  std::string reason;  // "create-job/backup failed with HTTP 403 Forbidden: ..."
};

struct upgrade_ctx {
  state& s;
  registry_upgrade& u;
  const quay_registry& registry;
  const config& cfg;
  std::vector<effect>& out;
  timestamp now;
  std::uint64_t seq;  // the event being folded: status and Event ids derive from it
  // Facts of the folded event itself, for the rows that apply in every phase (table.hpp).
  std::optional<step_failure> failure;  // one of this registry's steps failed for good
  bool restarted_with_new_target = false;  // a controller started with another target than the last
};

using guard_fn = bool (*)(const upgrade_ctx&);
using action_fn = void (*)(upgrade_ctx&);

}  // namespace qpu::reducers
