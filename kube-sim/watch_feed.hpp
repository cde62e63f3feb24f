#pragma once
// What a watch stream sends, independent of sockets: the events a watch starts with, which
// later store changes it passes on (and as what), bookmarks and the in-band ERROR event.
//
// Semantics (DESIGN.md section 4): resourceVersion unset or "0" starts with a synthetic ADDED
// per object; RV=X sends exactly the changes after X, or one ERROR event carrying 410 Expired
// when the history no longer reaches X, after which the stream ends (the client relists).
// Watch-list (sendInitialEvents=true) sends the state as ADDED events and then a BOOKMARK
// annotated k8s.io/initial-events-end: "true".
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "resource_types.hpp"
#include "selectors.hpp"
#include "store.hpp"

namespace kube_sim {

/// A validated watch request.
struct watch_request {
  resource_type type;
  std::string ns;  // empty: all namespaces
  selector labels;
  selector fields;
  std::string resource_version;
  bool allow_bookmarks = false;
  std::optional<bool> send_initial_events;
  std::chrono::seconds timeout{1800};
  std::string path;  // for the watch recording
};

/// The events a stream starts with and the RV after which store changes count.
struct watch_start {
  std::vector<json> events;
  std::uint64_t after_rv = 0;
  bool ends_after_start = false;  // the start was a 410 ERROR event: close after sending it
};

watch_start begin_watch(const store& s, const watch_request& w);

/// The watch event `c` becomes for this watch, if any. An object that stops matching the
/// selectors leaves as DELETED; one that starts matching arrives as ADDED (as the apiserver's
/// watch cache does).
std::optional<json> event_for(const change& c, const watch_request& w, std::uint64_t after_rv);

json bookmark_event(const resource_type& t, std::uint64_t rv, bool initial_events_end);
json error_event(const api_error& e);

}  // namespace kube_sim
