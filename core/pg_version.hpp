#pragma once
// PostgreSQL major versions. Before 10 a major was two numbers (9.6); from 10 on it is one. The
// code keeps both comparable: 9.6 -> 906, 10 -> 1000, 15 -> 1500.
#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace qpu {

struct pg_major {
  int code = 0;  // 906 for 9.6, 1000 for 10, 1500 for 15

  static constexpr pg_major of(int major) { return pg_major{major * 100}; }
  // From `server_version_num` (90624 -> 9.6, 100023 -> 10, 150004 -> 15).
  static constexpr pg_major from_server_version_num(int num) {
    return num >= 100000 ? pg_major{num / 10000 * 100} : pg_major{num / 100};
  }
  auto operator<=>(const pg_major&) const = default;
  bool operator==(const pg_major&) const = default;
};

// "10", "15", "9.6"
std::string to_string(pg_major v);
// Accepts "10", "15", "9.6", "14.5" (a minor is dropped from 10 on), "9.6.24"; nullopt otherwise.
std::optional<pg_major> parse_pg_major(std::string_view text);

// The oldest major our pg_dump/pg_upgrade targets (PostgreSQL 15 to 17) read: 9.2.
inline constexpr pg_major oldest_supported_source{902};

}  // namespace qpu
