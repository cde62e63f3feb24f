#include <catch2/catch.hpp>

#include "image_map.hpp"
#include "quantity.hpp"

using namespace kube_sim::runtime;

namespace {
const image_map& shipped() {
  static const image_map map = *image_map::load(std::filesystem::path(KUBE_SIM_SOURCE_DIR) / "images" / "image-map.json", "/pg");
  return map;
}
}  // namespace

TEST_CASE("image references normalise as Docker does") {
  CHECK(parse_image_ref("postgres:14") == image_ref{"docker.io/library/postgres", "14", ""});
  CHECK(parse_image_ref("centos/postgresql-10-centos7@sha256:abc") ==
        image_ref{"docker.io/centos/postgresql-10-centos7", "", "sha256:abc"});
  CHECK(parse_image_ref("quay.io/sclorg/postgresql-13-c9s:latest") ==
        image_ref{"quay.io/sclorg/postgresql-13-c9s", "latest", ""});
  CHECK(parse_image_ref("localhost:5000/x/y:1@sha256:d").repository == "localhost:5000/x/y");
}

TEST_CASE("the shipped image map matches by repository, ignoring tag and digest") {
  const auto pg10 =
      shipped().resolve("centos/postgresql-10-centos7@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  REQUIRE(pg10);
  CHECK(pg10->env.at("PG_SERVER_BINDIR") == "/pg/10/bin");
  CHECK(pg10->env.at("PG_CLIENT_BINDIR") == "/pg/15/bin");
  CHECK(pg10->cmd == std::vector<std::string>{"run-postgresql"});
  CHECK(shipped().resolve("quay.io/sclorg/postgresql-10-c8s:1-100")->env.at("PG_MAJOR") == "10");
  CHECK(shipped().resolve("quay.io/sclorg/postgresql-13-c9s")->env.at("PG_MAJOR") == "13");
  CHECK(shipped().resolve("quay.io/sclorg/postgresql-15-c9s:latest")->env.at("PG_MAJOR") == "15");
  CHECK(shipped().resolve("docker.io/library/postgres:15.4")->env.at("PG_MAJOR") == "15");
}

TEST_CASE("postgres:14 is the 14 server with 15's client tools after it on PATH") {
  const auto pg14 = shipped().resolve("postgres:14.5-alpine");
  REQUIRE(pg14);
  CHECK(pg14->env.at("PG_SERVER_BINDIR") == "/pg/14/bin");
  const auto& path = pg14->path;
  const auto at14 = std::find(path.begin(), path.end(), "/pg/14/bin");
  const auto at15 = std::find(path.begin(), path.end(), "/pg/15/bin");
  CHECK(at14 < at15);
  CHECK(at15 != path.end());
  CHECK_FALSE(shipped().resolve("postgres:140"));
}

TEST_CASE("the upgrade image exposes both bin dirs") {
  const auto up = shipped().resolve("quay.io/quay-pg-upgrader/pg-upgrade:13-15");
  REQUIRE(up);
  CHECK(up->env.at("PG_OLD_BINDIR") == "/pg/13/bin");
  CHECK(up->env.at("PG_NEW_BINDIR") == "/pg/15/bin");
}

TEST_CASE("an unknown image is an ErrImagePull naming the repository") {
  const auto none = shipped().resolve("example.com/nothing/here:1");
  REQUIRE_FALSE(none);
  CHECK(none.error().reason == "ErrImagePull");
  CHECK_THAT(none.error().message, Catch::Contains("example.com/nothing/here"));
  CHECK_FALSE(shipped().resolve("postgres"));  // Docker Hub's postgres says its major only in the tag
}

TEST_CASE("storage quantities parse to bytes") {
  CHECK(parse_quantity_bytes("1Gi") == 1073741824u);
  CHECK(parse_quantity_bytes("500M") == 500000000u);
  CHECK(parse_quantity_bytes("1.5Ki") == 1536u);
  CHECK(parse_quantity_bytes("1e3") == 1000u);
  CHECK(parse_quantity_bytes("42") == 42u);
  CHECK_FALSE(parse_quantity_bytes("10Qi"));
  CHECK_FALSE(parse_quantity_bytes("Gi"));
}
