#pragma once
// Kubernetes resource quantities ("10Gi", "500M", "1.5Gi", "1e3") as bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qpu {

std::optional<std::int64_t> parse_quantity(std::string_view text);
// The canonical form we write: whole Mi when it divides evenly (and Gi likewise), else bytes.
std::string format_quantity(std::int64_t bytes);

inline constexpr std::int64_t mebibyte = 1024LL * 1024;
inline constexpr std::int64_t gibibyte = 1024LL * mebibyte;

}  // namespace qpu
