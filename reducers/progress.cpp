#include "reducers/progress.hpp"

#include <algorithm>

#include "core/progress.hpp"
#include "reducers/issue.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"

namespace qpu::reducers {

namespace {

// The Job that moves data in the current phase, and how its progress reads are named.
struct moving_job {
  std::string name;
  std::string role;  // the read's target prefix: the Job's role
  bool revert = false;
};

std::optional<moving_job> moving_job_of(const registry_upgrade& u) {
  if (!u.from || !u.to) return std::nullopt;
  switch (u.current) {
    case phase::backing_up: return moving_job{job_name(u, job_role::backup), to_string(job_role::backup), false};
    case phase::upgrading: return moving_job{job_name(u, upgrade_role(u)), to_string(upgrade_role(u)), false};
    case phase::revert_backing_up: return moving_job{revert_job_name(u), to_string(job_role::backup), true};
    case phase::archiving: return moving_job{job_name(u, job_role::archive), to_string(job_role::archive), false};
    default: return std::nullopt;
  }
}

// The Job's pod that runs now (a Job retried after a failed pod has one per try).
const pod* running_pod(const upgrade_ctx& c, const std::string& job) {
  const auto& pods = c.s.cluster.pods;
  for (auto it = pods.lower_bound({c.u.registry.ns, ""}); it != pods.end() && it->first.ns == c.u.registry.ns; ++it)
    if (it->second.job_name == job && it->second.phase == "Running") return &it->second;
  return nullptr;
}

const pod* running_job_pod(const upgrade_ctx& c, const moving_job& m) {
  const auto* j = find_job(c, m.name);
  return j && !j->complete && !j->has_failed ? running_pod(c, m.name) : nullptr;
}

}  // namespace

void watch_job_progress(upgrade_ctx& c) {
  const auto m = moving_job_of(c.u);
  const auto* p = m ? running_job_pod(c, *m) : nullptr;
  if (!p) return;
  const auto generation = 1 + (c.now - c.u.phase_since) / (c.cfg.progress_interval_s * 1000);
  const std::string target = m->role + "/g" + std::to_string(generation);
  issue(c, read_job_progress{
               m->revert ? revert_step_id(c.u, step_kind::read_progress, target) : step_id(c.u, step_kind::read_progress, target),
               p->meta.key});
}

namespace {

// A new line of the current phase's work: a new stage (or phase) starts a new rate.
void keep_line(registry_upgrade& u, const job_progress& line) {
  auto& p = u.progress;
  const bool same_stage = p && p->in == u.current && p->stage == line.stage && p->unit == line.unit;
  if (same_stage && line.at < p->at) return;  // an older line than the one kept
  if (!same_stage) {
    // A new stage of the same phase: its tenths count afresh, the minute since the last Event does not.
    const timestamp told_at = p && p->in == u.current ? p->told_at : 0;
    p = progress_record{u.current, line.stage, line.unit, 0, 0, 0, line.done, line.at, -1, told_at, 0};
  }
  p->done = line.done;
  p->total = line.total;
  p->at = line.at;
}

}  // namespace

void note_progress(registry_upgrade& u, const effect_succeeded& r) {
  std::erase_if(u.done, [&](const effect_id& id) { return id.step == step_kind::read_progress && id != r.id; });
  // Kept only when it was read for the Job of the phase the upgrade is in now.
  const auto m = moving_job_of(u);
  const std::string role = r.id.target.substr(0, r.id.target.find('/'));
  if (!r.progress || !m || role != m->role || (r.id.revert_run > 0) != m->revert ||
      (m->revert && r.id.revert_run != u.revert.run))
    return;
  keep_line(u, *r.progress);
}

bool note_effect_progress(registry_upgrade& u, const effect_progress& p) {
  if (u.current != phase::verifying || p.id.step != step_kind::inspect_verify || p.id.revert_run > 0) return false;
  keep_line(u, p.progress);
  return true;
}

const progress_record* current_progress(const registry_upgrade& u) {
  return u.progress && u.progress->in == u.current && is_active(u.current) ? &*u.progress : nullptr;
}

void tell_progress(upgrade_ctx& c) {
  if (!current_progress(c.u) || c.u.progress->total <= 0) return;
  auto* p = &*c.u.progress;
  const std::int32_t tenth = percent(*p) / 10;
  const bool new_tenth = tenth > p->told_tenth;
  // At least once a minute while new lines come (a Job whose log stopped is not told again).
  const bool minute = p->told_at > 0 && c.now - p->told_at >= progress_event_every_ms && p->at > p->told_line;
  if (!new_tenth && !minute) return;
  p->told_tenth = std::max(p->told_tenth, tenth);
  p->told_at = c.now;
  p->told_line = p->at;
  effect_id id = event_id(c.u, c.seq, c.u.current);
  id.target += "/progress";
  send_event(c, id,
             {"Normal", std::string(profile_of(c.u.component).condition_prefix) + "UpgradeProgress",
              std::string(to_string(c.u.current)) + ": " + progress_text(*p), c.now});
}

std::optional<timestamp> progress_wakeup(const upgrade_ctx& c) {
  const auto m = moving_job_of(c.u);
  if (!m || !running_job_pod(c, *m)) return std::nullopt;
  const auto since = c.u.phase_since;
  const timestamp every = c.cfg.progress_interval_s * 1000;
  return since + ((c.now - since) / every + 1) * every;
}

}  // namespace qpu::reducers
