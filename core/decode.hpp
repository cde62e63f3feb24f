#pragma once
// Decoding Kubernetes JSON into core views and events, once, with simdjson's on-demand parser.
// Used by the watch layer for live streams and by the event log reader for replay, so both see
// the same values. Unknown fields are skipped; a value of the wrong type is an error naming its
// path and byte offset.
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "core/events.hpp"
#include "core/resources.hpp"

namespace qpu {

// Watch lines longer than this are rejected (a documented limit: the largest object Kubernetes
// stores is about 1.5 MiB in etcd; 16 MiB leaves room for managedFields and escaping).
inline constexpr std::size_t max_line_bytes = 16u << 20;

// Not thread-safe: one decoder per thread (it reuses its parser and padded buffer).
class json_decoder {
 public:
  json_decoder();
  ~json_decoder();
  json_decoder(const json_decoder&) = delete;
  json_decoder& operator=(const json_decoder&) = delete;

  // One object as it appears in a list's `items` or a watch event's `object`.
  std::expected<object_view, std::string> decode_object(resource_kind kind, std::string_view json);
  // One watch line: {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}.
  std::expected<event, std::string> decode_watch_line(resource_kind kind, std::string_view line);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace qpu
