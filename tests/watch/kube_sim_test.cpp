// Placeholder until kube-sim exists; replaced below.
#include <catch2/catch.hpp>
