// Secrets never reach the event log (issue 19, item 1): literal env values and the last-applied
// annotation are replaced by keyed tokens before a line is decoded and logged; what the reducers
// read is kept.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <thread>
#include <vector>

#include "watch/redact.hpp"
#include "watch/stream_decoder.hpp"

using namespace qpu::watch;
using json = nlohmann::json;

namespace {

const std::string password = "s3cr3t-Pa55word!";

// A database Deployment as `kubectl apply` leaves it: literal passwords in its env, the whole
// applied object (with the passwords again) in the last-applied annotation.
json database_deployment() {
  json env = json::array({{{"name", "POSTGRESQL_USER"}, {"value", "quayuser"}},
                          {{"name", "POSTGRESQL_PASSWORD"}, {"value", password}},
                          {{"name", "POSTGRESQL_DATABASE"}, {"value", "quay"}},
                          {{"name", "POSTGRESQL_ADMIN_PASSWORD"}, {"value", password + "-admin"}},
                          {{"name", "POSTGRESQL_SHARED_BUFFERS"}, {"value", "256MB"}},
                          {{"name", "OTHER"}, {"valueFrom", {{"secretKeyRef", {{"name", "s"}, {"key", "k"}}}}}}});
  json container = {{"name", "postgres"},
                    {"image", "quay.io/sclorg/postgresql-10-c8s:latest"},
                    {"env", env},
                    {"volumeMounts", json::array({{{"name", "data"}, {"mountPath", "/var/lib/pgsql/data"}}})}};
  json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata",
             {{"name", "registry-quay-database"},
              {"namespace", "quay"},
              {"uid", "u-1"},
              {"resourceVersion", "7"},
              {"labels", {{"quay-component", "postgres"}}},
              {"annotations", {{"deployment.kubernetes.io/revision", "1"}}}}},
            {"spec",
             {{"replicas", 1},
              {"template",
               {{"spec",
                 {{"containers", json::array({container})},
                  {"volumes",
                   json::array({{{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "registry-quay-database"}}}}})}}}}}}},
            {"status", {{"replicas", 1}, {"readyReplicas", 1}}}};
  d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = d.dump();
  return d;
}

const redactor keyed(std::string(32, 'k'));

}  // namespace

TEST_CASE("literal env values and the last-applied annotation are replaced by keyed tokens", "[decode]") {
  const std::string text = database_deployment().dump();
  REQUIRE(text.find(password) != std::string::npos);
  const auto out = keyed.json(text);
  REQUIRE(out.has_value());
  CHECK(out->find(password) == std::string::npos);
  const json r = json::parse(*out);
  const auto& env = r["spec"]["template"]["spec"]["containers"][0]["env"];
  CHECK(env[0]["value"] == "quayuser");  // kept: the reducers read it, and it is no secret
  CHECK(env[1]["value"] == keyed.token(password));
  CHECK(env[2]["value"] == "quay");
  CHECK(env[3]["value"] == keyed.token(password + "-admin"));
  CHECK(env[4]["value"] == keyed.token("256MB"));  // every other literal, whatever its name
  CHECK(env[5]["valueFrom"]["secretKeyRef"]["name"] == "s");  // references are no secret
  const auto& annotations = r["metadata"]["annotations"];
  CHECK(annotations["kubectl.kubernetes.io/last-applied-configuration"].get<std::string>().starts_with("qpu-redacted:"));
  CHECK(annotations["deployment.kubernetes.io/revision"] == "1");
  // Everything else is as it was, in the same order.
  json expected = database_deployment();
  expected["spec"]["template"]["spec"]["containers"][0]["env"] = env;
  expected["metadata"]["annotations"] = annotations;
  CHECK(r == expected);
  // The text keeps its keys' order and spacing-free form, whatever the order (here, not sorted).
  CHECK(keyed.json(R"({"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"name":"c","env":[{"value":"x","name":"P"}]}]}})") ==
        R"({"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"name":"c","env":[{"value":")" + keyed.token("x") +
            R"(","name":"P"}]}]}})");
}

TEST_CASE("a token is stable under its key, differs between values and keys, and is its own token", "[decode]") {
  const auto t = keyed.token(password);
  CHECK(t.size() == std::string(redacted_prefix).size() + 32);
  CHECK(t == keyed.token(password));
  CHECK(t != keyed.token(password + "x"));
  CHECK(t != redactor(std::string(32, 'j')).token(password));
  CHECK(keyed.token(t) == t);  // a redacted line redacted again is unchanged
  const std::string once = *keyed.json(database_deployment().dump());
  CHECK_FALSE(keyed.json(once).has_value());
}

TEST_CASE("a line with nothing to redact is left to be logged verbatim", "[decode]") {
  json d = database_deployment();
  d["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
  for (auto& e : d["spec"]["template"]["spec"]["containers"][0]["env"])
    if (e["name"] != "POSTGRESQL_USER" && e["name"] != "POSTGRESQL_DATABASE") e.erase("value");
  CHECK_FALSE(keyed.json(d.dump()).has_value());
  CHECK_FALSE(keyed.json(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})").has_value());
  CHECK_FALSE(keyed.json("not json \"env\"").has_value());
}

TEST_CASE("text that is not JSON has every value after a value key replaced", "[decode]") {
  const std::string line = R"({"type":"ADDED","object":{"env":[{"name":"POSTGRESQL_PASSWORD","value" : ")" + password +
                           R"(\"q"}],"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"a\":)" +
                           password + R"("}},"spec":{"replicas":)";
  const auto out = keyed.text(line);
  CHECK(out.find(password) == std::string::npos);
  CHECK(out.find(R"("value" : ")" + keyed.token(password + R"(\"q)") + "\"") != std::string::npos);
  CHECK(out.ends_with(R"("spec":{"replicas":)"));
  // A string cut off by the end of the text is replaced to its end.
  const auto cut = keyed.text(R"({"env":[{"name":"X","value":")" + password);
  CHECK(cut == R"({"env":[{"name":"X","value":")" + keyed.token(password));
  // Valid JSON goes through the JSON rules (the names kept are kept).
  CHECK(keyed.text(database_deployment().dump()).find("\"quayuser\"") != std::string::npos);
}

TEST_CASE("the stream decoder decodes and hands on the redacted line, the reducers' fields intact", "[decode]") {
  qpu::json_decoder dec;
  stream_decoder sd(qpu::resource_kind::deployment, dec, qpu::max_line_bytes, 0, &keyed);
  const std::string body = json{{"type", "ADDED"}, {"object", database_deployment()}}.dump() + "\n" +
                           R"({"type":"MODIFIED","object":{"kind":"Deployment","spec":[{"env":[{"name":"P","value":")" +
                           password + "\"}]}]}}\n";
  std::vector<std::string> raw;
  std::vector<qpu::event> events;
  sd.feed(body, [&](const watch_input& in) {
    raw.emplace_back(in.raw);
    events.push_back(in.body);
    return true;
  });
  REQUIRE(raw.size() == 2);
  CHECK(raw[0].find(password) == std::string::npos);
  const auto* oe = std::get_if<qpu::object_event>(&events[0]);
  REQUIRE(oe != nullptr);
  const auto& d = std::get<qpu::deployment>(oe->object);
  CHECK(d.credentials->user.value == "quayuser");
  CHECK(d.credentials->database.value == "quay");
  CHECK(d.credentials->password.value == keyed.token(password));  // known to be a literal, never what it is
  CHECK(d.data_claim == "registry-quay-database");
  // A line the decoder rejects is logged as text, redacted all the same.
  CHECK(std::holds_alternative<qpu::malformed_input>(events[1]));
  CHECK(raw[1].find(password) == std::string::npos);
  CHECK(raw[1].find(keyed.token(password)) != std::string::npos);
}

TEST_CASE("the key file is made once, private, and read back", "[decode]") {
  const auto dir = std::filesystem::temp_directory_path() / ("qpu-redact-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "events.jsonl.key").string();
  auto made = redactor::from_key_file(path);
  REQUIRE(made.has_value());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(st.st_size == 32);
  auto again = redactor::from_key_file(path);
  REQUIRE(again.has_value());
  CHECK(again->token(password) == made->token(password));  // a restart keeps the tokens
  // Two processes making it at once (leader election on a shared claim) end with one key.
  const auto shared = (dir / "shared.key").string();
  std::vector<std::string> tokens(8);
  {
    std::vector<std::thread> makers;
    for (std::size_t i = 0; i < tokens.size(); ++i)
      makers.emplace_back([&, i] {
        auto r = redactor::from_key_file(shared);
        tokens[i] = r ? r->token(password) : "error: " + r.error();
      });
    for (auto& t : makers) t.join();
  }
  for (const auto& t : tokens) CHECK(t == tokens[0]);
  CHECK(tokens[0].starts_with("qpu-redacted:"));
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}) == 2);  // no leftovers
  std::ofstream(dir / "short.key") << "abc";
  auto bad = redactor::from_key_file((dir / "short.key").string());
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().find("fewer than 16") != std::string::npos);
  std::filesystem::remove_all(dir);
}
