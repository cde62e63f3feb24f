#include "core/pg_version.hpp"

#include <charconv>

namespace qpu {

std::string to_string(pg_major v) {
  if (v.code >= 1000) return std::to_string(v.code / 100);
  return std::to_string(v.code / 100) + "." + std::to_string(v.code % 100);
}

std::optional<pg_major> parse_pg_major(std::string_view text) {
  int first = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), first);
  if (ec != std::errc{} || p == text.data()) return std::nullopt;
  std::string_view rest{p, static_cast<std::size_t>(text.data() + text.size() - p)};
  if (first >= 10 && first < 100) {
    if (!rest.empty() && rest.front() != '.') return std::nullopt;
    return pg_major::of(first);
  }
  if (first >= 7 && first <= 9) {
    if (rest.size() < 2 || rest.front() != '.') return std::nullopt;
    int second = 0;
    auto [q, ec2] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), second);
    if (ec2 != std::errc{} || second < 0 || second > 99) return std::nullopt;
    if (q != rest.data() + rest.size() && *q != '.') return std::nullopt;
    return pg_major{first * 100 + second};
  }
  return std::nullopt;
}

}  // namespace qpu
