#include "reducers/issue.hpp"

#include <algorithm>

#include "reducers/claims.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"
#include "reducers/progress.hpp"
#include "reducers/schedule.hpp"

namespace qpu::reducers {

namespace {

// Backing off a transient failure: 1 s, 2 s, 4 s ... 60 s, each plus up to half as much again.
// The spread comes from the effect id and the failure's time (both in the log, so a replay gives
// the same delays; no random numbers): without it, retries timed only from the failure marched in
// step with a server's periodic trouble and met it every time (CI's faults-errors: 8 of 8
// retries of one create failed, 1 s to 60 s apart).
duration_ms backoff(std::int32_t failures, const effect_id& id, timestamp now) {
  const duration_ms base = std::min<duration_ms>(60'000, 1000LL << std::min(failures - 1, 6));
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a
  for (const unsigned char ch : to_string(id)) h = (h ^ ch) * 1099511628211ULL;  // the id as the log writes it
  h = (h ^ static_cast<std::uint64_t>(now)) * 1099511628211ULL;
  return base + static_cast<duration_ms>(h % static_cast<std::uint64_t>(base / 2 + 1));
}

bool waits_on_job(phase p) {
  return p == phase::backing_up || p == phase::upgrading || p == phase::preflight || p == phase::revert_backing_up ||
         p == phase::archiving || p == phase::analyzing;
}

}  // namespace

bool issued_or_done(const upgrade_ctx& c, const effect_id& id) { return c.u.in_flight.contains(id) || c.u.done.contains(id); }

// Issues an effect unless it is under way, done, or waiting out a transient failure.
void issue(upgrade_ctx& c, effect e) {
  const effect_id& id = id_of(e);
  if (issued_or_done(c, id)) return;
  // An object already in the cluster was created by this attempt before a restart lost the
  // result: adopt it instead of asking again.
  const auto* cc = std::get_if<create_claim>(&e);
  const auto* cj = std::get_if<create_job>(&e);
  if (const claim* existing = cc ? find_claim(c, cc->key.name) : nullptr) {
    // A clone only when it is the one this effect made: another holds other (older) data, and the
    // claims' own row refuses it by name.
    if (!cc->source_claim.empty()) {
      if (existing->clone_for == to_string(id)) c.u.done.insert(id);
      return;
    }
    // Adopted only when big enough; a smaller one is left for the phase's too-small row, which
    // fails the phase before any Job is created on it.
    if (std::max(existing->requested_bytes, existing->capacity_bytes) >= cc->size_bytes) c.u.done.insert(id);
    return;
  }
  if (cj && find_job(c, cj->key.name)) {
    c.u.done.insert(id);
    return;
  }
  if (auto it = c.u.retry_at.find(id); it != c.u.retry_at.end()) {
    if (it->second > c.now) return;
    c.u.retry_at.erase(it);
  }
  c.u.in_flight.insert(id);
  c.out.push_back(std::move(e));
}

bool done(const upgrade_ctx& c, step_kind step, std::string target) {
  return c.u.done.contains(step_id(c.u, step, std::move(target)));
}

void inspect(upgrade_ctx& c, effect_id id, bool with_manifest) {
  issue(c, inspect_database{std::move(id), c.u.registry, endpoint(c), with_manifest});
}

void create_job_for(upgrade_ctx& c, job_role role, std::int64_t deadline_s) {
  create_job j;
  j.id = step_id(c.u, step_kind::create_job, to_string(role));
  j.key = {c.u.registry.ns, job_name(c.u, role)};
  j.registry = owner(c);
  j.role = role;
  // The database's own target: an operator's expected image, Clair's target for Clair's.
  // The check Job runs the target's binaries: the upgrade image's for pg_upgrade, else the target's.
  const bool pg_upgrade = c.u.method == upgrade_method::pg_upgrade;
  j.image =
      (role == job_role::upgrade_pg_upgrade || (role == job_role::check && pg_upgrade)) ? c.cfg.upgrade_image : target_image(c);
  j.db = endpoint(c);
  // The real `pg_upgrade --check` needs the install user (the admin password) and the old claim
  // mounted beside the running server; without them the check Job asks over SQL instead.
  if (role == job_role::archive) j.image = c.cfg.upgrade_image;  // the old server starts on the backup clone
  if (role == job_role::archive && c.u.verify_after_resume) j.verify_claim = verify_claim_name(c.u);
  j.cloned = role == job_role::upgrade_pg_upgrade && c.u.clone;
  // The old cluster's settings from the inspection before the downtime, all four or none.
  if (role == job_role::upgrade_pg_upgrade && c.u.before) {
    const auto& f = *c.u.before;
    if (!f.cluster_encoding.empty() && !f.cluster_collate.empty() && !f.cluster_ctype.empty() && !f.install_user.empty())
      j.old_cluster = {f.cluster_encoding, f.cluster_collate, f.cluster_ctype, f.install_user};
  }
  j.live_check = role == job_role::check && pg_upgrade && c.cfg.live_check && !j.db.credentials.admin_password.empty();
  j.pg_upgrade_checks = role == job_role::check && pg_upgrade && !j.live_check;
  if (j.live_check) j.node = database_node(c);
  j.from = *c.u.from;
  j.to = *c.u.to;
  j.old_claim = c.u.old_claim;
  j.backup_claim = backup_claim_name(c.u);
  j.new_claim = data_claim_name(c.u);
  j.deadline_s = deadline_s;
  if (role == job_role::check && c.u.before) {
    // Claims of the backup's and the new data's names that exist already, big enough, are
    // adopted with what they hold (claims made later are empty, sized here; smaller ones are
    // refused by name in preflight): the check measures their free space. The backup claim only
    // when the check runs anywhere: pinned beside the database it could wait forever for a claim
    // bound in another zone, which the backup Job, running anywhere, never does.
    const std::int64_t need = std::max<std::int64_t>(c.u.before->database_bytes, 1);
    const auto adoptable = [&](const std::string& name, std::int64_t wanted) {
      const claim* k = find_claim(c, name);
      return k && k->phase == "Bound" && !k->meta.deleting && std::max(k->requested_bytes, k->capacity_bytes) >= wanted;
    };
    if (j.node.empty() && adoptable(j.backup_claim, backup_claim_bytes(c))) j.backup_space_bytes = need;
    if (adoptable(j.new_claim, data_claim_bytes(c))) j.data_space_bytes = need;
  }
  issue(c, std::move(j));
}

void note_succeeded(registry_upgrade& u, const effect_succeeded& r) {
  u.in_flight.erase(r.id);
  u.unsent_events.erase(r.id);
  u.done.insert(r.id);
  u.transient_failures.erase(r.id);
  if (r.id.step == step_kind::read_progress) return note_progress(u, r);
  if (r.id.step == step_kind::read_manifest) {
    // A side of the verification after the resume: its tables join the facts the server reported.
    auto& side = r.id.target == "old" ? u.before : u.after;
    if (!side) side = database_facts{};
    if (r.facts && r.facts->has_manifest) {
      side->tables = r.facts->tables;
      side->has_manifest = true;
    }
    return;
  }
  if (r.object && r.id.step == step_kind::read_claim) {
    u.claims_read[r.object->meta.key.name] = *r.object;
    return;
  }
  if (r.claim && r.id.step == step_kind::inspect_claim) {
    u.claims_seen[r.id.target.substr(0, r.id.target.find('/'))] = *r.claim;
    return;
  }
  if (!r.facts) return;
  // A revert's inspections keep the upgrade's facts intact.
  const bool revert = r.id.revert_run > 0;
  const bool verify = r.id.step == step_kind::inspect_verify;
  if (revert) (verify ? u.revert.verified : u.revert.measured) = r.facts;
  else if (verify) u.after = r.facts;
  else u.before = r.facts;
  if (u.current == phase::detecting) u.last_error.clear();
}

std::optional<step_failure> note_failed(registry_upgrade& u, const effect_failed& f, const std::optional<config>& cfg,
                                        timestamp now) {
  u.in_flight.erase(f.id);
  // A claim read by name that does not exist: the read is done, and the claim missing.
  if (f.id.step == step_kind::read_claim && f.code == 404) {
    u.done.insert(f.id);
    return std::nullopt;
  }
  // A look at a Job's progress that failed is not retried: the next look comes a few seconds later.
  if (f.id.step == step_kind::read_progress) return std::nullopt;
  // A Job log that cannot be read (its pod is gone) holds no manifest: the Job's own comparison
  // and its outcome stand, said as such (actions.cpp).
  if (f.id.step == step_kind::read_manifest && !is_transient(f)) {
    u.done.insert(f.id);
    return std::nullopt;
  }
  const std::int32_t failures = ++u.transient_failures[f.id];
  const std::int64_t max_retries = cfg ? cfg->max_transient_retries : 8;
  if (is_transient(f) && failures <= max_retries) {
    u.retry_at[f.id] = now + backoff(failures, f.id, now);
    return std::nullopt;
  }
  if (f.id.is_report()) {
    // A status or Event that could not be written never fails an upgrade; given up, it is forgotten
    // (the next status change writes the status again).
    u.unsent_events.erase(f.id);
    u.transient_failures.erase(f.id);
    return std::nullopt;
  }
  return step_failure{f.id, step_text(f.id) + " failed" + (f.code ? " with HTTP " + std::to_string(f.code) : std::string()) +
                                (f.reason.empty() ? "" : " " + f.reason) + (f.message.empty() ? "" : ": " + f.message)};
}

void forget_in_flight(registry_upgrade& u) {
  // An Event in flight may have been written: sending it again could double it. One that failed
  // and waits for its retry is sent again by the new process.
  std::erase_if(u.unsent_events, [&](const auto& kv) { return u.in_flight.contains(kv.first); });
  u.in_flight.clear();
  u.wakeup.reset();
  u.status_written.clear();
}

void send_event(upgrade_ctx& c, const effect_id& id, unsent_event e) {
  c.out.push_back(emit_event{id, owner(c), e.type, e.reason, e.message, e.at});
  c.u.unsent_events.emplace(id, std::move(e));
  c.u.in_flight.insert(id);
}

// Events whose write failed for a transient reason go out again, unchanged, once their back-off
// has passed.
void resend_events(upgrade_ctx& c) {
  for (const auto& [id, e] : c.u.unsent_events) {
    const auto retry = c.u.retry_at.find(id);
    if (c.u.in_flight.contains(id) || retry == c.u.retry_at.end() || retry->second > c.now) continue;
    c.u.retry_at.erase(retry);
    c.out.push_back(emit_event{id, owner(c), e.type, e.reason, e.message, e.at});
    c.u.in_flight.insert(id);
  }
}

// One requeue per registry, the earliest wins: the phase deadline, the 60 s Job re-check, and
// the end of a transient failure's back-off.
void arm_wakeup(upgrade_ctx& c) {
  std::optional<timestamp> want;
  auto consider = [&](timestamp t) { want = want ? std::min(*want, t) : t; };
  if (is_active(c.u.current) || c.u.current == phase::detecting || c.u.current == phase::archiving ||
      c.u.current == phase::analyzing) {
    // A deadline already passed is not waited for: the phases that outlive theirs (a resume that
    // holds once part of the app runs) wake for their retries instead.
    if (const auto limit = enforced_deadline_s(c.cfg, c.u.current);
        limit > 0 && c.u.current != phase::detecting && c.u.phase_since + limit * 1000 > c.now)
      consider(c.u.phase_since + limit * 1000);
    if (waits_on_job(c.u.current)) consider(c.now + c.cfg.requeue_s * 1000);
  }
  // New claims waiting to bind before the downtime (clones: after the stop): their next look, or
  // their timeout.
  if (c.u.current == phase::preflight || c.u.current == phase::pausing_operator || c.u.current == phase::upgrading)
    if (const auto t = claims_wakeup(c)) consider(*t);
  // Queued for its maintenance window: the window's opening.
  if (const auto t = progress_wakeup(c)) consider(*t);
  if (c.u.current == phase::queued && c.u.block_reason == window_reason)
    if (const auto w = parse_daily_window(c.registry.maintenance_window)) consider(next_opening(*w, c.now));
  // A back-off that has run out and whose effect this pass did not issue again is stale: the step
  // it belonged to is over. Kept, it would arm a requeue in the past on every pass, and the
  // controller would spin on its own timer events.
  std::erase_if(c.u.retry_at, [&](const auto& kv) { return kv.second <= c.now; });
  for (const auto& [id, t] : c.u.retry_at) consider(t);
  if (!want || *want <= c.now) return;
  if (c.u.wakeup && *c.u.wakeup > c.now && *c.u.wakeup <= *want) return;
  c.u.wakeup = *want;
  c.out.push_back(requeue_after::while_waiting(database_of(c.u), *want - c.now));
}

}  // namespace qpu::reducers
