#include "reducers/observe.hpp"

#include <algorithm>
#include <initializer_list>
#include <span>
#include <map>
#include <set>

#include "core/image_ref.hpp"
#include "reducers/names.hpp"

namespace qpu::reducers {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Pods of one of the registry's workloads, terminating ones included (PROJQUAY-8092: an upgrade
// must not start while an old pod is still shutting down).
std::vector<const pod*> pods_of(const upgrade_ctx& c, std::span<const std::string_view> components,
                                std::span<const std::string_view> name_suffixes) {
  std::vector<const pod*> found;
  const auto& pods = c.s.cluster.pods;
  for (auto it = pods.lower_bound(key_view{c.u.registry.ns, ""}); it != pods.end() && it->first.ns == c.u.registry.ns; ++it) {
    const pod& p = it->second;
    bool match = false;
    if (!p.component.empty() && (p.registry.empty() || p.registry == c.u.registry.name)) {
      for (auto comp : components) match = match || p.component == comp;
    } else if (p.component.empty() && p.job_name.empty()) {
      for (auto suffix : name_suffixes)
        match = match || starts_with(p.meta.key.name, c.u.registry.name + std::string(suffix) + "-");
    }
    if (match) found.push_back(&p);
  }
  return found;
}

}  // namespace

const deployment* find_deployment(const upgrade_ctx& c, const std::string& name) {
  auto it = c.s.cluster.deployments.find(key_view{c.u.registry.ns, name});
  return it == c.s.cluster.deployments.end() ? nullptr : &it->second;
}

const deployment* database(const upgrade_ctx& c) { return find_deployment(c, database_deployment_name(c.u)); }

// The Quay workloads that use the database and are stopped during the upgrade.
std::vector<const deployment*> app_deployments(const upgrade_ctx& c) {
  std::vector<const deployment*> apps;
  for (const auto suffix : profile_of(c.u.component).apps)
    if (const auto* d = suffix.empty() ? nullptr : find_deployment(c, c.u.registry.name + std::string(suffix))) apps.push_back(d);
  return apps;
}

const job* find_job(const upgrade_ctx& c, const std::string& name) {
  auto it = c.s.cluster.jobs.find(key_view{c.u.registry.ns, name});
  return it == c.s.cluster.jobs.end() ? nullptr : &it->second;
}

// The store first; else a claim this attempt read by name (read_claim).
const claim* find_claim(const upgrade_ctx& c, const std::string& name) {
  if (auto it = c.s.cluster.claims.find(key_view{c.u.registry.ns, name}); it != c.s.cluster.claims.end()) return &it->second;
  const auto read = c.u.claims_read.find(name);
  return read == c.u.claims_read.end() ? nullptr : &read->second;
}

std::vector<const pod*> app_pods(const upgrade_ctx& c) {
  // The apps' pods carry quay-component = the Deployment's suffix without its dash ("quay-app").
  std::vector<std::string_view> components, suffixes;
  for (const auto suffix : profile_of(c.u.component).apps) {
    if (suffix.empty()) continue;
    suffixes.push_back(suffix);
    components.push_back(suffix.substr(1));
  }
  return pods_of(c, components, suffixes);
}

std::vector<const pod*> database_pods(const upgrade_ctx& c) {
  const auto& p = profile_of(c.u.component);
  const std::string_view component[] = {p.pod_component}, suffix[] = {p.stem};
  return pods_of(c, component, suffix);
}

std::string database_node(const upgrade_ctx& c) {
  for (const pod* p : database_pods(c))
    if (!p->meta.deleting && p->phase == "Running" && !p->node.empty()) return p->node;
  return {};
}

std::optional<pg_major> confirmed(const upgrade_ctx& c) {
  if (!c.u.before || c.u.before->server_version_num <= 0) return std::nullopt;
  return pg_major::from_server_version_num(c.u.before->server_version_num);
}

// A failed Job is acted on once its pods have said why: the Job's Failed condition and its
// pod's termination message arrive on two watch streams in either order, and the reason is what
// a person needs. A pod that is gone or has ended without a message counts as having said all.
bool pods_reported(const upgrade_ctx& c, const job& j) {
  const auto& pods = c.s.cluster.pods;
  for (auto it = pods.lower_bound(key_view{j.meta.key.ns, ""}); it != pods.end() && it->first.ns == j.meta.key.ns; ++it) {
    const pod& p = it->second;
    if (p.job_name != j.meta.key.name) continue;
    if (p.termination_message.empty() && p.phase != "Failed" && p.phase != "Succeeded") return false;
  }
  return true;
}

// The database Deployment runs `image` on `claim`, rolled out and ready.
bool serving_with(const upgrade_ctx& c, const std::string& image, const std::string& claim_name, std::int32_t replicas) {
  const auto* db = database(c);
  if (!db || db->image != image || db->data_claim != claim_name) return false;
  const std::int32_t want = std::max(1, replicas);
  return db->observed_generation >= db->meta.generation && db->ready_replicas >= want && db->updated_replicas >= want;
}

bool database_serving(const upgrade_ctx& c, const std::string& image, const std::string& claim_name) {
  return serving_with(c, image, claim_name, c.u.db_replicas.value_or(1));
}

// Why a Job failed, in the words of its condition and of its pod's termination message.
std::string trim_end(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string job_report(const upgrade_ctx& c, const job& j) {
  const auto& pods = c.s.cluster.pods;
  std::string last;
  for (auto it = pods.lower_bound(key_view{j.meta.key.ns, ""}); it != pods.end() && it->first.ns == j.meta.key.ns; ++it)
    if (it->second.job_name == j.meta.key.name && !it->second.termination_message.empty()) last = it->second.termination_message;
  return last;
}

const pod* job_pod(const upgrade_ctx& c, const job& j) {
  const auto& pods = c.s.cluster.pods;
  const pod* found = nullptr;
  for (auto it = pods.lower_bound(key_view{j.meta.key.ns, ""}); it != pods.end() && it->first.ns == j.meta.key.ns; ++it)
    if (it->second.job_name == j.meta.key.name && (!found || !it->second.termination_message.empty())) found = &it->second;
  return found;
}

std::string job_failure(const upgrade_ctx& c, const job& j, std::string_view what) {
  std::string text = std::string(what) + " Job " + to_string(j.meta.key) + " failed";
  if (!j.reason.empty()) text += ": " + j.reason;
  if (!j.message.empty()) text += " (" + j.message + ")";
  if (const auto last = job_report(c, j); !last.empty()) text += "; the pod reported: " + last;
  return text;
}

// A Job that waited on a claim that never bound failed for that reason: say so.
std::string unbound_claim_note(const upgrade_ctx& c, const std::string& claim_name) {
  const auto* cl = find_claim(c, claim_name);
  if (!cl || cl->phase == "Bound") return "";
  return "; claim " + claim_name + " is " + (cl->phase.empty() ? std::string("not bound") : cl->phase.str()) +
         (cl->storage_class.empty() ? std::string() : " (storage class " + cl->storage_class + ")");
}

std::int64_t enforced_deadline_s(const config& cfg, phase p) {
  const auto limit = phase_deadline_s(cfg, p);
  return limit > 0 && (p == phase::backing_up || p == phase::upgrading || p == phase::archiving || p == phase::analyzing)
             ? limit + job_verdict_grace_s
             : limit;
}

std::int64_t phase_deadline_s(const config& cfg, phase p) {
  const auto& d = cfg.deadlines;
  switch (p) {
    case phase::detecting: return d.detect_s;
    case phase::preflight: return d.preflight_s;
    case phase::quiescing: return d.quiesce_s;
    case phase::backing_up: return d.backup_s;
    case phase::stopping: return d.stop_s;
    case phase::upgrading: return d.upgrade_s;
    case phase::switching: return d.switch_s;
    case phase::verifying: return d.verify_s;
    case phase::resuming: return d.resume_s;
    case phase::archiving: return d.backup_s;
    case phase::analyzing: return d.verify_s;  // a read of every table, as the verification
    case phase::pausing_operator: return d.quiesce_s;
    case phase::revert_quiescing: return d.quiesce_s;
    case phase::revert_backing_up: return d.backup_s;
    case phase::revert_stopping: return d.stop_s;
    case phase::revert_switching: return d.switch_s;
    case phase::revert_verifying: return d.verify_s;
    case phase::revert_resuming: return d.resume_s;
    case phase::revert_rolling_back: return d.rollback_s;
    case phase::rolling_back: return d.rollback_s;
    default: return 0;
  }
}

// Claim sizes from the measured database size: headroom on top, whole GiB, never below the
// configured minimum (and, for the data claim, never smaller than the old claim).
std::int64_t sized_for(const upgrade_ctx& c, std::int64_t measured, std::int64_t floor_bytes) {
  const std::int64_t wanted = measured + measured / 100 * c.cfg.headroom_percent;
  constexpr std::int64_t gib = 1LL << 30;
  const std::int64_t rounded = (wanted + gib - 1) / gib * gib;
  return std::max({rounded, c.cfg.min_claim_bytes, floor_bytes});
}

std::int64_t sized_claim(const upgrade_ctx& c, std::int64_t floor_bytes) {
  return sized_for(c, c.u.before ? c.u.before->database_bytes : 0, floor_bytes);
}

// A clone holds the old claim's whole copy and then the logical archive beside it.
std::int64_t backup_claim_bytes(const upgrade_ctx& c) { return (c.u.clone ? old_claim_bytes(c) : 0) + sized_claim(c, 0); }

std::int64_t data_claim_bytes(const upgrade_ctx& c) { return sized_claim(c, old_claim_bytes(c)); }

std::string storage_class(const upgrade_ctx& c) {
  if (!c.cfg.storage_class.empty()) return c.cfg.storage_class;
  const auto* old = find_claim(c, c.u.old_claim);
  return old ? old->storage_class.str() : std::string{};
}

std::int64_t old_claim_bytes(const upgrade_ctx& c) {
  const auto* old = find_claim(c, c.u.old_claim);
  if (!old) return 0;
  return std::max(old->capacity_bytes, old->requested_bytes);
}

// Differences between the manifest taken before the backup and a database inspected later that
// must hold the same rows on PostgreSQL `expected`.
std::vector<std::string> differences(const database_facts& before, const database_facts& after, pg_major expected) {
  std::vector<std::string> out;
  const pg_major got = pg_major::from_server_version_num(after.server_version_num);
  if (got != expected) out.push_back("server reports PostgreSQL " + to_string(got) + ", expected " + to_string(expected));
  if (before.has_pg_trgm && !after.has_pg_trgm) out.push_back("extension pg_trgm is missing");
  std::map<std::pair<std::string, std::string>, const table_digest*> now;
  for (const auto& t : after.tables) now[{t.database, t.table}] = &t;
  for (const auto& t : before.tables) {
    const std::string name = "table " + (t.database.empty() ? "" : t.database + ": ") + t.table;
    auto it = now.find({t.database, t.table});
    if (it == now.end()) {
      out.push_back(name + " is missing");
    } else if (it->second->rows != t.rows) {
      out.push_back(name + " has " + std::to_string(it->second->rows) + " rows, expected " + std::to_string(t.rows));
    } else if (it->second->checksum != t.checksum) {
      out.push_back(name + " content differs (checksum " + it->second->checksum + ", expected " + t.checksum + ")");
    }
  }
  // The catalog, when both sides read it: every property of the old cluster, as it was. What the
  // new cluster has beyond it (its own defaults) is not a loss.
  if (before.has_catalog && after.has_catalog) {
    std::map<std::pair<std::string, std::string>, const catalog_fact*> props;
    std::set<std::string> objects;
    for (const auto& c : after.catalog) {
      props[{c.object, c.attribute}] = &c;
      objects.insert(c.object);
    }
    std::set<std::string> missing;
    for (const auto& c : before.catalog) {
      if (!objects.contains(c.object)) {
        if (missing.insert(c.object).second) out.push_back(c.object + " is missing");
        continue;
      }
      const auto it = props.find({c.object, c.attribute});
      if (it == props.end()) {
        out.push_back(c.object + ": " + c.attribute + " is missing (expected '" + c.value + "')");
      } else if (it->second->value != c.value) {
        out.push_back(c.object + ": " + c.attribute + " is '" + it->second->value + "', expected '" + c.value + "'");
      }
    }
  }
  return out;
}

std::string differences_text(std::string lead, const std::vector<std::string>& diffs) {
  lead += ':';
  for (std::size_t i = 0; i < diffs.size() && i < 5; ++i) lead += (i ? "; " : " ") + diffs[i];
  if (diffs.size() > 5) lead += "; and " + std::to_string(diffs.size() - 5) + " more";
  return lead;
}

bool rendered_by_operator(const upgrade_ctx& c) {
  const auto* db = database(c);
  return db && db->owner_registry == c.u.registry.name;
}

const deployment* managing_operator(const upgrade_ctx& c) {
  if (const auto& op = c.u.quay_operator) {
    const auto it = c.s.cluster.deployments.find(op->deployment);
    return it == c.s.cluster.deployments.end() ? nullptr : &it->second;
  }
  if (!rendered_by_operator(c)) return nullptr;
  // One operator serves the cluster (or a namespace); the first in key order is taken.
  for (const auto& [key, d] : c.s.cluster.deployments)
    if (d.is_quay_operator()) return &d;
  return nullptr;
}

bool operator_migration_under_way(const upgrade_ctx& c) {
  // Its names (QUAY-OPERATOR.md): R-quay-database-old and Job R-quay-postgres-upgrade, the same
  // with Clair's stem for Clair's database.
  if (find_deployment(c, database_deployment_name(c.u) + "-old")) return true;
  const auto* j = find_job(c, c.u.registry.name + std::string(profile_of(c.u.component).operator_claim) + "upgrade");
  return j && !j->complete && !j->has_failed;
}

std::string target_image(const upgrade_ctx& c) {
  const bool clair = c.u.component == db_component::clair;
  if (c.u.quay_operator) return c.u.quay_operator->expected_image;
  if (const auto* op = managing_operator(c)) return clair ? op->operator_clair_postgres_image : op->operator_postgres_image;
  return clair ? c.cfg.clair_target_image : c.cfg.target_image;
}

std::optional<pg_major> target_major(const upgrade_ctx& c) {
  if (!c.u.quay_operator && !managing_operator(c))
    return c.u.component == db_component::clair ? effective_clair_target(c.cfg) : effective_target(c.cfg);
  const auto ref = parse_image_ref(target_image(c));
  return ref ? pg_major_hint(*ref) : std::nullopt;
}

const registry_upgrade* sibling(const upgrade_ctx& c) {
  const db_component other = c.u.component == db_component::quay ? db_component::clair : db_component::quay;
  const auto it = c.s.upgrades.find(database_key{c.u.registry, other});
  return it == c.s.upgrades.end() ? nullptr : &it->second;
}

owner_ref owner(const upgrade_ctx& c) { return owner_ref{c.u.registry, c.registry.meta.uid}; }

database_endpoint endpoint(const upgrade_ctx& c) {
  database_endpoint e;
  e.service = {c.u.registry.ns, database_deployment_name(c.u)};
  if (const auto* db = database(c)) e.credentials = db->credentials;
  return e;
}

}  // namespace qpu::reducers
