// Progress of the phases that move data (issue 15, item 2): the controller reads the running
// Job's progress line every few seconds, shows done/total, percent and the time left in the
// status, tells it in Events at each tenth, and never fails an upgrade because a look failed.
#include <algorithm>

#include "core/progress.hpp"
#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {

constexpr std::int64_t mib = 1024 * 1024;

progress_record line_at(std::int64_t done, timestamp at, std::int64_t first_done = 0, timestamp first_at = 0) {
  progress_record p;
  p.in = phase::backing_up;
  p.stage = "dump";
  p.unit = "bytes";
  p.total = 800 * mib;
  p.done = done;
  p.at = at;
  p.first_done = first_done;
  p.first_at = first_at;
  return p;
}

bool in_phase(const session& s, phase p) { return s.upgrade().current == p; }

}  // namespace

TEST_CASE("progress: percent and the time left at the rate since the stage's first line") {
  CHECK(percent(line_at(0, 1000)) == 0);
  CHECK(percent(line_at(400 * mib, 1000)) == 50);
  CHECK(percent(line_at(900 * mib, 1000)) == 100);  // an estimated total may be passed
  // One line only: no rate yet.
  CHECK_FALSE(time_left(line_at(100 * mib, 1000, 100 * mib, 1000)));
  // 200 MiB in 10 s since the first line: 400 MiB left take 20 s.
  CHECK(time_left(line_at(400 * mib, 11'000, 200 * mib, 1000)) == 20'000);
  // Nothing left.
  CHECK(time_left(line_at(800 * mib, 11'000, 200 * mib, 1000)) == 0);
  // Terabytes over hours do not overflow.
  progress_record big = line_at(0, 0);
  big.total = 4LL << 40;
  big.done = 1LL << 40;
  big.at = 3'600'000;
  CHECK(time_left(big) == 3 * 3'600'000);
}

TEST_CASE("progress: the text people read") {
  CHECK(format_bytes(512) == "512 B");
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(800 * mib) == "800 MiB");
  CHECK(format_bytes(1024 * mib + 100 * mib) == "1.1 GiB");
  CHECK(format_duration(45'400) == "45 s");
  CHECK(format_duration(750'000) == "12 min 30 s");
  CHECK(format_duration(7'500'000) == "2 h 05 min");
  CHECK(progress_text(line_at(400 * mib, 11'000, 200 * mib, 1000)) == "dump: 400 MiB of 800 MiB (50 %), about 20 s left");
  CHECK(progress_text(line_at(100 * mib, 1000, 100 * mib, 1000)) == "dump: 100 MiB of 800 MiB (12 %), estimating the time left");
  // Done, or more written than the estimate: no "about 0 s left".
  CHECK(progress_text(line_at(800 * mib, 11'000, 200 * mib, 1000)) == "dump: 800 MiB of 800 MiB (100 %), finishing");
  CHECK(progress_text(line_at(900 * mib, 12'000, 200 * mib, 1000)) == "dump: 900 MiB of 800 MiB (100 %), finishing");
}

TEST_CASE("progress: the backup's and the upgrade's progress reach the status, rising, with a time left that comes true") {
  const auto lines = run_scenario(scenario_options{});
  auto s = fold(lines);
  REQUIRE(s.upgrade().current == phase::succeeded);
  // Read from the running Jobs' pods, every 5 s.
  const auto reads = s.all<read_job_progress>();
  REQUIRE(reads.size() >= 6);
  CHECK(reads.front().pod == object_key{"quay", "registry-pg10-backup-1-q7x2p"});
  for (const char* phase_name : {"backing_up", "upgrading"}) {
    INFO(phase_name);
    std::vector<summary_progress> seen;
    for (const auto& st : s.all<update_registry_status>())
      if (st.summary.phase == phase_name && st.summary.progress) seen.push_back(*st.summary.progress);
    REQUIRE(seen.size() >= 3);
    CHECK(seen.front().stage == (std::string(phase_name) == "backing_up" ? "dump" : "restore"));
    CHECK(seen.front().unit == "bytes");
    CHECK(seen.front().total == 800 * mib);
    CHECK_FALSE(seen.front().seconds_left);  // the first line gives no rate
    for (std::size_t i = 1; i < seen.size(); ++i) {
      CHECK(seen[i].percent >= seen[i - 1].percent);
      CHECK(seen[i].seconds_left.has_value());
    }
    CHECK(seen.back().percent > seen.front().percent);
    // The condition's message carries the same text.
    bool in_message = false;
    for (const auto& st : s.all<update_registry_status>())
      in_message = in_message || (st.summary.progress && st.conditions[0].message.ends_with("; " + st.summary.progress->text));
    CHECK(in_message);
  }
  // No progress outside the phases that move data (verifying's is the controller's manifest's).
  for (const auto& st : s.all<update_registry_status>())
    if (st.summary.phase != "backing_up" && st.summary.phase != "upgrading" && st.summary.phase != "verifying")
      CHECK_FALSE(st.summary.progress);
}

TEST_CASE("progress: the time left shown mid-backup predicts when the backup ends") {
  const auto lines = run_scenario(scenario_options{});
  std::size_t used = 0;
  auto s = fold_until(
      lines,
      [](const session& x) {
        if (!x.has_upgrade()) return false;
        const auto& p = x.upgrade().progress;
        return x.upgrade().current == phase::backing_up && p && percent(*p) >= 50 && time_left(*p);
      },
      &used);
  const auto p = *s.upgrade().progress;
  const timestamp predicted_end = p.at + *time_left(p);
  // Fold on to the end of the phase: the Job's work ends when its pod succeeds.
  for (; used < lines.size() && in_phase(s, phase::backing_up); ++used) s.feed(lines[used]);
  REQUIRE(s.upgrade().current != phase::backing_up);
  const timestamp ended = s.upgrade().phase_since;
  INFO("predicted " << predicted_end << ", ended " << ended);
  CHECK(std::abs(predicted_end - ended) < 1500);
}

TEST_CASE("progress: an Event at each new tenth, not at every read") {
  auto s = fold(run_scenario(scenario_options{}));
  std::vector<std::string> told;
  for (const auto& e : s.all<emit_event>())
    if (e.reason == "PostgresUpgradeProgress" && !e.message.starts_with("verifying: ")) told.push_back(e.message);
  REQUIRE(told.size() >= 4);
  CHECK(told.size() < s.all<read_job_progress>().size());
  CHECK(std::count_if(told.begin(), told.end(), [](const auto& m) { return m.starts_with("backing_up: dump: "); }) >= 2);
  CHECK(std::count_if(told.begin(), told.end(), [](const auto& m) { return m.starts_with("upgrading: restore: "); }) >= 2);
  for (const auto& m : told) CHECK_THAT(m, Catch::Contains(" of 800 MiB ("));
}

TEST_CASE("progress: a look that fails, or a line that comes late, changes nothing") {
  const auto lines = run_scenario(scenario_options{});
  auto s = fold_until(lines, [](const session& x) {
    return x.has_upgrade() && x.upgrade().current == phase::backing_up && !x.all<read_job_progress>().empty();
  });
  const auto read = s.all<read_job_progress>().back();
  s.feed(log_line_event(s.next_seq(), s.now() + 10, "effect", effect_failed{read.id, 404, "NotFound", "pods \"x\" not found"}));
  CHECK(s.upgrade().current == phase::backing_up);
  CHECK(s.upgrade().last_error.empty());
  CHECK_FALSE(s.upgrade().retry_at.contains(read.id));
  // A backup line that arrives after the phase ended is not kept.
  std::size_t used = 0;
  s = fold_until(
      lines, [](const session& x) { return x.has_upgrade() && x.upgrade().current == phase::stopping; }, &used);
  s.feed(log_line_event(s.next_seq(), s.now() + 10, "effect",
                        effect_succeeded{read.id, std::nullopt, std::nullopt, job_progress{"dump", "bytes", 1, 2, s.now()}}));
  CHECK_FALSE(s.upgrade().progress);
  // Old reads do not pile up in the state: only the last one is kept as done.
  std::size_t kept = 0;
  for (const auto& id : s.upgrade().done) kept += id.step == step_kind::read_progress;
  CHECK(kept <= 1);
}

TEST_CASE("progress: --progress-interval travels in the logged configuration") {
  check_logged_setting<std::int64_t>(&config::progress_interval_s, "progressIntervalSeconds", 5, 1, 0);
}

TEST_CASE("progress: a revert's backup of the upgraded data shows its progress too") {
  scenario_options o;
  o.revert_to_claim_after_success = "registry-quay-database";
  auto s = fold(run_scenario(o));
  REQUIRE(s.upgrade().current == phase::reverted);
  std::vector<summary_progress> seen;
  for (const auto& st : s.all<update_registry_status>())
    if (st.summary.phase == "revert_backing_up" && st.summary.progress) seen.push_back(*st.summary.progress);
  REQUIRE(seen.size() >= 2);
  CHECK(seen.back().stage == "dump");
  CHECK(seen.back().percent > seen.front().percent);
  bool read_for_revert = false;
  for (const auto& r : s.all<read_job_progress>())
    read_for_revert = read_for_revert || (r.id.revert_run == 1 && r.pod.name.starts_with("registry-pg15-revert-"));
  CHECK(read_for_revert);
}

TEST_CASE("progress: the controller's manifest of the upgraded database shows its progress in verifying") {
  auto s = fold(run_scenario(scenario_options{}));
  REQUIRE(s.upgrade().current == phase::succeeded);
  std::vector<summary_progress> seen;
  for (const auto& st : s.all<update_registry_status>())
    if (st.summary.phase == "verifying" && st.summary.progress) seen.push_back(*st.summary.progress);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].stage == "verify");
  CHECK(seen[0].percent == 25);
  CHECK_FALSE(seen[0].seconds_left);
  CHECK(seen[1].percent == 75);
  CHECK(seen[1].seconds_left == 0);  // 50 % in 10 ms: 25 % left takes 5 ms
  // A manifest line of a phase that is over is not kept.
  auto later = s;
  later.feed(log_line_event(
      later.next_seq(), later.now() + 10, "effect",
      effect_progress{eid("quay/registry/a1/inspect-verify"), job_progress{"verify", "bytes", 1, 2, later.now()}}));
  CHECK_FALSE(later.upgrade().progress);
}

TEST_CASE("progress: an Event at least once a minute while new lines come, none for an old line") {
  const auto lines = run_scenario(scenario_options{});
  auto s = fold_until(lines, [](const session& x) {
    return x.has_upgrade() && x.upgrade().current == phase::backing_up && x.upgrade().progress &&
           x.upgrade().progress->told_tenth >= 0;
  });
  const auto told = [&] {
    std::size_t n = 0;
    for (const auto& e : s.all<emit_event>()) n += e.reason == "PostgresUpgradeProgress";
    return n;
  };
  const auto before = told();
  const auto p = *s.upgrade().progress;
  const auto read = s.all<read_job_progress>().back().id;
  auto feed_line = [&](timestamp fold_at, std::int64_t done, timestamp line_at) {
    auto id = read;
    id.target = "backup/g" + std::to_string(100 + fold_at);  // a read of its own
    s.s.upgrades.at({{"quay", "registry"}, db_component::quay}).in_flight.insert(id);
    s.feed(
        log_line_event(s.next_seq(), fold_at, "effect",
                       effect_succeeded{id, std::nullopt, std::nullopt, job_progress{"dump", "bytes", done, p.total, line_at}}));
  };
  // Within the same tenth: no Event before a minute has passed, then one for a newer line ...
  feed_line(p.told_at + 30'000, p.done + 1, p.at + 30'000);
  CHECK(told() == before);
  feed_line(p.told_at + 61'000, p.done + 2, p.at + 61'000);
  CHECK(told() == before + 1);
  // ... and none a minute later for the same line again.
  feed_line(p.told_at + 125'000, p.done + 2, p.at + 61'000);
  CHECK(told() == before + 1);
}
