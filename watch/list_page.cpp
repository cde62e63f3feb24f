#include "watch/list_page.hpp"

#include <simdjson.h>

namespace qpu::watch {

namespace od = simdjson::ondemand;

std::expected<list_page, std::string> parse_list_page(std::string_view body) {
  auto fail = [](std::string_view where, simdjson::error_code e) {
    return std::unexpected("list response " + std::string(where) + ": " + simdjson::error_message(e));
  };
  // Lists are read once per relist, so a padded copy costs little next to the network.
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  if (auto e = parser.iterate(padded).get(doc)) return fail("document", e);
  od::object top;
  if (auto e = doc.get_object().get(top)) return fail("top level", e);
  list_page page;
  for (auto field : top) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail("key", e);
    od::value v;
    if (auto e = field.value().get(v)) return fail(key, e);
    if (key == "metadata") {
      od::object meta;
      if (auto e = v.get_object().get(meta)) return fail("metadata", e);
      for (auto mf : meta) {
        std::string_view mk;
        if (auto e = mf.unescaped_key().get(mk)) return fail("metadata key", e);
        if (mk != "resourceVersion" && mk != "continue") continue;
        std::string_view s;
        if (auto e = mf.value().get_string().get(s)) return fail("metadata." + std::string(mk), e);
        (mk == "resourceVersion" ? page.rv : page.continue_token) = s;
      }
    } else if (key == "items") {
      // is_null() on a malformed literal is an error, not false: its bool conversion would throw.
      bool null = false;
      if (auto e = v.is_null().get(null)) return fail("items", e);
      if (null) continue;
      od::array items;
      if (auto e = v.get_array().get(items)) return fail("items", e);
      for (auto item : items) {
        od::object obj;
        if (auto e = item.get_object().get(obj)) return fail("items[" + std::to_string(page.items.size()) + "]", e);
        std::string_view raw;
        if (auto e = obj.raw_json().get(raw)) return fail("items[" + std::to_string(page.items.size()) + "]", e);
        page.items.emplace_back(raw);
      }
    }
  }
  // Every page carries the snapshot's RV; only the last one's is used, so only it is required.
  if (page.rv.empty() && page.continue_token.empty()) return std::unexpected("list response has no metadata.resourceVersion");
  return page;
}

}  // namespace qpu::watch
