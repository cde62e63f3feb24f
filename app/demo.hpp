#pragma once
// `quay-pg-upgrader demo`: kube-sim + the Quay-like scenario + the controller, with progress.
#include <string>

namespace qpu::app {

struct demo_options {
  std::string kube_sim;  // the kube-sim binary; empty: beside this binary, else on PATH
  // Quay's part of the installation; empty: scenarios/quay-operator-pg10 beside the kube-sim
  // binary (scenarios/quay-pg10 without the operator).
  std::string scenario_dir;
  // The Quay operator stand-in manages the databases (kube-sim --quay-operator): the controller
  // pauses it, upgrades to the images it expects and resumes it. Without it: quay-pg10, no operator.
  bool quay_operator = true;
  bool clair = true;  // Clair's database too (its scenario folder beside the Quay one, and scenarios/clair)
  // The target without an operator (with one, the images the operator expects win).
  std::string target_image = "quay.io/sclorg/postgresql-15-c9s";
  std::string work_dir;  // empty: a fresh temporary folder
  int rows = 20000;  // rows per main table of the seed: about 100k rows in all
  int timeout_s = 600;
};

// Exit status: 0 when the upgrade succeeded.
int run_demo(const demo_options& o);

}  // namespace qpu::app
