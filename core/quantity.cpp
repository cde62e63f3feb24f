#include "core/quantity.hpp"

#include <cmath>
#include <cstdlib>
#include <utility>

namespace qpu {

std::optional<std::int64_t> parse_quantity(std::string_view text) {
  static constexpr std::pair<std::string_view, double> suffixes[] = {{"Ki", 1024.0},
                                                                     {"Mi", 1048576.0},
                                                                     {"Gi", 1073741824.0},
                                                                     {"Ti", 1099511627776.0},
                                                                     {"Pi", 1125899906842624.0},
                                                                     {"Ei", 1152921504606846976.0},
                                                                     {"k", 1e3},
                                                                     {"M", 1e6},
                                                                     {"G", 1e9},
                                                                     {"T", 1e12},
                                                                     {"P", 1e15},
                                                                     {"E", 1e18},
                                                                     {"m", 1e-3}};
  if (text.empty() || text.size() > 64) return std::nullopt;
  double scale = 1.0;
  std::string_view number = text;
  for (const auto& [suffix, factor] : suffixes) {
    if (text.size() > suffix.size() && text.substr(text.size() - suffix.size()) == suffix) {
      number = text.substr(0, text.size() - suffix.size());
      scale = factor;
      break;
    }
  }
  const std::string copy{number};
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(value) || value < 0) return std::nullopt;
  const double bytes = std::ceil(value * scale);
  if (bytes > 9.2e18) return std::nullopt;
  return static_cast<std::int64_t>(bytes);
}

std::string format_quantity(std::int64_t bytes) {
  if (bytes > 0 && bytes % gibibyte == 0) return std::to_string(bytes / gibibyte) + "Gi";
  if (bytes > 0 && bytes % mebibyte == 0) return std::to_string(bytes / mebibyte) + "Mi";
  if (bytes > 0 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + "Ki";
  return std::to_string(bytes);
}

}  // namespace qpu
