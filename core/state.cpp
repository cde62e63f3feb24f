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
    case phase::quiescing: return "quiescing";
    case phase::backing_up: return "backing_up";
    case phase::stopping: return "stopping";
    case phase::upgrading: return "upgrading";
    case phase::switching: return "switching";
    case phase::verifying: return "verifying";
    case phase::resuming: return "resuming";
    case phase::succeeded: return "succeeded";
    case phase::rolling_back: return "rolling_back";
    case phase::failed: return "failed";
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
    case phase::quiescing: return "Quiescing";
    case phase::backing_up: return "BackingUp";
    case phase::stopping: return "StoppingDatabase";
    case phase::upgrading: return "Upgrading";
    case phase::switching: return "Switching";
    case phase::verifying: return "Verifying";
    case phase::resuming: return "Resuming";
    case phase::succeeded: return "Succeeded";
    case phase::rolling_back: return "RollingBack";
    case phase::failed: return "Failed";
  }
  return "Unknown";
}

bool is_active(phase p) { return (p >= phase::preflight && p <= phase::resuming) || p == phase::rolling_back; }

const char* to_string(upgrade_method m) { return m == upgrade_method::logical ? "logical" : "pg_upgrade"; }

}  // namespace qpu
