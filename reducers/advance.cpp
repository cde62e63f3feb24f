// Running the table (table.hpp) for one registry.
#include "reducers/guards.hpp"
#include "reducers/issue.hpp"
#include "reducers/observe.hpp"
#include "reducers/plan.hpp"
#include "reducers/progress.hpp"
#include "reducers/report.hpp"
#include "reducers/table.hpp"

namespace qpu::reducers {

namespace {

template <class Rule>
bool applies(const Rule& r, const upgrade_ctx& c) {
  if constexpr (std::is_same_v<Rule, rule>) return r.from == c.u.current && r.guard(c);
  else return r.from.contains(c.u.current) && r.guard(c);
}

const every_phase_rule* first_every_phase(const upgrade_ctx& c) {
  for (const auto& r : every_phase_rules())
    if (applies(r, c)) return &r;
  return nullptr;
}

const rule* first_matching(const upgrade_ctx& c) {
  for (const auto& rows : {upgrade_rules(), revert_rules()})
    for (const auto& r : rows)
      if (applies(r, c)) return &r;
  return nullptr;
}

void enter(upgrade_ctx& c, phase to) {
  if (to == phase::quiescing) c.u.downtime_started = c.now;
  if (c.u.current == phase::resuming &&
      (to == phase::succeeded || to == phase::resuming_operator || to == phase::archiving || to == phase::analyzing))
    record_downtime(c);
  c.u.current = to;
  c.u.phase_since = c.now;
  c.u.jobs_seen.clear();  // a phase's Job is its own
  c.u.progress.reset();  // a phase's progress is its own Job's
}

}  // namespace

void advance(upgrade_ctx& c) {
  // A phase change re-runs the table; the bound is far above the longest chain of transitions.
  for (int steps = 0; steps < 32; ++steps) {
    if (const auto job = waited_job(c); job && find_job(c, job->first)) c.u.jobs_seen.insert(job->first);
    const phase before = c.u.current;
    const std::int32_t attempt = c.u.attempt;
    // The every-phase rows react to the folded event, whose facts their actions consume: they
    // fire at most once per fold.
    if (const auto* e = first_every_phase(c)) {
      e->action(c);
      if (e->to) enter(c, *e->to);
    }
    if (c.u.current == before) {
      const rule* r = first_matching(c);
      if (!r) break;
      r->action(c);  // runs in the old phase
      if (r->to != c.u.current) enter(c, r->to);
    }
    if (c.u.current == before && c.u.attempt == attempt) break;
    if (c.u.current == phase::failed || c.u.current == phase::succeeded) c.u.finished = c.u.finished.value_or(c.now);
    announce(c);
  }
  resend_events(c);
  tell_progress(c);
  report_status(c);
  arm_wakeup(c);
}

void restart(upgrade_ctx& c) {
  const auto* e = first_every_phase(c);
  if (!e) return;
  e->action(c);
  if (e->to) enter(c, *e->to);
}

std::vector<std::string> upcoming(const upgrade_ctx& c) {
  std::vector<std::string> rows;
  auto mark = [&](bool holds) { return std::string(holds ? "[now] " : "[not yet] "); };
  for (const auto& r : every_phase_rules())
    if (r.from.contains(c.u.current))
      rows.push_back(mark(r.guard(c)) + r.when + " -> " + (r.to ? to_string(*r.to) : "stays") + " (in " + r.phases + ")");
  for (const auto& table : {upgrade_rules(), revert_rules()})
    for (const auto& r : table)
      if (r.from == c.u.current) rows.push_back(mark(r.guard(c)) + r.when + " -> " + to_string(r.to));
  return rows;
}

}  // namespace qpu::reducers
