#pragma once
// Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does
// it (tools/leaderelection/leaderelection.go):
// - try to acquire every retry_period (2 s) until the Lease is free or expired;
// - a Lease held by someone else counts as expired only when its record has not changed for
//   lease_duration (15 s) of OUR clock since we last saw it change: the holder's renewTime is
//   never compared with our clock, so clock skew between nodes cannot elect two leaders;
// - every write is a PUT carrying the resourceVersion just read, so of two candidates racing for
//   an expired Lease exactly one wins (the other gets 409 Conflict);
// - the leader renews every retry_period; when no renewal succeeded for renew_deadline (10 s) it
//   has lost, and is_leader() turns false at that instant even if a request still hangs.
//
// The controller is started only once leadership is won (app/controller.cpp does not run on
// a follower), and losing it ends the process (main.cpp), as controller-runtime's manager does:
// the next start refolds the event log and joins as a follower.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace qpu::kube {
class http_client;
class api_client;
}  // namespace qpu::kube

namespace qpu::app {

struct leader_election_options {
  std::string ns;  // the Lease's namespace
  std::string name = "quay-pg-upgrader";
  std::string identity;  // unique per process: "<pod or host>_<random>"
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
};

// The Lease's spec as read or written.
struct lease_record {
  std::string holder;
  std::int64_t lease_duration_s = 0;
  std::string acquire_time;  // MicroTime, RFC 3339 with microseconds
  std::string renew_time;
  std::int64_t transitions = 0;
  bool operator==(const lease_record&) const = default;
};

class leader_elector {
 public:
  struct callbacks {
    std::function<void()> started_leading;
    std::function<void()> stopped_leading;
    std::function<void(const std::string&)> new_leader;  // the holder observed changed
  };

  leader_elector(boost::asio::io_context& ioc, std::shared_ptr<kube::http_client> client, leader_election_options o,
                 callbacks cb);
  ~leader_elector();

  // Acquires, then renews until lost or stop(); calls the callbacks on the io_context thread.
  boost::asio::awaitable<void> run();
  // Gives the Lease up (holder cleared, so a follower takes over at its next retry, not after
  // 15 s), as client-go's ReleaseOnCancel does. Call on a clean shutdown, before exiting.
  boost::asio::awaitable<void> release();
  void stop();

  // True only while the last successful renewal is younger than renew_deadline.
  bool is_leader() const;
  const std::string& identity() const { return o_.identity; }
  const std::string& observed_holder() const { return observed_.holder; }
  std::uint64_t transitions_seen() const { return static_cast<std::uint64_t>(observed_.transitions); }

 private:
  boost::asio::awaitable<bool> try_acquire_or_renew();
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);

  boost::asio::io_context& ioc_;
  std::shared_ptr<kube::api_client> api_;
  leader_election_options o_;
  callbacks cb_;
  lease_record observed_;
  std::chrono::steady_clock::time_point observed_at_{};
  std::chrono::steady_clock::time_point renewed_at_{};
  bool leading_ = false;
  bool stopping_ = false;
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

// A default identity: $POD_NAME (else the host name), "_", and 8 random hex digits.
std::string default_identity();
// The Lease namespace when --leader-election-namespace is not given: $POD_NAMESPACE, the service
// account's namespace file, the kubeconfig context's namespace, else "default".
std::string default_lease_namespace(const std::string& kubeconfig_namespace);

}  // namespace qpu::app
