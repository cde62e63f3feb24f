#pragma once
// The event log: JSON Lines, one input per line, append-only.
//
//   {"seq":7,"ts":"2026-11-24T04:13:42.123Z","source":"watch/jobs","watch":{"type":"MODIFIED","object":{...}}}
//   {"seq":8,"ts":"...","source":"watch/jobs","relist":"start"}
//   {"seq":9,"ts":"...","source":"watch/jobs","relist":"item","object":{...}}
//   {"seq":10,"ts":"...","source":"watch/jobs","relist":"done","rv":"1234"}
//   {"seq":11,"ts":"...","source":"watch/jobs","malformed":"<the line as text>","error":"..."}
//   {"seq":12,"ts":"...","source":"effect","event":{"type":"effect_succeeded","id":"..."}}
//
// Watch events are stored exactly as the API server sent them, so a stream recorded from a real
// cluster replays. Unknown fields are ignored. A truncated last line (a crash mid-write: no final
// newline and not valid) is dropped with a warning; any other invalid line is an error naming
// file:line.
#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <string_view>

#include "core/events.hpp"

namespace qpu {

struct log_position {
  std::string file;
  std::uint64_t line = 0;
};
std::string to_string(const log_position& p);  // "file:line"

// Where a read of the log starts when a snapshot (core/snapshot.hpp) holds what came before: the
// byte offset of the line after the snapshot's, and that snapshot's sequence number. Lines at or
// before it are passed over, and the first line after it must be the next number.
struct log_resume {
  std::uint64_t offset = 0;
  std::uint64_t after_seq = 0;
};

// Reads `path` from the start (or from `from`), calling `on_event` for each line in order and `on_warning` for
// lines skipped (a truncated tail, a watch payload the decoder rejected: the latter still
// reaches on_event as malformed_input, as it did live). Returns the number of events read, or
// "file:line: what is wrong" for the first invalid line.
std::expected<std::uint64_t, std::string> read_event_log(const std::string& path,
                                                         const std::function<void(logged_event&&)>& on_event,
                                                         const std::function<void(const std::string&)>& on_warning,
                                                         log_resume from = {});

// Parses one log line (no trailing newline).
std::expected<logged_event, std::string> parse_log_line(std::string_view line);

// The writer's line formats; `raw` is inserted verbatim and must be one line of JSON. `stream`
// is the watch stream of the kind the line came from (core/events.hpp, max_watch_streams), written
// as "stream" when not 0; a relist's done line also says how many streams the kind has
// ("streams", when not 1).
std::string log_line_watch(std::uint64_t seq, timestamp ts, resource_kind kind, std::string_view raw, std::uint8_t stream = 0);
std::string log_line_relist_start(std::uint64_t seq, timestamp ts, resource_kind kind, std::uint8_t stream = 0);
std::string log_line_relist_item(std::uint64_t seq, timestamp ts, resource_kind kind, std::string_view raw_object,
                                 std::uint8_t stream = 0);
std::string log_line_relist_done(std::uint64_t seq, timestamp ts, resource_kind kind, std::string_view rv,
                                 std::uint8_t stream = 0, std::uint8_t streams = 1);
std::string log_line_malformed(std::uint64_t seq, timestamp ts, resource_kind kind, std::string_view text, std::string_view error,
                               std::uint8_t stream = 0);
std::string log_line_event(std::uint64_t seq, timestamp ts, std::string_view source, const event& e);

// Appends lines to a log file. `sync()` makes everything appended so far durable before the
// effects it causes are performed.
class event_log_writer {
 public:
  // Opens (creating) `path` for appending; continues the sequence after its last valid line.
  // With `from`, the log is read from there to find its last line, and the sequence continues after
  // the snapshot's even where the file holds no line after it (a log archived at the snapshot).
  static std::expected<event_log_writer, std::string> open(const std::string& path, bool fsync_each_batch = true,
                                                           log_resume from = {});
  event_log_writer(event_log_writer&&) noexcept;
  event_log_writer& operator=(event_log_writer&&) noexcept;
  ~event_log_writer();

  std::uint64_t next_seq() const { return next_seq_; }
  // Buffers one line (built with the log_line_* helpers using next_seq()) and advances the sequence.
  void append(std::string line);
  // Writes the buffer and, when configured, fdatasync()s. Errors name the file.
  std::expected<void, std::string> sync();
  std::uint64_t bytes_written() const { return bytes_; }
  // The file's size: after sync(), the offset just past the last line appended.
  std::uint64_t file_size() const;

 private:
  event_log_writer() = default;
  int fd_ = -1;
  std::string path_;
  std::string buffer_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t bytes_ = 0;
  bool fsync_ = true;
};

}  // namespace qpu
