#pragma once
// `quay-pg-upgrader demo`: kube-sim + the Quay-like scenario + the controller, with progress.
#include <string>

namespace qpu::app {

struct demo_options {
  std::string kube_sim;  // the kube-sim binary; empty: beside this binary, else on PATH
  std::string scenario_dir;  // empty: scenarios/quay-pg10 beside the kube-sim binary
  bool clair = true;  // Clair's database too (scenarios/clair-pg10 beside the Quay scenario)
  std::string target_image = "quay.io/sclorg/postgresql-15-c9s";
  std::string work_dir;  // empty: a fresh temporary folder
  int rows = 20000;  // rows per main table of the seed: about 100k rows in all
  int timeout_s = 300;
};

// Exit status: 0 when the upgrade succeeded.
int run_demo(const demo_options& o);

}  // namespace qpu::app
