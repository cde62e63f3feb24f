#include "reducers/schedule.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <tuple>

#include "reducers/guards.hpp"
#include "reducers/names.hpp"
#include "reducers/plan.hpp"

namespace qpu::reducers {

namespace {

constexpr timestamp ms_per_minute = 60'000;
constexpr timestamp ms_per_day = 24 * 60 * ms_per_minute;

std::optional<int> clock_minutes(std::string_view hhmm) {
  if (hhmm.size() != 5 || hhmm[2] != ':') return std::nullopt;
  int h = 0, m = 0;
  const auto digits = [](std::string_view s, int& v) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && end == s.data() + s.size();
  };
  if (!digits(hhmm.substr(0, 2), h) || !digits(hhmm.substr(3, 2), m) || h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

// Milliseconds since midnight UTC (timestamps before 1970 included).
timestamp ms_into_day(timestamp t) { return ((t % ms_per_day) + ms_per_day) % ms_per_day; }

std::optional<daily_window> window_of(const upgrade_ctx& c) {
  if (c.registry.maintenance_window.empty()) return std::nullopt;
  return parse_daily_window(c.registry.maintenance_window);
}

bool registry_holds_place(const state& s, const object_key& registry) {
  for (const auto component : {db_component::quay, db_component::clair})
    if (const auto it = s.upgrades.find({registry, component}); it != s.upgrades.end() && holds_place(it->second)) return true;
  return false;
}

// The registries in their downtime, and those queued before this database (it counts every other
// registry's queued database when it is not queued itself: a newcomer goes to the end). A database
// queued for its maintenance window does not hold others back.
struct queue_view {
  std::set<object_key> running;
  std::set<object_key> ahead;
};

queue_view view_queue(const upgrade_ctx& c) {
  queue_view v;
  const bool queued_here = c.u.current == phase::queued;
  for (const auto& [key, u] : c.s.upgrades) {
    if (key.registry == c.u.registry) continue;
    if (holds_place(u)) v.running.insert(key.registry);
    else if (u.current == phase::queued && u.block_reason != window_reason && (!queued_here || queued_before(u, c.u)))
      v.ahead.insert(key.registry);
  }
  for (const auto& r : v.running) v.ahead.erase(r);
  return v;
}

bool slot_wait(const upgrade_ctx& c) {
  const auto limit = c.cfg.max_concurrent_upgrades;
  if (limit <= 0 || registry_holds_place(c.s, c.u.registry)) return false;
  const auto v = view_queue(c);
  return static_cast<std::int64_t>(v.running.size() + v.ahead.size()) >= limit;
}

bool window_closed(const upgrade_ctx& c) {
  const auto w = window_of(c);
  return w && !inside(*w, c.now);
}

std::string two_digits(int v) { return (v < 10 ? "0" : "") + std::to_string(v); }

std::string clock_text(int minutes) { return two_digits(minutes / 60) + ":" + two_digits(minutes % 60); }

}  // namespace

std::optional<daily_window> parse_daily_window(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto start = clock_minutes(text.substr(0, dash)), end = clock_minutes(text.substr(dash + 1));
  if (!start || !end || *start == *end) return std::nullopt;
  return daily_window{*start, *end};
}

bool inside(const daily_window& w, timestamp t) {
  const auto m = ms_into_day(t) / ms_per_minute;
  return w.start_min < w.end_min ? m >= w.start_min && m < w.end_min : m >= w.start_min || m < w.end_min;
}

timestamp next_opening(const daily_window& w, timestamp t) {
  const timestamp today = t - ms_into_day(t) + w.start_min * ms_per_minute;
  return today >= t ? today : today + ms_per_day;
}

bool queued_before(const registry_upgrade& a, const registry_upgrade& b) {
  return std::tie(a.phase_since, a.registry, a.component) < std::tie(b.phase_since, b.registry, b.component);
}

bool holds_place(const registry_upgrade& u) {
  if (u.dry_run) return false;
  if (u.current == phase::detecting) return u.block_reason == turn_came_reason;
  return is_active(u.current) && u.current != phase::resuming_operator;
}

bool window_invalid(const upgrade_ctx& c) { return upgrade_due(c) && !c.registry.maintenance_window.empty() && !window_of(c); }

// A dry run waits for neither: it stops nothing (its plan says when the downtime could start).
bool outside_window(const upgrade_ctx& c) { return upgrade_due(c) && !dry_run_wanted(c) && window_closed(c); }

bool waits_for_slot(const upgrade_ctx& c) { return upgrade_due(c) && !dry_run_wanted(c) && slot_wait(c); }

bool turn_came(const upgrade_ctx& c) { return !must_wait_turn(c) && !window_closed(c) && !slot_wait(c); }

std::string queue_reason(const upgrade_ctx& c) {
  if (must_wait_turn(c)) return "";
  if (window_closed(c)) return window_reason;
  if (slot_wait(c)) return limit_reason;
  return "";
}

std::string queue_text(const upgrade_ctx& c) {
  const auto reason = queue_reason(c);
  if (reason == window_reason) {
    const auto w = *window_of(c);
    return "outside its maintenance window " + clock_text(w.start_min) + "-" + clock_text(w.end_min) +
           " UTC (annotation quay-pg-upgrader.quay.io/maintenance-window): no downtime starts before " +
           format_rfc3339_seconds(next_opening(w, c.now));
  }
  if (reason == limit_reason) {
    const auto v = view_queue(c);
    std::string running;
    for (const auto& r : v.running) running += (running.empty() ? "" : ", ") + to_string(r);
    return "place " + std::to_string(v.ahead.size() + 1) + " in the queue: " + std::to_string(v.running.size()) +
           " registries are in their downtime (" + (running.empty() ? std::string("none") : running) +
           ") and --max-concurrent-upgrades is " + std::to_string(c.cfg.max_concurrent_upgrades);
  }
  return "";
}

bool queue_place_changed(const upgrade_ctx& c) { return queue_reason(c) != c.u.block_reason || queue_text(c) != c.u.last_error; }

}  // namespace qpu::reducers
