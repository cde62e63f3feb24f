// The decode path of a watch body: bytes split on newlines whatever the chunking, each line
// decoded once, bad or oversized lines reported and skipped.
#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "watch/line_splitter.hpp"
#include "watch/stream_decoder.hpp"

using namespace qpu::watch;
using namespace qpu::watch::testing;

namespace {

struct collected {
  std::vector<std::string> raw;
  std::vector<qpu::event> events;
  std::vector<std::string> errors;
};

collected decode_in_chunks(const std::string& body, std::size_t chunk, std::size_t max_line = qpu::max_line_bytes) {
  qpu::json_decoder dec;
  stream_decoder sd(qpu::resource_kind::job, dec, max_line);
  collected c;
  for (std::size_t i = 0; i < body.size(); i += chunk) {
    sd.feed(std::string_view(body).substr(i, chunk), [&](const watch_input& in) {
      c.raw.emplace_back(in.raw);
      c.events.push_back(in.body);
      if (in.origin == input_origin::malformed) c.errors.emplace_back(in.error);
      return true;
    });
  }
  return c;
}

std::string three_events() {
  return watch_line("ADDED", job_json("a", "10")) + watch_line("MODIFIED", job_json("a", "11")) + bookmark_line("12") +
         watch_line("DELETED", job_json("a", "13"));
}

}  // namespace

TEST_CASE("lines are found whatever the chunk size: one byte, a few bytes, many events per chunk", "[decode]") {
  const std::string body = three_events();
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{100}, body.size()}) {
    auto c = decode_in_chunks(body, chunk);
    REQUIRE(c.events.size() == 4);
    CHECK(c.errors.empty());
    CHECK(std::get<qpu::object_event>(c.events[0]).type == qpu::watch_type::added);
    CHECK(qpu::meta_of(std::get<qpu::object_event>(c.events[1]).object).rv == "11");
    CHECK(std::get<qpu::bookmark_seen>(c.events[2]).rv == "12");
    CHECK(std::get<qpu::object_event>(c.events[3]).type == qpu::watch_type::deleted);
    // The raw text is the line exactly as received, for the event log.
    CHECK(c.raw[0] + "\n" == watch_line("ADDED", job_json("a", "10")));
  }
}

TEST_CASE("a malformed line becomes malformed_input with its location, and the stream goes on", "[decode]") {
  const std::string body = watch_line("ADDED", job_json("a", "10")) + "{\"type\":\"ADDED\",\"object\":{\"metadata\":\n" +
                           watch_line("ADDED", job_json("b", "12"));
  auto c = decode_in_chunks(body, 5);
  REQUIRE(c.events.size() == 3);
  auto& bad = std::get<qpu::malformed_input>(c.events[1]);
  CHECK(bad.source == "watch/jobs");
  CHECK_THAT(bad.error, Catch::Contains("line 2"));
  CHECK_THAT(bad.error, Catch::Contains("stream byte"));
  CHECK(qpu::meta_of(std::get<qpu::object_event>(c.events[2]).object).key.name == "b");
}

TEST_CASE("an oversized line is dropped without buffering it whole and reported with a prefix", "[decode]") {
  std::string huge = R"({"type":"ADDED","object":{"metadata":{"name":")" + std::string(5000, 'x') + "\"}}}\n";
  const std::string body = watch_line("ADDED", job_json("a", "10")) + huge + watch_line("ADDED", job_json("b", "12"));
  qpu::json_decoder dec;
  stream_decoder sd(qpu::resource_kind::job, dec, 1024);
  std::vector<qpu::event> events;
  std::string prefix;
  for (std::size_t i = 0; i < body.size(); i += 64) {
    sd.feed(std::string_view(body).substr(i, 64), [&](const watch_input& in) {
      events.push_back(in.body);
      if (in.origin == input_origin::malformed) prefix = std::string(in.raw);
      return true;
    });
  }
  REQUIRE(events.size() == 3);
  auto& bad = std::get<qpu::malformed_input>(events[1]);
  CHECK_THAT(bad.error, Catch::Contains(std::to_string(huge.size() - 1) + " bytes"));
  CHECK(prefix.size() == 256);
  CHECK(prefix.starts_with(R"({"type":"ADDED")"));
  CHECK(sd.counters().oversized == 1);
  CHECK(qpu::meta_of(std::get<qpu::object_event>(events[2]).object).key.name == "b");
}

TEST_CASE("the splitter keeps at most the limit of a line in memory", "[decode]") {
  line_splitter s(100);
  std::vector<std::string> lines;
  for (int i = 0; i < 1000; ++i) {
    s.feed(std::string(50, 'y'), [&](const split_line& l) { lines.emplace_back(l.text); });
    CHECK(s.pending_bytes() == static_cast<std::size_t>(50 * (i + 1)));  // counted, not kept
  }
  s.feed("\nok\n", [&](const split_line& l) { lines.emplace_back(l.text); });
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].size() == 100);  // prefix bytes only (limit < 256)
  CHECK(lines[1] == "ok");
}

TEST_CASE("blank lines and CRLF endings are tolerated; a partial last line is not decoded", "[decode]") {
  const std::string body = "\n\r\n" + watch_line("ADDED", job_json("a", "10")).insert(0, "") + "{\"type\":\"ADD";
  auto c = decode_in_chunks(body, 3);
  CHECK(c.events.size() == 1);
  auto crlf = watch_line("ADDED", job_json("a", "10"));
  crlf.insert(crlf.size() - 1, "\r");
  auto c2 = decode_in_chunks(crlf, 4);
  REQUIRE(c2.events.size() == 1);
  CHECK(std::holds_alternative<qpu::object_event>(c2.events[0]));
}

TEST_CASE("the handler can stop the stream: later lines are not decoded", "[decode]") {
  qpu::json_decoder dec;
  stream_decoder sd(qpu::resource_kind::job, dec);
  int seen = 0;
  bool more = sd.feed(three_events(), [&](const watch_input&) { return ++seen < 2; });
  CHECK_FALSE(more);
  CHECK(seen == 2);
}

TEST_CASE("an in-band ERROR decodes to watch_error with its code", "[decode]") {
  auto c = decode_in_chunks(expired_line(), 3);
  REQUIRE(c.events.size() == 1);
  auto& e = std::get<qpu::watch_error>(c.events[0]);
  CHECK(e.code == 410);
  CHECK(e.reason == "Expired");
}
