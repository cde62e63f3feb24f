#include "effects/status_cache.hpp"

#include <simdjson.h>

namespace qpu::effects {

namespace od = simdjson::ondemand;

void status_cache::seen(const object_key& registry, std::string_view object) {
  const simdjson::padded_string text(object);
  od::parser parser;
  od::document doc;
  if (parser.iterate(text).get(doc)) return forget(registry);
  od::object top;
  if (doc.get_object().get(top)) return forget(registry);
  // A watch line wraps the object; a listed item is the object itself.
  std::string_view type;
  if (!top.find_field_unordered("type").get_string().get(type) && type == "DELETED") return forget(registry);
  od::object obj;
  if (top.find_field_unordered("object").get_object().get(obj)) {
    top.reset();
    obj = top;
  }
  entry e;
  std::string_view rv;
  if (obj.find_field_unordered("metadata").find_field_unordered("resourceVersion").get_string().get(rv) || rv.empty())
    return forget(registry);
  e.rv = rv;
  od::array conditions;
  std::string_view raw;
  if (!obj.find_field_unordered("status").find_field_unordered("conditions").get_array().get(conditions) &&
      !conditions.raw_json().get(raw))
    e.conditions = raw;
  entries_[to_string(registry)] = std::move(e);
}

void status_cache::forget(const object_key& registry) { entries_.erase(to_string(registry)); }

std::optional<nlohmann::json> status_cache::base(const object_key& registry) const {
  const auto it = entries_.find(to_string(registry));
  if (it == entries_.end()) return std::nullopt;
  auto conditions =
      it->second.conditions.empty() ? nlohmann::json::array() : nlohmann::json::parse(it->second.conditions, nullptr, false);
  if (conditions.is_discarded()) return std::nullopt;
  return nlohmann::json{{"metadata", {{"resourceVersion", it->second.rv}}}, {"status", {{"conditions", std::move(conditions)}}}};
}

}  // namespace qpu::effects
