// `quay-pg-upgrader demo`: real PostgreSQL upgrades of Quay's and Clair's databases on the embedded
// simulated cluster. It starts kube-sim (which runs pods as local processes on real PostgreSQL and,
// by default, a Quay operator stand-in that manages both databases), loads the Quay-like scenario,
// runs the controller in this process, shows its progress, and ends with a summary.
#include "app/demo.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <expected>
#include <string_view>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "app/controller.hpp"
#include "core/image_ref.hpp"
#include "core/progress.hpp"
#include "reducers/names.hpp"
#include "reducers/progress.hpp"

extern char** environ;

namespace qpu::app {

namespace fs = std::filesystem;
namespace net = boost::asio;

namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

// Runs a command, returns its exit status and (optionally) its stdout.
int run_command(const std::vector<std::string>& argv, std::string* out = nullptr) {
  int pipefd[2] = {-1, -1};
  if (out && ::pipe(pipefd) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out) {
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipefd[0]);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (out) ::close(pipefd[1]);
  if (rc != 0) {
    if (out) ::close(pipefd[0]);
    return -1;
  }
  if (out) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) out->append(buf, static_cast<std::size_t>(n));
    ::close(pipefd[0]);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// kube-sim as a child process, stopped with SIGTERM (it saves state and stops its pods).
struct kube_sim_process {
  pid_t pid = -1;
  std::string kubeconfig;

  std::expected<void, std::string> start(const std::string& binary, const fs::path& work, const std::vector<std::string>& extra) {
    kubeconfig = (work / "kubeconfig").string();
    const std::string log = (work / "kube-sim.log").string();
    std::vector<std::string> argv{binary,        "serve",       "--listen",
                                  "127.0.0.1:0", "--tls",       "--kubeconfig-out",
                                  kubeconfig,    "--state-dir", (work / "state").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return std::unexpected("cannot start " + binary + ": " + std::strerror(rc));
    for (int i = 0; i < 200; ++i) {
      if (fs::exists(kubeconfig)) {
        std::ifstream in(log);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        if (text.find("listening on") != std::string::npos) return {};
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return std::unexpected("kube-sim exited at start; see " + log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::unexpected("kube-sim did not start within 10 s; see " + log);
  }

  ~kube_sim_process() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

std::string kubectl_get(const std::string& kubeconfig, const std::string& what, const std::string& jsonpath) {
  std::string out;
  run_command({"kubectl", "--kubeconfig", kubeconfig, "-n", "quay", "get", what, "-o", "jsonpath=" + jsonpath}, &out);
  return out;
}

// Waits until `ready()` or the deadline; prints a dot per second to show life.
bool wait_for(const std::function<bool()>& ready, double seconds) {
  const auto start = clock::now();
  while (seconds_since(start) < seconds) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return false;
}

// One line per phase for a newcomer: what the controller does in it.
std::string what_happens(const registry_upgrade& u) {
  const std::string versions = u.from && u.to ? "PostgreSQL " + to_string(*u.from) + " -> " + to_string(*u.to) : "";
  switch (u.current) {
    case phase::detecting: return "reading the server's version through the database Service";
    case phase::preflight:
      return versions + " by " + to_string(u.method) + "; the check Job, then the new claims, Bound before anything stops";
    case phase::pausing_operator:
      return "pausing the Quay operator " + (u.quay_operator ? to_string(u.quay_operator->deployment) : std::string()) +
             " (its Deployment to 0) before anything is touched";
    case phase::quiescing:
      return u.component == db_component::clair
                 ? "scaling Clair's app to 0 (Quay's keeps serving) and waiting until no pod remains"
                 : "scaling the Quay app to 0 and waiting until no app pod remains";
    case phase::queued:
      return u.block_reason.empty() ? "waiting for its turn: Quay's database goes first (one downtime at a time)"
                                    : "waiting for its turn: " + u.last_error;
    case phase::backing_up:
      return "row counts + checksums of every table, then pg_dump (" + (u.to ? to_string(*u.to) : std::string("target")) +
             ") into " + reducers::backup_claim_name(u);
    case phase::stopping: return "stopping the old database; its claim " + u.old_claim + " will not be written again";
    case phase::upgrading: return "filling the NEW claim " + reducers::data_claim_name(u) + " (" + to_string(u.method) + ")";
    case phase::switching: return "pointing the database Deployment at the target image and the new claim";
    case phase::verifying: return "comparing every table's row count and checksum with the manifest";
    case phase::resuming:
      return u.component == db_component::clair ? "scaling Clair's app back to its recorded replicas"
                                                : "scaling the Quay app back to its recorded replicas";
    case phase::resuming_operator: return "the Quay operator gets its replicas back once every database of the registry is done";
    case phase::archiving:
      return u.verify_after_resume ? "the app serves the upgraded database; its clone is being verified against the backup "
                                     "clone, then the backup clone's logical archive is written"
                                   : "the app serves the upgraded database; the backup clone's logical archive is being written";
    case phase::verify_failed: return u.last_error;
    case phase::analyzing: return "the app serves the upgraded database; its statistics are being made (ANALYZE)";
    case phase::succeeded: return "done";
    case phase::blocked: return u.last_error;
    case phase::rolling_back: return "rolling back: " + u.last_error;
    case phase::failed: return u.last_error;
    default: return u.last_error;
  }
}

// The kube-sim binary: the flag, else beside this binary (an installation puts both in one folder;
// a build tree has it in kube-sim/), else the first on PATH. Nothing is compiled in.
std::expected<fs::path, std::string> find_kube_sim(const std::string& flag) {
  auto runnable = [](const fs::path& p) { return fs::is_regular_file(p) && ::access(p.c_str(), X_OK) == 0; };
  if (!flag.empty()) {
    if (runnable(flag)) return fs::path(flag);
    return std::unexpected("--kube-sim " + flag + " is not an executable file");
  }
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const fs::path& beside : {self / "kube-sim", self / "kube-sim" / "kube-sim"})
    if (!ec && runnable(beside)) return beside;
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest(path);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      fs::path candidate = fs::path(std::string(rest.substr(0, colon))) / "kube-sim";
      if (runnable(candidate)) return candidate;
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
  }
  return std::unexpected(std::string("kube-sim was not found beside this binary (") + self.string() +
                         ") nor on PATH; pass --kube-sim PATH (scripts/demo.sh builds it)");
}

// The Quay operator stand-in's reconcile log (kube-sim --quay-operator-log): one JSON object per
// line; `registry` entries are reconciles of a registry, with their result and changes.
std::vector<nlohmann::json> operator_journal(const fs::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (!entry.is_discarded() && entry.is_object()) out.push_back(std::move(entry));
  }
  return out;
}

// The scenario's manifests, copied into one folder in apply order (Quay's first: its namespaces and
// QuayRegistry own the rest), with the demo's row count and, with the operator and Clair, the
// registry's clairpostgres component managed.
std::expected<void, std::string> write_manifests(const std::vector<fs::path>& folders, const fs::path& out, int rows,
                                                 bool clair_managed) {
  fs::create_directories(out);
  bool flipped = false;
  for (std::size_t i = 0; i < folders.size(); ++i) {
    if (!fs::is_directory(folders[i])) return std::unexpected("the scenario folder " + folders[i].string() + " does not exist");
    for (const auto& entry : fs::directory_iterator(folders[i])) {
      std::ifstream in(entry.path());
      std::string text((std::istreambuf_iterator<char>(in)), {});
      for (std::size_t at; (at = text.find("{name: ROWS, value: \"1000\"}")) != std::string::npos;)
        text.replace(at, 27, "{name: ROWS, value: \"" + std::to_string(rows) + "\"}");
      const std::string unmanaged = "- kind: clairpostgres\n      managed: false";
      if (const auto at = text.find(unmanaged); clair_managed && at != std::string::npos) {
        text.replace(at, unmanaged.size(), "- kind: clairpostgres\n      managed: true");
        flipped = true;
      }
      std::ofstream(out / (std::to_string(i) + "-" + folders[i].filename().string() + "-" + entry.path().filename().string()))
          << text;
    }
  }
  if (clair_managed && !flipped)
    return std::unexpected("no QuayRegistry in " + folders.front().string() + " lists clairpostgres as unmanaged");
  return {};
}

// The operator's part of the summary: when it was paused and resumed, and what its first three
// reconciles after the resume did (waits up to 60 s for them). After a successful upgrade they
// must change nothing of substance and start no migration: false otherwise.
bool summarize_operator(const fs::path& log, std::size_t resume_mark, double paused_at, double resumed_at, bool upgraded) {
  std::printf("\n== The Quay operator (kube-sim's stand-in, quay-operator/quay-operator)\n");
  if (paused_at >= 0)
    std::printf("paused:        at %.1f s, by the controller (its Deployment to 0, its replicas recorded)\n", paused_at);
  if (resumed_at >= 0) std::printf("resumed:       at %.1f s, after the last database\n", resumed_at);
  if (paused_at < 0 || resumed_at < 0) {
    std::printf("the controller did not %s the operator\n", paused_at < 0 ? "pause" : "resume");
    return false;
  }
  std::vector<nlohmann::json> reconciles;
  wait_for(
      [&] {
        const auto entries = operator_journal(log);
        reconciles.clear();
        for (std::size_t i = resume_mark; i < entries.size(); ++i)
          if (entries[i].contains("registry")) reconciles.push_back(entries[i]);
        return reconciles.size() >= 3;
      },
      60);
  bool quiet = reconciles.size() >= 3;
  std::string results;
  for (std::size_t i = 0; i < reconciles.size() && i < 3; ++i) {
    const auto result = reconciles[i].value("result", std::string("?"));
    quiet = quiet && (result == "no change" || result == "metadata only") && !reconciles[i].contains("migrations");
    results += (i ? ", " : "") + result;
  }
  std::printf("after resume:  %zu reconcile(s) of quay/registry: %s%s\n", std::min<std::size_t>(reconciles.size(), 3),
              results.empty() ? "none within 60 s" : results.c_str(),
              quiet ? "; it left the upgraded databases alone and started no migration of its own" : "");
  if (!quiet)
    for (std::size_t i = 0; i < reconciles.size() && i < 3; ++i)
      if (reconciles[i].value("result", std::string()) != "no change") std::printf("  %s\n", reconciles[i].dump().c_str());
  std::printf("its log:       %s\n", log.c_str());
  return quiet || !upgraded;
}

}  // namespace

int run_demo(const demo_options& options) {
  demo_options o = options;
  const auto kube_sim = find_kube_sim(o.kube_sim);
  if (!kube_sim) {
    std::fprintf(stderr, "error: %s\n", kube_sim.error().c_str());
    return 2;
  }
  o.kube_sim = kube_sim->string();
  const fs::path scenarios = kube_sim->parent_path() / "scenarios";
  if (o.scenario_dir.empty()) o.scenario_dir = (scenarios / (o.quay_operator ? "quay-operator-pg10" : "quay-pg10")).string();
  const auto t0 = clock::now();
  if (o.quay_operator)
    std::printf(
        "quay-pg-upgrader demo: the Quay operator 3.9 expects PostgreSQL 13 for Quay%s; real PostgreSQL on a "
        "simulated cluster\n\n",
        o.clair ? " and 15 for Clair" : "");
  else
    std::printf("quay-pg-upgrader demo: PostgreSQL 10 to the image %s, no operator; real PostgreSQL on a simulated cluster\n\n",
                o.target_image.c_str());
  const fs::path work = o.work_dir.empty() ? fs::temp_directory_path() / ("quay-pg-upgrader-demo-" + std::to_string(::getpid()))
                                           : fs::path(o.work_dir);
  std::error_code fs_error;
  fs::remove_all(work, fs_error);
  if (!fs_error) fs::create_directories(work, fs_error);
  if (fs_error) {
    std::fprintf(stderr,
                 "error: cannot make a fresh work folder %s: %s (a volume of an earlier run still mounted there? "
                 "see `grep %s /proc/mounts`)\n",
                 work.c_str(), fs_error.message().c_str(), work.c_str());
    return 1;
  }

  // The Quay-like installation: Quay's database on PostgreSQL 10 with a seeded schema and an app
  // that keeps writing; Clair's beside it (13 under the operator, 10 without) unless --without-clair.
  std::vector<fs::path> folders{o.scenario_dir};
  if (o.clair) {
    folders.push_back(scenarios / (o.quay_operator ? "quay-operator-clair-pg13" : "clair-pg10"));
    folders.push_back(scenarios / "clair");
  }
  const fs::path manifests = work / "scenario";
  if (auto written = write_manifests(folders, manifests, o.rows, o.quay_operator && o.clair); !written) {
    std::fprintf(stderr, "error: %s\n", written.error().c_str());
    return 2;
  }
  // kube-sim creates them at start (an ownerReference gets its QuayRegistry's uid). The operator
  // stand-in starts held: as if its 3.9 release had just rolled out and not reconciled yet.
  const fs::path operator_log = work / "quay-operator.jsonl";
  std::vector<std::string> sim_args{"--apply", manifests.string()};
  if (o.quay_operator)
    sim_args.insert(sim_args.end(), {"--quay-operator", "--quay-operator-hold", "--quay-operator-resync-ms", "2000",
                                     "--quay-operator-log", operator_log.string()});
  kube_sim_process sim;
  if (auto ok = sim.start(o.kube_sim, work, sim_args); !ok) {
    std::fprintf(stderr, "error: %s\n", ok.error().c_str());
    return 1;
  }
  std::printf("[%6.1fs] kube-sim is serving the Kubernetes API over TLS (kubeconfig %s)\n", seconds_since(t0),
              sim.kubeconfig.c_str());
  std::printf("[%6.1fs] loaded the scenario: QuayRegistry quay/registry, Quay's database%s, %d rows per table%s\n",
              seconds_since(t0), o.clair ? " and Clair's" : "", o.rows,
              o.quay_operator ? "; the Quay operator quay-operator/quay-operator manages them (its stand-in held)" : "");
  for (const char* job : {"registry-quay-seed", "registry-clair-seed"}) {
    if (!o.clair && std::string(job) == "registry-clair-seed") continue;
    if (!wait_for([&] { return kubectl_get(sim.kubeconfig, std::string("job/") + job, "{.status.succeeded}") == "1"; }, 180)) {
      std::fprintf(stderr, "error: the seeding Job %s did not complete within 180 s (see %s)\n", job,
                   (work / "kube-sim.log").c_str());
      return 1;
    }
  }
  wait_for([&] { return kubectl_get(sim.kubeconfig, "deployment/registry-quay-app", "{.status.readyReplicas}") == "1"; }, 60);
  std::printf("[%6.1fs] the database%s seeded and the app stand-in%s writing\n\n", seconds_since(t0), o.clair ? "s are" : " is",
              o.clair ? "s are" : " is");

  // The controller, in this process; its own log lines stay quiet unless something goes wrong.
  spdlog::set_level(spdlog::level::warn);
  run_options ro;
  ro.kubeconfig = sim.kubeconfig;
  ro.event_log = (work / "events.jsonl").string();
  ro.cfg.target_image = o.target_image;
  ro.cfg.clair_target_image = o.target_image;
  // The operator's Deployment lives in its own namespace: watch them all.
  ro.cfg.watch_namespace = o.quay_operator ? "" : "quay";
  ro.cfg.requeue_s = 5;
  // The demo's database is small: its Jobs' progress is read every second to be seen at all.
  ro.cfg.progress_interval_s = 1;
  // Each database's phases as they happen, with the seconds since the controller started.
  struct progress {
    db_component component;
    const char* label;
    std::vector<std::pair<std::string, double>> phases;
    bool final = false;
    std::string progress_shown;  // the last progress line printed
  };
  std::vector<progress> dbs{{db_component::quay, "quay", {}, false, {}}};
  if (o.clair) dbs.push_back({db_component::clair, "clair", {}, false, {}});
  bool done = false;
  // The operator: paused by the controller, then released from its hold (it is at 0 replicas by
  // then), resumed by the controller after both databases. Entries of its log past `resume_mark`
  // are reconciles of the resumed operator.
  double operator_paused_at = -1, operator_resumed_at = -1;
  std::size_t resume_mark = 0;
  std::thread release;
  const auto controller_start = clock::now();
  net::io_context ioc(1);
  ro.on_fold = [&](const state& s, const logged_event&) {
    for (auto& db : dbs) {
      auto it = s.upgrades.find({{"quay", "registry"}, db.component});
      if (it == s.upgrades.end()) continue;
      const auto& u = it->second;
      if (db.phases.empty() || db.phases.back().first != to_string(u.current)) {
        if (o.quay_operator && !db.phases.empty() && db.phases.back().first == to_string(phase::pausing_operator) &&
            !release.joinable()) {
          // The controller left pausing_operator: the operator's pods are gone. Release the
          // stand-in's hold off the loop (kubectl is a process).
          operator_paused_at = seconds_since(t0) - seconds_since(controller_start) + db.phases.back().second;
          resume_mark = operator_journal(operator_log).size();
          release = std::thread([kubeconfig = sim.kubeconfig, file = (work / "release.json").string()] {
            std::ofstream(file) << R"({"hold": false})";
            run_command({"kubectl", "--kubeconfig", kubeconfig, "create", "--raw", "/_sim/quay-operator", "-f", file});
          });
        }
        if (u.current == phase::resuming_operator) operator_resumed_at = seconds_since(t0);
        db.phases.emplace_back(to_string(u.current), seconds_since(controller_start));
        std::printf("[%6.1fs] %-5s %-17s %s\n", seconds_since(t0), db.label, to_string(u.current), what_happens(u).c_str());
        std::fflush(stdout);
      }
      // The running Job's progress, each time its line says something new.
      if (const auto* p = reducers::current_progress(u)) {
        const std::string text = progress_text(*p);
        if (text != db.progress_shown) {
          db.progress_shown = text;
          std::printf("[%6.1fs] %-5s %-17s %s\n", seconds_since(t0), db.label, "", text.c_str());
          std::fflush(stdout);
        }
      }
      // Final once the phase is and its status and Event were written.
      db.final = (u.current == phase::succeeded || u.current == phase::failed || u.current == phase::up_to_date ||
                  u.current == phase::refused || u.current == phase::unsupported || u.current == phase::blocked ||
                  u.current == phase::unmanaged) &&
                 u.in_flight.empty();
    }
    if (!done && std::all_of(dbs.begin(), dbs.end(), [](const progress& d) { return d.final; })) {
      done = true;
      net::post(ioc, [&] { ioc.stop(); });
    }
  };
  controller ctl(ioc, ro);
  if (auto started = ctl.start(); !started) {
    std::fprintf(stderr, "error: %s\n", started.error().c_str());
    return 1;
  }
  net::steady_timer limit(ioc, std::chrono::seconds(o.timeout_s));
  limit.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) {
      std::fprintf(stderr, "error: the upgrade did not finish within %d s\n", o.timeout_s);
      ioc.stop();
    }
  });
  ioc.run();
  ctl.stop();
  if (release.joinable()) release.join();

  // The summary, one block per database.
  const state& s = ctl.current();
  bool ok = done;
  for (const auto& db : dbs) {
    auto it = s.upgrades.find({{"quay", "registry"}, db.component});
    std::printf("\n== %s\n", db.component == db_component::clair ? "Clair's database" : "Quay's database");
    if (it == s.upgrades.end()) {
      std::printf("no upgrade state for quay/registry (%s)\n", db.label);
      ok = false;
      continue;
    }
    const auto& u = it->second;
    ok = ok && u.current == phase::succeeded;
    std::printf("result:        %s%s%s\n", to_string(u.current), u.last_error.empty() ? "" : ": ", u.last_error.c_str());
    if (u.from && u.to)
      std::printf("versions:      PostgreSQL %s -> %s, method %s\n", to_string(*u.from).c_str(), to_string(*u.to).c_str(),
                  to_string(u.method));
    std::printf("time per phase:\n");
    double quiesce_at = -1, resumed_at = -1;
    for (std::size_t i = 0; i < db.phases.size(); ++i) {
      const double end = i + 1 < db.phases.size() ? db.phases[i + 1].second : seconds_since(controller_start);
      std::printf("  %-17s %6.1f s\n", db.phases[i].first.c_str(), end - db.phases[i].second);
      if (db.phases[i].first == "quiescing" && quiesce_at < 0) quiesce_at = db.phases[i].second;
      // The app is back once its database left `resuming` (for operator or for success).
      if (i > 0 && db.phases[i - 1].first == "resuming" && resumed_at < 0) resumed_at = db.phases[i].second;
    }
    if (quiesce_at >= 0 && resumed_at >= 0)
      std::printf("downtime:      %.1f s (%s)\n", resumed_at - quiesce_at,
                  db.component == db_component::clair ? "Clair's app scaled to 0 until it was scaled back; Quay's kept serving"
                                                      : "the Quay app scaled to 0 until it was scaled back");
    if (u.after) {
      std::int64_t rows = 0;
      for (const auto& t : u.after->tables) rows += t.rows;
      std::printf("verified:      %zu tables, %lld rows, row counts and checksums equal to the manifest\n",
                  u.after->tables.size(), static_cast<long long>(rows));
    }
    if (u.started) {
      std::printf("claims:        old data in quay/%s (kept, untouched), backup in quay/%s, new data in quay/%s\n",
                  u.old_claim.c_str(), reducers::backup_claim_name(u).c_str(), reducers::data_claim_name(u).c_str());
    }
  }
  if (o.quay_operator) ok = summarize_operator(operator_log, resume_mark, operator_paused_at, operator_resumed_at, ok) && ok;
  std::printf("\n");
  std::printf("event log:     %s (replay it: quay-pg-upgrader replay %s)\n", ro.event_log.c_str(), ro.event_log.c_str());
  std::printf("total:         %.1f s\n", seconds_since(t0));
  return ok ? 0 : 1;
}

}  // namespace qpu::app
