// The store's compact texts and values (core/istr.hpp, core/interned.hpp): equal texts share one
// entry, order and compare as std::string does, and the pool gives back what it no longer holds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/interned.hpp"
#include "core/istr.hpp"
#include "core/resources.hpp"

using qpu::istr;

TEST_CASE("istr: equal texts share one entry; empty is nothing", "[istr]") {
  const auto base = istr::pool_size();
  {
    istr a("registry-quay-database"), b(std::string("registry-quay-database")), c("registry-clair-postgres");
    CHECK(a == b);
    CHECK(a != c);
    CHECK(a.c_str() == b.c_str());  // one entry
    CHECK(a == "registry-quay-database");
    CHECK(a == std::string("registry-quay-database"));
    CHECK(istr::pool_size() == base + 2);
    const istr e("");
    CHECK(e.empty());
    CHECK(e == istr());
    CHECK(e.str().empty());
    CHECK(istr::pool_size() == base + 2);
    istr moved = std::move(a);
    CHECK(moved == b);
    CHECK(a.empty());  // NOLINT(bugprone-use-after-move): a moved-from handle is empty
    CHECK(moved + "-pg15" == "registry-quay-database-pg15");
    CHECK("ns/" + c == "ns/registry-clair-postgres");
  }
  CHECK(istr::pool_size() == base);  // the last handle gave each entry back
}

TEST_CASE("istr: orders as std::string, so maps keyed by it iterate as before", "[istr]") {
  const std::vector<std::string> texts{"b", "a", "", "ab", "a\x01", "\xff", "quay", "quay-app", "Quay", "10", "9"};
  std::map<std::string, int> plain;
  std::map<istr, int> interned;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    plain.emplace(texts[i], static_cast<int>(i));
    interned.emplace(istr(texts[i]), static_cast<int>(i));
  }
  std::vector<std::string> a, b;
  for (const auto& [k, v] : plain) a.push_back(k);
  for (const auto& [k, v] : interned) b.push_back(k.str());
  CHECK(a == b);
  const qpu::object_key x{"ns", "a"}, y{"ns", "b"}, z{"nt", "a"};
  CHECK(x < y);
  CHECK(y < z);
  CHECK(x == qpu::object_key{"ns", std::string("a")});
}

TEST_CASE("istr: the pool's table survives many texts coming and going", "[istr]") {
  // Against a model: random texts interned and released in random order, every handle reads its
  // own text back at every step (a wrong shift on removal would lose or mix entries).
  const auto base = istr::pool_size();
  std::mt19937 rng(17);
  std::vector<std::pair<std::string, istr>> live;
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      std::string t = "t-" + std::to_string(rng() % 5000);
      live.emplace_back(t, istr(t));
    } else {
      const auto i = rng() % live.size();
      std::swap(live[i], live.back());
      live.pop_back();
    }
    if (step % 997 == 0) {
      for (const auto& [t, s] : live) REQUIRE(s == t);
      for (const auto& [t, s] : live) REQUIRE(s == istr(t));  // found again, not interned twice
    }
  }
  std::vector<std::string> distinct;
  for (const auto& [t, s] : live) distinct.push_back(t);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  CHECK(istr::pool_size() == base + distinct.size());
  live.clear();
  CHECK(istr::pool_size() == base);
}

TEST_CASE("istr: handles made and dropped on several threads", "[istr]") {
  const auto base = istr::pool_size();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      std::vector<istr> mine;
      for (int i = 0; i < 20000; ++i) {
        mine.emplace_back("shared-" + std::to_string(i % 100));
        mine.emplace_back("own-" + std::to_string(t) + "-" + std::to_string(i % 50));
        if (mine.size() > 64) mine.erase(mine.begin(), mine.begin() + 32);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(istr::pool_size() == base);
}

TEST_CASE("interned: equal credentials share one entry; none is the null handle", "[istr]") {
  qpu::db_credentials c;
  c.user.secret_name = "registry-quay-postgres-config";
  c.user.secret_key = "database-username";
  qpu::interned<qpu::db_credentials> a(c), b(c), none;
  CHECK(a == b);
  CHECK(&a.get() == &b.get());
  CHECK(a->user.secret_key == "database-username");
  CHECK(none.empty());
  CHECK(none->user.empty());
  CHECK(qpu::interned<qpu::db_credentials>(qpu::db_credentials{}).empty());
  c.password.value = "qpu-redacted:00";
  const qpu::interned<qpu::db_credentials> d(c);
  CHECK(d != a);
  CHECK(d->password.value == "qpu-redacted:00");
}
