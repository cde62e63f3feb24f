// How right the time left shown at 50 % is (issue 15, item 2): reads a Job's log (the backup's or
// the upgrade's, as tests/bench/downtime.sh runs them) and replays its progress lines of one stage
// through the controller's own rule (core/progress.hpp: the rate since the stage's first line, the
// effects layer's parser for the lines). At the first line at or past 50 % it takes the time left
// the status would show, and compares it with the time the stage really took from there (to its
// last line, which the Job writes when the stage ends).
//   progress_eta STAGE < job.out
// Prints `eta_at_half STAGE SHOWN_S ACTUAL_S ERROR` (error = |shown - actual| / actual); exit 1 when
// the log has no such stage, or no line at or past 50 % before its end.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "core/progress.hpp"
#include "effects/k8s_effects.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: progress_eta STAGE < job.out\n");
    return 2;
  }
  const std::string stage = argv[1];
  std::optional<qpu::progress_record> at_half;
  std::optional<qpu::duration_ms> shown;
  qpu::progress_record p;
  bool any = false;
  qpu::timestamp end = 0;
  for (std::string line; std::getline(std::cin, line);) {
    const auto l = qpu::effects::last_progress_line(line);
    if (!l || l->stage != stage) continue;
    if (!any) {
      p.stage = l->stage;
      p.unit = l->unit;
      p.first_done = l->done;
      p.first_at = l->at;
      any = true;
    }
    p.done = l->done;
    p.total = l->total;
    p.at = l->at;
    end = l->at;
    if (!at_half && qpu::percent(p) >= 50 && l->done < l->total) {
      at_half = p;
      shown = qpu::time_left(p);
    }
  }
  if (!any || !at_half || !shown) {
    std::fprintf(stderr, "progress_eta: no %s line at or past 50 %% with a time left before the stage's end\n", stage.c_str());
    return 1;
  }
  const double shown_s = static_cast<double>(*shown) / 1000, actual_s = static_cast<double>(end - at_half->at) / 1000;
  std::printf("eta_at_half %s %.2f %.2f %.3f\n", stage.c_str(), shown_s, actual_s,
              actual_s > 0 ? std::fabs(shown_s - actual_s) / actual_s : 0.0);
  return 0;
}
