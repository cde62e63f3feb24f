#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "core/event_log.hpp"
#include "tests/support/effect_ids.hpp"

using namespace qpu;

namespace {

struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("qpu-" + std::to_string(::getpid()) + "-" + name)) {
    std::filesystem::remove(path);
  }
  ~temp_file() { std::filesystem::remove(path); }
  void write(const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
};

struct read_result {
  std::vector<logged_event> events;
  std::vector<std::string> warnings;
  std::expected<std::uint64_t, std::string> status;
};

read_result read_all(const std::filesystem::path& p) {
  read_result r;
  r.status = read_event_log(
      p.string(), [&](logged_event&& e) { r.events.push_back(std::move(e)); },
      [&](const std::string& w) { r.warnings.push_back(w); });
  return r;
}

const std::string job_raw = R"({"type":"ADDED","object":{"metadata":{"name":"j","namespace":"n","resourceVersion":"5"}}})";

}  // namespace

TEST_CASE("every kind of log line round-trips through the reader") {
  temp_file f("roundtrip.jsonl");
  std::string text;
  text += log_line_event(1, 1000, "controller", controller_started{config{}, "0.1.0"});
  text += log_line_relist_start(2, 1001, resource_kind::job);
  text += log_line_relist_item(3, 1002, resource_kind::job, R"({"metadata":{"name":"j","namespace":"n"}})");
  text += log_line_relist_done(4, 1003, resource_kind::job, "77");
  text += log_line_watch(5, 1004, resource_kind::job, job_raw);
  text += log_line_event(6, 1005, "timer", timer_fired{{"n", "r"}});
  text += log_line_event(7, 1006, "effect",
                         effect_failed{qpu::testing::eid("n/r/a1/create-job/backup"), 409, "AlreadyExists", "exists"});
  database_facts facts;
  facts.server_version_num = 150004;
  facts.database_bytes = 123;
  facts.has_pg_trgm = true;
  facts.has_manifest = true;
  facts.tables = {{"public.t", 3, "abc", ""}, {"public.u", 1, "def", "extra"}};
  facts.has_catalog = true;
  facts.catalog = {{"database extra", "acl", "=Tc/a a=CTc/a"}, {"role a", "settings", "work_mem=8MB"}};
  facts.cluster_encoding = "UTF8";
  facts.cluster_collate = "en_US.utf8";
  facts.cluster_ctype = "C";
  facts.install_user = "postgres";
  text += log_line_event(8, 1007, "effect", effect_succeeded{qpu::testing::eid("n/r/a1/inspect-manifest"), facts});
  text += log_line_malformed(9, 1008, resource_kind::pod, "{oops", "not JSON");
  f.write(text);
  auto r = read_all(f.path);
  REQUIRE(r.status.has_value());
  REQUIRE(r.events.size() == 9);
  CHECK(std::holds_alternative<controller_started>(r.events[0].body));
  CHECK(std::get<relist_done>(r.events[3].body).rv == "77");
  CHECK(std::get<job>(std::get<object_event>(r.events[4].body).object).meta.rv == "5");
  CHECK(r.events[4].ts == 1004);
  CHECK(r.events[4].source == "watch/jobs");
  CHECK(std::get<timer_fired>(r.events[5].body).registry == object_key{"n", "r"});
  CHECK(std::get<effect_failed>(r.events[6].body).code == 409);
  CHECK(std::get<effect_succeeded>(r.events[7].body).facts == facts);
  CHECK(std::holds_alternative<malformed_input>(r.events[8].body));
  CHECK(r.warnings.size() == 1);  // the malformed input is reported, and kept
}

TEST_CASE("a truncated last line is dropped with a warning and nothing else is lost") {
  temp_file f("truncated.jsonl");
  const std::string full =
      log_line_watch(1, 1000, resource_kind::job, job_raw) + log_line_watch(2, 1001, resource_kind::job, job_raw);
  const std::string partial = log_line_watch(3, 1002, resource_kind::job, job_raw);
  f.write(full + partial.substr(0, partial.size() / 2));
  auto r = read_all(f.path);
  REQUIRE(r.status.has_value());
  CHECK(r.events.size() == 2);
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::Contains(":3: dropped a truncated last line"));

  // The writer continues after the last valid line and on a fresh line.
  {
    auto w = event_log_writer::open(f.path.string(), false);
    REQUIRE(w.has_value());
    CHECK(w->next_seq() == 3);
    w->append(log_line_watch(w->next_seq(), 1003, resource_kind::job, job_raw));
    REQUIRE(w->sync().has_value());
  }
  // The half line was cut off on reopen (nothing had been performed because of it), so the log
  // reads whole again: a second crash-and-restart cannot make it unreadable.
  auto again = read_all(f.path);
  REQUIRE(again.status.has_value());
  CHECK(again.events.size() == 3);
  CHECK(again.events.back().seq == 3);
  CHECK(again.warnings.empty());
}

TEST_CASE("an invalid line in the middle is an error naming file and line") {
  temp_file f("corrupt.jsonl");
  f.write(log_line_watch(1, 1000, resource_kind::job, job_raw) + "this is not json\n" +
          log_line_watch(3, 1002, resource_kind::job, job_raw));
  auto r = read_all(f.path);
  REQUIRE_FALSE(r.status.has_value());
  CHECK_THAT(r.status.error(), Catch::StartsWith(f.path.string() + ":2: "));
  CHECK(r.events.size() == 1);
}

TEST_CASE("log lines are validated: sequence, time, source") {
  temp_file f("invalid.jsonl");
  auto first_error = [&](const std::string& text) {
    f.write(text);
    auto r = read_all(f.path);
    REQUIRE_FALSE(r.status.has_value());
    return r.status.error();
  };
  CHECK_THAT(first_error(log_line_watch(2, 1, resource_kind::job, job_raw) + log_line_watch(2, 2, resource_kind::job, job_raw)),
             Catch::Contains("does not follow"));
  CHECK_THAT(first_error(R"({"seq":1,"ts":"yesterday","source":"timer","event":{"type":"timer_fired","registry":"a/b"}})"
                         "\n"),
             Catch::Contains("RFC 3339"));
  CHECK_THAT(first_error(R"({"seq":1,"ts":"2026-11-24T00:00:00Z","source":"watch/secrets","watch":{}})"
                         "\n"),
             Catch::Contains("watch/secrets"));
  CHECK_THAT(first_error(R"({"seq":1,"ts":"2026-11-24T00:00:00Z","source":"timer","event":{"type":"nope"}})"
                         "\n"),
             Catch::Contains("nope"));
}

TEST_CASE("unknown fields in log lines are ignored") {
  temp_file f("unknown.jsonl");
  f.write(
      R"({"seq":1,"future":{"x":[1,2]},"ts":"2026-11-24T00:00:00Z","source":"timer","event":{"type":"timer_fired","registry":"a/b","later":true}})"
      "\n");
  auto r = read_all(f.path);
  REQUIRE(r.status.has_value());
  CHECK(r.events.size() == 1);
}

TEST_CASE("integers of logged events are checked: fractions, huge numbers and other types are refused by name") {
  // A number beyond 64 bits parses as a float; reading it as an integer was undefined behaviour
  // (fuzz/event_log found "switch":30666666666666666666666660 in CI).
  auto error_of = [](const std::string& event) {
    const auto r = parse_log_line(R"({"seq":1,"ts":"2026-11-24T00:00:00Z","source":"controller","event":)" + event + "}");
    REQUIRE_FALSE(r.has_value());
    return r.error();
  };
  CHECK_THAT(error_of(R"({"type":"controller_started","config":{"deadlines":{"switch":30666666666666666666666660}}})"),
             Catch::Contains("config.deadlines.switch is not an integer"));
  CHECK_THAT(error_of(R"({"type":"controller_started","config":{"requeueSeconds":2.5}})"),
             Catch::Contains("config.requeueSeconds is not an integer"));
  CHECK_THAT(error_of(R"({"type":"controller_started","config":{"headroomPercent":9999999999}})"),
             Catch::Contains("config.headroomPercent is out of range"));
  CHECK_THAT(error_of(R"({"type":"controller_started","config":{"minClaimBytes":18446744073709551615}})"),
             Catch::Contains("config.minClaimBytes is out of range"));
  CHECK_THAT(error_of(R"({"type":"effect_failed","id":"a/b/a1/switch","code":1e40})"),
             Catch::Contains("effect_failed.code is not an integer"));
  CHECK_THAT(error_of(R"({"type":"effect_succeeded","id":"a/b/a1/switch","facts":{"databaseBytes":"big"}})"),
             Catch::Contains("facts.databaseBytes is not an integer"));
  CHECK_THAT(
      error_of(
          R"({"type":"effect_succeeded","id":"a/b/a1/switch","facts":{"tables":[{"table":"t","rows":-1.5,"checksum":"c"}]}})"),
      Catch::Contains("facts.tables.rows is not an integer"));
  // An effect result names an effect this controller issues, or the line is refused by that name.
  CHECK_THAT(error_of(R"({"type":"effect_succeeded","id":"a/b/a1/switch","facts":{"cluster":"UTF8"}})"),
             Catch::Contains("facts.cluster is not an object"));
  CHECK_THAT(error_of(R"({"type":"effect_succeeded","id":"a/b/a1/x"})"),
             Catch::Contains("id \"a/b/a1/x\" is not an effect id this controller issues"));
  // In range, they read as before.
  const auto ok = parse_log_line(
      R"({"seq":1,"ts":"2026-11-24T00:00:00Z","source":"controller","event":{"type":"controller_started","config":{"requeueSeconds":7,"headroomPercent":20,"deadlines":{"switch":30}}}})");
  REQUIRE(ok.has_value());
  const auto& c = std::get<controller_started>(ok->body).cfg;
  CHECK(c.requeue_s == 7);
  CHECK(c.headroom_percent == 20);
  CHECK(c.deadlines.switch_s == 30);
}
