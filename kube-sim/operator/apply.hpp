#pragma once
// One reconcile's writes, made as the operator makes them: server-side apply with ForceOwnership
// (what its templates set wins, what others set beside it stays), deletes, the registry's
// ComponentsCreated condition and the app's replicas during a migration. Every write is recorded
// as a sentence for the reconcile log; a failed write is recorded too, never thrown.
#include <optional>
#include <string>
#include <string_view>

#include "store.hpp"
#include "templates.hpp"

namespace kube_sim::quay_operator {

/// Server-side apply without field managers: objects merge key by key, lists of named items
/// (containers, env, volumes, volumeMounts) merge by name, any other value is `want`'s.
json merged(const json& live, const json& want);

// What the stand-in reads of a Deployment.
std::string image_of(const json& deployment);  // its first container's
std::string data_claim(const json& deployment);  // the claim mounted at /var/lib/pgsql/data
int replicas_of(const json& deployment);
bool owned_by(const json& object, const std::string& uid);

/// The writes of one reconcile of one registry and what the log says about them.
struct reconcile_pass {
  store& s;
  registry_ref r;
  const operator_env& env;
  json changes = json::array();  // sentences, in order
  json migrations = json::array();  // {"component", "event", ...}
  bool substantive = false;  // something beyond labels, annotations and ownerReferences changed

  enum class mode {
    full,  // create, or merge metadata and every other top-level field
    metadata_only,  // create, or merge labels, annotations and the ownerReference (claims: spec immutable)
    create_only,  // create when missing, never touch (generated credentials, ServiceAccounts)
  };

  const resource_type& type(std::string_view id) const { return *s.types().find_id(id); }
  std::optional<json> get(std::string_view id, const std::string& name) const;
  void note(std::string text, bool of_substance = true);
  void failed(const std::string& what, const api_error& e) { note(what + " failed: " + e.message); }

  /// Creates `want`, or brings the live object to it; returns the object as stored.
  std::optional<json> apply(std::string_view id, const json& want, mode m = mode::full);
  /// Deletes when present (background propagation: its pods go with it).
  void remove(std::string_view id, const std::string& name, const std::string& kind);
  /// Writes the object as it is (a scale the templates do not express).
  void update(std::string_view id, const json& object, const std::string& sentence);
  /// The registry's ComponentsCreated condition, as the operator keeps it (other conditions stay).
  void set_condition(const std::string& status, const std::string& reason, const std::string& message);
  /// Pods of a Deployment's selector in phase Running (terminating ones too: they still hold the claim).
  int running_pods(const json& deployment) const;
  /// The app holds its database's connections: scaled to 0 for the migration (its replicas kept in
  /// an annotation), given back after.
  void hold_app(const std::string& app);
  void release_app(const std::string& app);
};

}  // namespace kube_sim::quay_operator
