#include "watch_feed.hpp"

#include "object_meta.hpp"

namespace kube_sim {
namespace {

json event(std::string_view type, const json& object) { return {{"type", type}, {"object", object}}; }

bool in_scope(const json& object, const watch_request& w) {
  if (!w.ns.empty() && w.type.namespaced && object_namespace(object) != w.ns) return false;
  return matches_labels(w.labels, object) && matches_fields(w.fields, object);
}

}  // namespace

json bookmark_event(const resource_type& t, std::uint64_t rv, bool initial_events_end) {
  json md = {{"resourceVersion", std::to_string(rv)}};
  if (initial_events_end) md["annotations"] = {{"k8s.io/initial-events-end", "true"}};
  return event("BOOKMARK", {{"kind", t.kind}, {"apiVersion", t.api_version()}, {"metadata", md}});
}

json error_event(const api_error& e) { return event("ERROR", to_status(e)); }

watch_start begin_watch(const store& s, const watch_request& w) {
  watch_start start;
  // sendInitialEvents, when given, decides alone: =false with no RV watches from "now".
  const bool from_state = w.send_initial_events.value_or(w.resource_version.empty() || w.resource_version == "0");
  if (from_state) {
    list_options everything;
    everything.labels = w.labels;
    everything.fields = w.fields;
    auto page = s.list(w.type, w.ns, everything);
    if (!page) {
      start.events.push_back(error_event(page.error()));
      start.ends_after_start = true;
      return start;
    }
    for (auto& item : page->items) start.events.push_back(event("ADDED", item));
    start.after_rv = page->revision;
    if (w.send_initial_events.value_or(false)) start.events.push_back(bookmark_event(w.type, page->revision, true));
    return start;
  }
  const auto rv = w.resource_version.empty() ? s.revision() : parse_rv(w.resource_version).value_or(0);
  auto changes = s.changes_since(w.type, rv);
  if (!changes) {
    start.events.push_back(error_event(changes.error()));
    start.ends_after_start = true;
    return start;
  }
  start.after_rv = rv;
  for (const auto& c : *changes)
    if (auto e = event_for(c, w, rv)) start.events.push_back(std::move(*e));
  start.after_rv = std::max(rv, s.revision());
  return start;
}

std::optional<json> event_for(const change& c, const watch_request& w, std::uint64_t after_rv) {
  if (c.rv <= after_rv || c.type_id != w.type.id()) return std::nullopt;
  const bool now_in = in_scope(c.object, w);
  if (c.type == event_type::deleted) return now_in ? std::optional(event("DELETED", c.object)) : std::nullopt;
  const bool was_in = !c.previous.is_null() && in_scope(c.previous, w);
  if (c.type == event_type::added) return now_in ? std::optional(event("ADDED", c.object)) : std::nullopt;
  if (was_in && now_in) return event("MODIFIED", c.object);
  if (now_in) return event("ADDED", c.object);
  if (was_in) return event("DELETED", c.object);
  return std::nullopt;
}

}  // namespace kube_sim
