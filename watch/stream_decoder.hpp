#pragma once
// A watch body's bytes in, decoded inputs out: the line splitter plus the core decoder. Each
// line is decoded once; a line that does not decode (or is too long) becomes malformed_input
// with its location in the stream, never an exception. This is the client's whole decode path
// (bench_decode measures it).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/decode.hpp"
#include "watch/line_splitter.hpp"
#include "watch/redact.hpp"
#include "watch/watch_input.hpp"

namespace qpu::watch {

struct decode_counters {
  std::uint64_t lines = 0;
  std::uint64_t malformed = 0;  // includes oversized
  std::uint64_t oversized = 0;
  std::uint64_t bytes = 0;
};

class stream_decoder {
 public:
  // `on_input` returns false to stop: later lines of this stream are dropped undecoded.
  using handler = std::function<bool(const watch_input&)>;

  // `stream`: which of the kind's watch streams this body is (core/events.hpp); decoded objects
  // and the inputs carry it. `redact`, when given, rewrites each line before it is decoded and
  // handed on (watch/redact.hpp): the input's raw text is the redacted one.
  stream_decoder(resource_kind kind, json_decoder& decoder, std::size_t max_line = max_line_bytes, std::uint8_t stream = 0,
                 const redactor* redact = nullptr)
      : kind_(kind), decoder_(decoder), splitter_(max_line), max_line_(max_line), stream_(stream), redact_(redact) {}

  // False once the handler asked to stop.
  bool feed(std::string_view bytes, const handler& on_input);
  const decode_counters& counters() const { return counters_; }
  std::size_t pending_bytes() const { return splitter_.pending_bytes(); }

 private:
  resource_kind kind_;
  json_decoder& decoder_;
  line_splitter splitter_;
  std::size_t max_line_;
  std::uint8_t stream_;
  const redactor* redact_;
  decode_counters counters_;
  bool stopped_ = false;
};

}  // namespace qpu::watch
