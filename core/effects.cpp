#include "core/effects.hpp"

#include "core/quantity.hpp"

namespace qpu {

const char* to_string(claim_role r) { return r == claim_role::backup ? "backup" : "data"; }

const char* to_string(job_role r) {
  switch (r) {
    case job_role::check: return "check";
    case job_role::backup: return "backup";
    case job_role::upgrade_logical: return "upgrade-logical";
    case job_role::upgrade_pg_upgrade: return "upgrade-pg-upgrade";
    case job_role::archive: return "archive";
    case job_role::analyze: return "analyze";
  }
  return "unknown";
}

const effect_id& id_of(const effect& e) {
  return std::visit([](const auto& v) -> const effect_id& { return v.id; }, e);
}

std::string claim_too_small_message(const object_key& claim, std::int64_t have_bytes, std::int64_t wanted_bytes) {
  return "the claim " + to_string(claim) + " already exists with " + format_quantity(have_bytes) + ", smaller than the " +
         format_quantity(wanted_bytes) +
         " this upgrade needs (a leftover of an earlier attempt?); the controller never deletes or shrinks a claim: "
         "delete or resize it, then set the retry annotation";
}

}  // namespace qpu
