// A kind watched as several label-selected streams (issue 17, item 1): each stream's relist
// replaces only its own objects, a store is synced once every stream listed, a DELETED from the
// stream that no longer holds an object leaves it alone, and the log lines say the stream.
#include <catch2/catch.hpp>

#include "core/event_log.hpp"
#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using qpu::testing::session;

namespace {

std::string pod_json(const std::string& name, const std::string& rv) {
  return R"({"metadata":{"name":")" + name + R"(","namespace":"quay","resourceVersion":")" + rv +
         R"("},"status":{"phase":"Running"}})";
}

std::string pod_event(const char* type, const std::string& name, const std::string& rv) {
  return std::string(R"({"type":")") + type + R"(","object":)" + pod_json(name, rv) + "}";
}

bool pods_synced(const session& s) { return s.s.cluster.synced[static_cast<std::size_t>(resource_kind::pod)]; }

}  // namespace

TEST_CASE("log lines carry the stream only when it is not the first, and read back") {
  const std::string first = log_line_watch(1, 1000, resource_kind::pod, pod_event("ADDED", "a", "1"));
  const std::string second = log_line_watch(2, 1000, resource_kind::pod, pod_event("ADDED", "b", "2"), 1);
  CHECK(first.find("\"stream\"") == std::string::npos);
  CHECK(second.find(R"("source":"watch/pods","stream":1,"watch":)") != std::string::npos);
  auto a = parse_log_line(std::string_view(first).substr(0, first.size() - 1));
  auto b = parse_log_line(std::string_view(second).substr(0, second.size() - 1));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(std::get<pod>(std::get<object_event>(a->body).object).meta.stream == 0);
  CHECK(std::get<pod>(std::get<object_event>(b->body).object).meta.stream == 1);

  const std::string done = log_line_relist_done(3, 1000, resource_kind::pod, "9", 1, 2);
  CHECK(done.find(R"("stream":1,"relist":"done","rv":"9","streams":2})") != std::string::npos);
  auto d = parse_log_line(std::string_view(done).substr(0, done.size() - 1));
  REQUIRE(d);
  CHECK(std::get<relist_done>(d->body) == relist_done{resource_kind::pod, "9", 1, 2});
  // A single stream's done line keeps the bytes it always had.
  CHECK(log_line_relist_done(3, 1000, resource_kind::pod, "9") ==
        R"({"seq":3,"ts":"1970-01-01T00:00:01.000Z","source":"watch/pods","relist":"done","rv":"9"})"
        "\n");

  CHECK_FALSE(parse_log_line(R"({"seq":1,"ts":"1970-01-01T00:00:01.000Z","source":"watch/pods","stream":7,"relist":"start"})"));
  CHECK_FALSE(parse_log_line(
      R"({"seq":1,"ts":"1970-01-01T00:00:01.000Z","source":"watch/pods","stream":2,"relist":"done","rv":"1","streams":2})"));
}

TEST_CASE("a relist of one stream replaces that stream's objects only; synced once every stream listed") {
  session s;
  s.feed(log_line_event(1, 1000, "controller", controller_started{config{}, "t"}));
  // Stream 0 lists pod a; stream 1 has not listed yet.
  s.feed(log_line_relist_start(2, 1000, resource_kind::pod, 0));
  s.feed(log_line_relist_item(3, 1000, resource_kind::pod, pod_json("a", "1"), 0));
  s.feed(log_line_relist_done(4, 1000, resource_kind::pod, "1", 0, 2));
  CHECK_FALSE(pods_synced(s));
  s.feed(log_line_relist_start(5, 1000, resource_kind::pod, 1));
  s.feed(log_line_relist_item(6, 1000, resource_kind::pod, pod_json("b", "2"), 1));
  s.feed(log_line_relist_done(7, 1000, resource_kind::pod, "2", 1, 2));
  CHECK(pods_synced(s));
  REQUIRE(s.s.cluster.pods.size() == 2);
  CHECK(s.s.cluster.pods.at({"quay", "b"}).meta.stream == 1);

  // Stream 0 relists empty: a is gone, b (stream 1's) stays.
  s.feed(log_line_relist_start(8, 1000, resource_kind::pod, 0));
  s.feed(log_line_relist_done(9, 1000, resource_kind::pod, "3", 0, 2));
  CHECK_FALSE(s.s.cluster.pods.contains({"quay", "a"}));
  CHECK(s.s.cluster.pods.contains({"quay", "b"}));
  CHECK(pods_synced(s));

  // b's labels move it to stream 0: ADDED there, then DELETED from stream 1 leaves it in place.
  s.feed(log_line_watch(10, 1000, resource_kind::pod, pod_event("ADDED", "b", "4"), 0));
  s.feed(log_line_watch(11, 1000, resource_kind::pod, pod_event("DELETED", "b", "4"), 1));
  REQUIRE(s.s.cluster.pods.contains({"quay", "b"}));
  CHECK(s.s.cluster.pods.at({"quay", "b"}).meta.stream == 0);
  // The DELETED of the stream that holds it removes it.
  s.feed(log_line_watch(12, 1000, resource_kind::pod, pod_event("DELETED", "b", "5"), 0));
  CHECK(s.s.cluster.pods.empty());

  // A new process starts unsynced until both streams listed again.
  s.feed(log_line_event(13, 1000, "controller", controller_started{config{}, "t"}));
  CHECK_FALSE(pods_synced(s));
  s.feed(log_line_relist_done(14, 1000, resource_kind::pod, "6", 1, 2));
  CHECK_FALSE(pods_synced(s));
  s.feed(log_line_relist_done(15, 1000, resource_kind::pod, "6", 0, 2));
  CHECK(pods_synced(s));
}
