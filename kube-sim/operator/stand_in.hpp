#pragma once
// kube-sim's Quay operator stand-in (issue 13, QUAY-OPERATOR.md): where the databases are
// concerned it does what the real operator does. While the operator's Deployment has a Ready pod
// whose env names the images (RELATED_IMAGE_COMPONENT_POSTGRES, _CLAIRPOSTGRES, their _PREVIOUS),
// it reconciles every QuayRegistry every `resync` and on every QuayRegistry change: it renders
// each managed database (Deployment, Service, claim, ServiceAccount, ConfigMap, Secrets) and
// overwrites drift, and when the last repository segment of a database Deployment's image differs
// from the one it expects it runs its own migration: scale to 0, the -old Deployment on the old
// claim, the new claim, the upgrade Job (`pg_dumpall | psql`), cleanup once the Job succeeded.
//
// It runs on the store's io_context thread and writes through the store, like the workload
// runtime's controllers, so every change it makes is visible on the watch streams.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "journal.hpp"
#include "store.hpp"
#include "templates.hpp"

namespace kube_sim::quay_operator {

struct options {
  /// The operator's own Deployment: it reconciles only while this has a Ready pod.
  std::string operator_namespace = "quay-operator";
  std::string operator_name = "quay-operator";
  /// The real operator requeues a registry every few seconds while it works on it.
  std::chrono::milliseconds resync{3000};
  /// JSON Lines reconcile log; empty: kept in memory only.
  std::filesystem::path journal_file;
  /// Held: it does nothing at all, as if its process were frozen (a test switch, no real
  /// counterpart: it lets a scenario come up and be seeded before the operator acts).
  bool hold = false;
};

/// Why the stand-in does or does not reconcile right now.
struct gate {
  bool active = false;
  std::string reason;  // when not active: what is missing
  operator_env env;  // when active
};

class stand_in {
 public:
  stand_in(boost::asio::io_context& io, store& s, options o);
  ~stand_in();
  stand_in(const stand_in&) = delete;
  stand_in& operator=(const stand_in&) = delete;

  /// Subscribes to the store and starts the resync timer.
  void start();
  void stop();

  void set_hold(bool hold);
  bool held() const { return options_.hold; }
  /// Resync periods elapsed since start, whether or not it was active: a test that wants to see
  /// that a stopped operator left something alone waits for a few of these.
  std::uint64_t ticks() const { return ticks_; }
  /// Registry reconciles done (one journal line each).
  std::uint64_t reconciles() const { return reconciles_; }
  const journal& log() const { return journal_; }
  /// {"held", "active", "reason", "ticks", "reconciles", "seq", "journal"}: GET /_sim/quay-operator/status.
  json status() const;
  /// Reconciles now (the timer and QuayRegistry changes call this).
  void reconcile_all();

 private:
  void arm_timer();
  void schedule();
  gate check_gate() const;
  json reconcile_registry(const json& registry, const operator_env& env);

  boost::asio::io_context& io_;
  store& store_;
  options options_;
  journal journal_;
  boost::asio::steady_timer timer_;
  std::uint64_t subscription_ = 0;
  bool started_ = false;
  bool scheduled_ = false;
  std::uint64_t ticks_ = 0;
  std::uint64_t reconciles_ = 0;
  std::optional<bool> was_active_;
  std::string last_reason_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kube_sim::quay_operator
