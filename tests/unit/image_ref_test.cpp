#include <catch2/catch.hpp>

#include "core/image_ref.hpp"

using namespace qpu;

namespace {
const std::string digest = "sha256:" + std::string(64, 'a');
}

TEST_CASE("real image references parse into domain, path, tag and digest") {
  struct row {
    std::string text, domain, path, tag, digest;
  };
  const row rows[] = {
      {"centos/postgresql-10-centos7", "", "centos/postgresql-10-centos7", "", ""},
      {"quay.io/sclorg/postgresql-13-c9s", "quay.io", "sclorg/postgresql-13-c9s", "", ""},
      {"registry.redhat.io/rhel8/postgresql-13:1-109", "registry.redhat.io", "rhel8/postgresql-13", "1-109", ""},
      {"postgres:14.5-alpine", "", "postgres", "14.5-alpine", ""},
      {"postgres:10", "", "postgres", "10", ""},
      {"docker.io/library/postgres:latest", "docker.io", "postgres", "latest", ""},
      {"localhost:5000/postgres:12", "localhost:5000", "postgres", "12", ""},
      {"quay.io/sclorg/postgresql-15-c9s@" + digest, "quay.io", "sclorg/postgresql-15-c9s", "", digest},
      {"postgres@" + digest, "", "postgres", "", digest},
      {"centos/postgresql-10-centos7@" + digest, "", "centos/postgresql-10-centos7", "", digest},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    auto ref = parse_image_ref(r.text);
    REQUIRE(ref.has_value());
    CHECK(ref->domain == r.domain);
    CHECK(ref->path == r.path);
    CHECK(ref->tag == r.tag);
    CHECK(ref->digest == r.digest);
  }
}

TEST_CASE("the PostgreSQL major an image reference hints at") {
  struct row {
    std::string text;
    std::optional<pg_major> major;
  };
  const row rows[] = {
      {"centos/postgresql-10-centos7", pg_major::of(10)},
      {"quay.io/sclorg/postgresql-13-c9s", pg_major::of(13)},
      {"registry.redhat.io/rhel8/postgresql-13:1-109", pg_major::of(13)},  // the tag is a build number
      {"postgres:14.5-alpine", pg_major::of(14)},
      {"postgres:10", pg_major::of(10)},
      {"docker.io/library/postgres:latest", std::nullopt},
      {"localhost:5000/postgres:12", pg_major::of(12)},
      {"quay.io/sclorg/postgresql-15-c9s@" + digest, pg_major::of(15)},  // repository name carries it
      {"postgres@" + digest, std::nullopt},  // a digest carries no version
      {"centos/postgresql-96-centos7", pg_major{906}},
      {"postgres:9.6.24", pg_major{906}},
      {"quay.io/projectquay/quay:3.12", std::nullopt},
      {"postgres", std::nullopt},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    auto ref = parse_image_ref(r.text);
    REQUIRE(ref.has_value());
    CHECK(pg_major_hint(*ref) == r.major);
  }
}

TEST_CASE("invalid image references are refused with a reason") {
  for (const char* bad : {"", "Postgres:15", "postgres:", "postgres@sha256:abc", "quay.io/", "a//b", "postgres:-x", "pg sql"}) {
    INFO(bad);
    auto ref = parse_image_ref(bad);
    REQUIRE_FALSE(ref.has_value());
    CHECK_FALSE(ref.error().empty());
  }
}

TEST_CASE("where an image looks for its data: the sclorg layout, or the Docker library's PGDATA") {
  CHECK(data_directory_of("quay.io/sclorg/postgresql-15-c9s", "") == "/var/lib/pgsql/data/userdata");
  CHECK(data_directory_of("centos/postgresql-10-centos7", "/elsewhere") == "/var/lib/pgsql/data/userdata");  // its scripts set it
  CHECK(data_directory_of("postgres:14", "") == "/var/lib/postgresql/data");
  CHECK(data_directory_of("docker.io/library/postgres:15", "") == "/var/lib/postgresql/data");
  CHECK(data_directory_of("mirror.example:5000/library/postgres:15", "") == "/var/lib/postgresql/data");
  CHECK(data_directory_of("postgres:14", "/var/lib/pgsql/data/userdata/") == "/var/lib/pgsql/data/userdata");
  CHECK(data_directory_of("quay.io/projectquay/postgresql:14", "") == "/var/lib/pgsql/data/userdata");
  CHECK(data_directory_of("not a reference", "") == "/var/lib/pgsql/data/userdata");
}
