#include "core/config.hpp"

#include "core/image_ref.hpp"

namespace qpu {

std::optional<pg_major> effective_target(const config& c) {
  if (c.target_major) return c.target_major;
  if (auto ref = parse_image_ref(c.target_image)) return pg_major_hint(*ref);
  return std::nullopt;
}

std::optional<pg_major> effective_clair_target(const config& c) {
  if (c.clair_target_major) return c.clair_target_major;
  if (auto ref = parse_image_ref(c.clair_target_image)) return pg_major_hint(*ref);
  return std::nullopt;
}

config run_defaults() {
  config c;
  c.preflight_check = true;
  c.live_check = true;
  c.max_concurrent_upgrades = 1;
  return c;
}

}  // namespace qpu
