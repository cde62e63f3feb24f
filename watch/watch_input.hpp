#pragma once
// What a reflector hands to the controller: one input per watch line or relist step, with the
// raw text the event log stores and the event decoded once from it. The controller appends
// `log_line(input, writer.next_seq(), now)` to the event log, then folds `input.event`.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/events.hpp"
#include "core/resources.hpp"
#include "core/time.hpp"

namespace qpu::watch {

enum class input_origin : std::uint8_t {
  watch_line,  // raw: the watch line as received; event: object_event, bookmark_seen or watch_error
  relist_start,  // raw: empty; event: relist_started
  relist_item,  // raw: the list item's JSON; event: relist_item
  relist_done,  // raw: the list's resourceVersion; event: relist_done
  malformed,  // raw: the line (a prefix when oversized); error: where and why; event: malformed_input
};

// The views point into the driver's buffers: valid only during the callback.
struct watch_input {
  resource_kind kind{};
  input_origin origin = input_origin::watch_line;
  std::string_view raw;
  std::string_view error;
  const event& body;
  std::uint8_t stream = 0;  // which of the kind's watch streams (core/events.hpp)
  std::uint8_t streams = 1;  // how many the kind has (written on relist_done lines)
};

using input_sink = std::function<void(const watch_input&)>;

// The event log line for `in` (core/event_log.hpp formats), newline-terminated.
std::string log_line(const watch_input& in, std::uint64_t seq, timestamp ts);

}  // namespace qpu::watch
