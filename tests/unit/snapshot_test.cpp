// A snapshot of the state (issue 17, item 4) restores it exactly: after every line of every golden
// replay log, the state written as a snapshot and read back equals the folded one, and folding the
// rest of the log onto a restored snapshot ends in the same state and effects, byte for byte.
#include <filesystem>
#include <fstream>

#include "core/codec.hpp"
#include "core/snapshot.hpp"
#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

std::vector<std::string> golden_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

std::vector<std::filesystem::path> golden_logs() {
  std::vector<std::filesystem::path> logs;
  for (const auto& dir : std::filesystem::directory_iterator(std::filesystem::path(QPU_SOURCE_DIR) / "tests" / "replay"))
    if (std::filesystem::exists(dir.path() / "events.jsonl")) logs.push_back(dir.path() / "events.jsonl");
  std::sort(logs.begin(), logs.end());
  return logs;
}

state through_text(const state& s) {
  const auto restored = state_from_snapshot(nlohmann::json::parse(snapshot_json(s).dump()));
  if (!restored) FAIL(restored.error());
  return *restored;
}

std::string effects_text(const session& s, std::uint64_t after_seq) {
  std::string out;
  for (const auto& d : s.effects)
    if (d.seq > after_seq) out += std::to_string(d.seq) + " " + dump(to_json(d.e)) + "\n";
  return out;
}

}  // namespace

TEST_CASE("after every line of every golden log, the state read back from its snapshot equals it") {
  const auto logs = golden_logs();
  REQUIRE(logs.size() >= 40);
  std::size_t states = 0, skipped = 0;
  for (const auto& log : logs) {
    INFO(log.parent_path().filename().string());
    session s;
    for (const auto& line : golden_lines(log)) {
      s.feed(line);
      if (!snapshot_ready(s.s)) {
        ++skipped;  // a relist under way: no snapshot is taken then
        continue;
      }
      const state back = through_text(s.s);
      INFO("after seq " << s.s.last_seq);
      if (!(back == s.s)) CHECK(dump(snapshot_json(back)) == dump(snapshot_json(s.s)));
      REQUIRE(back == s.s);
      ++states;
    }
  }
  CHECK(states > 5000);
  CHECK(skipped > 0);  // the relists' items were passed over, and only they
  WARN(states << " states restored exactly from their snapshots; " << skipped << " in a relist, not snapshotted");
}

TEST_CASE("folding the rest of a log onto a restored snapshot gives the same effects and final state") {
  for (const auto& log : golden_logs()) {
    INFO(log.parent_path().filename().string());
    const auto lines = golden_lines(log);
    session whole;
    whole.feed_all(lines);
    // Cut where a snapshot may be taken: the middle of the log, and a third of the way.
    for (const std::size_t cut : {lines.size() / 3, lines.size() / 2}) {
      session head;
      std::size_t i = 0;
      for (; i < lines.size() && (i < cut || !snapshot_ready(head.s)); ++i) head.feed(lines[i]);
      session rest;
      rest.s = through_text(head.s);
      const auto from = rest.s.last_seq;
      for (; i < lines.size(); ++i) rest.feed(lines[i]);
      CHECK(effects_text(rest, from) == effects_text(whole, from));
      CHECK(dump(to_json(rest.s)) == dump(to_json(whole.s)));
      CHECK(rest.s == whole.s);
    }
  }
}

TEST_CASE("a snapshot of another format, or not a snapshot, is refused with the reason") {
  session s;
  auto j = snapshot_json(s.s);
  j["format"] = snapshot_format + 1;
  const auto other = state_from_snapshot(j);
  REQUIRE_FALSE(other);
  CHECK(other.error().find("snapshot format") != std::string::npos);
  CHECK_FALSE(state_from_snapshot(nlohmann::json::array()));
  auto broken = snapshot_json(s.s);
  broken["state"]["upgrades"] = "no";
  const auto bad = state_from_snapshot(broken);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().starts_with("snapshot: "));
}

TEST_CASE("a format-1 snapshot (stores as maps, every object's rv and uid) restores the state a fold makes now") {
  // Written as format 1 was: each store [[key, object], ...], with the resourceVersion and uid
  // that the stores kept then. The conversion drops what a fold no longer keeps, so an upgraded
  // controller over an archived log starts exactly where it would have.
  std::size_t logs = 0;
  for (const auto& log : golden_logs()) {
    INFO(log.parent_path().filename().string());
    session whole;
    whole.feed_all(golden_lines(log));
    if (!snapshot_ready(whole.s)) continue;
    auto j = snapshot_json(whole.s);
    j["format"] = 1;
    std::size_t objects = 0;
    for (const char* store : {"registries", "deployments", "pods", "jobs", "claims"}) {
      auto& list = j["state"]["cluster"][store];
      nlohmann::json pairs = nlohmann::json::array();
      for (auto object : list) {
        object["meta"]["rv"] = "4711";
        // A registry's uid is its own (kept); the other kinds' were kept too then.
        if (std::string_view(store) != "registries")
          object["meta"]["uid"] = "6f1d0c3e-0000-4000-8000-00000000000" + std::to_string(objects % 10);
        ++objects;
        pairs.push_back(nlohmann::json::array({object["meta"]["key"], object}));
      }
      list = pairs;
    }
    REQUIRE(objects > 0);
    const auto back = state_from_snapshot(nlohmann::json::parse(j.dump()));
    REQUIRE(back);
    for (const auto& [key, d] : back->cluster.deployments) CHECK(d.meta.rv.empty());
    for (const auto& [key, d] : back->cluster.deployments) CHECK(d.meta.uid.empty());
    for (const auto& [key, r] : back->cluster.registries) CHECK_FALSE(r.meta.uid.empty());  // owner references need it
    CHECK(dump(snapshot_json(*back)) == dump(snapshot_json(whole.s)));
    CHECK(*back == whole.s);
    ++logs;
  }
  CHECK(logs >= 40);
}
