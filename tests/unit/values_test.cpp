#include <catch2/catch.hpp>

#include "core/pg_version.hpp"
#include "core/quantity.hpp"

using namespace qpu;

TEST_CASE("server_version_num maps to comparable majors across the 9.x / 10 boundary") {
  CHECK(pg_major::from_server_version_num(90624) == pg_major{906});
  CHECK(pg_major::from_server_version_num(100023) == pg_major::of(10));
  CHECK(pg_major::from_server_version_num(150004) == pg_major::of(15));
  CHECK(pg_major{906} < pg_major::of(10));
  CHECK(pg_major::of(13) < pg_major::of(15));
  CHECK(to_string(pg_major{906}) == "9.6");
  CHECK(to_string(pg_major::of(15)) == "15");
}

TEST_CASE("major versions parse from what people write") {
  CHECK(parse_pg_major("15") == pg_major::of(15));
  CHECK(parse_pg_major("14.5") == pg_major::of(14));
  CHECK(parse_pg_major("9.6") == pg_major{906});
  CHECK(parse_pg_major("9.6.24") == pg_major{906});
  CHECK_FALSE(parse_pg_major("9").has_value());
  CHECK_FALSE(parse_pg_major("latest").has_value());
  CHECK_FALSE(parse_pg_major("").has_value());
  CHECK_FALSE(parse_pg_major("15x").has_value());
}

TEST_CASE("Kubernetes quantities become bytes") {
  CHECK(parse_quantity("10Gi") == 10 * gibibyte);
  CHECK(parse_quantity("500Mi") == 500 * mebibyte);
  CHECK(parse_quantity("1.5Gi") == 3 * gibibyte / 2);
  CHECK(parse_quantity("1G") == 1'000'000'000);
  CHECK(parse_quantity("1e3") == 1000);
  CHECK(parse_quantity("123") == 123);
  CHECK_FALSE(parse_quantity("").has_value());
  CHECK_FALSE(parse_quantity("ten").has_value());
  CHECK_FALSE(parse_quantity("-1Gi").has_value());
  CHECK(format_quantity(5 * gibibyte) == "5Gi");
  CHECK(format_quantity(1536 * mebibyte) == "1536Mi");
  CHECK(format_quantity(1000) == "1000");
  CHECK(format_quantity(256 * 1024) == "256Ki");
}
