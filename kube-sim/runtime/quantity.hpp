#pragma once
// resource.Quantity for storage sizes ("10Gi", "500M", "1.5Gi", "1e9"), as a PVC requests them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kube_sim::runtime {

/// Bytes, rounded up; nullopt for a malformed quantity or one with a milli ('m') suffix.
std::optional<std::uint64_t> parse_quantity_bytes(std::string_view text);
/// Bytes as the API server writes a storage Quantity: "256Mi", "2Gi", else plain bytes.
std::string format_quantity_bytes(std::uint64_t bytes);

}  // namespace kube_sim::runtime
