#include <catch2/catch.hpp>

#include "core/time.hpp"

using namespace qpu;

TEST_CASE("RFC 3339 times format with milliseconds in UTC and parse back") {
  const timestamp t = 1'795'478'400'123;  // 2026-11-24T00:00:00.123Z
  CHECK(format_rfc3339(t) == "2026-11-24T00:00:00.123Z");
  CHECK(format_rfc3339_seconds(t) == "2026-11-24T00:00:00Z");
  CHECK(parse_rfc3339("2026-11-24T00:00:00.123Z") == t);
  CHECK(parse_rfc3339(format_rfc3339(0)) == 0);
  CHECK(format_rfc3339(951'782'400'000) == "2000-02-29T00:00:00.000Z");  // leap day
}

TEST_CASE("RFC 3339 offsets and fractions as Kubernetes and Go write them") {
  CHECK(parse_rfc3339("2026-11-24T02:00:00+02:00") == parse_rfc3339("2026-11-24T00:00:00Z"));
  CHECK(parse_rfc3339("2026-11-23T19:00:00-05:00") == parse_rfc3339("2026-11-24T00:00:00Z"));
  CHECK(parse_rfc3339("2026-11-24T00:00:00.123456789Z") == parse_rfc3339("2026-11-24T00:00:00.123Z"));
}

TEST_CASE("malformed times are refused, not guessed") {
  for (const char* bad : {"", "2026-11-24", "2026-11-24 00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-24T25:00:00Z",
                          "2026-11-24T00:00:00", "2026-11-24T00:00:00.Z", "2026-11-24T00:00:00Zjunk", "yesterday"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad).has_value());
  }
}
