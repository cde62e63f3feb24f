#include "watch/watch_input.hpp"

#include "core/event_log.hpp"

namespace qpu::watch {

std::string log_line(const watch_input& in, std::uint64_t seq, timestamp ts) {
  switch (in.origin) {
    case input_origin::watch_line: return log_line_watch(seq, ts, in.kind, in.raw, in.stream);
    case input_origin::relist_start: return log_line_relist_start(seq, ts, in.kind, in.stream);
    case input_origin::relist_item: return log_line_relist_item(seq, ts, in.kind, in.raw, in.stream);
    case input_origin::relist_done: return log_line_relist_done(seq, ts, in.kind, in.raw, in.stream, in.streams);
    case input_origin::malformed: return log_line_malformed(seq, ts, in.kind, in.raw, in.error, in.stream);
  }
  return {};
}

}  // namespace qpu::watch
