#include "reducers/claims.hpp"

#include <algorithm>
#include <vector>

#include "reducers/guards.hpp"
#include "reducers/issue.hpp"
#include "reducers/names.hpp"
#include "reducers/observe.hpp"

namespace qpu::reducers {

namespace {

constexpr timestamp inspect_every_ms = 10'000;

struct new_claim {
  const char* role;  // "backup" | "data" | "verify", the create_claim step's target
  const char* what;  // in messages
  claim_role kind;
  std::string name;
  std::int64_t bytes;
  std::string source;  // the claim it clones; empty: an empty claim
};

// Verification after the resume: once the upgrade Job is done, and before the switch, the
// upgraded data is cloned (the archive Job reads it after the resume, as it was before any write).
bool verify_clone_due(const upgrade_ctx& c) {
  return c.u.clone && c.u.verify_after_resume && c.u.current == phase::upgrading && upgrade_job_complete(c);
}

// The claims the current phase makes: before the downtime, or as clones once the old server
// stopped (the action leaving stopping runs while the phase still says so, then upgrading); none
// elsewhere.
std::vector<new_claim> new_claims(const upgrade_ctx& c) {
  if (verify_clone_due(c))
    return {
        new_claim{"verify", "verification", claim_role::data, verify_claim_name(c.u), data_claim_bytes(c), data_claim_name(c.u)}};
  if (c.u.clone && c.u.current != phase::stopping && c.u.current != phase::upgrading) return {};
  const std::string source = c.u.clone ? c.u.old_claim : std::string();
  return {new_claim{"backup", "backup", claim_role::backup, backup_claim_name(c.u), backup_claim_bytes(c), source},
          new_claim{"data", "new data", claim_role::data, data_claim_name(c.u), data_claim_bytes(c), source}};
}

const claim_facts* seen(const upgrade_ctx& c, const new_claim& n) {
  const auto it = c.u.claims_seen.find(n.role);
  return it == c.u.claims_seen.end() ? nullptr : &it->second;
}

bool binds_on_first_use(const claim_facts* f) { return f && f->class_exists && f->binding_mode == "WaitForFirstConsumer"; }

bool ready(const upgrade_ctx& c, const new_claim& n) {
  if (!done(c, step_kind::create_claim, n.role)) return false;
  const auto* cl = find_claim(c, n.name);
  return cl && (cl->phase == "Bound" || binds_on_first_use(seen(c, n)));
}

bool timed_out(const upgrade_ctx& c) {
  return c.u.claims_requested && c.now - *c.u.claims_requested >= c.cfg.claim_bind_timeout_s * 1000;
}

// Why this claim cannot bind, or "" while it still may.
std::string refusal(const upgrade_ctx& c, const new_claim& n) {
  if (ready(c, n)) return "";
  const auto* cl = find_claim(c, n.name);
  // Not created yet (or not in the store yet), or Bound but not adopted: a leftover too small,
  // which its own row refuses (a clone is adopted only when this attempt made it).
  if (!cl || (cl->phase == "Bound" && !c.u.clone)) return "";
  const auto* f = seen(c, n);
  const std::string claim = "the " + std::string(n.what) + " claim " + c.u.registry.ns + "/" + n.name;
  const std::string cls = cl->storage_class.empty() ? std::string("the cluster's default") : cl->storage_class.str();
  if (c.u.clone && cl->clone_for != to_string(step_id(c.u, step_kind::create_claim, n.role)))
    return claim + " exists and is not the clone of " + n.source +
           " this attempt made (it was created after the upgrade was planned): it is never overwritten";
  if (cl->phase == "Bound") return "";  // this attempt's clone, its creation not yet acknowledged
  const std::string event = f && !f->event_reason.empty()
                                ? "its Event: " + f->event_type + " " + f->event_reason + ": " + f->event_message
                                : "no Event on it says why";
  if (f && !f->class_exists) return claim + " cannot bind: its StorageClass " + cls + " does not exist (" + event + ")";
  if (f && f->event_type == "Warning") return claim + " cannot bind (StorageClass " + cls + "): " + event;
  if (timed_out(c)) {
    std::string about = "StorageClass " + cls;
    if (f && !f->provisioner.empty()) about += ", provisioner " + f->provisioner;
    if (f && !f->binding_mode.empty()) about += ", binding " + f->binding_mode;
    return claim + " is still " + (cl->phase.empty() ? std::string("not bound") : cl->phase.str()) + " after " +
           std::to_string(c.cfg.claim_bind_timeout_s) + " s (" + about + "; --claim-bind-timeout); " + event;
  }
  return "";
}

}  // namespace

void choose_clone(upgrade_ctx& c) {
  c.u.clone = false;
  c.u.clone_note.clear();
  const auto& classes = c.cfg.clone_storage_classes;
  const auto* old = find_claim(c, c.u.old_claim);
  if (!old || classes.empty()) return;
  if (std::ranges::find(classes, old->storage_class.str()) == classes.end() && std::ranges::find(classes, "*") == classes.end())
    return;
  const std::string cls = "StorageClass " + (old->storage_class.empty() ? std::string("(none)") : old->storage_class.str());
  if (c.u.method != upgrade_method::pg_upgrade) {
    c.u.clone_note = "the old claim's " + cls +
                     " clones, but the logical method restores into an empty claim (clones serve the pg_upgrade method: "
                     "--upgrade-image)";
    return;
  }
  if (!c.cfg.storage_class.empty() && c.cfg.storage_class != old->storage_class) {
    c.u.clone_note = "--storage-class " + c.cfg.storage_class + " differs from the old claim's " + cls +
                     ", and a clone stays in its source's class";
    return;
  }
  for (const auto& name : {backup_claim_name(c.u), data_claim_name(c.u)})
    if (find_claim(c, name)) {
      c.u.clone_note = "a claim named " + name +
                       " exists already (an earlier attempt's?) and a clone is never made over it: this attempt copies "
                       "and uses it; delete it to upgrade by clones";
      return;
    }
  c.u.clone = true;
}

bool clone_refused(const upgrade_ctx& c) { return c.u.clone && claim_refused(c); }

bool verify_clone_pending(const upgrade_ctx& c) { return verify_clone_due(c) && !claims_ready(c); }
bool verify_clone_refused(const upgrade_ctx& c) { return verify_clone_due(c) && claim_refused(c); }

void clone_upgraded_data(upgrade_ctx& c) {
  // The bind timeout counts from this request, not from the clones made at the stop.
  if (!issued_or_done(c, step_id(c.u, step_kind::create_claim, "verify"))) c.u.claims_requested = c.now;
  prepare_claims(c);
}

void prepare_claims(upgrade_ctx& c) {
  const auto claims = new_claims(c);
  if (claims.empty()) return;
  if (!c.u.claims_requested) c.u.claims_requested = c.now;
  for (const auto& n : claims) {
    issue(c, create_claim{step_id(c.u, step_kind::create_claim, n.role),
                          {c.u.registry.ns, n.name},
                          owner(c),
                          n.kind,
                          n.bytes,
                          storage_class(c),
                          n.source});
    const auto* cl = find_claim(c, n.name);
    if (!done(c, step_kind::create_claim, n.role) || !cl || cl->phase == "Bound") continue;
    // Pending: read why now, and again every few seconds (each look is its own effect).
    const auto generation = 1 + (c.now - *c.u.claims_requested) / inspect_every_ms;
    issue(c, inspect_claim{step_id(c.u, step_kind::inspect_claim, std::string(n.role) + "/g" + std::to_string(generation)),
                           {c.u.registry.ns, n.name},
                           cl->storage_class});
  }
}

bool claims_ready(const upgrade_ctx& c) {
  for (const auto& n : new_claims(c))
    if (!ready(c, n)) return false;
  return true;
}

bool claim_refused(const upgrade_ctx& c) {
  for (const auto& n : new_claims(c))
    if (!refusal(c, n).empty()) return true;
  return false;
}

bool operator_stopped_claims_ready(const upgrade_ctx& c) { return operator_stopped(c) && claims_ready(c); }
bool operator_stopped_claim_refused(const upgrade_ctx& c) { return operator_stopped(c) && claim_refused(c); }
bool operator_stopped_backup_claim_too_small(const upgrade_ctx& c) { return operator_stopped(c) && backup_claim_too_small(c); }
bool operator_stopped_data_claim_too_small(const upgrade_ctx& c) { return operator_stopped(c) && data_claim_too_small(c); }

void fail_claim(upgrade_ctx& c) {
  std::string why;
  for (const auto& n : new_claims(c))
    if (const auto r = refusal(c, n); !r.empty()) why += (why.empty() ? "" : "; ") + r;
  c.u.failed_in = c.u.current;
  if (why.ends_with('.')) why.pop_back();  // an Event's own full stop
  if (verify_clone_due(c)) {
    c.u.last_error = "the clone of the upgraded data " + c.u.registry.ns + "/" + data_claim_name(c.u) +
                     " for the verification after the resume could not be made: " + why +
                     ". The upgrade rolls back: the old database starts again on its untouched claim. Fix the storage, or "
                     "run with --verify before-resume; delete the Pending claim and set annotation " +
                     annotation_retry + " to a new value";
    return;
  }
  if (c.u.clone) {
    const auto* old = find_claim(c, c.u.old_claim);
    const std::string cls = old && !old->storage_class.empty() ? old->storage_class.str() : std::string("(none)");
    c.u.last_error = "the clones of the stopped old claim " + c.u.registry.ns + "/" + c.u.old_claim +
                     " could not be made: " + why +
                     ". The upgrade rolls back: the old database starts again on its untouched claim. StorageClass " + cls +
                     " is listed in --clone-storage-classes: if its driver does not clone, remove it there (the copy path "
                     "needs no clone); delete the Pending claims and set annotation " +
                     annotation_retry + " to a new value";
    return;
  }
  c.u.last_error = why +
                   ". Nothing was stopped: Quay kept serving. Fix the StorageClass (or choose one with --storage-class), delete "
                   "the Pending claim, and set annotation " +
                   annotation_retry + " to a new value";
}

std::string claims_text(const upgrade_ctx& c) {
  if (!c.u.claims_requested) return "";
  std::string text;
  for (const auto& n : new_claims(c)) {
    if (ready(c, n)) continue;
    const auto* cl = find_claim(c, n.name);
    const auto* f = seen(c, n);
    std::string t = "the " + std::string(n.what) + " claim " + n.name + " is " +
                    (!cl                 ? std::string("being created")
                     : cl->phase.empty() ? std::string("not bound")
                                         : cl->phase.str());
    if (f && !f->event_reason.empty()) t += " (" + f->event_reason + ": " + f->event_message + ")";
    text += (text.empty() ? "" : "; ") + t;
  }
  if (text.empty()) return "";
  if (verify_clone_due(c))
    return "cloning the upgraded data " + data_claim_name(c.u) + " for the verification after the resume: " + text +
           "; the clone must bind within " + std::to_string(c.cfg.claim_bind_timeout_s) + " s";
  if (c.u.clone)
    return "cloning the stopped old claim " + c.u.old_claim + ": " + text + "; the clones must bind within " +
           std::to_string(c.cfg.claim_bind_timeout_s) + " s";
  return "creating the new claims before anything is stopped: " + text + "; they must bind within " +
         std::to_string(c.cfg.claim_bind_timeout_s) + " s";
}

std::optional<timestamp> claims_wakeup(const upgrade_ctx& c) {
  if (!c.u.claims_requested || claims_ready(c)) return std::nullopt;
  const timestamp since = *c.u.claims_requested;
  const timestamp next_look = since + ((c.now - since) / inspect_every_ms + 1) * inspect_every_ms;
  return std::min(next_look, since + c.cfg.claim_bind_timeout_s * 1000);
}

}  // namespace qpu::reducers
