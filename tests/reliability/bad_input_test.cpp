// Bad input, each with a clear error and nothing lost (issue 8, item 3): the unit-level half of
// docs/RELIABILITY.md. The end-to-end half (missing Secret, a Job killed by a signal, ...) is in
// reliability.py; the decoder's and reader's own unit tests are in tests/unit and tests/watch.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/decode.hpp"
#include "core/event_log.hpp"
#include "core/image_ref.hpp"
#include "kube/kube_config.hpp"
#include "watch/stream_decoder.hpp"

using namespace qpu;

namespace {

struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("qpu-rel-" + std::to_string(::getpid()) + "-" + name)) {
    std::filesystem::remove(path);
  }
  ~temp_file() { std::filesystem::remove(path); }
  void write(const std::string& text) const { std::ofstream(path, std::ios::binary) << text; }
  std::string read() const {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

struct folded {
  std::vector<logged_event> events;
  std::vector<std::string> warnings;
  std::expected<std::uint64_t, std::string> status = 0;
};

folded read_all(const temp_file& f) {
  folded r;
  r.status = read_event_log(
      f.path.string(), [&](logged_event&& e) { r.events.push_back(std::move(e)); },
      [&](const std::string& w) { r.warnings.push_back(w); });
  return r;
}

std::string job_line(const std::string& name, const std::string& rv) {
  return R"({"type":"MODIFIED","object":{"kind":"Job","metadata":{"name":")" + name +
         R"(","namespace":"quay","resourceVersion":")" + rv + R"("},"status":{"active":1}}})";
}

// An owned copy of what the stream decoder hands out (its views live only during the callback).
struct input {
  watch::input_origin origin;
  event body;
};

std::vector<input> feed_all(const std::string& body, std::size_t chunk, std::size_t max_line = max_line_bytes) {
  json_decoder dec;
  watch::stream_decoder sd(resource_kind::job, dec, max_line);
  std::vector<input> out;
  for (std::size_t i = 0; i < body.size(); i += chunk)
    sd.feed(std::string_view(body).substr(i, chunk), [&](const watch::watch_input& in) {
      out.push_back({in.origin, in.body});
      return true;
    });
  return out;
}

std::string name_of(const input& in) { return meta_of(std::get<object_event>(in.body).object).key.name; }

}  // namespace

TEST_CASE("a truncated watch line is reported with its location and the next line still arrives") {
  const std::string body = job_line("a", "1") + "\n" + job_line("b", "2").substr(0, 40) + "\n" + job_line("c", "3") + "\n";
  auto got = feed_all(body, 1);  // byte-sized chunks, as the faults-streams case sends them
  REQUIRE(got.size() == 3);
  CHECK(name_of(got[0]) == "a");
  REQUIRE(got[1].origin == watch::input_origin::malformed);
  CHECK_THAT(std::get<malformed_input>(got[1].body).error, Catch::Contains("line 2"));
  CHECK(name_of(got[2]) == "c");
}

TEST_CASE("a watch line over the documented limit is refused without being buffered, and is counted") {
  REQUIRE(max_line_bytes == 16u << 20);  // docs/RELIABILITY.md and core/decode.hpp say 16 MiB
  const std::string big = R"({"type":"ADDED","object":{"metadata":{"name":")" + std::string(4096, 'x') + "\"}}}";
  auto got = feed_all(job_line("a", "1") + "\n" + big + "\n" + job_line("c", "3") + "\n", 100, 1024);
  REQUIRE(got.size() == 3);
  CHECK(got[1].origin == watch::input_origin::malformed);
  CHECK_THAT(std::get<malformed_input>(got[1].body).error, Catch::Contains("bytes"));
  CHECK(name_of(got[2]) == "c");
}

TEST_CASE("wrong JSON types name the field and the byte offset") {
  json_decoder d;
  for (const char* line : {
           R"({"type":"MODIFIED","object":{"metadata":{"name":"j","resourceVersion":7}}})",
           R"({"type":"MODIFIED","object":{"metadata":{"name":"j"},"status":{"active":"one"}}})",
           R"({"type":"MODIFIED","object":{"metadata":{"name":["j"]}}})",
           R"({"type":"MODIFIED","object":"a job"})",
       }) {
    INFO(line);
    auto r = d.decode_watch_line(resource_kind::job, line);
    REQUIRE_FALSE(r);
    CHECK_FALSE(r.error().empty());
    CHECK_THAT(r.error(), Catch::Contains("byte") || Catch::Contains("object"));
  }
}

TEST_CASE("unknown event types are refused by name; unknown fields and kinds inside an object are ignored") {
  json_decoder d;
  auto unknown_type = d.decode_watch_line(resource_kind::job, R"({"type":"SYNC","object":{"metadata":{"name":"j"}}})");
  REQUIRE_FALSE(unknown_type);
  CHECK_THAT(unknown_type.error(), Catch::Contains("SYNC"));
  auto extra = d.decode_watch_line(
      resource_kind::job,
      R"({"type":"ADDED","future":{"x":[1,{"y":null}]},"object":{"kind":"CronJobV9","apiVersion":"batch/v9",)"
      R"("metadata":{"name":"j","newField":true},"spec":{"podFailurePolicy":{"rules":[]}},"status":{"x":1e400}}})");
  CHECK(extra);
}

TEST_CASE("image references that carry no version give no hint, and bad ones say why") {
  for (const char* text :
       {"quay.io/sclorg/postgresql-c9s@sha256:47783d0838e814e5c541e16dafded5753991db4d436794f7345005f8886a044f",
        "postgres:latest", "registry.example.com/db/postgres", "postgres:1-109", "quay.io/x/database:stable"}) {
    INFO(text);
    auto ref = parse_image_ref(text);
    REQUIRE(ref);
    CHECK_FALSE(pg_major_hint(*ref));
  }
  for (const char* text : {"", "UPPER/case", "postgres:", "a@sha256:12", "postgres::15", " postgres:15", "quay.io//x"}) {
    INFO(text);
    auto ref = parse_image_ref(text);
    REQUIRE_FALSE(ref);
    CHECK_FALSE(ref.error().empty());
  }
}

TEST_CASE("a corrupted event log names file:line, and the reader keeps nothing after it") {
  temp_file f("corrupt.jsonl");
  const std::string good1 = log_line_watch(1, 1'700'000'000'000, resource_kind::job, job_line("a", "1"));
  const std::string good3 = log_line_watch(3, 1'700'000'000'002, resource_kind::job, job_line("c", "3"));
  for (const std::string& bad :
       {std::string("{\"seq\":2,\"ts\":\"2023-11-14T22:13:20.001Z\",\"source\":\"watch/jobs\",\"watch\":{\"ty\n"),
        std::string("\x00\x01\x02garbage\n", 11), std::string("{\"seq\":\"2\"}\n"),
        std::string("{\"seq\":1,\"ts\":\"2023-11-14T22:13:20.001Z\",\"source\":\"timer\",\"event\":{\"type\":\"timer_fired\","
                    "\"registry\":\"q/r\"}}\n")}) {  // seq goes back
    f.write(good1 + bad + good3);
    auto r = read_all(f);
    REQUIRE_FALSE(r.status);
    CHECK_THAT(r.status.error(), Catch::Contains(f.path.string() + ":2"));
    CHECK(r.events.size() == 1);
    // A controller refuses to continue such a log (it would act on a history it cannot read) and
    // leaves it byte-identical for a human to look at.
    auto w = event_log_writer::open(f.path.string(), false);
    REQUIRE_FALSE(w);
    CHECK_THAT(w.error(), Catch::Contains("cannot continue the event log") && Catch::Contains(":2"));
    CHECK(f.read() == good1 + bad + good3);
  }
}

TEST_CASE("a crash mid-write, then two restarts: the log stays readable and nothing valid is lost") {
  temp_file f("crash.jsonl");
  const std::string l1 = log_line_watch(1, 1'700'000'000'000, resource_kind::job, job_line("a", "1"));
  const std::string l2 = log_line_watch(2, 1'700'000'000'001, resource_kind::job, job_line("b", "2"));
  f.write(l1 + l2.substr(0, l2.size() / 2));  // killed in the middle of writing line 2
  {
    auto w = event_log_writer::open(f.path.string(), false);  // restart 1
    REQUIRE(w);
    CHECK(w->next_seq() == 2);
    w->append(log_line_watch(w->next_seq(), 1'700'000'000'005, resource_kind::job, job_line("c", "3")));
    REQUIRE(w->sync());
  }
  auto r = read_all(f);
  REQUIRE(r.status);
  CHECK(*r.status == 2);
  {
    auto w = event_log_writer::open(f.path.string(), false);  // restart 2 must not refuse the log
    REQUIRE(w);
    CHECK(w->next_seq() == 3);
  }
  // A last line that lost only its newline is complete: it was folded, so it is kept.
  f.write(l1 + l2.substr(0, l2.size() - 1));
  {
    auto w = event_log_writer::open(f.path.string(), false);
    REQUIRE(w);
    CHECK(w->next_seq() == 3);
    w->append(log_line_watch(w->next_seq(), 1'700'000'000'006, resource_kind::job, job_line("d", "4")));
    REQUIRE(w->sync());
  }
  auto r2 = read_all(f);
  REQUIRE(r2.status);
  CHECK(*r2.status == 3);
}

TEST_CASE("a kubeconfig that is not YAML, or lacks a server, is an error naming the file") {
  temp_file f("kubeconfig");
  for (const std::string& text :
       {std::string("{{{not yaml"), std::string("apiVersion: v1\nclusters: 5\n"),
        std::string("apiVersion: v1\nkind: Config\ncurrent-context: x\n"), std::string("\xff\xfe\x00", 3)}) {
    f.write(text);
    auto cfg = kube::load_kubeconfig(f.path.string());
    REQUIRE_FALSE(cfg);
    CHECK_THAT(cfg.error(), Catch::Contains(f.path.string()));
  }
}

TEST_CASE("a container killed by a signal, with no termination message, still says how it ended") {
  json_decoder d;
  auto killed = d.decode_watch_line(
      resource_kind::pod,
      R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"registry-pg10-backup-1-x","namespace":"quay",)"
      R"("labels":{"job-name":"registry-pg10-backup-1"}},"status":{"phase":"Failed","containerStatuses":[{"name":"backup",)"
      R"("state":{"terminated":{"exitCode":137,"reason":"Error"}}}]}}})");
  REQUIRE(killed);
  const auto& p = std::get<pod>(std::get<object_event>(*killed).object);
  CHECK_THAT(p.termination_message, Catch::Contains("exit code 137") && Catch::Contains("signal 9") && Catch::Contains("Error"));
  auto reported = d.decode_watch_line(
      resource_kind::pod,
      R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"p","namespace":"quay"},"status":)"
      R"({"containerStatuses":[{"state":{"terminated":{"exitCode":1,"message":"BackupFailed: disk full"}}}]}}})");
  REQUIRE(reported);
  CHECK(std::get<pod>(std::get<object_event>(*reported).object).termination_message == "BackupFailed: disk full");
}

TEST_CASE("a malformed literal where a bool or null may stand is an error, not a crash (found by fuzzing)") {
  json_decoder d;
  // The fuzzer's input, shortened: `tFue` made simdjson's is_null() throw out of the decoder.
  for (const char* line : {
           R"({"type":"ADDED","object":{"metadata":{"name":"r"},"spec":{"components":[{"kind":"postgres","managed":tFue}]}}})",
           R"({"type":"ADDED","object":{"metadata":{"name":"r"},"spec":{"components":[nul]}}})",
           R"({"type":"ADDED","object":{"metadata":{"name":"r","deletionTimestamp":nulx}}})",
           R"({"type":"ADDED","object":{"metadata":{"name":tru}}})",
       }) {
    INFO(line);
    for (auto kind : all_resource_kinds) {
      std::expected<event, std::string> r = std::unexpected(std::string());
      REQUIRE_NOTHROW(r = d.decode_watch_line(kind, line));
      // On-demand parsing never looks at fields a kind does not read; a QuayRegistry reads all four.
      if (kind == resource_kind::quay_registry) CHECK_FALSE(r);
    }
  }
}
