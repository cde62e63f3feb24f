#pragma once
// Effect ids in tests: written as their log text (eid("quay/registry/a1/switch")), printed as it by
// Catch.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

#include "core/effect_id.hpp"

namespace qpu::testing {

inline effect_id eid(std::string_view text) {
  auto id = parse_effect_id(text);
  if (!id) throw std::invalid_argument("not an effect id: " + std::string(text));
  return *id;
}

}  // namespace qpu::testing

namespace Catch {
template <>
struct StringMaker<qpu::effect_id> {
  static std::string convert(const qpu::effect_id& id) { return qpu::to_string(id); }
};
}  // namespace Catch
