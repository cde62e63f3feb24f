// The apiserver's content negotiation as kube-sim does it: the Accept headers real clients send,
// and the edges (q, wildcards, parameters that ask for what kube-sim does not serve).
#include <catch2/catch.hpp>

#include "negotiation.hpp"

using kube_sim::acceptable_media_types;
using kube_sim::media_type;
using types = std::vector<media_type>;

namespace {

types accepted(std::string_view accept, bool protobuf_offered = true, bool streaming = false) {
  const auto r = acceptable_media_types(accept, protobuf_offered, streaming);
  REQUIRE(r);
  return *r;
}

std::string refused(std::string_view accept, bool protobuf_offered = true, bool streaming = false) {
  const auto r = acceptable_media_types(accept, protobuf_offered, streaming);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == 406);
  CHECK(r.error().reason == "NotAcceptable");
  return r.error().message;
}

}  // namespace

TEST_CASE("kubectl's typed commands get protobuf where the kind has a message, JSON where not", "[negotiation]") {
  CHECK(accepted("application/vnd.kubernetes.protobuf,application/json") == types{media_type::protobuf, media_type::json});
  CHECK(accepted("application/vnd.kubernetes.protobuf,application/json", false) == types{media_type::json});
  CHECK(accepted("application/vnd.kubernetes.protobuf, application/json;q=0.9") == types{media_type::protobuf, media_type::json});
  CHECK(accepted("application/json;q=0.5, application/vnd.kubernetes.protobuf") == types{media_type::protobuf, media_type::json});
}

TEST_CASE("kubectl get's Table clauses are skipped (no server-side tables), its plain JSON is taken", "[negotiation]") {
  CHECK(accepted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json") ==
        types{media_type::json});
  CHECK_THAT(refused("application/json;as=Table;v=v1;g=meta.k8s.io"),
             Catch::Equals("only the following media types are accepted: application/json, application/yaml, "
                           "application/vnd.kubernetes.protobuf"));
}

TEST_CASE("wildcards and no header mean JSON first; q=0 refuses a type", "[negotiation]") {
  CHECK(accepted("") == types{media_type::json});
  CHECK(accepted("*/*").front() == media_type::json);
  CHECK(accepted("application/*").front() == media_type::json);
  CHECK(accepted("application/json, */*") == types{media_type::json, media_type::yaml, media_type::protobuf});
  CHECK(accepted("application/json;q=0, */*") == types{media_type::yaml, media_type::protobuf});
  CHECK(accepted(" APPLICATION/JSON ; charset=utf-8") == types{media_type::json});
}

TEST_CASE("protobuf alone for a kind without a message, or text, is 406 naming what is served", "[negotiation]") {
  CHECK_THAT(refused("application/vnd.kubernetes.protobuf", false),
             Catch::Equals("only the following media types are accepted: application/json, application/yaml"));
  // As the apiserver answers `Accept: text/plain` on pods/log.
  CHECK_THAT(refused("text/plain"), Catch::Contains("application/json"));
}

TEST_CASE("stream=watch is served, another stream or a server version is not", "[negotiation]") {
  CHECK(accepted("application/json;stream=watch") == types{media_type::json});
  CHECK(accepted("application/vnd.kubernetes.protobuf;stream=watch") == types{media_type::protobuf});
  refused("application/json;stream=other");
  refused("application/json;sv=v1");
}

TEST_CASE("YAML is served for single answers, not for watches (the apiserver streams JSON or protobuf)", "[negotiation]") {
  CHECK(accepted("application/yaml") == types{media_type::yaml});
  CHECK(accepted("application/yaml, application/json;q=0.5") == types{media_type::yaml, media_type::json});
  CHECK(accepted("application/yaml, application/json;q=0.5", true, true) == types{media_type::json});
  CHECK_THAT(refused("application/yaml", true, true),
             Catch::Equals("only the following media types are accepted: application/json, application/vnd.kubernetes.protobuf"));
  CHECK(accepted("*/*", true, true) == types{media_type::json, media_type::protobuf});
}
