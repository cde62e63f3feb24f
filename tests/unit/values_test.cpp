#include <catch2/catch.hpp>

#include "core/effect_id.hpp"
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

TEST_CASE("effect ids read back exactly as they are written, and nothing else reads as one") {
  for (const char* text :
       {"quay/registry/a1/create-job/backup", "quay/registry/a12/create-claim/data", "ns/r/a1/inspect-version/g7",
        "ns/r/a1/inspect-manifest", "ns/r/a2/revert-3/inspect-verify", "ns/r/a1/revert-1/restore/registry-quay-app",
        "ns/r/a1/scale-down/database", "ns/r/a1/switch", "ns/r/a1/status@45", "ns/r/a1/event@45/backing_up",
        "ns/r/a1/revert-2/create-job/backup", "ns/r/requeue", "ns/r/a1/delete-job/upgrade-logical",
        "ns/r/a1/revert-1/inspect-size", "ns/r/a1/scale-up/registry-quay-mirror"}) {
    const auto id = parse_effect_id(text);
    INFO(text);
    REQUIRE(id.has_value());
    CHECK(to_string(*id) == text);
  }
  const auto id = *parse_effect_id("ns/r/a2/revert-3/create-job/backup");
  CHECK(id.registry == object_key{"ns", "r"});
  CHECK(id.attempt == 2);
  CHECK(id.revert_run == 3);
  CHECK(id.step == step_kind::create_job);
  CHECK(id.target == "backup");
  CHECK(step_text(id) == "revert-3/create-job/backup");
  const auto status = *parse_effect_id("ns/r/a1/status@45");
  CHECK(status.step == step_kind::status);
  CHECK(status.seq == 45);
  CHECK(status.is_report());
  for (const char* text : {"",
                           "ns",
                           "ns/r",
                           "ns/r/a1",
                           "ns/r/a0/switch",
                           "ns/r/a01/switch",
                           "ns/r/x1/switch",
                           "ns/r/a1/x",
                           "ns/r/a1/switch/extra",
                           "ns/r/a1/create-job",
                           "ns/r/a1/status@",
                           "ns/r/a1/status@+4",
                           "ns/r/a1/event@4",
                           "ns/r/a1/revert-0/switch",
                           "ns/r/a1/revert-1",
                           "ns/r/a1/inspect-version/g",
                           "/r/a1/switch",
                           "ns//a1/switch",
                           "ns/r/requeue/x",
                           "ns/r/a1/requeue"}) {
    INFO(text);
    CHECK_FALSE(parse_effect_id(text).has_value());
  }
}
