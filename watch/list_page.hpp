#pragma once
// One page of a list response: {"kind":"JobList","metadata":{"resourceVersion":"..","continue":".."},
// "items":[...]}. Items are returned as their raw JSON (they lack kind and apiVersion, which the
// list carries once) so that the event log stores them exactly as the server sent them.
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace qpu::watch {

struct list_page {
  std::string rv;  // metadata.resourceVersion: the snapshot's store revision
  std::string continue_token;  // metadata.continue: empty on the last page
  std::vector<std::string> items;
};

// Errors name the field and simdjson's message.
std::expected<list_page, std::string> parse_list_page(std::string_view body);

}  // namespace qpu::watch
