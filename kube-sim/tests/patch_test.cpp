#include <catch2/catch.hpp>

#include "patch.hpp"
#include "yaml_json.hpp"

using namespace kube_sim;

TEST_CASE("content types select the patch flavour, anything else is 415") {
  CHECK(patch_kind_from_content_type("application/merge-patch+json") == patch_kind::merge);
  CHECK(patch_kind_from_content_type("application/strategic-merge-patch+json; charset=utf-8") == patch_kind::strategic);
  CHECK(patch_kind_from_content_type("application/json-patch+json") == patch_kind::json_patch);
  CHECK(patch_kind_from_content_type("application/apply-patch+yaml") == patch_kind::apply);
  CHECK(patch_kind_from_content_type("text/plain").error().code == 415);
}

TEST_CASE("strategic merge merges containers by name and keeps the others") {
  json live = R"({"spec":{"template":{"spec":{"containers":[
      {"name":"db","image":"pg:10","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
      {"name":"sidecar","image":"s:1"}]}}}})"_json;
  json patch = R"({"spec":{"template":{"spec":{"containers":[
      {"name":"db","image":"pg:15","env":[{"name":"B","value":"3"}]}]}}}})"_json;
  auto out = strategic_merge_patch(live, patch);
  const auto& containers = out["spec"]["template"]["spec"]["containers"];
  REQUIRE(containers.size() == 2);
  CHECK(containers[0]["image"] == "pg:15");
  CHECK(containers[0]["env"] == R"([{"name":"A","value":"1"},{"name":"B","value":"3"}])"_json);
  CHECK(containers[1]["name"] == "sidecar");
}

TEST_CASE("strategic merge honours $patch delete, $setElementOrder and finalizer sets") {
  json live = R"({"metadata":{"finalizers":["a"]},"spec":{"volumes":[{"name":"x"},{"name":"y"}]}})"_json;
  json patch = R"({"metadata":{"finalizers":["b"]},"spec":{"$setElementOrder/volumes":[{"name":"z"},{"name":"y"}],
                   "volumes":[{"name":"x","$patch":"delete"},{"name":"z","emptyDir":{}}]}})"_json;
  auto out = strategic_merge_patch(live, patch);
  CHECK(out["metadata"]["finalizers"] == R"(["a","b"])"_json);
  CHECK(out["spec"]["volumes"] == R"([{"name":"z","emptyDir":{}},{"name":"y"}])"_json);
}

TEST_CASE("merge patch deletes with null and replaces lists") {
  auto out = merge_patch(R"({"a":{"b":1,"c":2},"l":[1,2]})"_json, R"({"a":{"b":null},"l":[3]})"_json);
  CHECK(out == R"({"a":{"c":2},"l":[3]})"_json);
}

TEST_CASE("a failing json patch test is 422") {
  auto bad = json_patch(R"({"a":1})"_json, R"([{"op":"test","path":"/a","value":2}])"_json);
  REQUIRE(!bad);
  CHECK(bad.error().code == 422);
  auto good = json_patch(R"({"a":1})"_json, R"([{"op":"replace","path":"/a","value":2}])"_json);
  REQUIRE(good);
  CHECK(*good == R"({"a":2})"_json);
}

TEST_CASE("YAML scalars get YAML types, quoted ones stay strings") {
  auto out = yaml_to_json("a: 1\nb: \"1\"\nc: true\nd: ~\ne: text\nf: [1.5, x]\n");
  REQUIRE(out);
  CHECK(*out == R"({"a":1,"b":"1","c":true,"d":null,"e":"text","f":[1.5,"x"]})"_json);
}

TEST_CASE("answers in YAML read back as the JSON they came from") {
  // Strings that would read as other scalars, YAML's own punctuation, text over several lines.
  const auto object = R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cfg","labels":{}},
    "data":{"n":"1","f":"1.5","t":"true","no":"False","empty":"","null":"null","tilde":"~","colon":"a: b",
            "dash":"- x","hash":"# not a comment","quote":"say \"hi\"","lines":"one\ntwo\n","space":" lead"},
    "list":[1,-2.5,true,null,[],{}],"big":9007199254740993})"_json;
  const auto text = json_to_yaml(object);
  CHECK(text.find("kind: ConfigMap") != std::string::npos);
  CHECK(text.find("\"1\"") != std::string::npos);  // quoted, or it would read back as a number
  auto back = yaml_to_json(text);
  REQUIRE(back);
  CHECK(*back == object);
}
