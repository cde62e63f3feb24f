// The reflector as a specification: inputs in, state and commands out. No I/O.
#include <catch2/catch.hpp>

#include "watch/reflector.hpp"

using namespace qpu::watch;
using qpu::timestamp;

namespace {

struct machine {
  reflector_state s;
  reflector_options o;
  timestamp now = 1'000'000;
  double random = 0.0;

  std::vector<reflector_command> feed(const reflector_input& in) {
    auto r = step(s, in, step_context{now, random}, o);
    s = r.state;
    return r.commands;
  }
  // Starts and completes a one-page list at `rv`: the machine is then watching.
  void listed(const std::string& rv) {
    feed(start{});
    feed(list_page_received{rv, ""});
  }
};

template <class T>
const T& only(const std::vector<reflector_command>& cmds) {
  REQUIRE(cmds.size() == 1);
  REQUIRE(std::holds_alternative<T>(cmds[0]));
  return std::get<T>(cmds[0]);
}

}  // namespace

TEST_CASE("start lists the first page with the configured limit", "[reflector]") {
  machine m;
  auto l = only<send_list>(m.feed(start{}));
  CHECK(l.continue_token.empty());
  CHECK(l.limit == 500);
  CHECK(m.s.phase == reflector_phase::listing);
}

TEST_CASE("list pages follow continue tokens, then the relist is published and the watch starts at the list's RV",
          "[reflector]") {
  machine m;
  m.feed(start{});
  auto p2 = only<send_list>(m.feed(list_page_received{"", "tok-1"}));
  CHECK(p2.continue_token == "tok-1");
  auto p3 = only<send_list>(m.feed(list_page_received{"", "tok-2"}));
  CHECK(p3.continue_token == "tok-2");
  auto cmds = m.feed(list_page_received{"120", ""});
  REQUIRE(cmds.size() == 2);
  CHECK(std::get<publish_relist>(cmds[0]).rv == "120");
  auto w = std::get<send_watch>(cmds[1]);
  CHECK(w.rv == "120");
  CHECK(w.timeout_seconds >= 300);
  CHECK(w.timeout_seconds <= 600);
  CHECK(m.s.phase == reflector_phase::watching);
}

TEST_CASE("the watch timeout is drawn from the random input across [min, max]", "[reflector]") {
  machine lo, hi;
  lo.random = 0.0;
  hi.random = 0.9999;
  lo.feed(start{});
  hi.feed(start{});
  CHECK(std::get<send_watch>(lo.feed(list_page_received{"1", ""})[1]).timeout_seconds == 300);
  CHECK(std::get<send_watch>(hi.feed(list_page_received{"1", ""})[1]).timeout_seconds == 600);
}

TEST_CASE("every watch event, bookmarks included, moves the last RV; EOF re-watches from it without a relist", "[reflector]") {
  machine m;
  m.listed("100");
  CHECK(m.feed(watch_event_seen{"105"}).empty());
  CHECK(m.feed(watch_event_seen{"130"}).empty());  // a bookmark
  CHECK(m.s.rv == "130");
  m.now += 300'000;
  auto w = only<send_watch>(m.feed(watch_ended{}));
  CHECK(w.rv == "130");
  CHECK(m.s.failures == 0);
}

TEST_CASE("a bookmark alone keeps a quiet watch healthy across timeoutSeconds rollovers", "[reflector]") {
  machine m;
  m.listed("100");
  m.now += 500;
  m.feed(watch_event_seen{"200"});
  auto w = only<send_watch>(m.feed(watch_ended{}));  // ended early, but it saw an event
  CHECK(w.rv == "200");
}

TEST_CASE("an in-band ERROR 410 closes the watch and relists from scratch", "[reflector]") {
  machine m;
  m.listed("100");
  m.feed(watch_event_seen{"101"});
  auto cmds = m.feed(watch_error_seen{410});
  REQUIRE(cmds.size() == 2);
  CHECK(std::holds_alternative<close_watch>(cmds[0]));
  CHECK(std::get<send_list>(cmds[1]).continue_token.empty());
  CHECK(m.s.phase == reflector_phase::listing);
  CHECK(m.s.rv.empty());
  // The stream's end after the relist began changes nothing.
  CHECK(m.feed(watch_ended{}).empty());
}

TEST_CASE("an HTTP 410 on the watch request relists at once", "[reflector]") {
  machine m;
  m.listed("100");
  auto l = only<send_list>(m.feed(watch_failed{410}));
  CHECK(l.continue_token.empty());
  CHECK(m.s.failures == 0);
}

TEST_CASE("an HTTP 410 for an expired continue token restarts the list from the first page", "[reflector]") {
  machine m;
  m.feed(start{});
  m.feed(list_page_received{"", "tok-1"});
  auto l = only<send_list>(m.feed(list_failed{410}));
  CHECK(l.continue_token.empty());
  CHECK(m.s.phase == reflector_phase::listing);
}

TEST_CASE("a failed list backs off and then lists again from the first page", "[reflector]") {
  machine m;
  m.feed(start{});
  m.feed(list_page_received{"", "tok-1"});
  auto w = only<wait_for>(m.feed(list_failed{500}));
  CHECK(w.delay == 800);
  CHECK(m.s.phase == reflector_phase::backing_off);
  auto l = only<send_list>(m.feed(backoff_elapsed{}));
  CHECK(l.continue_token.empty());
}

TEST_CASE("429, 5xx and connection failures on a watch back off, then re-watch from the last RV", "[reflector]") {
  for (int code : {429, 500, 503, 0}) {
    machine m;
    m.listed("100");
    m.feed(watch_event_seen{"140"});
    only<wait_for>(m.feed(watch_failed{code}));
    auto w = only<send_watch>(m.feed(backoff_elapsed{}));
    CHECK(w.rv == "140");
  }
}

TEST_CASE("backoff doubles from 0.8 s and is capped at 30 s", "[reflector]") {
  machine m;
  m.listed("100");
  std::vector<qpu::duration_ms> delays;
  for (int i = 0; i < 8; ++i) {
    m.now += 1000;
    delays.push_back(only<wait_for>(m.feed(watch_failed{503})).delay);
    m.feed(backoff_elapsed{});
  }
  CHECK(delays == std::vector<qpu::duration_ms>{800, 1600, 3200, 6400, 12800, 25600, 30000, 30000});
}

TEST_CASE("jitter stretches the delay by up to a quarter but never past the cap", "[reflector]") {
  reflector_options o;
  CHECK(backoff_delay(1, 0.0, o) == 800);
  CHECK(backoff_delay(1, 0.999, o) == 999);
  CHECK(backoff_delay(2, 0.5, o) == 1800);
  CHECK(backoff_delay(6, 0.999, o) == 30000);
  CHECK(backoff_delay(40, 0.5, o) == 30000);
}

TEST_CASE("backoff starts over after two minutes without a failure", "[reflector]") {
  machine m;
  m.listed("100");
  only<wait_for>(m.feed(watch_failed{500}));
  m.feed(backoff_elapsed{});
  m.now += 5'000;
  CHECK(only<wait_for>(m.feed(watch_failed{500})).delay == 1600);
  m.feed(backoff_elapsed{});
  m.now += 119'000;
  CHECK(only<wait_for>(m.feed(watch_failed{500})).delay == 3200);
  m.feed(backoff_elapsed{});
  m.now += 120'000;
  CHECK(only<wait_for>(m.feed(watch_failed{500})).delay == 800);
}

TEST_CASE("a watch that ends within a second with no event is a failure", "[reflector]") {
  machine m;
  m.listed("100");
  m.now += 999;
  CHECK(only<wait_for>(m.feed(watch_ended{})).delay == 800);
  auto w = only<send_watch>(m.feed(backoff_elapsed{}));
  CHECK(w.rv == "100");
  m.now += 1000;
  CHECK(std::holds_alternative<send_watch>(m.feed(watch_ended{}).at(0)));  // long enough: normal rollover
}

TEST_CASE("an in-band ERROR other than 410 closes the watch and backs off, keeping the RV", "[reflector]") {
  machine m;
  m.listed("100");
  auto cmds = m.feed(watch_error_seen{500});
  REQUIRE(cmds.size() == 2);
  CHECK(std::holds_alternative<close_watch>(cmds[0]));
  CHECK(std::holds_alternative<wait_for>(cmds[1]));
  CHECK(only<send_watch>(m.feed(backoff_elapsed{})).rv == "100");
}

TEST_CASE("inputs that do not fit the phase are ignored", "[reflector]") {
  machine m;
  CHECK(m.feed(watch_event_seen{"5"}).empty());
  CHECK(m.feed(backoff_elapsed{}).empty());
  m.feed(start{});
  CHECK(m.feed(watch_ended{}).empty());
  CHECK(m.feed(watch_failed{500}).empty());
  CHECK(m.s.phase == reflector_phase::listing);
}

TEST_CASE("step is deterministic: the same inputs give the same states and commands", "[reflector]") {
  auto run = [] {
    machine m;
    m.random = 0.37;
    std::vector<std::vector<reflector_command>> out;
    out.push_back(m.feed(start{}));
    out.push_back(m.feed(list_page_received{"", "t"}));
    out.push_back(m.feed(list_page_received{"9", ""}));
    out.push_back(m.feed(watch_failed{503}));
    out.push_back(m.feed(backoff_elapsed{}));
    return std::pair(m.s, out);
  };
  CHECK(run() == run());
}
