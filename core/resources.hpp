#pragma once
// Resource views: the few fields of each Kubernetes object the reducers need, decoded once from
// the API server's JSON (core/decode.hpp) and kept as plain values.
#include <compare>
#include <concepts>
#include <cstdint>
#include <cstddef>
#include <iterator>
#include <set>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/interned.hpp"
#include "core/istr.hpp"

namespace qpu {

enum class resource_kind : std::uint8_t { quay_registry, deployment, pod, job, claim };
inline constexpr resource_kind all_resource_kinds[] = {resource_kind::quay_registry, resource_kind::deployment,
                                                       resource_kind::pod, resource_kind::job, resource_kind::claim};

// "quayregistries", "deployments", "pods", "jobs", "persistentvolumeclaims": the API's plural.
const char* plural(resource_kind k);
std::optional<resource_kind> kind_from_plural(std::string_view plural);

// Namespace and name: how every object is found.
struct object_key {
  istr ns;
  istr name;
  auto operator<=>(const object_key&) const = default;
};
std::string to_string(const object_key& k);  // "ns/name"

// A key to find an object by, from texts that need not be interned: a lookup by a name the
// reducers composed (R-quay-database, a Job's name) interns nothing.
struct key_view {
  std::string_view ns;
  std::string_view name;
};
// Orders object_key and key_view alike (as their texts), for heterogeneous lookup.
struct key_less {
  using is_transparent = void;
  bool operator()(const object_key& a, const object_key& b) const noexcept { return a < b; }
  bool operator()(const object_key& a, const key_view& b) const noexcept {
    const auto c = a.ns.view() <=> b.ns;
    return c < 0 || (c == 0 && a.name.view() < b.name);
  }
  bool operator()(const key_view& a, const object_key& b) const noexcept {
    const auto c = a.ns <=> b.ns.view();
    return c < 0 || (c == 0 && a.name < b.name.view());
  }
};

// The managed PostgreSQL databases of a QuayRegistry (QUAY-OPERATOR.md): Quay's own
// (R-quay-database) and Clair's (R-clair-postgres). Each is upgraded, verified and rolled back on
// its own.
enum class db_component : std::uint8_t { quay, clair };
const char* to_string(db_component c);  // "quay" | "clair"
std::optional<db_component> db_component_from(std::string_view text);

// One managed database of one registry: the unit of an upgrade.
struct database_key {
  object_key registry;
  db_component component = db_component::quay;
  auto operator<=>(const database_key&) const = default;
};
// "ns/name" for Quay's database (as before there was a second one), "ns/name/clair" for Clair's.
std::string to_string(const database_key& k);

struct object_meta {
  object_key key;
  istr uid;
  istr rv;  // metadata.resourceVersion
  std::int64_t generation = 0;
  bool deleting = false;  // metadata.deletionTimestamp set
  // Which of its kind's watch streams delivered it (core/events.hpp, watch_stream): a relist of
  // one stream replaces only that stream's objects. Not part of the object; 0 with one stream.
  std::uint8_t stream = 0;
  bool operator==(const object_meta&) const = default;
};

// One environment variable's source: a literal value or a Secret key (never the Secret's value).
struct env_source {
  istr value;
  istr secret_name;
  istr secret_key;
  bool operator==(const env_source&) const = default;
  auto operator<=>(const env_source&) const = default;
  bool empty() const { return value.empty() && secret_name.empty(); }
};

// Where the database credentials come from, as the database Deployment's own env says
// (POSTGRESQL_USER, POSTGRESQL_PASSWORD, POSTGRESQL_DATABASE, POSTGRESQL_ADMIN_PASSWORD).
struct db_credentials {
  env_source user;
  env_source password;
  env_source database;
  env_source admin_password;
  bool operator==(const db_credentials&) const = default;
  auto operator<=>(const db_credentials&) const = default;
};

// quay.redhat.com/v1 QuayRegistry.
struct quay_registry {
  object_meta meta;
  bool postgres_managed = true;  // spec.components[kind=postgres].managed (default true)
  bool clair_postgres_managed = true;  // spec.components[kind=clairpostgres].managed (default true)
  // Annotation quay-pg-upgrader.quay.io/skip-databases ("clair"): databases the admin leaves alone,
  // such as Clair's, which Clair can rebuild from scratch.
  istr skip_databases;
  istr retry_token;  // annotation quay-pg-upgrader.quay.io/retry
  istr method_override;  // annotation quay-pg-upgrader.quay.io/method
  istr revert_to_claim;  // annotation quay-pg-upgrader.quay.io/revert-to-claim
  // Annotation quay-pg-upgrader.quay.io/maintenance-window: "HH:MM-HH:MM", a daily window in UTC
  // (it may wrap midnight) outside which no downtime starts.
  istr maintenance_window;
  // Annotation quay-pg-upgrader.quay.io/dry-run: while set (any value; a new value plans again),
  // this registry's upgrade only plans.
  istr dry_run;
  bool operator==(const quay_registry&) const = default;
};

// apps/v1 Deployment (the database, the Quay app, the mirror workers).
struct deployment {
  object_meta meta;
  std::int32_t replicas = 1;  // spec.replicas (Kubernetes defaults it to 1)
  std::int32_t status_replicas = 0;
  std::int32_t ready_replicas = 0;
  std::int32_t updated_replicas = 0;
  std::int64_t observed_generation = 0;
  istr image;  // the postgres container's image, else the first container's
  istr data_claim;  // claim of the volume mounted at /var/lib/pgsql/data
  istr pgdata;  // the container's env PGDATA (literal value), if it sets one
  std::optional<std::int32_t> recorded_replicas;  // annotation quay-pg-upgrader.quay.io/original-replicas
  // Kept once per distinct value: the database Deployments of a namespace name the same Secrets,
  // and most other Deployments none.
  interned<db_credentials> credentials;
  // metadata.ownerReferences: the QuayRegistry that controls this Deployment. The Quay operator's
  // objects carry one; it re-renders what it owns on every reconcile.
  istr owner_registry;
  // A Quay operator's own Deployment is known by its env (the images it renders the databases
  // with): RELATED_IMAGE_COMPONENT_POSTGRES and _CLAIRPOSTGRES of its first container.
  istr operator_postgres_image;
  istr operator_clair_postgres_image;
  bool is_quay_operator() const { return !operator_postgres_image.empty(); }
  bool operator==(const deployment&) const = default;
};

// v1 Pod: only to see that a workload really stopped (terminating pods still count).
struct pod {
  object_meta meta;
  istr component;  // label quay-component
  istr registry;  // label quay-operator/quayregistry
  istr job_name;  // label job-name
  istr phase;
  istr termination_message;  // last terminated container's message
  istr node;  // spec.nodeName: where a check Job must run to mount the database's claim too
  bool operator==(const pod&) const = default;
};

// batch/v1 Job.
struct job {
  object_meta meta;
  std::int32_t active = 0;
  std::int32_t succeeded = 0;
  std::int32_t failed = 0;
  bool complete = false;  // condition Complete=True
  bool has_failed = false;  // condition Failed=True
  istr reason;  // of the terminal condition: BackoffLimitExceeded, DeadlineExceeded, ...
  istr message;
  bool operator==(const job&) const = default;
};

// v1 PersistentVolumeClaim.
struct claim {
  object_meta meta;
  istr phase;  // Pending | Bound | Lost
  std::int64_t requested_bytes = 0;
  std::int64_t capacity_bytes = 0;  // status.capacity.storage
  istr storage_class;
  istr created_for;  // label quay-pg-upgrader.quay.io/registry: this controller made it for that registry
  istr clone_for;  // annotation quay-pg-upgrader.quay.io/clone-for: the create_claim effect that cloned it
  bool operator==(const claim&) const = default;
};

using object_view = std::variant<quay_registry, deployment, pod, job, claim>;

// A reflector store: one kind's objects by namespace and name. Each object is kept once, in a
// set ordered by its own metadata.key, so the key is not held twice as a map would (issue 17 item
// 2). It reads like a const std::map<object_key, T>: an iterator gives {first: the key, second:
// the object}, so `it->second` and `for (const auto& [key, obj] : store)` work; objects change
// only by insert_or_assign, erase and erase_if (the fold's put, erase and relist).
template <class T>
class object_store {
  struct by_key {
    using is_transparent = void;
    static const object_key& key_of(const T& v) { return v.meta.key; }
    static const object_key& key_of(const object_key& k) { return k; }
    static const key_view& key_of(const key_view& k) { return k; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return key_less{}(key_of(a), key_of(b));
    }
  };
  using set_type = std::set<T, by_key>;

 public:
  using key_type = object_key;
  using mapped_type = T;
  struct value_ref {
    const object_key& first;
    const T& second;
  };
  class const_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = value_ref;
    using difference_type = std::ptrdiff_t;
    using reference = value_ref;
    struct arrow {
      value_ref ref;
      const value_ref* operator->() const { return &ref; }
    };
    using pointer = arrow;
    const_iterator() = default;
    explicit const_iterator(typename set_type::const_iterator it) : it_(it) {}
    value_ref operator*() const { return {it_->meta.key, *it_}; }
    arrow operator->() const { return {**this}; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) { return const_iterator(it_++); }
    const_iterator& operator--() {
      --it_;
      return *this;
    }
    const_iterator operator--(int) { return const_iterator(it_--); }
    bool operator==(const const_iterator&) const = default;
    typename set_type::const_iterator base() const { return it_; }

   private:
    typename set_type::const_iterator it_;
  };
  using iterator = const_iterator;

  const_iterator begin() const { return const_iterator(set_.begin()); }
  const_iterator end() const { return const_iterator(set_.end()); }
  std::size_t size() const { return set_.size(); }
  bool empty() const { return set_.empty(); }

  // By an object_key (a braced {ns, name} is one), or by a key_view, which interns nothing.
  const_iterator find(const object_key& k) const { return const_iterator(set_.find(k)); }
  bool contains(const object_key& k) const { return set_.contains(k); }
  const_iterator lower_bound(const object_key& k) const { return const_iterator(set_.lower_bound(k)); }
  template <std::same_as<key_view> K>
  const_iterator find(const K& k) const {
    return const_iterator(set_.find(k));
  }
  template <std::same_as<key_view> K>
  bool contains(const K& k) const {
    return set_.contains(k);
  }
  template <std::same_as<key_view> K>
  const_iterator lower_bound(const K& k) const {
    return const_iterator(set_.lower_bound(k));
  }
  const T& at(const object_key& k) const {
    const auto it = set_.find(k);
    if (it == set_.end()) throw std::out_of_range("object_store::at: " + to_string(k));
    return *it;
  }

  // The object under its own key, in place of any it replaces.
  void insert_or_assign(T v) {
    auto it = set_.find(v.meta.key);
    if (it == set_.end()) {
      set_.insert(std::move(v));
      return;
    }
    // Same key, same place: the node is taken out, refilled and put back where it was.
    const auto hint = std::next(it);
    auto node = set_.extract(it);
    node.value() = std::move(v);
    set_.insert(hint, std::move(node));
  }
  const_iterator erase(const_iterator it) { return const_iterator(set_.erase(it.base())); }
  template <class Pred>
  friend std::size_t erase_if(object_store& s, Pred pred) {
    return std::erase_if(s.set_, [&](const T& v) { return pred(value_ref{v.meta.key, v}); });
  }
  bool operator==(const object_store&) const = default;

 private:
  set_type set_;
};

resource_kind kind_of(const object_view& o);
const object_meta& meta_of(const object_view& o);

}  // namespace qpu
