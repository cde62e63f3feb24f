// One upgrade at a time (issue 15, item 5): --max-concurrent-upgrades registries in their downtime
// at once, the others queued first come first served with their place in their status; a daily
// maintenance window in UTC outside which no downtime starts.
#include <algorithm>
#include <map>
#include <set>

#include "core/codec.hpp"
#include "reducers/schedule.hpp"
#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

constexpr timestamp midnight = 1'795'478'400'000;  // 2026-11-24T00:00:00Z
constexpr timestamp minute = 60'000;

scenario_options registries(std::vector<std::string> more, int limit) {
  scenario_options o;
  o.more_registries = std::move(more);
  o.max_concurrent_upgrades = limit;
  return o;
}

bool in_downtime(phase p) { return p >= phase::quiescing && p <= phase::resuming; }

// Folds a log and records, for each registry, the timestamps of its downtime and the most
// registries in their downtime at one moment.
struct downtimes {
  session s;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> spans;  // registry -> first, last event (seq) down
  std::map<std::string, timestamp> first_down_at;  // registry -> when its downtime began
  std::size_t most_at_once = 0;
};

downtimes watch(const std::vector<std::string>& lines) {
  downtimes d;
  for (const auto& line : lines) {
    d.s.feed(line);
    std::string down_now;
    std::size_t down = 0;
    for (const auto& [key, u] : d.s.s.upgrades) {
      if (!in_downtime(u.current)) continue;
      ++down;
      down_now += " " + key.registry.name + ":" + to_string(u.current);
      auto [it, fresh] = d.spans.try_emplace(key.registry.name, d.s.s.last_seq, d.s.s.last_seq);
      if (!fresh) it->second.second = d.s.s.last_seq;
      d.first_down_at.try_emplace(key.registry.name, d.s.now());
    }
    if (down > 1) UNSCOPED_INFO("seq " << d.s.s.last_seq << " down at once:" << down_now);
    d.most_at_once = std::max(d.most_at_once, down);
  }
  return d;
}

std::vector<std::string> queued_messages(const session& s, const std::string& registry) {
  std::vector<std::string> out;
  for (const auto& st : s.all<update_registry_status>())
    if (st.registry.name == registry && st.summary.phase == "queued") out.push_back(st.conditions[0].message);
  return out;
}

}  // namespace

TEST_CASE("daily windows in UTC: parsing, inside, next opening") {
  using reducers::parse_daily_window;
  const auto w = parse_daily_window("02:00-04:30");
  REQUIRE(w);
  CHECK(w->start_min == 120);
  CHECK(w->end_min == 270);
  CHECK_FALSE(reducers::inside(*w, midnight + 119 * minute));
  CHECK(reducers::inside(*w, midnight + 120 * minute));
  CHECK(reducers::inside(*w, midnight + 269 * minute));
  CHECK_FALSE(reducers::inside(*w, midnight + 270 * minute));
  CHECK(reducers::next_opening(*w, midnight) == midnight + 120 * minute);
  CHECK(reducers::next_opening(*w, midnight + 120 * minute) == midnight + 120 * minute);
  CHECK(reducers::next_opening(*w, midnight + 121 * minute) == midnight + (24 * 60 + 120) * minute);
  const auto wraps = parse_daily_window("22:00-02:00");
  REQUIRE(wraps);
  CHECK(reducers::inside(*wraps, midnight + 23 * 60 * minute));
  CHECK(reducers::inside(*wraps, midnight + 60 * minute));
  CHECK_FALSE(reducers::inside(*wraps, midnight + 2 * 60 * minute));
  CHECK(reducers::next_opening(*wraps, midnight + 3 * 60 * minute) == midnight + 22 * 60 * minute);
  for (const char* bad :
       {"", "2:00-4:00", "02:00", "02:00-02:00", "24:00-01:00", "01:60-02:00", "01:00-02:00 UTC", "aa:bb-cc:dd", "01:00–02:00"})
    CHECK_FALSE(parse_daily_window(bad));
}

TEST_CASE("the limit: with the default of 1, two registries are upgraded one after the other") {
  const auto d = watch(run_scenario(registries({"second"}, 1)));
  REQUIRE(d.s.upgrade().current == phase::succeeded);
  REQUIRE(d.s.upgrade("quay", "second").current == phase::succeeded);
  CHECK(d.most_at_once == 1);
  REQUIRE(d.spans.size() == 2);
  const auto& [a, b] = std::pair{d.spans.at("registry"), d.spans.at("second")};
  CHECK((a.second < b.first || b.second < a.first));
  // The one that waited said so, with its place, the registry in its downtime and the setting.
  const auto waited = a.first < b.first ? std::string("second") : std::string("registry");
  const auto other = waited == "second" ? std::string("registry") : std::string("second");
  const auto messages = queued_messages(d.s, waited);
  REQUIRE_FALSE(messages.empty());
  CHECK(messages.front() == "waiting for its turn: place 1 in the queue: 1 registries are in their downtime (quay/" + other +
                                ") and --max-concurrent-upgrades is 1");
  CHECK(d.s.upgrade("quay", waited).block_reason.empty());  // cleared when its turn came
  std::vector<std::string> first_phases;
  for (const auto& st : d.s.all<update_registry_status>())
    if (st.registry.name == other && (first_phases.empty() || first_phases.back() != st.summary.phase))
      first_phases.push_back(st.summary.phase);
  CHECK(first_phases == std::vector<std::string>{"detecting", "preflight", "quiescing", "backing_up", "stopping", "upgrading",
                                                 "switching", "verifying", "resuming", "analyzing", "succeeded"});
}

TEST_CASE("the limit: no limit (0) lets every registry go down at once") {
  const auto d = watch(run_scenario(registries({"second", "third"}, 0)));
  for (const char* name : {"registry", "second", "third"}) CHECK(d.s.upgrade("quay", name).current == phase::succeeded);
  CHECK(d.most_at_once == 3);
}

TEST_CASE("the limit: three registries, two at a time, the third takes the first place that frees, in queue order") {
  const auto d = watch(run_scenario(registries({"second", "third"}, 2)));
  for (const char* name : {"registry", "second", "third"}) CHECK(d.s.upgrade("quay", name).current == phase::succeeded);
  CHECK(d.most_at_once == 2);
  REQUIRE(d.spans.size() == 3);
  // Exactly one waited, and it started after one of the others ended.
  std::vector<std::pair<std::uint64_t, std::string>> starts;
  for (const auto& [name, span] : d.spans) starts.emplace_back(span.first, name);
  std::sort(starts.begin(), starts.end());
  const auto& last = starts.back().second;
  const auto ended_first = std::min(d.spans.at(starts[0].second).second, d.spans.at(starts[1].second).second);
  CHECK(d.spans.at(last).first > ended_first);
  CHECK_FALSE(queued_messages(d.s, last).empty());
}

TEST_CASE("the limit: one limit across namespaces, places move up as the queue shrinks") {
  // Three registries, one at a time: the last one to go is told place 2, then place 1.
  const auto d = watch(run_scenario(registries({"second", "third"}, 1)));
  CHECK(d.most_at_once == 1);
  std::vector<std::pair<std::uint64_t, std::string>> starts;
  for (const auto& [name, span] : d.spans) starts.emplace_back(span.first, name);
  std::sort(starts.begin(), starts.end());
  REQUIRE(starts.size() == 3);
  const auto messages = queued_messages(d.s, starts[2].second);
  REQUIRE(messages.size() >= 2);
  CHECK(messages.front().find("place 2 in the queue") != std::string::npos);
  CHECK(messages.back().find("place 1 in the queue") != std::string::npos);
  for (const auto& m : queued_messages(d.s, starts[1].second)) CHECK(m.find("place 1 in the queue") != std::string::npos);
}

TEST_CASE("the window: outside it the registry waits, its downtime starts at the opening") {
  auto o = registries({}, 1);
  o.maintenance_window = "00:30-01:00";
  const auto d = watch(run_scenario(o));
  REQUIRE(d.s.upgrade().current == phase::succeeded);
  REQUIRE(d.first_down_at.contains("registry"));
  CHECK(d.first_down_at.at("registry") >= midnight + 30 * minute);
  CHECK(d.first_down_at.at("registry") < midnight + 31 * minute);
  const auto messages = queued_messages(d.s, "registry");
  REQUIRE_FALSE(messages.empty());
  CHECK(messages.front() ==
        "waiting for its turn: outside its maintenance window 00:30-01:00 UTC (annotation "
        "quay-pg-upgrader.quay.io/maintenance-window): no downtime starts before 2026-11-24T00:30:00Z");
  // The wait ended on the controller's own timer, armed for the opening.
  bool armed = false;
  for (const auto& r : d.s.all<requeue_after>())
    if (r.after > 29 * minute && r.after <= 30 * minute) armed = true;
  CHECK(armed);
}

TEST_CASE("the window: inside a window that wraps midnight the downtime starts at once") {
  auto o = registries({}, 1);
  o.maintenance_window = "23:00-00:10";
  const auto d = watch(run_scenario(o));
  REQUIRE(d.s.upgrade().current == phase::succeeded);
  CHECK(d.first_down_at.at("registry") < midnight + minute);
  CHECK(queued_messages(d.s, "registry").empty());
}

TEST_CASE("the window: one that cannot be read blocks the upgrade with the annotation's form, nothing touched") {
  auto o = registries({}, 1);
  o.maintenance_window = "2am-4am";
  const auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::blocked);
  CHECK(u.block_reason == "MaintenanceWindowInvalid");
  CHECK(u.last_error.find("\"2am-4am\"") != std::string::npos);
  CHECK(u.last_error.find("HH:MM-HH:MM") != std::string::npos);
  CHECK(s.work() == std::vector<std::string>{"quay/registry/a1/inspect-version/g1"});  // reading the version only
}

TEST_CASE("the limit travels in the logged configuration; a log without it had no limit") {
  config c;
  CHECK(c.max_concurrent_upgrades == 0);
  c.max_concurrent_upgrades = 3;
  const auto j = to_json(c);
  CHECK(j.at("maxConcurrentUpgrades") == 3);
  const auto back = config_from_json(j);
  REQUIRE(back);
  CHECK(back->max_concurrent_upgrades == 3);
  auto old = j;
  old.erase("maxConcurrentUpgrades");
  CHECK(config_from_json(old)->max_concurrent_upgrades == 0);
  old["maxConcurrentUpgrades"] = -1;
  CHECK_FALSE(config_from_json(old));
}

TEST_CASE("the limit counts registries: Clair's turn and another registry's never overlap, and all three databases finish") {
  auto o = registries({"second"}, 1);
  o.clair = true;
  session s;
  std::size_t most_registries_down = 0;
  for (const auto& line : run_scenario(o)) {
    s.feed(line);
    std::set<std::string> down;
    for (const auto& [key, u] : s.s.upgrades)
      if (in_downtime(u.current)) down.insert(key.registry.name);
    most_registries_down = std::max(most_registries_down, down.size());
  }
  CHECK(most_registries_down == 1);
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.clair().current == phase::succeeded);
  CHECK(s.upgrade("quay", "second").current == phase::succeeded);
}

TEST_CASE("a registry whose turn came but whose database is gone gives its place back") {
  const auto lines = run_scenario(registries({"second"}, 1));
  // The second registry's database Deployment as the relist showed it.
  nlohmann::json db;
  for (const auto& l : lines) {
    const auto j = nlohmann::json::parse(l);
    if (j.value("relist", "") == "item" && j["object"]["metadata"]["name"] == "second-quay-database") db = j["object"];
  }
  REQUIRE(db.is_object());
  // Up to the moment the second registry waits while the first one backs up ...
  std::size_t waiting_at = 0;
  {
    session probe;
    for (; waiting_at < lines.size(); ++waiting_at) {
      probe.feed(lines[waiting_at]);
      if (probe.has_upgrade("quay", "second") && probe.upgrade("quay", "second").current == phase::queued &&
          probe.upgrade().current == phase::backing_up)
        break;
    }
  }
  REQUIRE(waiting_at < lines.size());
  // ... when its database Deployment is deleted (someone replaces it by hand); then the first
  // registry's upgrade goes on to its end.
  std::vector<std::string> edited(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(waiting_at) + 1);
  db["metadata"]["resourceVersion"] = "999999";
  const auto ts = nlohmann::json::parse(lines[waiting_at])["ts"].get<std::string>();
  edited.push_back(log_line_watch(0, *parse_rfc3339(ts), resource_kind::deployment,
                                  nlohmann::json{{"type", "DELETED"}, {"object", db}}.dump()));
  for (std::size_t k = waiting_at + 1; k < lines.size(); ++k) {
    const auto j = nlohmann::json::parse(lines[k]);
    if (j.contains("watch") && j["watch"]["object"]["metadata"].value("name", "") == "second-quay-database") continue;
    edited.push_back(lines[k]);
  }
  session s;
  std::string trace;
  for (const auto& l : renumber_lines(edited)) {
    s.feed(l);
    if (s.has_upgrade("quay", "second")) {
      const auto& u = s.upgrade("quay", "second");
      const std::string now = std::string(to_string(u.current)) + "/" + u.block_reason;
      if (!trace.ends_with(now + "\n")) trace += std::to_string(s.s.last_seq) + " " + now + "\n";
    }
    if (s.has_upgrade() && s.upgrade().current == phase::succeeded) break;
  }
  INFO(trace);
  REQUIRE(s.upgrade().current == phase::succeeded);
  const auto& second = s.upgrade("quay", "second");
  CHECK(second.current == phase::detecting);  // its turn came; detection waits for its database
  INFO("block reason " << second.block_reason << ", last error " << second.last_error);
  CHECK(second.block_reason.empty());  // and it does not hold the place meanwhile
  CHECK_FALSE(reducers::holds_place(second));
}
