// `plan`: the state in plain words, from the same table the reducer runs.
#include <map>
#include <set>
#include <sstream>

#include "reducers/reduce.hpp"
#include "reducers/names.hpp"
#include "reducers/report.hpp"
#include "reducers/table.hpp"

namespace qpu::reducers {

std::string explain(const state& folded) {
  std::ostringstream text;
  if (!folded.cfg) {
    text << "The log holds no controller start, so no configuration: nothing would be decided.\n";
    return text.str();
  }
  state s = folded;  // upgrade_ctx wants mutable references; the copy is thrown away
  const config& cfg = *s.cfg;
  text << "Target: " << (cfg.target_image.empty() ? "(no image)" : cfg.target_image);
  if (auto t = effective_target(cfg)) text << " (PostgreSQL " << to_string(*t) << ")";
  text << "; upgrade image: " << (cfg.upgrade_image.empty() ? "none (logical method only)" : cfg.upgrade_image) << "\n";
  text << "Last event: seq " << s.last_seq << " at " << format_rfc3339(s.now) << "\n";
  std::vector<std::string> unsynced;
  for (auto k : all_resource_kinds)
    if (!s.cluster.synced[static_cast<std::size_t>(k)]) unsynced.push_back(plural(k));
  if (!unsynced.empty()) {
    text << "Waiting for the first list of:";
    for (const auto& p : unsynced) text << " " << p;
    text << " (nothing is decided before every store has synced)\n";
  }
  if (s.upgrades.empty()) text << "No QuayRegistry is known.\n";
  std::vector<effect> scratch;
  for (auto& [key, u] : s.upgrades) {
    const auto reg = s.cluster.registries.find(key.registry);
    if (reg == s.cluster.registries.end()) continue;
    upgrade_ctx c{s, u, reg->second, cfg, scratch, s.now, s.last_seq, std::nullopt, false};
    text << "\nQuayRegistry " << to_string(key.registry) << (key.component == db_component::clair ? ", Clair's database" : "")
         << ": " << to_string(u.current) << " since " << format_rfc3339(u.phase_since) << " (attempt " << u.attempt << ")\n";
    if (u.from && u.to)
      text << "  plan: PostgreSQL " << to_string(*u.from) << " -> " << to_string(*u.to) << " by " << to_string(u.method)
           << ", old claim " << u.old_claim << " -> new claim " << data_claim_name(u) << ", backup claim " << backup_claim_name(u)
           << "\n";
    if (const auto& op = u.quay_operator) {
      text << "  Quay operator: " << to_string(op->deployment) << " renders the database; its image " << op->expected_image
           << " is the target";
      if (op->replicas) text << "; paused with " << *op->replicas << " replicas recorded";
      text << "\n";
    }
    if (u.current == phase::planned) text << "  " << u.plan << "\n";
    if (!u.last_error.empty()) text << "  last error: " << u.last_error << "\n";
    if (const auto& r = u.revert; r.run > 0 || !r.refused.empty()) {
      if (r.run > 0)
        text << "  revert " << r.run << ": back to claim " << u.old_claim << " and image " << u.old_image
             << ", the upgraded data backed up into claim " << revert_backup_claim_name(u)
             << " (writes made after the upgrade are not carried back)\n";
      if (!r.refused.empty()) text << "  revert refused: " << r.refused << "\n";
      if (!r.error.empty()) text << "  revert error: " << r.error << "\n";
      if (!r.restore_incomplete.empty()) text << "  " << r.restore_incomplete << "\n";
    }
    text << "  now: " << waiting_for(c) << "\n";
    for (const auto& row : upcoming(c)) text << "  " << row << "\n";
    // In the order of the ids' text, as the log shows them.
    std::set<std::string> awaiting;
    for (const auto& id : u.in_flight) awaiting.insert(to_string(id));
    for (const auto& id : awaiting) text << "  awaiting the result of " << id << "\n";
    std::map<std::string, timestamp> retries;
    for (const auto& [id, at] : u.retry_at) retries.emplace(to_string(id), at);
    for (const auto& [id, at] : retries) text << "  will retry " << id << " at " << format_rfc3339(at) << "\n";
    if (u.wakeup) text << "  next re-check at " << format_rfc3339(*u.wakeup) << "\n";
  }
  return text.str();
}

}  // namespace qpu::reducers
