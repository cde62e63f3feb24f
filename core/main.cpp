// quay-pg-upgrader: the one place that sees every layer and wires them together.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "core/codec.hpp"
#include "core/event_log.hpp"
#include "reducers/reduce.hpp"

namespace {

constexpr int exit_bad_input = 2;

struct fold_options {
  std::string log;
  std::uint64_t until = 0;  // 0: the whole log
};

// Folds a log; calls on_effects for each event's decided effects. Errors name file:line.
int fold_log(const fold_options& o, qpu::state& s,
             const std::function<void(const qpu::logged_event&, const std::vector<qpu::effect>&)>& on_effects) {
  bool stopped = false;
  auto read = qpu::read_event_log(
      o.log,
      [&](qpu::logged_event&& e) {
        if (stopped || (o.until && e.seq > o.until)) {
          stopped = true;
          return;
        }
        auto r = qpu::reducers::reduce(std::move(s), e);
        s = std::move(r.next);
        on_effects(e, r.effects);
      },
      [](const std::string& warning) { std::fprintf(stderr, "warning: %s\n", warning.c_str()); });
  if (!read) {
    std::fprintf(stderr, "error: %s\n", read.error().c_str());
    return exit_bad_input;
  }
  return 0;
}

int replay(const fold_options& o, bool state_json) {
  qpu::state s;
  std::string out;
  const int rc = fold_log(o, s, [&](const qpu::logged_event& e, const std::vector<qpu::effect>& effects) {
    if (state_json) return;
    for (const auto& eff : effects) {
      auto j = qpu::to_json(eff);
      j["seq"] = e.seq;
      out += qpu::dump(j);
      out += '\n';
      if (out.size() > (1u << 20)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    }
  });
  if (rc != 0) return rc;
  if (state_json) out = qpu::to_json(s).dump(2) + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int plan(const fold_options& o) {
  qpu::state s;
  const int rc = fold_log(o, s, [](const qpu::logged_event&, const std::vector<qpu::effect>&) {});
  if (rc != 0) return rc;
  std::cout << qpu::reducers::explain(s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quay-pg-upgrader: upgrades the PostgreSQL database behind Quay to a newer major version"};
  app.require_subcommand(1);

  fold_options replay_opts;
  bool state_json = false;
  auto* replay_cmd = app.add_subcommand("replay", "Fold an event log and print the decided effects, one JSON object per line");
  replay_cmd->add_option("log", replay_opts.log, "Event log (JSON Lines)")->required()->check(CLI::ExistingFile);
  replay_cmd->add_option("--until", replay_opts.until, "Stop after the event with this sequence number");
  replay_cmd->add_flag("--state-json", state_json, "Print the state after the last folded event instead of the effects");

  fold_options plan_opts;
  auto* plan_cmd = app.add_subcommand("plan", "Explain in plain words what the controller would do next, and why (a dry run)");
  plan_cmd->add_option("log", plan_opts.log, "Event log (JSON Lines)")->required()->check(CLI::ExistingFile);
  plan_cmd->add_option("--until", plan_opts.until, "Stop after the event with this sequence number");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : exit_bad_input;
  }
  if (*replay_cmd) return replay(replay_opts, state_json);
  if (*plan_cmd) return plan(plan_opts);
  return exit_bad_input;
}
