#pragma once
// Fault injection: the knobs reliability tests turn, set by flags at start and changed at run
// time through POST /_sim/faults (a path no Kubernetes client uses).
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "api_error.hpp"

namespace kube_sim {

/// The fault knobs; zero means off for every one of them.
struct fault_settings {
  std::int64_t drop_watch_after_events = 0;  // close each watch stream abruptly after N events
  std::int64_t fail_next = 0;  // fail the next N API requests ...
  double fail_rate = 0.0;  // ... and this share of the rest
  int fail_code = 429;  // with 429 (Retry-After), 500, 503, 504, or 403 (refused for good, as an admission policy)
  int retry_after_seconds = 1;
  std::int64_t chunk_bytes = 0;  // split each watch event into chunks of this many bytes
  std::int64_t event_delay_ms = 0;  // hold each watch event this long before sending it
  std::string fail_client;  // when set, failNext/failRate hit only clients whose User-Agent starts with it
  // When set, failNext/failRate hit only requests whose "METHOD path" (no query) contains it, such
  // as "PATCH /apis/apps/v1/namespaces/quay/deployments/registry-quay-mirror": one object refused.
  std::string fail_request;

  bool operator==(const fault_settings&) const = default;
};

/// What the faults did to one client, so a test can check that its faults reached the program
/// under test and not only itself (GET /_sim/fault-counts).
struct fault_counts {
  std::map<std::string, std::int64_t> failed_requests;  // by resource ("leases", "pods", ...)
  std::map<int, std::int64_t> failed_by_code;  // 429, 500, 503, 504
  std::int64_t dropped_watches = 0;  // dropWatchAfterEvents
  std::int64_t chunked_events = 0;  // events sent in pieces (chunkBytes)
  std::int64_t delayed_events = 0;  // events held back (eventDelayMs)
  std::int64_t expired_watches = 0;  // watches answered 410 Expired (a compacted history)

  bool operator==(const fault_counts&) const = default;
};

json to_json(const fault_counts& c);

json to_json(const fault_settings& f);

/// Applies the fields present in `body` (same names as to_json) onto `f`; 400 on a wrong type
/// or an unknown field, so a typo in a test does not silently inject nothing.
result<void> apply_fault_update(fault_settings& f, const json& body);

/// Decides, request by request, whether to inject a failure.
class fault_injector {
 public:
  fault_settings settings;

  /// The error to answer this API request from `client` (its User-Agent) on `resource` with, if
  /// it is to fail; counted for that client. `request` is its "METHOD path".
  std::optional<api_error> next_request_failure(const std::string& client, const std::string& resource,
                                                const std::string& request = {});

  /// The faults each client met, keyed by its User-Agent ("" when it sent none).
  std::map<std::string, fault_counts> by_client;

 private:
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace kube_sim
