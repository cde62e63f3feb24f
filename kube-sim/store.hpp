#pragma once
// The simulated cluster's object store: what etcd plus the apiserver's registry do for the
// controller. One global resourceVersion counter shared by every type, a bounded history of
// changes (older RVs get 410 Expired), and subscribers that see every committed change in
// commit order.
//
// Threading: the store is not locked. Everything that touches it (HTTP handlers, watch
// streams, a future workload runtime) runs on one io_context thread, which makes every write
// atomic with respect to every watch start without any lock.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "api_error.hpp"
#include "patch.hpp"
#include "resource_types.hpp"
#include "selectors.hpp"

namespace kube_sim {

enum class event_type { added, modified, deleted };
/// "ADDED", "MODIFIED", "DELETED": the watch event type names.
std::string_view to_string(event_type t);

/// One committed change. For `deleted`, `object` is the last state stamped with the RV of the
/// delete, as the DELETED watch event carries it.
struct change {
  event_type type = event_type::added;
  std::string type_id;  // resource_type::id()
  json object;
  json previous;  // the state before the change; null for `added`
  std::uint64_t rv = 0;
};

struct list_options {
  selector labels;
  selector fields;
  std::int64_t limit = 0;  // 0: no paging
  std::string continue_token;
  std::string resource_version;  // "" / "0": latest
  std::string resource_version_match;  // "", "NotOlderThan" or "Exact"
};

/// One page of a list; `revision` is the store revision of the snapshot, not the items' max.
struct list_page {
  std::vector<json> items;
  std::uint64_t revision = 0;
  std::string continue_token;
  std::optional<std::int64_t> remaining_item_count;
};

enum class subresource { main, status };

struct delete_options {
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_rv;
  std::string propagation_policy;  // "Orphan" keeps dependents; anything else deletes them
};

/// The result of a write that may create (server-side apply) or may only mark for deletion.
struct write_outcome {
  json object;
  bool created = false;  // apply created the object
  bool removed = false;  // delete removed it now (false: waiting for finalizers)
};

class store {
 public:
  using subscriber = std::function<void(const change&)>;

  explicit store(std::size_t history_limit = 1000);

  const resource_registry& types() const { return types_; }

  /// POST: 201 semantics. Fills uid, creationTimestamp, resourceVersion, generation,
  /// generateName; 404 when the namespace is missing, 409 AlreadyExists, 422 on a bad name.
  result<json> create(const resource_type& t, std::string_view ns, json object);
  result<json> get(const resource_type& t, std::string_view ns, std::string_view name) const;
  /// PUT: 409 Conflict on a stale metadata.resourceVersion; custom resources must send one
  /// (422). The main resource ignores .status, /status changes only .status. No-op: no event.
  result<json> update(const resource_type& t, std::string_view ns, std::string_view name, json object,
                      subresource sub = subresource::main);
  /// PATCH with an already decoded body (JSON, or YAML turned into JSON for apply).
  /// Strategic merge on a custom resource is 415; apply without a field manager is 400.
  result<write_outcome> patch(const resource_type& t, std::string_view ns, std::string_view name, patch_kind kind,
                              const json& body, subresource sub, std::string_view field_manager = {});
  /// DELETE: with finalizers the object gets a deletionTimestamp and stays until an update
  /// empties them; otherwise it is removed (and its owned dependents with it).
  result<write_outcome> remove(const resource_type& t, std::string_view ns, std::string_view name,
                               const delete_options& options = {});
  /// `ns` empty lists across all namespaces (and is required for cluster-scoped types).
  result<list_page> list(const resource_type& t, std::string_view ns, const list_options& options = {}) const;
  /// Changes of type `t` committed after `after_rv`, oldest first; 410 Expired when the
  /// history no longer reaches back that far.
  result<std::vector<change>> changes_since(const resource_type& t, std::uint64_t after_rv) const;

  std::uint64_t revision() const { return revision_; }
  /// Changes after this RV are all still in the history.
  std::uint64_t compacted_revision() const { return compacted_; }
  /// Forgets the whole history, as an etcd compaction does: every older RV is now too old.
  void compact();
  /// The "expire history" fault: takes one revision (no object changes) and compacts at it,
  /// so every RV handed out before is too old while a fresh list still gets a usable RV.
  void expire_history();

  /// `s` sees every later change, in commit order, including changes it makes itself (those
  /// are delivered after the current delivery returns). Returns an id for unsubscribe.
  std::uint64_t subscribe(subscriber s);
  void unsubscribe(std::uint64_t id);

  /// Objects and the revision counter, for --state-dir.
  json save() const;
  /// Replaces the contents with a save(); CRDs in it become served again.
  result<void> load(const json& saved);

 private:
  using key = std::tuple<std::string, std::string, std::string>;  // type id, namespace, name

  result<json> commit_update(const resource_type& t, const key& k, const json& old, json next);
  json remove_now(const resource_type& t, const key& k, const std::string& propagation, std::optional<json> stored_before);
  /// Records and delivers `c`; the history and the delivery queue share the one copy returned.
  std::shared_ptr<const change> commit(change c);
  void after_removal(const resource_type& t, const json& removed, const std::string& propagation);
  /// Every write of objects_ goes through these two, which keep `dependents_` in step.
  void put_object(const key& k, json object);
  json take_object(const key& k);  // removes the stored object `k` (which must exist) and returns it
  void index_owners(const key& k, const json& object, bool add);
  /// Calls `visit(namespace, object)` in (namespace, name) order for every object of the type as it was at
  /// revision `at`, starting after `after` when given, until `visit` returns false. Nothing is
  /// copied: the current objects are read in place and only the keys changed since `at` are
  /// looked up in the history (a list page used to copy every object of its type).
  void visit_at(const std::string& type_id, std::uint64_t at, const std::optional<std::pair<std::string, std::string>>& after,
                const std::function<bool(const std::string& ns, const json& object)>& visit) const;

  resource_registry types_;
  std::map<key, json> objects_;
  // The garbage collector's index: owner uid -> the keys whose ownerReferences name it, so that a
  // delete finds its dependents without reading the namespace's every object (under pod churn
  // that read was most of kube-sim's time; docs/BENCHMARKS.md, issue 17 item 5).
  std::unordered_map<std::string, std::set<key>> dependents_;
  std::uint64_t revision_ = 0;
  std::uint64_t compacted_ = 0;
  std::size_t history_limit_;
  std::deque<std::shared_ptr<const change>> history_;
  std::map<std::uint64_t, subscriber> subscribers_;
  std::uint64_t next_subscriber_ = 1;
  std::deque<std::shared_ptr<const change>> undelivered_;
  bool delivering_ = false;
};

/// The QuayRegistry CRD (quay.redhat.com/v1) the simulator preloads.
json quay_registry_crd();
/// A store holding the `default` and `kube-system` namespaces and the QuayRegistry CRD.
store seeded_store(std::size_t history_limit);

}  // namespace kube_sim
