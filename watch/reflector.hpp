#pragma once
// The list+watch loop for one resource as a pure state machine (client-go's Reflector,
// kube-rs's watcher): `step(state, input, context) -> {state, commands}`. No I/O, no clock, no
// randomness: the driver (reflector_driver) performs the commands, feeds back what happened,
// and passes the time and a uniform random number in `step_context`.
//
//   listing  --last page-->  watching  --EOF / timeoutSeconds-->  watching (from the last RV)
//      ^                        |
//      +---- 410 Expired -------+          any failure --> backing_off --> the same request again
//
// Why 410 means relist: the API server keeps a window of history (etcd compaction, the watch
// cache); a resourceVersion older than the window cannot be resumed, so the only correct move
// is a fresh list (https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses).
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/time.hpp"

namespace qpu::watch {

struct reflector_options {
  std::int32_t page_size = 500;
  std::int32_t min_watch_timeout_s = 300;  // the watch's timeoutSeconds is drawn from [min, max]
  std::int32_t max_watch_timeout_s = 600;
  duration_ms initial_backoff = 800;
  duration_ms max_backoff = 30'000;
  duration_ms backoff_reset_after = 120'000;  // this long without a failure starts backoff over
  duration_ms short_watch = 1'000;  // a watch ending sooner without any event is a failure
};

enum class reflector_phase : std::uint8_t { empty, listing, watching, backing_off };

struct reflector_state {
  reflector_phase phase = reflector_phase::empty;
  std::string rv;  // last resourceVersion seen (a list's, or any watch event's)
  std::string continue_token;  // while listing past the first page
  bool relist_pending = true;  // after backoff: list (true) or watch from `rv` (false)
  std::uint32_t failures = 0;  // consecutive, for the backoff exponent
  timestamp last_failure_at = 0;
  timestamp watch_started_at = 0;
  bool watch_saw_event = false;
  bool operator==(const reflector_state&) const = default;
};

// What the driver passes in with every input.
struct step_context {
  timestamp now = 0;
  double random = 0.5;  // uniform in [0, 1): watch timeout choice and backoff jitter
};

// Inputs: what the driver observed.
struct start {};
struct list_page_received {
  std::string rv;
  std::string continue_token;
};
struct list_failed {
  std::int32_t code = 0;  // HTTP status, 0 for transport failures
};
struct watch_event_seen {  // ADDED/MODIFIED/DELETED/BOOKMARK: the event's resourceVersion
  std::string rv;
};
struct watch_error_seen {  // an in-band ERROR event's Status code
  std::int32_t code = 0;
};
struct watch_ended {};  // the stream closed (EOF, timeoutSeconds, cut mid-body)
struct watch_failed {  // the watch request got an error status or did not connect
  std::int32_t code = 0;
};
struct backoff_elapsed {};
using reflector_input = std::variant<start, list_page_received, list_failed, watch_event_seen, watch_error_seen, watch_ended,
                                     watch_failed, backoff_elapsed>;

// Commands: what the driver must do next.
struct send_list {
  std::string continue_token;  // empty: the first page of a fresh list (discard earlier pages)
  std::int32_t limit = 0;
  bool operator==(const send_list&) const = default;
};
struct publish_relist {  // the list is complete: emit relist_started, the items, relist_done(rv)
  std::string rv;
  bool operator==(const publish_relist&) const = default;
};
struct send_watch {
  std::string rv;
  std::int32_t timeout_seconds = 0;
  bool operator==(const send_watch&) const = default;
};
struct close_watch {  // stop reading the current stream (its history is gone)
  bool operator==(const close_watch&) const = default;
};
struct wait_for {
  duration_ms delay = 0;
  bool operator==(const wait_for&) const = default;
};
using reflector_command = std::variant<send_list, publish_relist, send_watch, close_watch, wait_for>;

struct step_result {
  reflector_state state;
  std::vector<reflector_command> commands;
};

step_result step(const reflector_state& s, const reflector_input& in, const step_context& ctx,
                 const reflector_options& opts = {});

// The delay before retry number `failures` (1-based): min(max, initial * 2^(failures-1)),
// stretched by up to a quarter with `random` and capped at max.
duration_ms backoff_delay(std::uint32_t failures, double random, const reflector_options& opts = {});

const char* to_string(reflector_phase p);

}  // namespace qpu::watch
