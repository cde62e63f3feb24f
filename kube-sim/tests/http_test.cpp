// kube-sim over real HTTP: each test starts `kube-sim serve` on port 0 in its own directory.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "http_client.hpp"
#include "sim_process.hpp"

using namespace kube_sim::testing;
using json = nlohmann::json;

namespace {

const std::string cms = "/api/v1/namespaces/default/configmaps";

std::string config_map(const std::string& name, const std::string& value = "v") {
  return json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", {{"k", value}}}}.dump();
}

std::vector<json> lines_of(const std::string& body) {
  std::vector<json> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

std::string rv_of(const http_result& r) { return r.json()["metadata"]["resourceVersion"].get<std::string>(); }

// Runs a watch request on its own thread; the caller makes changes meanwhile.
std::future<http_result> watch_async(unsigned short port, std::string target) {
  auto f = std::async(std::launch::async, [port, target] { return send(port, "GET", target); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return f;
}

}  // namespace

TEST_CASE("HTTP: create is 201, a duplicate 409 AlreadyExists, a missing namespace 404") {
  sim_process sim;
  auto made = send(sim.port(), "POST", cms, config_map("a"));
  CHECK(made.status == 201);
  CHECK(made.json()["metadata"]["name"] == "a");
  auto again = send(sim.port(), "POST", cms, config_map("a"));
  CHECK(again.status == 409);
  CHECK(again.json()["kind"] == "Status");
  CHECK(again.json()["reason"] == "AlreadyExists");
  auto nowhere = send(sim.port(), "POST", "/api/v1/namespaces/nope/configmaps", config_map("a"));
  CHECK(nowhere.status == 404);
  CHECK(nowhere.json()["reason"] == "NotFound");
  CHECK(send(sim.port(), "GET", cms + "/missing").status == 404);
  CHECK(send(sim.port(), "POST", cms, "{not json").status == 400);
  CHECK(send(sim.port(), "PUT", cms).status == 405);
  CHECK(send(sim.port(), "GET", "/api/v1/widgets").status == 404);
}

TEST_CASE("HTTP: discovery documents name the served kinds") {
  sim_process sim;
  CHECK(send(sim.port(), "GET", "/version").json()["major"] == "1");
  auto core = send(sim.port(), "GET", "/api/v1").json();
  CHECK(core["kind"] == "APIResourceList");
  auto groups = send(sim.port(), "GET", "/apis").json();
  std::vector<std::string> names;
  for (const auto& g : groups["groups"]) names.push_back(g["name"]);
  CHECK(std::find(names.begin(), names.end(), "quay.redhat.com") != names.end());
  CHECK(std::find(names.begin(), names.end(), "coordination.k8s.io") != names.end());
  auto quay = send(sim.port(), "GET", "/apis/quay.redhat.com/v1").json();
  CHECK(quay["resources"][0]["name"] == "quayregistries");
  CHECK(quay["resources"][1]["name"] == "quayregistries/status");
}

TEST_CASE("HTTP: list pagination and an expired continue token is HTTP 410 Expired") {
  sim_process sim;
  for (auto n : {"a", "b", "c"}) REQUIRE(send(sim.port(), "POST", cms, config_map(n)).status == 201);
  auto page = send(sim.port(), "GET", cms + "?limit=2").json();
  REQUIRE(page["items"].size() == 2);
  const std::string token = page["metadata"]["continue"];
  auto rest = send(sim.port(), "GET", cms + "?limit=2&continue=" + token).json();
  REQUIRE(rest["items"].size() == 1);
  CHECK(rest["items"][0]["metadata"]["name"] == "c");
  CHECK(rest["metadata"]["resourceVersion"] == page["metadata"]["resourceVersion"]);
  REQUIRE(send(sim.port(), "POST", "/_sim/faults", R"({"expireHistory":true})").status == 200);
  auto stale = send(sim.port(), "GET", cms + "?limit=2&continue=" + token);
  CHECK(stale.status == 410);
  CHECK(stale.json()["reason"] == "Expired");
}

TEST_CASE("HTTP: a watch from RV 0 starts with ADDED, then streams changes as chunked JSON lines") {
  sim_process sim;
  REQUIRE(send(sim.port(), "POST", cms, config_map("a")).status == 201);
  auto watch = watch_async(sim.port(), cms + "?watch=1&resourceVersion=0&timeoutSeconds=1");
  auto changed = send(sim.port(), "PATCH", cms + "/a", R"({"data":{"k":"w"}})", "application/merge-patch+json");
  REQUIRE(changed.status == 200);
  REQUIRE(send(sim.port(), "DELETE", cms + "/a").status == 200);
  auto result = watch.get();
  CHECK(result.complete);  // timeoutSeconds ends the stream cleanly
  CHECK(result.transfer_encoding == "chunked");
  auto events = lines_of(result.body);
  REQUIRE(events.size() == 3);
  CHECK(events[0]["type"] == "ADDED");
  CHECK(events[1]["type"] == "MODIFIED");
  CHECK(events[1]["object"]["data"]["k"] == "w");
  CHECK(events[2]["type"] == "DELETED");
  CHECK(std::stoull(events[2]["object"]["metadata"]["resourceVersion"].get<std::string>()) > std::stoull(rv_of(changed)));
}

TEST_CASE("HTTP: a watch from RV X sends exactly the changes after X") {
  sim_process sim;
  auto a = send(sim.port(), "POST", cms, config_map("a"));
  auto b = send(sim.port(), "POST", cms, config_map("b"));
  REQUIRE(send(sim.port(), "POST", "/api/v1/namespaces/default/secrets", R"({"metadata":{"name":"s"}})").status == 201);
  auto result = send(sim.port(), "GET", cms + "?watch=true&resourceVersion=" + rv_of(a) + "&timeoutSeconds=1");
  auto events = lines_of(result.body);
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "ADDED");
  CHECK(events[0]["object"]["metadata"]["name"] == "b");
}

TEST_CASE("HTTP: a watch from a compacted RV gets one in-band 410 ERROR and ends") {
  sim_process sim({"--history", "2"});
  auto a = send(sim.port(), "POST", cms, config_map("a"));
  for (auto n : {"b", "c", "d"}) REQUIRE(send(sim.port(), "POST", cms, config_map(n)).status == 201);
  auto result = send(sim.port(), "GET", cms + "?watch=1&resourceVersion=" + rv_of(a) + "&timeoutSeconds=5");
  CHECK(result.status == 200);
  CHECK(result.complete);
  auto events = lines_of(result.body);
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "ERROR");
  CHECK(events[0]["object"]["kind"] == "Status");
  CHECK(events[0]["object"]["code"] == 410);
  CHECK(events[0]["object"]["reason"] == "Expired");
  CHECK(events[0]["object"]["message"].get<std::string>().starts_with("too old resource version: " + rv_of(a)));
}

TEST_CASE("HTTP: bookmarks carry only kind, apiVersion and the resourceVersion") {
  sim_process sim({"--bookmark-interval-ms", "200"});
  auto result = send(sim.port(), "GET", cms + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=1");
  auto events = lines_of(result.body);
  REQUIRE(events.size() >= 2);
  CHECK(events[0]["type"] == "BOOKMARK");
  CHECK(events[0]["object"]["kind"] == "ConfigMap");
  CHECK(events[0]["object"]["metadata"].size() == 1);
  CHECK(events[0]["object"]["metadata"]["resourceVersion"] == send(sim.port(), "GET", cms).json()["metadata"]["resourceVersion"]);
}

TEST_CASE("HTTP: watch-list needs resourceVersionMatch=NotOlderThan and ends its initial events with a bookmark") {
  sim_process sim;
  REQUIRE(send(sim.port(), "POST", cms, config_map("a")).status == 201);
  auto refused = send(sim.port(), "GET", cms + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true");
  CHECK(refused.status == 422);
  CHECK(refused.json()["reason"] == "Invalid");
  CHECK(send(sim.port(), "GET", cms + "?watch=1&resourceVersionMatch=NotOlderThan").status == 422);
  auto result = send(sim.port(), "GET",
                     cms +
                         "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                         "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1");
  auto events = lines_of(result.body);
  REQUIRE(events.size() >= 2);
  CHECK(events[0]["type"] == "ADDED");
  CHECK(events[1]["type"] == "BOOKMARK");
  CHECK(events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true");
  auto without = send(sim.port(), "GET",
                      cms +
                          "?watch=1&sendInitialEvents=false&allowWatchBookmarks=true"
                          "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1");
  for (const auto& e : lines_of(without.body)) CHECK(e["type"] == "BOOKMARK");
}

TEST_CASE("HTTP: selectors filter lists and watches") {
  sim_process sim;
  REQUIRE(send(sim.port(), "POST", cms, R"({"metadata":{"name":"a","labels":{"app":"quay"}}})").status == 201);
  REQUIRE(send(sim.port(), "POST", cms, R"({"metadata":{"name":"b","labels":{"app":"other"}}})").status == 201);
  CHECK(send(sim.port(), "GET", cms + "?labelSelector=app%3Dquay").json()["items"].size() == 1);
  CHECK(send(sim.port(), "GET", cms + "?labelSelector=app+in+(quay,other)").json()["items"].size() == 2);
  CHECK(send(sim.port(), "GET", cms + "?fieldSelector=metadata.name%3Db").json()["items"][0]["metadata"]["name"] == "b");
  CHECK(send(sim.port(), "GET", cms + "?labelSelector=app+in+quay").status == 400);
  auto watch = watch_async(sim.port(), cms + "?watch=1&labelSelector=app%3Dquay&timeoutSeconds=1");
  // b starts matching: for this watch it is ADDED, not MODIFIED.
  REQUIRE(
      send(sim.port(), "PATCH", cms + "/b", R"({"metadata":{"labels":{"app":"quay"}}})", "application/merge-patch+json").status ==
      200);
  auto events = lines_of(watch.get().body);
  REQUIRE(events.size() == 2);
  CHECK(events[0]["object"]["metadata"]["name"] == "a");
  CHECK(events[1]["type"] == "ADDED");
  CHECK(events[1]["object"]["metadata"]["name"] == "b");
}

TEST_CASE("HTTP: PUT conflicts, custom resources and the status subresource") {
  sim_process sim;
  auto made = send(sim.port(), "POST", cms, config_map("a"));
  auto stale = made.json();
  REQUIRE(send(sim.port(), "PUT", cms + "/a", config_map("a", "2")).status == 200);  // no RV: unconditional
  stale["data"]["k"] = "3";
  auto conflict = send(sim.port(), "PUT", cms + "/a", stale.dump());
  CHECK(conflict.status == 409);
  CHECK(conflict.json()["reason"] == "Conflict");

  const std::string quay = "/apis/quay.redhat.com/v1/namespaces/default/quayregistries";
  auto r = send(
      sim.port(), "POST", quay,
      R"({"apiVersion":"quay.redhat.com/v1","kind":"QuayRegistry","metadata":{"name":"r"},"spec":{"x":1},"status":{"ignored":true}})");
  REQUIRE(r.status == 201);
  CHECK(!r.json().contains("status"));
  CHECK(send(sim.port(), "PUT", quay + "/r", R"({"metadata":{"name":"r"},"spec":{"x":2}})").status == 422);
  CHECK(send(sim.port(), "PATCH", quay + "/r", R"({"spec":{"x":2}})", "application/strategic-merge-patch+json").status == 415);
  CHECK(send(sim.port(), "PATCH", quay + "/r", R"({"spec":{"x":2}})", "text/plain").status == 415);
  auto status = send(sim.port(), "PATCH", quay + "/r/status", R"({"status":{"phase":"Upgrading"},"spec":{"x":9}})",
                     "application/merge-patch+json");
  REQUIRE(status.status == 200);
  CHECK(status.json()["status"]["phase"] == "Upgrading");
  CHECK(status.json()["spec"]["x"] == 1);
  CHECK(status.json()["metadata"]["generation"] == 1);
  auto spec =
      send(sim.port(), "PATCH", quay + "/r", R"([{"op":"replace","path":"/spec/x","value":5}])", "application/json-patch+json");
  REQUIRE(spec.status == 200);
  CHECK(spec.json()["metadata"]["generation"] == 2);
  CHECK(spec.json()["status"]["phase"] == "Upgrading");
}

TEST_CASE("HTTP: server-side apply needs fieldManager, then creates (201) and merges") {
  sim_process sim;
  const std::string yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: \"1\"\n";
  CHECK(send(sim.port(), "PATCH", cms + "/a", yaml, "application/apply-patch+yaml").status == 400);
  auto created = send(sim.port(), "PATCH", cms + "/a?fieldManager=test", yaml, "application/apply-patch+yaml");
  CHECK(created.status == 201);
  CHECK(created.json()["data"]["k"] == "1");
}

TEST_CASE("HTTP: deletion waits for finalizers and answers 202 meanwhile") {
  sim_process sim;
  REQUIRE(send(sim.port(), "POST", cms, R"({"metadata":{"name":"a","finalizers":["x/y"]}})").status == 201);
  auto marked = send(sim.port(), "DELETE", cms + "/a");
  CHECK(marked.status == 202);
  CHECK(marked.json()["metadata"].contains("deletionTimestamp"));
  CHECK(send(sim.port(), "GET", cms + "/a").status == 200);
  REQUIRE(send(sim.port(), "PATCH", cms + "/a", R"({"metadata":{"finalizers":null}})", "application/merge-patch+json").status ==
          200);
  CHECK(send(sim.port(), "GET", cms + "/a").status == 404);
}

TEST_CASE("HTTP: fault knobs: failing requests with 429 and Retry-After, then 500") {
  sim_process sim({"--fail-next", "1"});
  auto first = send(sim.port(), "GET", cms);
  CHECK(first.status == 429);
  CHECK(first.retry_after == "1");
  CHECK(first.json()["reason"] == "TooManyRequests");
  CHECK(send(sim.port(), "GET", cms).status == 200);
  REQUIRE(send(sim.port(), "POST", "/_sim/faults", R"({"failNext":2,"failCode":500})").status == 200);
  CHECK(send(sim.port(), "GET", cms).status == 500);
  CHECK(send(sim.port(), "GET", cms).status == 500);
  CHECK(send(sim.port(), "GET", cms).status == 200);
  CHECK(send(sim.port(), "POST", "/_sim/faults", R"({"failNxt":1})").status == 400);
  REQUIRE(send(sim.port(), "POST", "/_sim/faults", R"({"failRate":1.0,"failCode":429})").status == 200);
  CHECK(send(sim.port(), "GET", cms).status == 429);
  CHECK(send(sim.port(), "GET", "/version").status == 200);  // discovery is never failed
}

TEST_CASE("HTTP: fault knobs: dropped watch streams, tiny chunks and delayed events") {
  sim_process sim;
  for (auto n : {"a", "b", "c"}) REQUIRE(send(sim.port(), "POST", cms, config_map(n)).status == 201);
  REQUIRE(send(sim.port(), "POST", "/_sim/faults", R"({"dropWatchAfterEvents":2})").status == 200);
  auto dropped = send(sim.port(), "GET", cms + "?watch=1&timeoutSeconds=5");
  CHECK(!dropped.complete);
  CHECK(lines_of(dropped.body).size() == 2);

  REQUIRE(send(sim.port(), "POST", "/_sim/faults", R"({"dropWatchAfterEvents":0,"chunkBytes":3,"eventDelayMs":100})").status ==
          200);
  auto split = send(sim.port(), "GET", cms + "?watch=1&timeoutSeconds=1", {}, "application/json", "watcher/1");
  CHECK(split.complete);
  auto events = lines_of(split.body);  // the parser reassembled the 3-byte chunks
  REQUIRE(events.size() == 3);
  CHECK(events[2]["object"]["metadata"]["name"] == "c");
  // No clock: kube-sim counts what it did to this client's stream (each event held back and cut).
  const auto counts = send(sim.port(), "GET", "/_sim/fault-counts").json()["clients"];
  CHECK(counts["watcher/1"]["delayedEvents"] == 3);
  CHECK(counts["watcher/1"]["chunkedEvents"] == 3);
  CHECK(counts["watcher/1"]["droppedWatches"] == 0);
  CHECK(counts[""]["droppedWatches"] == 1);  // the first watch, which sent no User-Agent
}

TEST_CASE("HTTP: faults are counted per client (User-Agent), and failClient aims them at one") {
  sim_process sim;
  const auto get = [&](const std::string& agent, const std::string& target) {
    return send(sim.port(), "GET", target, {}, "application/json", agent).status;
  };
  REQUIRE(send(sim.port(), "POST", "/_sim/faults", R"({"failNext":2,"failCode":503,"failClient":"controller/"})").status == 200);
  CHECK(get("harness/1", cms) == 200);  // not aimed at: served, and the burst is not used up
  CHECK(get("controller/2", cms) == 503);
  CHECK(get("controller/2", "/api/v1/namespaces/default/pods") == 503);
  CHECK(get("controller/2", cms) == 200);
  CHECK(send(sim.port(), "POST", "/_sim/faults", R"({"failClient":7})").status == 400);
  const auto counts = send(sim.port(), "GET", "/_sim/fault-counts").json()["clients"];
  CHECK_FALSE(counts.contains("harness/1"));
  CHECK(counts["controller/2"]["failedRequests"] == 2);
  CHECK(counts["controller/2"]["failedByCode"] == nlohmann::json{{"503", 2}});
  CHECK(counts["controller/2"]["failedByResource"] == nlohmann::json{{"configmaps", 1}, {"pods", 1}});
}

TEST_CASE("HTTP: failRequest aims faults at one object's requests, and 403 refuses them for good") {
  sim_process sim;
  REQUIRE(send(sim.port(), "POST", cms, config_map("a")).status == 201);
  REQUIRE(send(sim.port(), "POST", cms, config_map("b")).status == 201);
  REQUIRE(send(sim.port(), "POST", "/_sim/faults", R"({"failRate":1,"failCode":403,"failRequest":"PATCH )" + cms + R"(/b"})")
              .status == 200);
  const std::string merge = "application/merge-patch+json";
  CHECK(send(sim.port(), "PATCH", cms + "/a", R"({"data":{"k":"1"}})", merge).status == 200);
  const auto refused = send(sim.port(), "PATCH", cms + "/b", R"({"data":{"k":"1"}})", merge);
  CHECK(refused.status == 403);
  CHECK(refused.json()["reason"] == "Forbidden");
  CHECK(send(sim.port(), "PATCH", cms + "/b", R"({"data":{"k":"2"}})", merge).status == 403);  // every time
  CHECK(send(sim.port(), "GET", cms + "/b").status == 200);  // another method on the same object is served
  CHECK(send(sim.port(), "POST", "/_sim/faults", R"({"failRequest":1})").status == 400);
  CHECK(send(sim.port(), "POST", "/_sim/faults", R"({"failCode":401})").status == 400);
  REQUIRE(send(sim.port(), "POST", "/_sim/faults", R"({"failRate":0,"failRequest":""})").status == 200);
  CHECK(send(sim.port(), "PATCH", cms + "/b", R"({"data":{"k":"3"}})", merge).status == 200);
}

TEST_CASE("HTTP: --record-watch writes every sent event as JSON Lines") {
  const auto dir = make_temp_dir();
  const auto file = dir / "watch.jsonl";
  {
    sim_process sim({"--record-watch", file.string()});
    REQUIRE(send(sim.port(), "POST", cms, config_map("a")).status == 201);
    REQUIRE(lines_of(send(sim.port(), "GET", cms + "?watch=1&timeoutSeconds=1").body).size() == 1);
  }
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto recorded = lines_of(text.str());
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0]["path"] == cms);
  CHECK(recorded[0]["event"]["type"] == "ADDED");
  std::filesystem::remove_all(dir);
}

TEST_CASE("HTTP: --state-dir keeps objects and the RV counter across a restart") {
  const auto state = make_temp_dir();
  std::string rv;
  {
    sim_process sim({"--state-dir", state.string()});
    auto made = send(sim.port(), "POST", cms, config_map("kept"));
    REQUIRE(made.status == 201);
    rv = rv_of(made);
  }
  {
    // Stopped before the folder is removed: a running kube-sim still writes into its runtime's
    // part of it (an ASan run saw remove_all fail with "Directory not empty").
    sim_process again({"--state-dir", state.string()});
    auto kept = send(again.port(), "GET", cms + "/kept");
    CHECK(kept.status == 200);
    CHECK(rv_of(kept) == rv);
    auto next = send(again.port(), "POST", cms, config_map("after"));
    CHECK(std::stoull(rv_of(next)) == std::stoull(rv) + 1);
    // The history did not survive: resuming from before the restart is a 410.
    auto events = lines_of(send(again.port(), "GET", cms + "?watch=1&resourceVersion=1&timeoutSeconds=1").body);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["object"]["code"] == 410);
  }
  std::filesystem::remove_all(state);
}

TEST_CASE("HTTP: --state-dir loses no answered write when kube-sim is killed") {
  // etcd keeps a write before the apiserver answers it. A controller that got its 201 and then
  // saw kube-sim killed must find the object after the restart (CI's sim-kill: a backup Job and a
  // status written just before a SIGKILL were gone, and the upgrade waited for a Job it had made).
  const auto state = make_temp_dir();
  std::vector<std::string> rvs;
  {
    sim_process sim({"--state-dir", state.string()});
    for (int i = 0; i < 20; ++i) {
      auto made = send(sim.port(), "POST", cms, config_map("answered-" + std::to_string(i)));
      REQUIRE(made.status == 201);
      rvs.push_back(rv_of(made));
    }
    REQUIRE(send(sim.port(), "DELETE", cms + "/answered-0").status == 200);
    sim.kill_now();  // well inside the snapshot's delay
  }
  {
    // A kill in the middle of a journal write tears its last line; that write was never answered.
    std::ofstream torn(state / "journal.jsonl", std::ios::app);
    torn << R"({"rv": 99, "type": "configmaps", "object": {"metadata": {"na)";
  }
  {
    sim_process again({"--state-dir", state.string()});
    CHECK(send(again.port(), "GET", cms + "/answered-0").status == 404);
    for (int i = 1; i < 20; ++i) {
      auto kept = send(again.port(), "GET", cms + "/answered-" + std::to_string(i));
      CHECK(kept.status == 200);
      CHECK(rv_of(kept) == rvs[static_cast<std::size_t>(i)]);
    }
    // The delete's revision was handed out too: the next write gets a newer one.
    auto next = send(again.port(), "POST", cms, config_map("after"));
    CHECK(std::stoull(rv_of(next)) == std::stoull(rvs.back()) + 2);
  }
  std::filesystem::remove_all(state);
}

TEST_CASE("HTTP: a POSTed CRD is served at once") {
  sim_process sim;
  auto crd = R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "metadata":{"name":"widgets.example.com"},
    "spec":{"group":"example.com","scope":"Namespaced","names":{"kind":"Widget","plural":"widgets"},
            "versions":[{"name":"v1alpha1","served":true,"storage":true}]}})";
  REQUIRE(send(sim.port(), "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status == 201);
  CHECK(send(sim.port(), "GET", "/apis/example.com/v1alpha1").status == 200);
  CHECK(
      send(sim.port(), "POST", "/apis/example.com/v1alpha1/namespaces/default/widgets", R"({"metadata":{"name":"w"}})").status ==
      201);
}
