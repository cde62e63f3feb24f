// Properties of the fold that must hold for every scenario: determinism, idempotence under
// repeated observations, and equivalence of a relist with the watch events it replaces.
#include <map>
#include <nlohmann/json.hpp>

#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

std::vector<scenario_options> all_scenarios() {
  std::vector<scenario_options> out;
  out.emplace_back();
  auto o = scenario_options{};
  o.backup_fails = true;
  out.push_back(o);
  o = {};
  o.upgrade_fails = true;
  out.push_back(o);
  o = {};
  o.verify_mismatch = true;
  out.push_back(o);
  o = {};
  o.restart_after_seq = 45;
  out.push_back(o);
  o = {};
  use_pg_upgrade_13(o);
  out.push_back(o);
  o = {};
  o.revert_to_claim_after_success = "registry-quay-database";
  out.push_back(o);
  o.revert_verify_mismatch = true;
  out.push_back(o);
  o = {};
  o.revert_to_claim_after_success = "registry-quay-database-pg15";
  out.push_back(o);
  return out;
}

std::string dump_effects(const session& s) {
  std::string out;
  for (const auto& d : s.effects) out += dump(to_json(d.e)) + "\n";
  return out;
}

}  // namespace

TEST_CASE("folding the same log twice gives the same bytes") {
  for (const auto& o : all_scenarios()) {
    const auto lines = run_scenario(o);
    auto a = fold(lines);
    auto b = fold(lines);
    CHECK(dump_effects(a) == dump_effects(b));
    CHECK(to_json(a.s).dump() == to_json(b.s).dump());
    CHECK(a.s == b.s);
  }
}

TEST_CASE("a repeated observation adds no duplicate work") {
  for (const auto& o : all_scenarios()) {
    const auto lines = run_scenario(o);
    std::vector<std::string> doubled;
    for (const auto& l : lines) {
      doubled.push_back(l);
      if (l.find("\"watch\":") != std::string::npos) doubled.push_back(l);  // a re-watch delivers it again
    }
    auto plain = fold(lines);
    auto twice = fold(renumber_lines(doubled));
    CHECK(twice.work() == plain.work());
    CHECK(twice.upgrade().current == plain.upgrade().current);
  }
}

TEST_CASE("a relist in the middle is equivalent to the watch events it summarises") {
  for (const auto& o : all_scenarios()) {
    const auto lines = run_scenario(o);
    // After every 25th line, relist everything known so far (as after a 410): same decisions.
    std::map<std::pair<std::string, std::string>, std::string> objects;  // (source, ns/name) -> object JSON
    std::vector<std::string> with_relists;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const auto& l = lines[i];
      with_relists.push_back(l);
      auto j = nlohmann::json::parse(l);
      if (j.contains("watch") && j["watch"].contains("object") && j["watch"]["object"].contains("metadata")) {
        const auto& obj = j["watch"]["object"];
        const std::string key = obj["metadata"].value("namespace", "") + "/" + obj["metadata"].value("name", "");
        if (j["watch"]["type"] == "DELETED") objects.erase({j["source"], key});
        else objects[{j["source"], key}] = obj.dump();
      } else if (j.value("relist", "") == "item") {
        const auto& obj = j["object"];
        objects[{j["source"], obj["metadata"].value("namespace", "") + "/" + obj["metadata"].value("name", "")}] = obj.dump();
      }
      if (i % 25 != 24 || i < 40) continue;
      for (auto kind : all_resource_kinds) {
        const std::string source = std::string("watch/") + plural(kind);
        with_relists.push_back(
            log_line_relist_start(0, j.contains("ts") ? parse_rfc3339(j["ts"].get<std::string>()).value() : 0, kind));
        for (const auto& [k, raw] : objects)
          if (k.first == source)
            with_relists.push_back(log_line_relist_item(0, parse_rfc3339(j["ts"].get<std::string>()).value(), kind, raw));
        with_relists.push_back(log_line_relist_done(0, parse_rfc3339(j["ts"].get<std::string>()).value(), kind, "0"));
      }
    }
    auto plain = fold(lines);
    auto relisted = fold(renumber_lines(with_relists));
    CHECK(relisted.work() == plain.work());
    CHECK(relisted.upgrade().current == plain.upgrade().current);
  }
}

TEST_CASE("every effect id is issued once per attempt, whatever the scenario") {
  for (const auto& o : all_scenarios()) {
    auto s = fold(run_scenario(o));
    std::map<std::string, int> seen;
    for (const auto& d : s.effects)
      if (!std::holds_alternative<requeue_after>(d.e)) ++seen[to_string(id_of(d.e))];
    for (const auto& [id, n] : seen) {
      INFO(id);
      CHECK(n == 1);
    }
  }
}
