#include "core/state.hpp"

namespace qpu {

static_assert(std::variant_size_v<object_view> == std::size(all_resource_kinds),
              "object_view's alternatives must follow resource_kind's order: kind_of() relies on it");

const char* to_string(phase p) {
  switch (p) {
    case phase::detecting: return "detecting";
    case phase::up_to_date: return "up_to_date";
    case phase::refused: return "refused";
    case phase::unsupported: return "unsupported";
    case phase::unmanaged: return "unmanaged";
    case phase::preflight: return "preflight";
    case phase::pausing_operator: return "pausing_operator";
    case phase::quiescing: return "quiescing";
    case phase::backing_up: return "backing_up";
    case phase::stopping: return "stopping";
    case phase::upgrading: return "upgrading";
    case phase::switching: return "switching";
    case phase::verifying: return "verifying";
    case phase::resuming: return "resuming";
    case phase::resuming_operator: return "resuming_operator";
    case phase::archiving: return "archiving";
    case phase::analyzing: return "analyzing";
    case phase::verify_failed: return "verify_failed";
    case phase::succeeded: return "succeeded";
    case phase::rolling_back: return "rolling_back";
    case phase::failed: return "failed";
    case phase::revert_quiescing: return "revert_quiescing";
    case phase::revert_backing_up: return "revert_backing_up";
    case phase::revert_stopping: return "revert_stopping";
    case phase::revert_switching: return "revert_switching";
    case phase::revert_verifying: return "revert_verifying";
    case phase::revert_resuming: return "revert_resuming";
    case phase::reverted: return "reverted";
    case phase::revert_rolling_back: return "revert_rolling_back";
    case phase::revert_failed: return "revert_failed";
    case phase::revert_refused: return "revert_refused";
    case phase::blocked: return "blocked";
    case phase::queued: return "queued";
    case phase::planned: return "planned";
  }
  return "unknown";
}

const char* condition_reason(phase p) {
  switch (p) {
    case phase::detecting: return "Detecting";
    case phase::up_to_date: return "UpToDate";
    case phase::refused: return "DowngradeRefused";
    case phase::unsupported: return "Unsupported";
    case phase::unmanaged: return "Unmanaged";
    case phase::preflight: return "Preflight";
    case phase::pausing_operator: return "PausingOperator";
    case phase::quiescing: return "Quiescing";
    case phase::backing_up: return "BackingUp";
    case phase::stopping: return "StoppingDatabase";
    case phase::upgrading: return "Upgrading";
    case phase::switching: return "Switching";
    case phase::verifying: return "Verifying";
    case phase::resuming: return "Resuming";
    case phase::resuming_operator: return "ResumingOperator";
    case phase::archiving: return "Archiving";
    case phase::analyzing: return "Analyzing";
    case phase::verify_failed: return "VerificationFailedAfterResume";
    case phase::succeeded: return "Succeeded";
    case phase::rolling_back: return "RollingBack";
    case phase::failed: return "Failed";
    case phase::revert_quiescing: return "RevertQuiescing";
    case phase::revert_backing_up: return "RevertBackingUp";
    case phase::revert_stopping: return "RevertStoppingDatabase";
    case phase::revert_switching: return "RevertSwitching";
    case phase::revert_verifying: return "RevertVerifying";
    case phase::revert_resuming: return "RevertResuming";
    case phase::reverted: return "Reverted";
    case phase::revert_rolling_back: return "RevertRollingBack";
    case phase::revert_failed: return "RevertFailed";
    case phase::revert_refused: return "RevertRefused";
    case phase::blocked: return "Blocked";
    case phase::queued: return "Queued";
    case phase::planned: return "Planned";
  }
  return "Unknown";
}

bool is_reverting(phase p) {
  return (p >= phase::revert_quiescing && p <= phase::revert_resuming) || p == phase::revert_rolling_back;
}

bool is_active(phase p) {
  return (p >= phase::preflight && p <= phase::resuming_operator) || p == phase::rolling_back || is_reverting(p);
}

const char* to_string(upgrade_method m) { return m == upgrade_method::logical ? "logical" : "pg_upgrade"; }

}  // namespace qpu
