#include "core/progress.hpp"

#include <algorithm>
#include <cstdio>

namespace qpu {

std::int32_t percent(const progress_record& p) {
  if (p.total <= 0) return 0;
  const auto done = std::clamp<std::int64_t>(p.done, 0, p.total);
  // done * 100 cannot overflow below 92 PB.
  return static_cast<std::int32_t>(done * 100 / p.total);
}

std::optional<duration_ms> time_left(const progress_record& p) {
  const std::int64_t moved = p.done - p.first_done;
  const duration_ms took = p.at - p.first_at;
  if (moved <= 0 || took <= 0 || p.total <= 0) return std::nullopt;
  const std::int64_t left = std::max<std::int64_t>(0, p.total - p.done);
  // left * took / moved in floating point: the product overflows 64 bits for TB over hours.
  return static_cast<duration_ms>(static_cast<double>(left) * static_cast<double>(took) / static_cast<double>(moved));
}

std::string format_bytes(std::int64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(std::max<std::int64_t>(0, bytes));
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u > 0 && v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

std::string format_duration(duration_ms d) {
  const std::int64_t s = std::max<duration_ms>(0, d + 500) / 1000;
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld h %02lld min", static_cast<long long>(s / 3600), static_cast<long long>(s % 3600 / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lld min %02lld s", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(s));
  return buf;
}

std::string progress_text(const progress_record& p) {
  std::string text = p.stage + ": ";
  if (p.unit == "bytes") text += format_bytes(p.done) + " of " + format_bytes(p.total);
  else text += std::to_string(p.done) + " of " + std::to_string(p.total) + " " + p.unit;
  text += " (" + std::to_string(percent(p)) + " %)";
  // All of the measured total is done (the Job's last line, or more written than its estimate):
  // the step is wrapping up, "about 0 s left" would say nothing true.
  if (p.total > 0 && p.done >= p.total) return text + ", finishing";
  const auto left = time_left(p);
  return text + (left ? ", about " + format_duration(*left) + " left" : std::string(", estimating the time left"));
}

}  // namespace qpu
