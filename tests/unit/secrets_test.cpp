// A database Deployment whose password is a literal env value (issue 19, item 1): the event log
// holds only a token of it (watch/redact.hpp), no Job may carry it, so the upgrade is blocked with
// the fix, nothing touched; moving the password into a Secret lets the upgrade go on.
#include <algorithm>

#include "core/codec.hpp"
#include "tests/unit/fold_helpers.hpp"

using namespace qpu;
using namespace qpu::testing;

namespace {
// What the log holds in place of the password (watch/redact.hpp's form).
const std::string token = "qpu-redacted:0123456789abcdef0123456789abcdef";
}  // namespace

TEST_CASE("a literal password blocks the upgrade with the fix, before anything reads or touches the database") {
  scenario_options o;
  o.literal_password = token;
  const auto s = fold(run_scenario(o));
  const auto& u = s.upgrade();
  REQUIRE(u.current == phase::blocked);
  CHECK(u.block_reason == "LiteralPassword");
  CHECK(u.last_error.find("quay/registry-quay-database sets POSTGRESQL_PASSWORD as a literal value") != std::string::npos);
  CHECK(u.last_error.find("create secret generic registry-quay-database-credentials") != std::string::npos);
  CHECK(u.last_error.ends_with("nothing was changed"));
  CHECK(u.last_error.find(token) == std::string::npos);
  CHECK(s.work().empty());  // not even the version is read: the controller would need the password
  CHECK(s.all<create_job>().empty());
  CHECK(s.all<scale_deployment>().empty());
  // The status says it (the block's reason and text reach the registry).
  const auto status = s.all<update_registry_status>();
  REQUIRE_FALSE(status.empty());
  const auto& conditions = status.back().conditions;
  CHECK(std::any_of(conditions.begin(), conditions.end(), [](const condition& c) {
    return c.reason == "LiteralPassword" && c.message.find("POSTGRESQL_PASSWORD as a literal value") != std::string::npos;
  }));
}

TEST_CASE("a literal password moved into a Secret lifts the block and the upgrade succeeds") {
  scenario_options o;
  o.literal_password = token;
  o.password_to_secret_after_block = true;
  const auto s = fold(run_scenario(o));
  CHECK(s.upgrade().current == phase::succeeded);
  CHECK(s.upgrade().block_reason.empty());
  // No Job of the upgrade carries a literal password: each comes from the Secret.
  for (const auto& j : s.all<create_job>()) {
    CHECK(j.db.credentials.password.secret_name == "registry-quay-postgres-config");
    CHECK(j.db.credentials.password.value.empty());
  }
}
