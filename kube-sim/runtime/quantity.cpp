#include "quantity.hpp"

#include <cctype>
#include <cmath>
#include <string>
#include <utility>

namespace kube_sim::runtime {

std::optional<std::uint64_t> parse_quantity_bytes(std::string_view text) {
  static constexpr std::pair<std::string_view, double> suffixes[] = {{"Ki", 1024.0},
                                                                     {"Mi", 1048576.0},
                                                                     {"Gi", 1073741824.0},
                                                                     {"Ti", 1099511627776.0},
                                                                     {"Pi", 1125899906842624.0},
                                                                     {"k", 1e3},
                                                                     {"M", 1e6},
                                                                     {"G", 1e9},
                                                                     {"T", 1e12},
                                                                     {"P", 1e15},
                                                                     {"", 1.0}};
  std::size_t end = 0;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.' || (end == 0 && text[end] == '+')))
    ++end;
  if (end == 0) return std::nullopt;
  const std::string number(text.substr(0, end));
  std::string_view suffix = text.substr(end);
  double exponent_scale = 1.0;
  if (!suffix.empty() && (suffix[0] == 'e' || suffix[0] == 'E') && suffix.size() > 1) {
    try {
      exponent_scale = std::pow(10.0, std::stoi(std::string(suffix.substr(1))));
    } catch (...) {
      return std::nullopt;
    }
    suffix = {};
  }
  double value = 0;
  try {
    value = std::stod(number);
  } catch (...) {
    return std::nullopt;
  }
  for (const auto& [s, scale] : suffixes)
    if (suffix == s) return static_cast<std::uint64_t>(std::ceil(value * scale * exponent_scale));
  return std::nullopt;
}

std::string format_quantity_bytes(std::uint64_t bytes) {
  for (const auto& [suffix, unit] :
       {std::pair{"Ti", 1ULL << 40}, std::pair{"Gi", 1ULL << 30}, std::pair{"Mi", 1ULL << 20}, std::pair{"Ki", 1ULL << 10}})
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  return std::to_string(bytes);
}

}  // namespace kube_sim::runtime
