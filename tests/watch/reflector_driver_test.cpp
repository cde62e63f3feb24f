// A reflector driven against a scripted server: paging, watch streams in one-byte chunks,
// bookmarks, in-band 410, HTTP errors with backoff, and the event log lines it produces.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <mutex>

#include "core/event_log.hpp"
#include "fixtures.hpp"
#include "test_server.hpp"
#include "watch/reflector_driver.hpp"

using namespace qpu::watch;
using namespace qpu::kube;
using namespace qpu::watch::testing;
namespace net = boost::asio;

namespace {

test_response chunked(const std::string& body, std::size_t size) {
  test_response r;
  for (std::size_t i = 0; i < body.size(); i += size) r.chunks.push_back(body.substr(i, size));
  return r;
}

std::string query_value(const std::string& target, const std::string& key) {
  auto pos = target.find(key + "=");
  if (pos == std::string::npos) return "";
  auto start = pos + key.size() + 1;
  return target.substr(start, target.find('&', start) - start);
}

}  // namespace

TEST_CASE("list pages, watch, bookmark, in-band 410 relist, 500 backoff, delete: inputs in order", "[driver]") {
  std::mutex mu;
  int lists = 0, watches = 0;
  test_server server([&](const test_request& r) {
    std::lock_guard lock(mu);
    test_response res;
    if (r.target.find("watch=1") == std::string::npos) {
      ++lists;
      if (lists == 1) res.body = job_list("", {job_json("a", "90", "q", false), job_json("b", "91", "q", false)}, "c1");
      else if (lists == 2) res.body = job_list("100", {job_json("c", "95", "q", false)});
      else res.body = job_list("120", {job_json("a", "102", "q", false), job_json("d", "101", "q", false)});
      return res;
    }
    ++watches;
    switch (watches) {
      case 1:
        return chunked(watch_line("ADDED", job_json("d", "101")) + watch_line("MODIFIED", job_json("a", "102")) + "garbage\n" +
                           bookmark_line("110"),
                       1);
      case 2: return chunked(expired_line(), 7);
      case 3:
        res.status = 500;
        res.body = R"({"kind":"Status","reason":"InternalError","code":500})";
        return res;
      default: return chunked(watch_line("DELETED", job_json("d", "121")), 3);
    }
  });

  net::io_context ioc;
  kube_config cfg;
  cfg.server = server.url();
  auto client = http_client::create(ioc.get_executor(), cfg).value();
  reflector_spec spec;
  spec.kind = qpu::resource_kind::job;
  spec.ns = "q";
  spec.label_selector = "app=x";
  spec.options.initial_backoff = 20;

  std::vector<std::string> log;
  std::vector<qpu::event> events;
  std::unique_ptr<reflector_driver> driver;
  std::uint64_t seq = 1;
  driver = std::make_unique<reflector_driver>(
      client, spec,
      [&](const watch_input& in) {
        log.push_back(log_line(in, seq++, 1'700'000'000'000));
        events.push_back(in.body);
        if (auto* e = std::get_if<qpu::object_event>(&in.body); e && e->type == qpu::watch_type::deleted) driver->stop();
      },
      [] { return qpu::timestamp{1'700'000'000'000}; }, [] { return 0.5; });
  net::co_spawn(ioc, driver->run(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ioc.run();

  // relist 1 (two pages), watch 1 (3 events + 1 malformed), ERROR 410, relist 2, DELETED.
  REQUIRE(events.size() == 5 + 4 + 1 + 4 + 1);
  CHECK(std::holds_alternative<qpu::relist_started>(events[0]));
  CHECK(qpu::meta_of(std::get<qpu::relist_item>(events[1]).object).key.name == "a");
  CHECK(qpu::meta_of(std::get<qpu::relist_item>(events[3]).object).key.name == "c");
  CHECK(std::get<qpu::relist_done>(events[4]).rv == "100");
  CHECK(std::holds_alternative<qpu::object_event>(events[5]));
  CHECK(std::holds_alternative<qpu::malformed_input>(events[7]));
  CHECK(std::get<qpu::bookmark_seen>(events[8]).rv == "110");
  CHECK(std::get<qpu::watch_error>(events[9]).code == 410);
  CHECK(std::holds_alternative<qpu::relist_started>(events[10]));
  CHECK(std::get<qpu::relist_done>(events[13]).rv == "120");
  CHECK(std::get<qpu::object_event>(events[14]).type == qpu::watch_type::deleted);

  auto reqs = server.requests();
  REQUIRE(reqs.size() == 7);
  CHECK(query_value(reqs[0].target, "limit") == "500");
  CHECK(query_value(reqs[0].target, "labelSelector") == "app%3Dx");
  CHECK(query_value(reqs[1].target, "continue") == "c1");
  CHECK(query_value(reqs[2].target, "resourceVersion") == "100");
  CHECK(query_value(reqs[2].target, "allowWatchBookmarks") == "true");
  CHECK(query_value(reqs[2].target, "timeoutSeconds") == "450");
  CHECK(query_value(reqs[3].target, "resourceVersion") == "110");  // EOF: re-watch from the bookmark
  CHECK(query_value(reqs[4].target, "continue").empty());  // 410: a fresh list
  CHECK(query_value(reqs[5].target, "resourceVersion") == "120");
  CHECK(query_value(reqs[6].target, "resourceVersion") == "120");  // after the 500 and a backoff
  CHECK(driver->stats().failures == 1);
  CHECK(driver->stats().malformed == 1);
  CHECK(driver->stats().lists == 2);

  // Every input's log line reads back as the same event (what replay will see).
  REQUIRE(log.size() == events.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    std::string line = log[i];
    REQUIRE(line.back() == '\n');
    line.pop_back();
    auto parsed = qpu::parse_log_line(line);
    REQUIRE(parsed);
    if (!std::holds_alternative<qpu::malformed_input>(events[i])) CHECK(parsed->body == events[i]);
    else CHECK(std::holds_alternative<qpu::malformed_input>(parsed->body));
  }
}
