// Request targets, error decoding and list pages: the wire formats the client relies on.
#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "kube/api_error.hpp"
#include "kube/http_client.hpp"
#include "watch/list_page.hpp"
#include "kube/resource_url.hpp"

using namespace qpu::watch;
using namespace qpu::kube;
using namespace qpu::watch::testing;

TEST_CASE("targets for core and grouped resources, namespaced or not, with subresources", "[wire]") {
  CHECK(target(path_of(qpu::resource_kind::pod, "quay")) == "/api/v1/namespaces/quay/pods");
  CHECK(target(path_of(qpu::resource_kind::claim)) == "/api/v1/persistentvolumeclaims");
  CHECK(target(path_of(qpu::resource_kind::job, "q", "backup")) == "/apis/batch/v1/namespaces/q/jobs/backup");
  CHECK(target(path_of(qpu::resource_kind::deployment, "q", "db")) == "/apis/apps/v1/namespaces/q/deployments/db");
  auto reg = path_of(qpu::resource_kind::quay_registry, "q", "r");
  reg.subresource = "status";
  CHECK(target(reg) == "/apis/quay.redhat.com/v1/namespaces/q/quayregistries/r/status");
}

TEST_CASE("query values are percent-encoded", "[wire]") {
  CHECK(percent_encode("a=b,c!=d e/f") == "a%3Db%2Cc%21%3Dd%20e%2Ff");
  CHECK(percent_encode("Az09-._~") == "Az09-._~");
  auto t = target(path_of(qpu::resource_kind::job, "q"),
                  {{"labelSelector", "quay-component=postgres,app!=x"}, {"continue", "eyJ+/="}});
  CHECK(t == "/apis/batch/v1/namespaces/q/jobs?labelSelector=quay-component%3Dpostgres%2Capp%21%3Dx&continue=eyJ%2B%2F%3D");
}

TEST_CASE("Status bodies decode into typed errors", "[wire]") {
  auto exists = error_from_response(
      409,
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"jobs.batch \"x\" already exists","reason":"AlreadyExists","code":409})");
  CHECK(exists.kind == api_error_kind::already_exists);
  CHECK(exists.reason == "AlreadyExists");
  CHECK(exists.message == "jobs.batch \"x\" already exists");
  CHECK(describe(exists) == "409 AlreadyExists: jobs.batch \"x\" already exists");
  CHECK(error_from_response(409, R"({"kind":"Status","reason":"Conflict"})").kind == api_error_kind::conflict);
  CHECK(error_from_response(404, "{}").kind == api_error_kind::not_found);
  CHECK(error_from_response(422, "").kind == api_error_kind::invalid);
  CHECK(error_from_response(410, "").kind == api_error_kind::expired);
  CHECK(error_from_response(401, "").kind == api_error_kind::unauthorized);
  CHECK(error_from_response(403, "").kind == api_error_kind::forbidden);
  CHECK(error_from_response(400, "").kind == api_error_kind::bad_request);
  CHECK(error_from_response(415, "").kind == api_error_kind::unsupported_media_type);
  CHECK(error_from_response(503, "upstream down").kind == api_error_kind::server_error);
  CHECK(error_from_response(503, "upstream down").message == "upstream down");
  auto throttled = error_from_response(429, "", "7");
  CHECK(throttled.kind == api_error_kind::too_many_requests);
  CHECK(throttled.retry_after == std::chrono::seconds(7));
  CHECK(throttled.transient());
  CHECK_FALSE(exists.transient());
}

TEST_CASE("a list page yields its RV, continue token and each item's raw JSON", "[wire]") {
  auto page = parse_list_page(job_list("77", {job_json("a", "5", "q", false), job_json("b", "6", "q", false)}, "next"));
  REQUIRE(page);
  CHECK(page->rv == "77");
  CHECK(page->continue_token == "next");
  REQUIRE(page->items.size() == 2);
  CHECK(page->items[0] == job_json("a", "5", "q", false));
  CHECK(page->items[1] == job_json("b", "6", "q", false));
  auto empty = parse_list_page(R"({"kind":"JobList","metadata":{"resourceVersion":"3"},"items":null})");
  REQUIRE(empty);
  CHECK(empty->items.empty());
  CHECK_FALSE(parse_list_page("{\"items\":[]}"));
  CHECK_FALSE(parse_list_page("not json"));
}

TEST_CASE("server URLs: scheme, host, port, IPv6, path prefix", "[wire]") {
  auto a = parse_server("https://k8s.example.com:6443");
  REQUIRE(a);
  CHECK(a->tls);
  CHECK(a->host == "k8s.example.com");
  CHECK(a->port == "6443");
  auto b = parse_server("http://[::1]/prefix/");
  REQUIRE(b);
  CHECK_FALSE(b->tls);
  CHECK(b->host == "::1");
  CHECK(b->port == "80");
  CHECK(b->base_path == "/prefix");
  CHECK(parse_server("https://h")->port == "443");
  CHECK_FALSE(parse_server("ftp://h"));
  CHECK(is_loopback("127.0.0.1"));
  CHECK(is_loopback("localhost"));
  CHECK(is_loopback("::1"));
  CHECK_FALSE(is_loopback("10.0.0.1"));
}
