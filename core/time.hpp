#pragma once
// Time as the reducers see it: milliseconds since the Unix epoch, carried by events. Nothing in
// core reads a clock; the event log writer stamps events with the time the edge observed them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qpu {

using timestamp = std::int64_t;  // ms since 1970-01-01T00:00:00Z
using duration_ms = std::int64_t;

constexpr duration_ms seconds(std::int64_t s) { return s * 1000; }

// RFC 3339 in UTC with milliseconds, e.g. "2026-11-24T04:13:42.123Z".
std::string format_rfc3339(timestamp t);
// Same, without the fraction, as Kubernetes writes metav1.Time ("2026-11-24T04:13:42Z").
std::string format_rfc3339_seconds(timestamp t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)"; nullopt on anything else.
std::optional<timestamp> parse_rfc3339(std::string_view text);

}  // namespace qpu
