#include "core/effects.hpp"

namespace qpu {

const char* to_string(claim_role r) { return r == claim_role::backup ? "backup" : "data"; }

const char* to_string(job_role r) {
  switch (r) {
    case job_role::check: return "check";
    case job_role::backup: return "backup";
    case job_role::upgrade_logical: return "upgrade-logical";
    case job_role::upgrade_pg_upgrade: return "upgrade-pg-upgrade";
  }
  return "unknown";
}

const std::string& id_of(const effect& e) {
  return std::visit([](const auto& v) -> const std::string& { return v.id; }, e);
}

}  // namespace qpu
