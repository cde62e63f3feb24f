#pragma once
// What a QuayRegistry status write needs of the registry, as the controller last saw it on its
// watch or in the answer to its own write: the resourceVersion and status.conditions. The status
// write patches on top of it instead of reading the registry first, which makes a status write one
// request instead of two. The write carries that resourceVersion, so a stale entry costs a 409
// Conflict and then the read it saved: it can never overwrite a newer status.
// Not part of the folded state (reducers never see it): a cache of the effects layer, empty after
// a restart, filled again by the relist.
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/resources.hpp"

namespace qpu::effects {

class status_cache {
 public:
  // `object` is a QuayRegistry, or a watch line {"type":..., "object": QuayRegistry}. A DELETED
  // line, or an object without a resourceVersion, forgets the registry.
  void seen(const object_key& registry, std::string_view object);
  void forget(const object_key& registry);
  void clear() { entries_.clear(); }
  // {"metadata":{"resourceVersion":...},"status":{"conditions":[...]}} as last seen, if any.
  std::optional<nlohmann::json> base(const object_key& registry) const;

 private:
  struct entry {
    std::string rv;
    std::string conditions;  // the raw JSON array, parsed when a write needs it
  };
  std::unordered_map<std::string, entry> entries_;  // by "ns/name"
};

}  // namespace qpu::effects
