#pragma once
// Splits a watch stream's bytes into lines. The API server writes one JSON document per event,
// newline-terminated, but HTTP chunk boundaries (and TCP reads) do not align with events: a read
// may hold several events, or a fraction of one. Complete lines inside a read are handed out
// without copying; only a partial tail is buffered. A line longer than `max_line` is not
// buffered past the limit: its bytes are counted and dropped until the next newline, and it is
// reported as oversized with a short prefix for the log.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/decode.hpp"

namespace qpu::watch {

struct split_line {
  std::string_view text;  // the line without '\n' (and without a trailing '\r'); a prefix when oversized
  std::uint64_t number = 0;  // 1-based line number in the stream
  std::uint64_t offset = 0;  // byte offset of the line's start in the stream
  std::uint64_t size = 0;  // the line's full size in bytes
  bool oversized = false;
};

class line_splitter {
 public:
  explicit line_splitter(std::size_t max_line = max_line_bytes) : max_line_(max_line) {}

  // Calls on_line(const split_line&) for every line completed by `bytes`. Blank lines (some
  // proxies send keep-alive newlines) are skipped.
  template <class OnLine>
  void feed(std::string_view bytes, OnLine&& on_line);

  // Bytes of an unterminated last line (a stream cut mid-event); they are never decoded.
  std::size_t pending_bytes() const { return discarding_ ? discarded_ : partial_.size(); }
  std::uint64_t lines() const { return line_no_; }
  std::uint64_t bytes() const { return offset_; }

 private:
  static constexpr std::size_t prefix_bytes = 256;
  template <class OnLine>
  void emit(std::string_view text, std::uint64_t size, bool oversized, OnLine& on_line);

  std::size_t max_line_;
  std::string partial_;
  bool discarding_ = false;
  std::size_t discarded_ = 0;
  std::uint64_t line_no_ = 0;
  std::uint64_t offset_ = 0;  // stream offset of the first byte not yet consumed into a line
};

template <class OnLine>
void line_splitter::emit(std::string_view text, std::uint64_t size, bool oversized, OnLine& on_line) {
  ++line_no_;
  const std::uint64_t start = offset_;
  offset_ += size + 1;
  if (!oversized && !text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (!oversized && text.empty()) return;
  on_line(split_line{text, line_no_, start, size, oversized});
}

template <class OnLine>
void line_splitter::feed(std::string_view bytes, OnLine&& on_line) {
  while (!bytes.empty()) {
    const std::size_t nl = bytes.find('\n');
    const std::size_t take = nl == std::string_view::npos ? bytes.size() : nl;
    if (discarding_) {
      discarded_ += take;
    } else if (partial_.size() + take > max_line_) {
      // Keep only a prefix for the report; count and drop the rest as it arrives.
      discarded_ = partial_.size() + take;
      const std::size_t keep = std::min(prefix_bytes, max_line_);
      if (partial_.size() < keep) partial_.append(bytes.substr(0, std::min(take, keep - partial_.size())));
      partial_.resize(std::min(partial_.size(), keep));
      partial_.shrink_to_fit();
      discarding_ = true;
    } else if (nl != std::string_view::npos && partial_.empty()) {
      emit(bytes.substr(0, nl), nl, false, on_line);
    } else {
      partial_.append(bytes.substr(0, take));
      if (nl != std::string_view::npos) {
        emit(std::string_view(partial_), partial_.size(), false, on_line);
        partial_.clear();
      }
    }
    if (nl == std::string_view::npos) return;
    if (discarding_) {
      emit(std::string_view(partial_), discarded_, true, on_line);
      partial_.clear();
      discarding_ = false;
      discarded_ = 0;
    }
    bytes.remove_prefix(nl + 1);
  }
}

}  // namespace qpu::watch
