// `kube-sim serve --quay-operator` over HTTP: the hold switch, the status document and the
// reconcile log, which GET /_sim/quay-operator serves exactly as <state-dir>/quay-operator.jsonl
// holds it. No workloads (--no-runtime): the operator has no Ready pod, so it reports why it stops.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "http_client.hpp"
#include "sim_process.hpp"

using namespace kube_sim::testing;
using json = nlohmann::json;

namespace {

std::vector<json> lines_of(const std::string& body) {
  std::vector<json> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

template <class P>
bool eventually(P done) {
  for (int i = 0; i < 300; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

TEST_CASE("HTTP: the stand-in's hold switch, status and reconcile log on /_sim/quay-operator") {
  const auto dir = make_temp_dir();
  sim_process sim({"--no-runtime", "--state-dir", (dir / "state").string(), "--quay-operator", "--quay-operator-hold",
                   "--quay-operator-resync-ms", "200"},
                  dir);
  auto status = send(sim.port(), "GET", "/_sim/quay-operator/status");
  REQUIRE(status.status == 200);
  CHECK(status.json()["held"] == true);
  CHECK(status.json()["active"] == false);
  CHECK(status.json()["journal"] == (dir / "state" / "quay-operator.jsonl").string());

  REQUIRE(eventually([&] { return !lines_of(send(sim.port(), "GET", "/_sim/quay-operator").body).empty(); }));
  auto log = lines_of(send(sim.port(), "GET", "/_sim/quay-operator").body);
  CHECK(log[0]["seq"] == 1);
  CHECK(log[0]["operator"] == "stopped");
  CHECK(log[0]["reason"].get<std::string>().starts_with("held"));

  auto released = send(sim.port(), "POST", "/_sim/quay-operator", R"({"hold": false})");
  REQUIRE(released.status == 200);
  CHECK(released.json()["held"] == false);
  CHECK(released.json()["reason"] == "no Deployment quay-operator/quay-operator");
  REQUIRE(eventually([&] { return !lines_of(send(sim.port(), "GET", "/_sim/quay-operator?since=1").body).empty(); }));
  const auto later = lines_of(send(sim.port(), "GET", "/_sim/quay-operator?since=1").body);
  CHECK(later[0]["seq"] == 2);
  CHECK(later[0]["reason"] == "no Deployment quay-operator/quay-operator");
  // Ticks go on while it cannot act.
  REQUIRE(eventually([&] { return send(sim.port(), "GET", "/_sim/quay-operator/status").json()["ticks"].get<int>() >= 2; }));

  CHECK(send(sim.port(), "POST", "/_sim/quay-operator", R"({"hold": "no"})").status == 400);
  CHECK(send(sim.port(), "DELETE", "/_sim/quay-operator").status == 405);

  // The file holds the same lines.
  const auto served = send(sim.port(), "GET", "/_sim/quay-operator").body;
  std::ifstream in(dir / "state" / "quay-operator.jsonl");
  std::stringstream file;
  file << in.rdbuf();
  CHECK(file.str() == served);
}

TEST_CASE("HTTP: a restarted kube-sim continues the stand-in's log and its numbering") {
  const auto dir = make_temp_dir();
  const std::vector<std::string> flags = {"--no-runtime", "--state-dir", (dir / "state").string(), "--quay-operator",
                                          "--quay-operator-hold"};
  std::filesystem::create_directories(dir / "first");
  std::filesystem::create_directories(dir / "second");
  std::size_t first_run = 0;
  {
    sim_process sim(flags, dir / "first");
    REQUIRE(eventually([&] { return !lines_of(send(sim.port(), "GET", "/_sim/quay-operator").body).empty(); }));
    first_run = lines_of(send(sim.port(), "GET", "/_sim/quay-operator").body).size();
  }
  sim_process again(flags, dir / "second");
  REQUIRE(eventually([&] { return lines_of(send(again.port(), "GET", "/_sim/quay-operator").body).size() > first_run; }));
  const auto log = lines_of(send(again.port(), "GET", "/_sim/quay-operator").body);
  for (std::size_t i = 0; i < log.size(); ++i) CHECK(log[i]["seq"] == i + 1);
  again.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
