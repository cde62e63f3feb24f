#pragma once
// Folding scenario logs in tests: the same path the CLI takes (parse each line, reduce).
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "core/codec.hpp"
#include "core/event_log.hpp"
#include "reducers/reduce.hpp"
#include "tests/support/effect_ids.hpp"
#include "tests/unit/scenario.hpp"

namespace qpu::testing {

struct decided {
  std::uint64_t seq;
  effect e;
};

struct session {
  state s;
  std::vector<decided> effects;

  void feed(const std::string& line) {
    auto ev = parse_log_line(std::string_view(line).substr(0, line.size() - (line.ends_with('\n') ? 1 : 0)));
    REQUIRE(ev.has_value());
    auto r = reducers::reduce(std::move(s), *ev);
    s = std::move(r.next);
    for (auto& e : r.effects) effects.push_back({ev->seq, std::move(e)});
  }
  void feed_all(const std::vector<std::string>& lines) {
    for (const auto& l : lines) feed(l);
  }
  const registry_upgrade& upgrade(const std::string& ns = "quay", const std::string& name = "registry") const {
    return s.upgrades.at({{ns, name}, db_component::quay});
  }
  const registry_upgrade& clair(const std::string& ns = "quay", const std::string& name = "registry") const {
    return s.upgrades.at({{ns, name}, db_component::clair});
  }
  bool has_upgrade(const std::string& ns = "quay", const std::string& name = "registry") const {
    return s.upgrades.contains({{ns, name}, db_component::quay});
  }
  std::uint64_t next_seq() const { return s.last_seq + 1; }
  timestamp now() const { return s.now; }

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& d : effects)
      if (auto* p = std::get_if<T>(&d.e)) out.push_back(*p);
    return out;
  }
  // The Jobs of the upgrade itself, without the preflight check Job (on by default, first).
  std::vector<create_job> upgrade_jobs() const {
    auto jobs = all<create_job>();
    std::erase_if(jobs, [](const create_job& j) { return j.role == job_role::check; });
    return jobs;
  }
  // Effects that change the cluster (not status, Events or timers), by id, in order.
  std::vector<std::string> work() const {
    std::vector<std::string> ids;
    for (const auto& d : effects)
      if (!std::holds_alternative<update_registry_status>(d.e) && !std::holds_alternative<emit_event>(d.e) &&
          !std::holds_alternative<requeue_after>(d.e) && !std::holds_alternative<read_job_progress>(d.e))
        ids.push_back(to_string(id_of(d.e)));
    return ids;
  }
  // The phases one database went through, as its status reports said.
  std::vector<std::string> phases(db_component of = db_component::quay) const {
    std::vector<std::string> out;
    for (const auto& st : all<update_registry_status>())
      if (st.component == of && (out.empty() || out.back() != st.summary.phase)) out.push_back(st.summary.phase);
    return out;
  }
};

// The work ids (session::work) that contain `part`, in order.
inline std::vector<std::string> ids_with(const session& s, const std::string& part) {
  std::vector<std::string> out;
  for (const auto& id : s.work())
    if (id.find(part) != std::string::npos) out.push_back(id);
  return out;
}

// Gives lines consecutive sequence numbers again (after lines were moved or added).
inline std::vector<std::string> renumber_lines(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  std::uint64_t seq = 0;
  for (const auto& l : lines) {
    if (l.empty()) continue;
    out.push_back("{\"seq\":" + std::to_string(++seq) + l.substr(l.find(',')));
  }
  return out;
}

// The app was never scaled: no scale of any kind, no Job but the check, no switch.
inline void check_nothing_stopped(const session& s) {
  CHECK(s.all<scale_deployment>().empty());
  CHECK(s.upgrade_jobs().empty());
  CHECK(s.all<patch_database_deployment>().empty());
}

// A setting of the logged configuration: absent from the JSON at its default (logs from before the
// setting keep their bytes), carried through a round trip when set, and `refused` refused.
template <class T>
void check_logged_setting(T config::*field, const char* key, T default_value, T set_to, std::optional<T> refused = std::nullopt) {
  INFO(key);
  config c;
  CHECK(c.*field == default_value);
  CHECK_FALSE(to_json(c).contains(key));
  c.*field = set_to;
  const auto back = config_from_json(to_json(c));
  REQUIRE(back);
  CHECK((*back).*field == set_to);
  if (refused) {
    auto bad = to_json(c);
    bad[key] = *refused;
    CHECK_FALSE(config_from_json(bad));
  }
}

inline session fold(const std::vector<std::string>& lines) {
  session s;
  s.feed_all(lines);
  return s;
}

// The lines up to and including the first one after which `pred(session)` holds.
template <class Pred>
session fold_until(const std::vector<std::string>& lines, Pred pred, std::size_t* consumed = nullptr) {
  session s;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    s.feed(lines[i]);
    if (pred(s)) {
      if (consumed) *consumed = i + 1;
      return s;
    }
  }
  FAIL("the condition never held");
  return s;
}

}  // namespace qpu::testing
