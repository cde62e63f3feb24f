#include "reducers/progress.hpp"

#include <algorithm>

#include "core/progress.hpp"
#include "reducers/issue.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"

namespace qpu::reducers {

namespace {

// "backup/g3" -> "backup".
std::string role_of(const effect_id& id) { return id.target.substr(0, id.target.find('/')); }

std::optional<job_role> job_role_of(const std::string& text) {
  for (const auto r : {job_role::backup, job_role::upgrade_logical, job_role::upgrade_pg_upgrade})
    if (text == to_string(r)) return r;
  return std::nullopt;
}

// The Job's pod that runs now (a Job retried after a failed pod has one per try).
const pod* running_pod(const upgrade_ctx& c, const std::string& job) {
  const auto& pods = c.s.cluster.pods;
  for (auto it = pods.lower_bound({c.u.registry.ns, ""}); it != pods.end() && it->first.ns == c.u.registry.ns; ++it)
    if (it->second.job_name == job && it->second.phase == "Running") return &it->second;
  return nullptr;
}

bool job_running(const upgrade_ctx& c, job_role role) {
  if (progress_phase(role) != c.u.current || !c.u.from || !c.u.to) return false;
  const auto* j = find_job(c, job_name(c.u, role));
  return j && !j->complete && !j->has_failed && running_pod(c, j->meta.key.name);
}

job_role data_role(const registry_upgrade& u) { return u.current == phase::backing_up ? job_role::backup : upgrade_role(u); }

}  // namespace

phase progress_phase(job_role role) {
  switch (role) {
    case job_role::backup: return phase::backing_up;
    case job_role::upgrade_logical:
    case job_role::upgrade_pg_upgrade: return phase::upgrading;
    default: return phase::detecting;
  }
}

void watch_job_progress(upgrade_ctx& c, job_role role) {
  if (!job_running(c, role)) return;
  const auto* p = running_pod(c, job_name(c.u, role));
  const auto generation = 1 + (c.now - c.u.phase_since) / (c.cfg.progress_interval_s * 1000);
  issue(c, read_job_progress{
               step_id(c.u, step_kind::read_progress, std::string(to_string(role)) + "/g" + std::to_string(generation)),
               p->meta.key});
}

void note_progress(registry_upgrade& u, const effect_succeeded& r) {
  std::erase_if(u.done, [&](const effect_id& id) { return id.step == step_kind::read_progress && id != r.id; });
  const auto role = job_role_of(role_of(r.id));
  if (!r.progress || !role || r.id.revert_run > 0 || progress_phase(*role) != u.current) return;
  const job_progress& line = *r.progress;
  auto& p = u.progress;
  const bool same_stage = p && p->in == u.current && p->stage == line.stage && p->unit == line.unit;
  if (same_stage && line.at < p->at) return;  // an older line than the one kept
  if (!same_stage) {
    // A new stage of the same phase: its tenths count afresh, the minute since the last Event does not.
    const timestamp told_at = p && p->in == u.current ? p->told_at : 0;
    p = progress_record{u.current, line.stage, line.unit, 0, 0, 0, line.done, line.at, -1, told_at};
  }
  p->done = line.done;
  p->total = line.total;
  p->at = line.at;
}

const progress_record* current_progress(const registry_upgrade& u) {
  return u.progress && u.progress->in == u.current && is_active(u.current) ? &*u.progress : nullptr;
}

void tell_progress(upgrade_ctx& c) {
  auto* p = c.u.progress && c.u.progress->in == c.u.current ? &*c.u.progress : nullptr;
  if (!p || p->total <= 0) return;
  const std::int32_t tenth = percent(*p) / 10;
  const bool new_tenth = tenth > p->told_tenth;
  const bool minute = p->told_at > 0 && c.now - p->told_at >= progress_event_every_ms && p->at > p->first_at;
  if (!new_tenth && !minute) return;
  p->told_tenth = std::max(p->told_tenth, tenth);
  p->told_at = c.now;
  effect_id id = event_id(c.u, c.seq, c.u.current);
  id.target += "/progress";
  unsent_event e{"Normal", std::string(profile_of(c.u.component).condition_prefix) + "UpgradeProgress",
                 std::string(to_string(c.u.current)) + ": " + progress_text(*p), c.now};
  c.out.push_back(emit_event{id, owner(c), e.type, e.reason, e.message, e.at});
  c.u.unsent_events.emplace(id, std::move(e));
  c.u.in_flight.insert(id);
}

std::optional<timestamp> progress_wakeup(const upgrade_ctx& c) {
  if (c.u.current != phase::backing_up && c.u.current != phase::upgrading) return std::nullopt;
  if (!job_running(c, data_role(c.u))) return std::nullopt;
  const auto since = c.u.phase_since;
  const timestamp every = c.cfg.progress_interval_s * 1000;
  return since + ((c.now - since) / every + 1) * every;
}

}  // namespace qpu::reducers
