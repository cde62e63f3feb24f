// quay-pg-upgrader: the one place that sees every layer and wires them together.
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "app/controller.hpp"
#include "app/demo.hpp"
#include "app/http_endpoint.hpp"
#include "app/leader_election.hpp"
#include "app/log_format.hpp"
#include "kube/http_client.hpp"
#include "kube/kube_config.hpp"
#include "core/image_ref.hpp"

#include "core/codec.hpp"
#include "core/event_log.hpp"
#include "core/snapshot.hpp"
#include "reducers/plan.hpp"
#include "reducers/reduce.hpp"

namespace {

constexpr int exit_bad_input = 2;

struct fold_options {
  std::string log;
  std::uint64_t until = 0;  // 0: the whole log
  std::string snapshot;  // start from this snapshot (core/snapshot.hpp) and fold only the lines after it
};

// Folds a log; calls on_effects for each event's decided effects. Errors name file:line.
int fold_log(const fold_options& o, qpu::state& s,
             const std::function<void(const qpu::logged_event&, const std::vector<qpu::effect>&)>& on_effects) {
  bool stopped = false;
  qpu::log_resume from;
  if (!o.snapshot.empty()) {
    auto snap = qpu::read_snapshot(o.snapshot);
    if (!snap || !*snap) {
      std::fprintf(stderr, "error: %s\n", snap ? (o.snapshot + ": no such file").c_str() : snap.error().c_str());
      return exit_bad_input;
    }
    s = std::move((*snap)->s);
    from = {(*snap)->log_offset, s.last_seq};
  }
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
      [](const std::string& warning) { std::fprintf(stderr, "warning: %s\n", warning.c_str()); }, from);
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

// Writes the snapshot beside the log (what `run --snapshot-every` writes); with `archive`, the
// log's lines move to <log>.upto-<seq> and the log starts empty, continuing after the snapshot.
int snapshot(const fold_options& o, bool archive) {
  qpu::state s;
  if (const int rc = fold_log(o, s, [](const qpu::logged_event&, const std::vector<qpu::effect>&) {}); rc != 0) return rc;
  if (!qpu::snapshot_ready(s)) {
    std::fprintf(stderr, "error: %s ends in the middle of a relist: no snapshot can hold it (fold fewer lines with --until)\n",
                 o.log.c_str());
    return exit_bad_input;
  }
  std::uint64_t offset = 0;
  std::string archived;
  if (archive) {
    if (o.until) {
      std::fprintf(stderr, "error: --archive keeps no line after the snapshot: it takes the whole log, not --until\n");
      return exit_bad_input;
    }
    archived = o.log + ".upto-" + std::to_string(s.last_seq);
    if (std::rename(o.log.c_str(), archived.c_str()) != 0 || !std::ofstream(o.log, std::ios::app)) {
      std::fprintf(stderr, "error: cannot move %s to %s: %s\n", o.log.c_str(), archived.c_str(), std::strerror(errno));
      return exit_bad_input;
    }
  } else {
    // The byte after the last folded line: what a start reads from.
    std::ifstream in(o.log, std::ios::binary);
    std::string line;
    std::uint64_t pos = 0;
    while (std::getline(in, line)) {
      const auto ev = qpu::parse_log_line(line);
      if (ev && ev->seq > s.last_seq) break;
      pos += line.size() + 1;
    }
    offset = pos;
  }
  const auto path = qpu::snapshot_path(o.log);
  if (auto w = qpu::write_snapshot(path, s, offset); !w) {
    std::fprintf(stderr, "error: %s\n", w.error().c_str());
    return exit_bad_input;
  }
  std::printf("wrote %s: the state at seq %llu%s\n", path.c_str(), static_cast<unsigned long long>(s.last_seq),
              archive ? ("; the lines before it are in " + archived + ", and " + o.log + " starts empty").c_str() : "");
  return 0;
}

int plan(const fold_options& o) {
  qpu::state s;
  const int rc = fold_log(o, s, [](const qpu::logged_event&, const std::vector<qpu::effect>&) {});
  if (rc != 0) return rc;
  std::cout << qpu::reducers::explain(s);
  return 0;
}

struct run_flags {
  qpu::app::run_options options;
  std::string target_version;
  std::string clair_target_version;
  std::vector<std::string> upgrade_from;
  std::string deadlines;
  std::string metrics_bind_address;  // "" : no HTTP endpoint
  bool leader_elect = false;
  qpu::app::leader_election_options election;
  std::string log_format = "text";
  // The flags' units (s, MB/s) over run_options' database_limit; their defaults are its own.
  double database_timeout_s = options.database_limit.base.count() / 1000.0;
  double database_min_rate_mb_s = options.database_limit.min_bytes_per_s / 1e6;
};

// "backup=600,upgrade=3600": phase deadlines in seconds.
std::expected<void, std::string> apply_deadlines(const std::string& text, qpu::phase_deadlines& d) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) return std::unexpected("--deadlines: \"" + item + "\" is not phase=seconds");
    const std::string phase = item.substr(0, eq);
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str() + eq + 1, &end, 10);
    if (*end != '\0' || v <= 0) return std::unexpected("--deadlines: " + phase + " needs a positive number of seconds");
    std::int64_t* slot = phase == "detect"      ? &d.detect_s
                         : phase == "preflight" ? &d.preflight_s
                         : phase == "quiesce"   ? &d.quiesce_s
                         : phase == "backup"    ? &d.backup_s
                         : phase == "stop"      ? &d.stop_s
                         : phase == "upgrade"   ? &d.upgrade_s
                         : phase == "switch"    ? &d.switch_s
                         : phase == "verify"    ? &d.verify_s
                         : phase == "resume"    ? &d.resume_s
                         : phase == "rollback"  ? &d.rollback_s
                                                : nullptr;
    if (!slot) return std::unexpected("--deadlines: unknown phase \"" + phase + "\"");
    *slot = v;
  }
  return {};
}

// Validates the configuration before anything is watched: a bad target is refused at start.
std::expected<void, std::string> finish_config(run_flags& f) {
  auto& c = f.options.cfg;
  if (c.target_image.empty()) return std::unexpected("no target image: set RELATED_IMAGE_COMPONENT_POSTGRES or --target-image");
  if (auto ref = qpu::parse_image_ref(c.target_image); !ref) return std::unexpected("--target-image: " + ref.error());
  if (!f.target_version.empty()) {
    c.target_major = qpu::parse_pg_major(f.target_version);
    if (!c.target_major) return std::unexpected("--target-version \"" + f.target_version + "\" is not a PostgreSQL major");
  }
  if (!qpu::effective_target(c))
    return std::unexpected("the target image \"" + c.target_image + "\" names no PostgreSQL version: add --target-version");
  // Clair's database: its own image when one is given, else the same target as Quay's (a Quay
  // operator's RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES wins over both, in the reducers).
  if (c.clair_target_image.empty()) {
    c.clair_target_image = c.target_image;
    if (f.clair_target_version.empty()) c.clair_target_major = c.target_major;
  }
  if (auto ref = qpu::parse_image_ref(c.clair_target_image); !ref) return std::unexpected("--clair-target-image: " + ref.error());
  if (!f.clair_target_version.empty()) {
    c.clair_target_major = qpu::parse_pg_major(f.clair_target_version);
    if (!c.clair_target_major)
      return std::unexpected("--clair-target-version \"" + f.clair_target_version + "\" is not a PostgreSQL major");
  }
  if (!qpu::effective_clair_target(c))
    return std::unexpected("the Clair target image \"" + c.clair_target_image +
                           "\" names no PostgreSQL version: add --clair-target-version");
  if (!c.upgrade_image.empty()) {
    if (auto ref = qpu::parse_image_ref(c.upgrade_image); !ref) return std::unexpected("--upgrade-image: " + ref.error());
  }
  for (const auto& m : f.upgrade_from) {
    auto v = qpu::parse_pg_major(m);
    if (!v) return std::unexpected("--upgrade-image-from: \"" + m + "\" is not a PostgreSQL major");
    c.upgrade_image_from.push_back(*v);
  }
  if (!c.upgrade_image.empty() && c.upgrade_image_from.empty())
    return std::unexpected("--upgrade-image needs --upgrade-image-from (the old majors the image carries)");
  f.options.database_limit = {std::chrono::milliseconds(static_cast<std::int64_t>(f.database_timeout_s * 1000)),
                              f.database_min_rate_mb_s * 1e6};
  // Verifying the server needs the CA on both sides: the controller's sessions and the Jobs'.
  if (const auto& mode = f.options.database_sslmode; mode == "verify-ca" || mode == "verify-full") {
    if (f.options.database_ca_file.empty())
      return std::unexpected("--database-sslmode " + mode +
                             " needs --database-ca-file (the CA bundle the controller checks the database servers against)");
    if (f.options.database_ca_configmap.empty())
      return std::unexpected("--database-sslmode " + mode +
                             " needs --database-ca-configmap (a ConfigMap with key ca.crt in each registry's namespace, "
                             "which the Jobs that connect mount to check the server the same way)");
  }
  return apply_deadlines(f.deadlines, c.deadlines);
}

int run(run_flags& f) {
  if (auto ok = finish_config(f); !ok) {
    std::fprintf(stderr, "error: %s\n", ok.error().c_str());
    return exit_bad_input;
  }
  // A dry run's stdout is its report alone (`run --dry-run > plan.txt`); its log goes to stderr.
  if (f.options.cfg.dry_run) spdlog::set_default_logger(spdlog::stderr_color_mt("quay-pg-upgrader-dry-run"));
  if (auto ok = qpu::app::set_log_format(f.log_format); !ok) {
    std::fprintf(stderr, "error: %s\n", ok.error().c_str());
    return exit_bad_input;
  }
  boost::asio::io_context ioc(1);
  std::unique_ptr<qpu::app::leader_elector> elector;
  f.options.may_perform = [&] { return !elector || elector->is_leader(); };
  // --dry-run: once every store synced and every database rests (planned, or why it has no plan),
  // the plans are printed and the process ends.
  qpu::app::controller* dry_run_ctl = nullptr;
  bool reported = false;
  if (f.options.cfg.dry_run) {
    f.options.on_fold = [&](const qpu::state& s, const qpu::logged_event&) {
      if (reported || !dry_run_ctl || !qpu::reducers::dry_run_done(s)) return;
      reported = true;
      std::fputs(qpu::reducers::dry_run_report(s).c_str(), stdout);
      std::fflush(stdout);
      boost::asio::post(ioc, [&] {
        dry_run_ctl->stop();
        ioc.stop();
      });
    };
  }
  qpu::app::controller ctl(ioc, f.options);
  dry_run_ctl = &ctl;
  std::unique_ptr<qpu::app::http_endpoint> endpoint;
  if (!f.metrics_bind_address.empty()) {
    auto made = qpu::app::http_endpoint::start(ioc, f.metrics_bind_address, {&ctl, [&] { return elector.get(); }});
    if (!made) {
      std::fprintf(stderr, "error: %s\n", made.error().c_str());
      return exit_bad_input;
    }
    endpoint = std::move(*made);
    spdlog::info("serving /healthz /readyz /metrics /debug/state on port {}", endpoint->port());
  }
  int rc = 0;
  if (f.leader_elect) {
    // The controller starts only once elected; losing the Lease stops effects at once (the gate
    // above) and ends the process, so that a restart joins as a follower (leader_election.hpp).
    auto cfg = qpu::kube::load_default(f.options.kubeconfig);
    if (!cfg) return std::fprintf(stderr, "error: cluster configuration: %s\n", cfg.error().c_str()), 1;
    qpu::kube::client_options co;
    co.request_timeout = f.election.retry_period * 2;
    auto client = qpu::kube::http_client::create(ioc.get_executor(), *cfg, co);
    if (!client) return std::fprintf(stderr, "error: API client: %s\n", client.error().c_str()), 1;
    if (f.election.ns.empty()) f.election.ns = qpu::app::default_lease_namespace(cfg->default_namespace);
    if (f.election.identity.empty()) f.election.identity = qpu::app::default_identity();
    qpu::app::leader_elector::callbacks cb;
    cb.started_leading = [&] {
      if (auto started = ctl.start(); !started) {
        spdlog::critical("{}", started.error());
        rc = 1;
        ioc.stop();
      }
    };
    cb.stopped_leading = [&] {
      spdlog::critical("leader election lost: stopping (a restart joins as a follower)");
      ctl.stop();
      rc = 1;
      ioc.stop();
    };
    cb.new_leader = [](const std::string& who) { spdlog::info("the leader is now \"{}\"", who); };
    elector = std::make_unique<qpu::app::leader_elector>(ioc, *client, f.election, cb);
    boost::asio::co_spawn(ioc, elector->run(), boost::asio::detached);
  } else if (auto started = ctl.start(); !started) {
    std::fprintf(stderr, "error: %s\n", started.error().c_str());
    return 1;
  }
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping (the event log is flushed; a restart carries on)", sig);
    ctl.stop();
    if (!elector) return ioc.stop();
    elector->stop();
    // Give the Lease up so that a follower takes over now rather than after its 15 s.
    boost::asio::co_spawn(ioc, elector->release(), [&](std::exception_ptr) { ioc.stop(); });
  });
  ioc.run();
  return rc;
}

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
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

  replay_cmd
      ->add_option("--snapshot", replay_opts.snapshot,
                   "Start from this snapshot of the log (LOG.snapshot) and fold only the lines after it")
      ->check(CLI::ExistingFile);

  fold_options snapshot_opts;
  bool archive = false;
  auto* snapshot_cmd =
      app.add_subcommand("snapshot", "Fold an event log and write the snapshot a start reads instead (LOG.snapshot)");
  snapshot_cmd->add_option("log", snapshot_opts.log, "Event log (JSON Lines)")->required()->check(CLI::ExistingFile);
  snapshot_cmd->add_option("--until", snapshot_opts.until, "The snapshot's sequence number (default: the last line)");
  snapshot_cmd->add_flag("--archive", archive,
                         "Move the log's lines to LOG.upto-<seq> and leave LOG empty: a start reads the snapshot only "
                         "(stop the controller first)");

  fold_options plan_opts;
  auto* plan_cmd = app.add_subcommand("plan", "Explain in plain words what the controller would do next, and why (a dry run)");
  plan_cmd->add_option("log", plan_opts.log, "Event log (JSON Lines)")->required()->check(CLI::ExistingFile);
  plan_cmd->add_option("--until", plan_opts.until, "Stop after the event with this sequence number");
  plan_cmd->add_option("--snapshot", plan_opts.snapshot, "Start from this snapshot of the log (LOG.snapshot)")
      ->check(CLI::ExistingFile);

  run_flags rf;
  rf.options.cfg.target_image = env_or("RELATED_IMAGE_COMPONENT_POSTGRES", "");
  rf.options.cfg.upgrade_image = env_or("RELATED_IMAGE_PG_UPGRADE", "");
  rf.options.cfg.clair_target_image = env_or("RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES", "");
  auto* run_cmd =
      app.add_subcommand("run", "Watch the cluster and upgrade every QuayRegistry's database that is older than the target");
  run_cmd->add_option("--kubeconfig", rf.options.kubeconfig,
                      "Kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)");
  run_cmd->add_flag("--allow-insecure-http", rf.options.allow_insecure_http,
                    "Accept a plain http:// API server that is not on loopback (the token then crosses the network unencrypted)");
  run_cmd->add_option("--namespace", rf.options.cfg.watch_namespace, "Watch one namespace (default: all)");
  run_cmd->add_flag("--watch-all", rf.options.watch.all,
                    "Watch every Deployment, Pod, Job and claim, not only those labelled quay-component or made by "
                    "this controller (for installations whose database objects carry no quay-component label)");
  run_cmd
      ->add_option("--operator-selector", rf.options.watch.operator_selector,
                   "Label selector of the Quay operator's own Deployment (OLM labels its operators so); empty: "
                   "watch no operator Deployment")
      ->capture_default_str();
  run_cmd->add_option("--event-log", rf.options.event_log, "The event log (JSON Lines); a restart continues it")
      ->capture_default_str();
  run_cmd
      ->add_option("--snapshot-every", rf.options.snapshot_every,
                   "Write a snapshot of the state beside the event log (LOG.snapshot) after this many new events, and on "
                   "stop: a start restores it and reads only the lines after it (0: never)")
      ->capture_default_str();
  run_cmd->add_option("--redaction-key-file", rf.options.redaction_key_file,
                      "The key of the tokens that replace literal env values and the last-applied annotation in the "
                      "event log (made, mode 0600, when missing; default: the event log's path + .key)");
  auto* target_image_opt =
      run_cmd->add_option("--target-image", rf.options.cfg.target_image,
                          "PostgreSQL image to upgrade to (default: $RELATED_IMAGE_COMPONENT_POSTGRES); where a Quay operator "
                          "renders the database, its expected image is the target and a different --target-image is refused");
  run_cmd
      ->add_option("--pause-operator", rf.options.cfg.pause_operator,
                   "Pause a Quay operator that renders the database for the upgrade (false: refuse while it runs)")
      ->capture_default_str();
  run_cmd->add_option("--target-version", rf.target_version, "Target major version, when the image name carries none");
  auto* clair_target_image_opt = run_cmd->add_option(
      "--clair-target-image", rf.options.cfg.clair_target_image,
      "PostgreSQL image to upgrade Clair's database to (default: $RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES, else "
      "the --target-image); a Quay operator's expected Clair image wins, as for Quay's");
  run_cmd->add_option("--clair-target-version", rf.clair_target_version,
                      "Clair's target major version, when its image name carries none");
  run_cmd->add_flag("--databases-side-by-side", rf.options.cfg.databases_side_by_side,
                    "Upgrade a registry's Quay and Clair databases at the same time (default: one after the other, Quay's "
                    "first: two downtimes at once double the load on the storage)");
  run_cmd
      ->add_option("--max-concurrent-upgrades", rf.options.cfg.max_concurrent_upgrades,
                   "How many registries may be in their downtime at once; the others wait in phase queued, first come "
                   "first served, and say their place in their status (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  run_cmd
      ->add_option("--claim-bind-timeout", rf.options.cfg.claim_bind_timeout_s,
                   "Seconds the new backup and data claims, created before anything is stopped, may stay Pending before the "
                   "upgrade is refused with the storage's reason (a missing StorageClass or a Warning Event refuses at once; "
                   "a WaitForFirstConsumer class is not a refusal)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_cmd
      ->add_option("--progress-interval", rf.options.cfg.progress_interval_s,
                   "Seconds between two reads of a running backup or upgrade Job's progress (its pod's log), shown in the "
                   "status with the time left and told in an Event at each tenth")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_cmd->add_option("--upgrade-image", rf.options.cfg.upgrade_image,
                      "Image holding old and new binaries, for the pg_upgrade method (default: $RELATED_IMAGE_PG_UPGRADE)");
  run_cmd->add_option("--upgrade-image-from", rf.upgrade_from, "Old majors the upgrade image carries (repeatable)");
  run_cmd->add_option("--storage-class", rf.options.cfg.storage_class, "StorageClass for new claims (default: the old claim's)");
  run_cmd
      ->add_option("--headroom-percent", rf.options.cfg.headroom_percent, "Claim size headroom over the measured database size")
      ->capture_default_str();
  run_cmd->add_option("--requeue-seconds", rf.options.cfg.requeue_s, "Re-check period while a Job runs")->capture_default_str();
  run_cmd->add_option("--deadlines", rf.deadlines, "Phase deadlines in seconds, e.g. backup=14400,upgrade=28800");
  run_cmd
      ->add_option("--database-timeout", rf.database_timeout_s,
                   "Seconds a database session may take before the manifest's share (connecting, version, size)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  run_cmd
      ->add_option("--database-min-rate", rf.database_min_rate_mb_s,
                   "MB/s a manifest must at least read the database's measured size at: its time limit is "
                   "--database-timeout plus size / rate (0: --database-timeout alone)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  run_cmd->add_flag("--preflight-check,!--no-preflight-check", rf.options.cfg.preflight_check,
                    "Run the check Job before anything is stopped (default on): the target initialises a cluster with the "
                    "old one's encoding, locale and checksums, every installed extension exists in the target, and for "
                    "pg_upgrade what it would refuse");
  run_cmd->add_flag("--live-check,!--no-live-check", rf.options.cfg.live_check,
                    "For pg_upgrade, run the real pg_upgrade --check against the running server before anything is "
                    "stopped (default on; needs the admin password, and mounts the old claim read-only beside the "
                    "database's pod); off: the check Job asks over SQL what pg_upgrade would refuse");
  run_cmd
      ->add_option("--clone-storage-classes", rf.options.cfg.clone_storage_classes,
                   "StorageClasses whose driver clones a PersistentVolumeClaim in constant time (PVC dataSource), comma "
                   "separated, or * for every class: for the pg_upgrade method on them the backup and new data claims are "
                   "clones of the stopped old claim and pg_upgrade --link runs in the data clone (no copy in the downtime; "
                   "the backup's logical archive is written after the app is back). The Kubernetes API does not publish "
                   "this capability, so it is named here")
      ->delimiter(',');
  run_cmd
      ->add_option_function<std::string>(
          "--verify", [&rf](const std::string& v) { rf.options.cfg.verify_after_resume = v == "after-resume"; },
          "When a clone upgrade proves every row: before-resume (default: the controller's manifests of the quiet "
          "old and of the upgraded database, both in the downtime) or after-resume (both manifests from clones, the "
          "stopped old data and the upgraded data as it was at the resume, read by the archive Job while the app "
          "serves; a difference stops the app again and offers the revert). The copy paths always verify before the "
          "resume")
      ->check(CLI::IsMember({"before-resume", "after-resume"}));
  run_cmd
      ->add_option("--database-sslmode", rf.options.database_sslmode,
                   "TLS to the database servers, as libpq's sslmode, for the controller's sessions and the Jobs that "
                   "connect (prefer, as Quay itself; verify-full checks the server's certificate and name)")
      ->capture_default_str()
      ->check(CLI::IsMember({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}));
  run_cmd
      ->add_option("--database-ca-file", rf.options.database_ca_file,
                   "The CA bundle (PEM) the controller checks the database servers against (verify-ca, verify-full)")
      ->check(CLI::ExistingFile);
  run_cmd->add_option("--database-ca-configmap", rf.options.database_ca_configmap,
                      "A ConfigMap (key ca.crt) in each registry's namespace with that CA bundle, which the Jobs that "
                      "connect mount (verify-ca, verify-full)");
  run_cmd->add_flag("!--no-fsync", rf.options.fsync, "Do not fdatasync the event log (tests only)");
  run_cmd
      ->add_option("--job-cpus", rf.options.job_cpus,
                   "CPUs each backup and upgrade Job requests (resources.requests.cpu) and works with in parallel "
                   "(pg_restore -j, pg_upgrade --jobs, vacuumdb -j)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  run_cmd->add_flag("--dry-run", rf.options.cfg.dry_run,
                    "Plan only: detect every registry and run the checks before the downtime (the check Job, the new claims' "
                    "StorageClass, leftover claims), print each registry's plan (method, claims and sizes, what stops, the "
                    "estimated downtime, what would refuse it) and exit; nothing is stopped, no claim is created, the check "
                    "Jobs are deleted again");
  run_cmd->add_option("--metrics-bind-address", rf.metrics_bind_address,
                      "Serve /healthz, /readyz, /metrics and /debug/state on HOST:PORT (\":8080\": every address)");
  run_cmd->add_flag("--leader-elect", rf.leader_elect, "Elect a leader with a coordination.k8s.io Lease; only the leader acts");
  run_cmd->add_option("--leader-election-namespace", rf.election.ns,
                      "Namespace of the Lease (default: $POD_NAMESPACE, the service account's, the kubeconfig's)");
  run_cmd->add_option("--leader-election-id", rf.election.name, "Name of the Lease")->capture_default_str();
  run_cmd->add_option("--log-format", rf.log_format, "text (human) or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));

  qpu::app::demo_options demo;
  auto* demo_cmd = app.add_subcommand(
      "demo",
      "Real PostgreSQL upgrades of Quay's and Clair's databases beside a Quay operator stand-in on the embedded simulated "
      "cluster, with live progress");
  demo_cmd->add_option("--kube-sim", demo.kube_sim, "The kube-sim binary (default: beside this binary, else on PATH)");
  demo_cmd->add_option("--scenario", demo.scenario_dir,
                       "Manifests of Quay's part of the installation (default: scenarios/quay-operator-pg10 beside "
                       "kube-sim; scenarios/quay-pg10 with --without-operator)");
  demo_cmd->add_flag("!--without-operator", demo.quay_operator,
                     "No Quay operator: the databases are not operator-managed and go to --target-image (10 -> 15)");
  demo_cmd->add_flag("!--without-clair", demo.clair, "Leave Clair's database out of the scenario (Quay's only)");
  demo_cmd->add_option("--rows", demo.rows, "Rows per main table in the seeded database")->capture_default_str();
  demo_cmd
      ->add_option("--target-image", demo.target_image, "The image to upgrade to without an operator (an operator's images win)")
      ->capture_default_str();
  demo_cmd->add_option("--work-dir", demo.work_dir,
                       "Folder for kube-sim's state, the kubeconfig and the event log (default: a new temporary one)");
  demo_cmd->add_option("--timeout", demo.timeout_s, "Give up after this many seconds")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : exit_bad_input;
  }
  if (*replay_cmd) return replay(replay_opts, state_json);
  if (*plan_cmd) return plan(plan_opts);
  if (*snapshot_cmd) return snapshot(snapshot_opts, archive);
  if (*run_cmd) {
    rf.options.cfg.target_image_explicit = target_image_opt->count() > 0;
    rf.options.cfg.clair_target_image_explicit = clair_target_image_opt->count() > 0;
    return run(rf);
  }
  if (*demo_cmd) return qpu::app::run_demo(demo);
  return exit_bad_input;
}
