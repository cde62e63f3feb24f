// Catch2's main, compiled once for every test executable that has no main of its own
// (`qpu_catch_main`): the implementation part of catch.hpp takes about 35 s to compile in the
// sanitized tree, so each test binary compiling its own copy cost minutes of every CI run.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
