// Catch2's main, plus the skip exit code (skip.hpp): a run in which a case skipped and nothing
// failed exits with skip_exit_code; failures exit 1.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>

#include "skip.hpp"

int main(int argc, char* argv[]) {
  const int failed = Catch::Session().run(argc, argv);
  if (failed != 0) return 1;
  if (const auto& why = kube_sim::testing::skip_reason()) {
    std::cout << "SKIPPED: " << *why << '\n';
    return kube_sim::testing::skip_exit_code;
  }
  return 0;
}
