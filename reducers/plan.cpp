#include "reducers/plan.hpp"

#include <sstream>

#include "core/progress.hpp"
#include "reducers/guards.hpp"
#include "reducers/issue.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"
#include "reducers/report.hpp"
#include "reducers/schedule.hpp"

namespace qpu::reducers {

namespace {

// The documented defaults when this cluster has no upgrade of the method on record yet
// (docs/OPERATIONS.md section 3): a fixed part for the pods that stop and start, and the data at
// a rate the project's 1 GB benchmark beats on 2 cores (docs/BENCHMARKS.md).
constexpr duration_ms default_fixed_ms = 60'000;
constexpr double default_logical_bytes_per_s = 40e6;
constexpr double default_pg_upgrade_bytes_per_s = 150e6;

const char* role_text(const std::string& role) { return role == "backup" ? "backup" : "new data"; }

// The downtime record's name: the method, and "+clone" for pg_upgrade on cloning storage.
std::string downtime_key(upgrade_method method, bool clone) { return std::string(to_string(method)) + (clone ? "+clone" : ""); }

std::string check_text(const upgrade_ctx& c) {
  if (!check_wanted(c)) return "the preflight check Job is off (--no-preflight-check)";
  const auto* j = find_job(c, job_name(c.u, job_role::check));
  if (!j) return "the preflight check Job did not run";
  if (j->has_failed) return "REFUSED: " + job_failure(c, *j, "preflight check");
  const std::string report = trim_end(job_report(c, *j));
  return "the preflight check Job passed" + (report.empty() ? std::string() : " (" + report + ")");
}

// One new claim: its name and size, where it would be made, and what would refuse it.
std::string claim_text(const upgrade_ctx& c, const std::string& role, const std::string& name, std::int64_t bytes,
                       std::vector<std::string>& refusals) {
  std::string text = std::string(role_text(role)) + " claim " + name + " (" + format_bytes(bytes) + ")";
  if (const auto* existing = find_claim(c, name)) {
    const auto have = std::max(existing->requested_bytes, existing->capacity_bytes);
    if (have < bytes)
      refusals.push_back("a claim " + name + " exists already with " + format_bytes(have) + ", smaller than the " +
                         format_bytes(bytes) + " needed");
    else text += ", which exists already and would be used";
    return text;
  }
  const std::string cls = storage_class(c);
  text += " in " + (cls.empty() ? std::string("the cluster's default StorageClass") : "StorageClass " + cls);
  const auto seen = c.u.claims_seen.find(role);
  if (seen == c.u.claims_seen.end() || cls.empty()) return text;
  const claim_facts& f = seen->second;
  if (!f.class_exists) {
    refusals.push_back("StorageClass " + cls + " does not exist: the " + role_text(role) + " claim could not bind");
    return text;
  }
  text += " (provisioner " + (f.provisioner.empty() ? std::string("unknown") : f.provisioner) + ", binding " +
          (f.binding_mode.empty() ? std::string("Immediate") : f.binding_mode) + ")";
  return text;
}

}  // namespace

bool dry_run_wanted(const upgrade_ctx& c) { return c.cfg.dry_run || !c.registry.dry_run.empty(); }

bool dry_run_in_preflight(const upgrade_ctx& c) { return c.u.dry_run; }

bool dry_run_checked(const upgrade_ctx& c) {
  if (!c.u.dry_run || (check_pending(c) && !check_job_failed(c))) return false;
  // The plan quotes the check's report, which its pod's status carries: the Job's Complete and
  // that status come on two watch streams in either order (e2e dry-run once saw the Job first).
  if (const auto* j = find_job(c, job_name(c.u, job_role::check)); check_wanted(c) && j && !pods_reported(c, *j)) return false;
  // The class is read only when one is named (the cluster's default needs no look) and for a claim
  // that does not exist yet (one that does is judged by its size).
  if (storage_class(c).empty()) return true;
  return (find_claim(c, backup_claim_name(c.u)) || c.u.claims_seen.contains("backup")) &&
         (find_claim(c, data_claim_name(c.u)) || c.u.claims_seen.contains("data"));
}

bool dry_run_changed(const upgrade_ctx& c) { return !dry_run_wanted(c) || c.registry.dry_run != c.u.dry_run_token; }

void run_dry_checks(upgrade_ctx& c) {
  if (check_wanted(c)) create_job_for(c, job_role::check, c.cfg.deadlines.preflight_s);
  const std::string cls = storage_class(c);
  if (cls.empty()) return;
  for (const auto& [role, name] : {std::pair<std::string, std::string>{"backup", backup_claim_name(c.u)},
                                   std::pair<std::string, std::string>{"data", data_claim_name(c.u)}})
    if (!find_claim(c, name))
      issue(c, inspect_claim{step_id(c.u, step_kind::inspect_claim, role + "/g1"), {c.u.registry.ns, name}, cls});
}

downtime_estimate estimate_downtime(const state& s, upgrade_method method, std::int64_t bytes, bool clone) {
  const std::string key = downtime_key(method, clone);
  if (const auto it = s.downtimes.find(key); it != s.downtimes.end() && it->second.database_bytes > 0) {
    const auto& d = it->second;
    // Never less than that downtime; above its size, in proportion to the data.
    const double scale = std::max(1.0, static_cast<double>(bytes) / static_cast<double>(d.database_bytes));
    return {static_cast<duration_ms>(static_cast<double>(d.took) * scale),
            "from this cluster's last " + key + " upgrade (" + to_string(d.database.registry) + ": " +
                format_bytes(d.database_bytes) + ", " + format_duration(d.took) + " of downtime), in proportion to the size"};
  }
  const double rate = method == upgrade_method::logical ? default_logical_bytes_per_s : default_pg_upgrade_bytes_per_s;
  return {default_fixed_ms + static_cast<duration_ms>(static_cast<double>(bytes) / rate * 1000),
          "no " + key + " upgrade of this cluster is on record: the default, 60 s + " +
              std::to_string(static_cast<int>(rate / 1e6)) + " MB/s"};
}

void record_downtime(upgrade_ctx& c) {
  if (!c.u.downtime_started || !c.u.before || c.u.dry_run) return;
  c.s.downtimes[downtime_key(c.u.method, c.u.clone)] = {c.u.before->database_bytes, c.now - *c.u.downtime_started,
                                                        database_of(c.u)};
}

void note_plan(upgrade_ctx& c) {
  auto& u = c.u;
  std::vector<std::string> refusals;
  std::ostringstream t;
  const std::int64_t bytes = u.before ? u.before->database_bytes : 0;
  t << "dry run: PostgreSQL " << to_string(*u.from) << " -> " << to_string(*u.to) << " by " << to_string(u.method)
    << " (the database measures " << format_bytes(bytes) << "); ";
  if (u.clone) {
    t << "backup claim " << backup_claim_name(u) << " (" << format_bytes(backup_claim_bytes(c)) << ") and new data claim "
      << data_claim_name(u) << " (" << format_bytes(data_claim_bytes(c)) << ") would be clones of " << u.old_claim
      << " made once the database stopped (its StorageClass clones: --clone-storage-classes), pg_upgrade --link in the "
         "data clone, the backup's logical archive written after the app is back; ";
  } else {
    t << claim_text(c, "backup", backup_claim_name(u), backup_claim_bytes(c), refusals) << "; "
      << claim_text(c, "data", data_claim_name(u), data_claim_bytes(c), refusals) << "; ";
    if (!u.clone_note.empty()) t << "no clones: " << u.clone_note << "; ";
  }
  if (const auto& op = u.quay_operator)
    t << "the Quay operator " << to_string(op->deployment) << " would be paused first and resumed at the end; ";
  std::string apps;
  for (const auto* d : app_deployments(c))
    apps += (apps.empty() ? "" : ", ") + d->meta.key.name + " (" + std::to_string(d->recorded_replicas.value_or(d->replicas)) +
            " replicas)";
  t << "the app would be stopped: " << (apps.empty() ? std::string("no Deployment found") : apps) << "; ";
  const auto est = estimate_downtime(c.s, u.method, bytes, u.clone);
  t << "estimated downtime about " << format_duration(est.took) << " (" << est.basis << "); ";
  const std::string check = check_text(c);
  if (check.starts_with("REFUSED: ")) refusals.push_back(check.substr(9));
  else t << check << "; ";
  if (const auto wait = queue_text(c); !wait.empty()) t << "it would wait: " << wait << "; ";
  if (refusals.empty()) {
    t << "nothing refuses it";
  } else {
    t << "it would be REFUSED: ";
    for (std::size_t i = 0; i < refusals.size(); ++i) t << (i ? "; " : "") << refusals[i];
  }
  t << ". Nothing was stopped and no claim was created; the check Job is deleted. "
    << (c.cfg.dry_run ? "Run without --dry-run" : "Remove annotation " + std::string(annotation_dry_run))
    << " to upgrade (a new attempt)";
  u.plan = t.str();
  // What planned compares against: a new image (or PGDATA) under the plan makes it plan again.
  if (const auto* db = database(c)) {
    u.detected_image = db->image;
    u.detected_pgdata = db->pgdata;
  }
  if (find_job(c, job_name(u, job_role::check)))
    issue(c, delete_job{step_id(u, step_kind::delete_job, "check"), {u.registry.ns, job_name(u, job_role::check)}});
}

bool dry_run_done(const state& s) {
  for (const bool synced : s.cluster.synced)
    if (!synced) return false;
  for (const auto& [key, u] : s.upgrades)
    if (is_active(u.current) || u.current == phase::detecting || !u.in_flight.empty()) return false;
  return true;
}

std::string dry_run_report(const state& s) {
  std::ostringstream out;
  for (const auto& [key, u] : s.upgrades) {
    out << "QuayRegistry " << to_string(key.registry) << (key.component == db_component::clair ? ", Clair's database" : "")
        << ": " << to_string(u.current) << "\n  ";
    if (u.current == phase::planned) out << u.plan;
    else if (!u.last_error.empty()) out << u.last_error;
    else if (u.current == phase::up_to_date) out << "runs the target version: nothing to do";
    else out << "no plan (phase " << to_string(u.current) << ")";
    out << "\n";
  }
  if (s.upgrades.empty()) out << "No QuayRegistry is known.\n";
  return out.str();
}

}  // namespace qpu::reducers
