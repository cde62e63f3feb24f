#include <catch2/catch.hpp>

#include "selectors.hpp"

using namespace kube_sim;

namespace {
json labelled(json labels) { return {{"metadata", {{"name", "n"}, {"namespace", "ns"}, {"labels", labels}}}}; }
bool select(std::string_view text, const json& object) { return matches_labels(*parse_label_selector(text), object); }
}  // namespace

TEST_CASE("label selectors: equality, inequality, sets and existence") {
  const auto o = labelled({{"app", "quay"}, {"tier", "db"}});
  CHECK(select("", o));
  CHECK(select("app=quay", o));
  CHECK(select("app==quay,tier=db", o));
  CHECK_FALSE(select("app=other", o));
  CHECK(select("app!=other", o));
  CHECK(select("missing!=x", o));
  CHECK(select("tier in (db, web)", o));
  CHECK_FALSE(select("tier notin (db,web)", o));
  CHECK(select("app", o));
  CHECK(select("!legacy", o));
  CHECK_FALSE(select("!app", o));
}

TEST_CASE("malformed selectors are 400") {
  CHECK(parse_label_selector("tier in db").error().code == 400);
  CHECK(parse_field_selector("metadata.name").error().code == 400);
}

TEST_CASE("field selectors read dotted paths") {
  const auto o = labelled(json::object());
  CHECK(matches_fields(*parse_field_selector("metadata.name=n,metadata.namespace==ns"), o));
  CHECK_FALSE(matches_fields(*parse_field_selector("metadata.name!=n"), o));
}
