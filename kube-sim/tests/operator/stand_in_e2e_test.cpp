// The Quay operator stand-in end to end, in process: a store, the workload runtime (real pods,
// real PostgreSQL, run as root as the runtime's e2e tests are), and the stand-in on one
// io_context. Every wait is for a condition, with a generous timeout; nothing asserts a duration.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "base64.hpp"
#include "object_meta.hpp"
#include "runtime.hpp"
#include "stand_in.hpp"

using namespace kube_sim;
namespace fs = std::filesystem;
namespace net = boost::asio;
namespace rt = kube_sim::runtime;
namespace op = kube_sim::quay_operator;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

const fs::path source_dir = KUBE_SIM_SOURCE_DIR;
const std::string pg15 = (rt::default_pg_cache() / "15" / "bin").string();
const std::string pg13_image = "quay.io/sclorg/postgresql-13-c9s:latest";
const std::string pg15_image = "quay.io/sclorg/postgresql-15-c9s:latest";

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// One simulated cluster with the operator stand-in: fresh store, runtime with short timings,
/// a private temp folder; the stand-in resyncs every 500 ms.
struct cluster {
  fs::path dir;
  net::io_context io;
  store data = seeded_store(5000);
  std::unique_ptr<rt::runtime> workloads;
  std::unique_ptr<op::stand_in> quay_operator;
  int counter = 0;

  explicit cluster(bool hold = false) {
    char tmpl[] = "/tmp/kube-sim-operator-XXXXXX";
    dir = ::mkdtemp(tmpl);
    rt::runtime_options o;
    o.work_dir = dir;
    o.image_map_file = source_dir / "images" / "image-map.json";
    o.tick = 100ms;
    o.backoff_base = 200ms;
    o.backoff_cap = 1s;
    workloads = std::make_unique<rt::runtime>(io, data, o);
    auto started = workloads->start();
    if (!started) FAIL(started.error().message);
    op::options oo;
    oo.resync = 500ms;
    oo.hold = hold;
    oo.journal_file = dir / "quay-operator.jsonl";
    quay_operator = std::make_unique<op::stand_in>(io, data, oo);
    quay_operator->start();
  }
  ~cluster() {
    quay_operator->stop();
    workloads->stop(3s);
    quay_operator.reset();
    workloads.reset();
    std::error_code ec;
    if (!std::getenv("KUBE_SIM_KEEP_TEST_DIRS")) fs::remove_all(dir, ec);
  }

  template <class P>
  bool run_until(P done, std::chrono::seconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (clock_type::now() < deadline) {
      io.run_for(50ms);
      if (done()) return true;
    }
    return false;
  }

  const resource_type& type(std::string_view id) { return *data.types().find_id(id); }
  std::optional<json> get(std::string_view id, const std::string& ns, const std::string& name) {
    auto got = data.get(type(id), ns, name);
    return got ? std::optional<json>(*got) : std::nullopt;
  }
  void apply(const std::string& yaml) {
    const auto file = dir / ("manifest-" + std::to_string(counter++) + ".yaml");
    std::ofstream(file) << yaml;
    auto done = rt::apply_manifests(data, file);
    if (!done) FAIL(done.error().message);
  }
  void apply_dir(const fs::path& d, const std::map<std::string, std::string>& subs = {}) {
    auto done = rt::apply_manifests(data, d, subs);
    if (!done) FAIL(done.error().message);
  }
  void patch(std::string_view id, const std::string& ns, const std::string& name, const json& body) {
    auto done = data.patch(type(id), ns, name, patch_kind::merge, body, subresource::main);
    if (!done) FAIL(done.error().message);
  }
  void update(std::string_view id, const json& object) {
    auto done = data.update(type(id), object_namespace(object), object_name(object), object);
    if (!done) FAIL(done.error().message);
  }
  bool ready(const std::string& ns, const std::string& name, int replicas = 1) {
    auto d = get("deployments.apps", ns, name);
    return d && d->value("/status/readyReplicas"_json_pointer, 0) == replicas;
  }
  std::string job_condition(const std::string& ns, const std::string& name, const std::string& which) {
    auto job = get("jobs.batch", ns, name);
    if (!job) return "";
    for (const auto& c : job->value("/status/conditions"_json_pointer, json::array()))
      if (c.value("type", "") == which && c.value("status", "") == "True") return c.value("reason", "True");
    return "";
  }
  std::string secret_value(const std::string& ns, const std::string& name, const std::string& key) {
    auto s = get("secrets", ns, name);
    if (!s) return "";
    return base64_decode(s->value("/data"_json_pointer, json::object()).value(key, "")).value_or("");
  }
  std::string service_ip(const std::string& ns, const std::string& name) {
    auto svc = get("services", ns, name);
    return svc ? svc->value("/spec/clusterIP"_json_pointer, std::string()) : "";
  }
  /// Runs a host command while the cluster keeps serving (the forwarders run on `io`).
  int run(const std::vector<std::string>& argv, std::string& output, std::chrono::seconds timeout = 60s) {
    const auto out_file = dir / ("cmd-" + std::to_string(counter++) + ".out");
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    int status = -1;
    const bool done = run_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout);
    if (!done) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
    output = trimmed(slurp(out_file));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  /// psql as the superuser of the database behind `service`, password from `secret`.
  int psql_admin(const std::string& ns, const std::string& service, const std::string& secret, const std::string& sql,
                 std::string& out) {
    const auto password = secret_value(ns, secret, "database-root-password");
    const auto database = secret_value(ns, secret, "database-name");
    return run({"env", "PGPASSWORD=" + password, "PGCONNECT_TIMEOUT=5", pg15 + "/psql", "-X", "-qtA", "-h",
                service_ip(ns, service), "-U", "postgres", "-d", database, "-c", sql},
               out);
  }

  const std::deque<json>& journal() const { return quay_operator->log().entries(); }
  /// The first journal entry after `after` (a seq) for which `pred` holds.
  template <class P>
  std::optional<json> entry_after(std::uint64_t after, P pred) const {
    for (const auto& e : journal())
      if (e.value("seq", std::uint64_t{0}) > after && pred(e)) return e;
    return std::nullopt;
  }
};

bool mentions(const json& entry, const std::string& text) {
  for (const auto& c : entry.value("changes", json::array()))
    if (c.get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

bool migration_event(const json& entry, const std::string& event) {
  for (const auto& m : entry.value("migrations", json::array()))
    if (m.value("event", "") == event) return true;
  return false;
}

const json& container_of(const json& deployment) { return deployment["spec"]["template"]["spec"]["containers"][0]; }

std::string claim_of(const json& deployment) {
  for (const auto& v : deployment["spec"]["template"]["spec"]["volumes"])
    if (v.value("name", "") == "postgres-data") return v["persistentVolumeClaim"].value("claimName", "");
  return "";
}

bool owned_by_registry(const json& object, const std::string& registry_uid) {
  for (const auto& r : object.value("/metadata/ownerReferences"_json_pointer, json::array()))
    if (r.value("uid", "") == registry_uid && r.value("kind", "") == "QuayRegistry" && r.value("controller", false)) return true;
  return false;
}

// A registry and the operator's Deployment (expecting 13 and 15), in namespaces quay and quay-operator.
std::string operator_setup(bool clair) {
  std::string yaml = R"Y(
apiVersion: v1
kind: Namespace
metadata: {name: quay}
---
apiVersion: v1
kind: Namespace
metadata: {name: quay-operator}
---
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata: {name: registry, namespace: quay}
spec:
  components:
    - {kind: postgres, managed: true}
    - {kind: clairpostgres, managed: CLAIR}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: quay-operator, namespace: quay-operator}
spec:
  replicas: 1
  selector: {matchLabels: {name: quay-operator}}
  template:
    metadata: {labels: {name: quay-operator}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: quay-operator
          image: quay.io/projectquay/quay-operator:v3.9.0
          env:
            - {name: RELATED_IMAGE_COMPONENT_POSTGRES, value: "quay.io/sclorg/postgresql-13-c9s:latest"}
            - {name: RELATED_IMAGE_COMPONENT_POSTGRES_PREVIOUS, value: "centos/postgresql-10-centos7:latest"}
            - {name: RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES, value: "quay.io/sclorg/postgresql-15-c9s:latest"}
            - {name: RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES_PREVIOUS, value: "quay.io/sclorg/postgresql-13-c9s:latest"}
            - {name: KUBE_SIM_DATABASE_CLAIM_SIZE, value: "256Mi"}
)Y";
  yaml.replace(yaml.find("CLAIR"), 5, clair ? "true" : "false");
  return yaml;
}

}  // namespace

TEST_CASE("the stand-in renders Quay's and Clair's databases as the operator's templates do; both become Ready", "[e2e]") {
  cluster c;
  c.apply(operator_setup(true));
  REQUIRE(
      c.run_until([&] { return c.ready("quay", "registry-quay-database") && c.ready("quay", "registry-clair-postgres"); }, 180s));
  const auto registry_uid = meta_string(*c.get("quayregistries.quay.redhat.com", "quay", "registry"), "uid");

  const auto quay_db = *c.get("deployments.apps", "quay", "registry-quay-database");
  CHECK(container_of(quay_db)["image"] == pg13_image);
  CHECK(claim_of(quay_db) == "registry-quay-postgres-13");
  CHECK(quay_db["metadata"]["labels"]["quay-component"] == "postgres");
  CHECK(owned_by_registry(quay_db, registry_uid));
  CHECK(container_of(quay_db)["readinessProbe"]["exec"]["command"][0] == "/usr/libexec/check-container");
  const auto clair_db = *c.get("deployments.apps", "quay", "registry-clair-postgres");
  CHECK(container_of(clair_db)["image"] == pg15_image);
  CHECK(claim_of(clair_db) == "registry-clair-postgres-15");
  CHECK(clair_db["metadata"]["labels"]["quay-component"] == "clair-postgres");
  CHECK(owned_by_registry(clair_db, registry_uid));

  // Claims, Services and the generated credentials, all owned by the registry.
  for (const auto& [id, name] :
       std::vector<std::pair<std::string, std::string>>{{"persistentvolumeclaims", "registry-quay-postgres-13"},
                                                        {"persistentvolumeclaims", "registry-clair-postgres-15"},
                                                        {"services", "registry-quay-database"},
                                                        {"services", "registry-clair-postgres"},
                                                        {"secrets", "registry-postgres-config-secret"},
                                                        {"secrets", "registry-clairpostgres-config-secret"},
                                                        {"secrets", "registry-postgres-bootstrap"},
                                                        {"configmaps", "registry-postgres-conf-sample"}}) {
    INFO(id << " " << name);
    const auto o = c.get(id, "quay", name);
    REQUIRE(o);
    CHECK(owned_by_registry(*o, registry_uid));
  }
  CHECK(c.get("persistentvolumeclaims", "quay", "registry-quay-postgres-13")
            ->value("/spec/resources/requests/storage"_json_pointer, std::string()) == "256Mi");

  // Real servers of the expected majors behind the Services; the operator's start hook made
  // pg_trgm (PostgreSQL 13 and 15 let only a superuser create it), and its postgresql.conf.sample
  // is the cluster's configuration.
  std::string out;
  REQUIRE(c.psql_admin("quay", "registry-quay-database", "registry-postgres-config-secret", "SHOW server_version_num", out) == 0);
  CHECK(out.starts_with("13"));
  REQUIRE(c.psql_admin("quay", "registry-quay-database", "registry-postgres-config-secret",
                       "SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'", out) == 0);
  CHECK(out == "pg_trgm");
  REQUIRE(c.psql_admin("quay", "registry-quay-database", "registry-postgres-config-secret", "SHOW logging_collector", out) == 0);
  CHECK(out == "on");
  REQUIRE(c.psql_admin("quay", "registry-clair-postgres", "registry-clairpostgres-config-secret", "SHOW server_version_num",
                       out) == 0);
  CHECK(out.starts_with("15"));

  // What it did is in its log: the creates first, then reconciles that change nothing.
  CHECK(c.entry_after(0, [](const json& e) { return mentions(e, "created Deployment registry-quay-database"); }));
  CHECK(c.entry_after(0, [](const json& e) { return mentions(e, "created Deployment registry-clair-postgres"); }));
  const auto last = c.quay_operator->log().last_seq();
  REQUIRE(c.run_until(
      [&] { return c.entry_after(last, [](const json& e) { return e.value("result", "") == "no change"; }).has_value(); }, 30s));
  CHECK(slurp(c.dir / "quay-operator.jsonl").find("\"registry\":\"quay/registry\"") != std::string::npos);
}

TEST_CASE("the stand-in puts back a hand-made change of the database's image or claim, and keeps what it does not render",
          "[e2e]") {
  cluster c;
  c.apply(operator_setup(false));
  REQUIRE(c.run_until([&] { return c.get("deployments.apps", "quay", "registry-quay-database").has_value(); }, 60s));
  CHECK_FALSE(c.get("deployments.apps", "quay", "registry-clair-postgres"));  // clairpostgres is not managed

  // Another registry and tag with the same last repository segment: not a migration, only drift.
  auto d = *c.get("deployments.apps", "quay", "registry-quay-database");
  const std::string hand_image = "registry.example.com/mirror/postgresql-13-c9s:hand-made";
  d["spec"]["template"]["spec"]["containers"][0]["image"] = hand_image;
  d["metadata"]["annotations"]["example.com/note"] = "kept";
  auto seq = c.quay_operator->log().last_seq();
  c.update("deployments.apps", d);
  REQUIRE(c.run_until(
      [&] { return container_of(*c.get("deployments.apps", "quay", "registry-quay-database"))["image"] == pg13_image; }, 30s));
  const auto image_fix = c.entry_after(seq, [](const json& e) { return mentions(e, "registry-quay-database: image"); });
  REQUIRE(image_fix);
  CHECK(mentions(*image_fix, "image " + hand_image + " -> " + pg13_image));
  CHECK(image_fix->value("result", "") == "changed");

  // A hand-made claim.
  d = *c.get("deployments.apps", "quay", "registry-quay-database");
  for (auto& v : d["spec"]["template"]["spec"]["volumes"])
    if (v["name"] == "postgres-data") v["persistentVolumeClaim"]["claimName"] = "hand-made-claim";
  seq = c.quay_operator->log().last_seq();
  c.update("deployments.apps", d);
  REQUIRE(c.run_until(
      [&] { return claim_of(*c.get("deployments.apps", "quay", "registry-quay-database")) == "registry-quay-postgres-13"; },
      30s));
  const auto claim_fix = c.entry_after(seq, [](const json& e) { return mentions(e, "registry-quay-database: claim"); });
  REQUIRE(claim_fix);
  CHECK(mentions(*claim_fix, "claim hand-made-claim -> registry-quay-postgres-13"));

  // Server-side apply keeps what others set beside its fields; drift never started a migration.
  const auto now = *c.get("deployments.apps", "quay", "registry-quay-database");
  CHECK(now["metadata"]["annotations"].value("example.com/note", "") == "kept");
  CHECK_FALSE(c.get("jobs.batch", "quay", "registry-quay-postgres-upgrade"));
  CHECK_FALSE(c.get("deployments.apps", "quay", "registry-quay-database-old"));
}

TEST_CASE("scaled to 0 the operator stops reconciling; scaled back to 1 it puts its templates back", "[e2e]") {
  cluster c;
  c.apply(operator_setup(false));
  REQUIRE(c.run_until([&] { return c.get("deployments.apps", "quay", "registry-quay-database").has_value(); }, 60s));

  auto seq = c.quay_operator->log().last_seq();
  c.patch("deployments.apps", "quay-operator", "quay-operator", {{"spec", {{"replicas", 0}}}});
  REQUIRE(c.run_until(
      [&] { return c.entry_after(seq, [](const json& e) { return e.value("operator", "") == "stopped"; }).has_value(); }, 60s));
  // No operator pod is left once the kubelet has stopped it.
  REQUIRE(c.run_until(
      [&] { return c.get("deployments.apps", "quay-operator", "quay-operator")->value("/status/replicas"_json_pointer, 0) == 0; },
      60s));

  auto d = *c.get("deployments.apps", "quay", "registry-quay-database");
  const std::string hand_image = "registry.example.com/mirror/postgresql-13-c9s:while-stopped";
  d["spec"]["template"]["spec"]["containers"][0]["image"] = hand_image;
  c.update("deployments.apps", d);
  const auto reconciles = c.quay_operator->reconciles();
  const auto ticks = c.quay_operator->ticks();
  // Several resync periods in which a running operator would have reverted it.
  REQUIRE(c.run_until([&] { return c.quay_operator->ticks() >= ticks + 4; }, 60s));
  CHECK(c.quay_operator->reconciles() == reconciles);
  CHECK(container_of(*c.get("deployments.apps", "quay", "registry-quay-database"))["image"] == hand_image);
  CHECK_FALSE(c.quay_operator->status()["active"].get<bool>());

  seq = c.quay_operator->log().last_seq();
  c.patch("deployments.apps", "quay-operator", "quay-operator", {{"spec", {{"replicas", 1}}}});
  REQUIRE(c.run_until(
      [&] { return container_of(*c.get("deployments.apps", "quay", "registry-quay-database"))["image"] == pg13_image; }, 60s));
  CHECK(c.entry_after(seq, [](const json& e) { return e.value("operator", "") == "running"; }));
}

namespace {

/// A migration scenario: where the database is and where the operator takes it.
struct scenario_migration {
  std::string scenario;
  std::string from_version, to_version;  // server_version_num prefixes
  std::string from_segment, to_segment;  // the images' last repository segments
  std::string old_image, new_image;  // the -old Deployment's (the _PREVIOUS env) and the expected one
  std::string old_claim, new_claim;
};

// Seeds the scenario with the operator held, releases it, and follows its migration to the end.
void run_scenario_migration(const scenario_migration& s) {
  cluster c(/*hold=*/true);
  c.apply_dir(source_dir / "scenarios" / s.scenario, {{"{name: ROWS, value: \"1000\"}", "{name: ROWS, value: \"300\"}"}});
  REQUIRE(c.run_until(
      [&] {
        return c.ready("quay", "registry-quay-database") && !c.job_condition("quay", "registry-quay-seed", "Complete").empty();
      },
      180s));
  const auto registry_uid = meta_string(*c.get("quayregistries.quay.redhat.com", "quay", "registry"), "uid");
  const std::string secret = "registry-postgres-config-secret";
  std::string out;
  REQUIRE(c.psql_admin("quay", "registry-quay-database", secret, "SHOW server_version_num", out) == 0);
  REQUIRE(out.starts_with(s.from_version));
  REQUIRE(c.psql_admin("quay", "registry-quay-database", secret,
                       "CREATE TABLE migration_marker (note text); INSERT INTO migration_marker VALUES ('written before')",
                       out) == 0);
  REQUIRE(c.psql_admin("quay", "registry-quay-database", secret, "SELECT count(*) FROM repository", out) == 0);
  REQUIRE(out == "300");

  // Released, the operator finds postgresql-10-centos7 where it expects postgresql-13-c9s.
  const auto seq = c.quay_operator->log().last_seq();
  c.quay_operator->set_hold(false);
  REQUIRE(c.run_until([&] { return c.entry_after(seq, [](const json& e) { return migration_event(e, "started"); }).has_value(); },
                      120s));
  const auto started = *c.entry_after(seq, [](const json& e) { return migration_event(e, "started"); });
  const auto& m = started["migrations"][0];
  CHECK(m["from"] == s.from_segment);
  CHECK(m["to"] == s.to_segment);
  CHECK(m["oldClaim"] == s.old_claim);
  CHECK(m["newClaim"] == s.new_claim);
  // Before that it scaled the database to 0 and waited for its pod.
  CHECK(c.entry_after(seq, [](const json& e) { return mentions(e, "scaled Deployment registry-quay-database to 0"); }));
  const auto old = c.get("deployments.apps", "quay", "registry-quay-database-old");
  REQUIRE(old);
  CHECK(container_of(*old)["image"] == s.old_image);
  CHECK(claim_of(*old) == s.old_claim);
  CHECK(c.get("jobs.batch", "quay", "registry-quay-postgres-upgrade"));
  CHECK(c.get("persistentvolumeclaims", "quay", s.new_claim));
  CHECK(c.get("deployments.apps", "quay", "registry-quay-app")->value("/spec/replicas"_json_pointer, -1) == 0);
  const auto registry = *c.get("quayregistries.quay.redhat.com", "quay", "registry");
  CHECK(registry.dump().find("PostgresUpgradeInProgress") != std::string::npos);

  REQUIRE(c.run_until(
      [&] { return c.entry_after(seq, [](const json& e) { return migration_event(e, "finished"); }).has_value(); }, 300s));
  CHECK(c.job_condition("quay", "registry-quay-postgres-upgrade", "Complete") == "CompletionsReached");
  REQUIRE(c.run_until([&] { return c.ready("quay", "registry-quay-database"); }, 120s));

  // The database runs the new major on the claim the templates name, with every row of the old.
  const auto db = *c.get("deployments.apps", "quay", "registry-quay-database");
  CHECK(container_of(db)["image"] == s.new_image);
  CHECK(claim_of(db) == s.new_claim);
  REQUIRE(c.psql_admin("quay", "registry-quay-database", secret, "SHOW server_version_num", out) == 0);
  CHECK(out.starts_with(s.to_version));
  REQUIRE(c.psql_admin("quay", "registry-quay-database", secret, "SELECT count(*) FROM repository", out) == 0);
  CHECK(out == "300");
  REQUIRE(c.psql_admin("quay", "registry-quay-database", secret, "SELECT rows FROM seed_done", out) == 0);
  CHECK(out == "300");
  REQUIRE(c.psql_admin("quay", "registry-quay-database", secret, "SELECT note FROM migration_marker", out) == 0);
  CHECK(out == "written before");
  REQUIRE(c.psql_admin("quay", "registry-quay-database", secret, "SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'",
                       out) == 0);
  CHECK(out == "pg_trgm");
  // The application's own login, restored from the dump with its password.
  REQUIRE(c.run({"env", "PGPASSWORD=quay-db-password", "PGCONNECT_TIMEOUT=5", pg15 + "/psql", "-X", "-qtA", "-h",
                 c.service_ip("quay", "registry-quay-database"), "-U", "quay", "-d", "quay", "-c", "SELECT count(*) FROM tag"},
                out) == 0);
  CHECK(out == "300");

  // Cleanup: the -old Deployment is gone, the old claim kept but released, the app back.
  CHECK_FALSE(c.get("deployments.apps", "quay", "registry-quay-database-old"));
  const auto old_claim = c.get("persistentvolumeclaims", "quay", s.old_claim);
  REQUIRE(old_claim);
  CHECK_FALSE(owned_by_registry(*old_claim, registry_uid));
  CHECK(owned_by_registry(*c.get("persistentvolumeclaims", "quay", s.new_claim), registry_uid));
  REQUIRE(c.run_until(
      [&] { return c.get("deployments.apps", "quay", "registry-quay-app")->value("/spec/replicas"_json_pointer, -1) == 1; },
      30s));
  const auto done = *c.get("quayregistries.quay.redhat.com", "quay", "registry");
  CHECK(done.dump().find("ComponentsCreationSuccess") != std::string::npos);

  // Afterwards it leaves the result alone, and it ran its Job once.
  const auto after = c.quay_operator->log().last_seq();
  REQUIRE(c.run_until(
      [&] { return c.entry_after(after, [](const json& e) { return e.value("result", "") == "no change"; }).has_value(); }, 60s));
  int job_creates = 0;
  for (const auto& e : c.journal()) job_creates += mentions(e, "created Job registry-quay-postgres-upgrade") ? 1 : 0;
  CHECK(job_creates == 1);
}

}  // namespace

TEST_CASE("its own migration 10 -> 13 runs to the end: -old Deployment, new claim, pg_dumpall Job, cleanup; every row is there",
          "[e2e]") {
  run_scenario_migration({"quay-operator-pg10", "10", "13", "postgresql-10-centos7", "postgresql-13-c9s",
                          "centos/postgresql-10-centos7:latest", "quay.io/sclorg/postgresql-13-c9s:latest",
                          "registry-quay-database", "registry-quay-postgres-13"});
}

TEST_CASE("its own migration 13 -> 15 of the quay-operator-pg13 scenario runs to the end with every row", "[e2e]") {
  run_scenario_migration({"quay-operator-pg13", "13", "15", "postgresql-13-c9s", "postgresql-15-c9s",
                          "quay.io/sclorg/postgresql-13-c9s:latest", "quay.io/sclorg/postgresql-15-c9s:latest",
                          "registry-quay-postgres-13", "registry-quay-postgres-15"});
}

TEST_CASE("the PostgreSQL images ship /usr/libexec/check-container, which fails while no server runs", "[e2e]") {
  cluster c;
  c.apply(R"Y(
apiVersion: v1
kind: Namespace
metadata: {name: t}
---
apiVersion: batch/v1
kind: Job
metadata: {name: probe-without-server, namespace: t}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: probe
          image: centos/postgresql-10-centos7
          command: ["/bin/sh", "-c", "test -x /usr/libexec/check-container || exit 9; /usr/libexec/check-container; echo \"check-container $?\" > /dev/termination-log"]
)Y");
  REQUIRE(c.run_until(
      [&] {
        return !c.job_condition("t", "probe-without-server", "Complete").empty() ||
               !c.job_condition("t", "probe-without-server", "Failed").empty();
      },
      60s));
  REQUIRE(c.job_condition("t", "probe-without-server", "Complete") == "CompletionsReached");
  std::string message;
  const auto pods = c.data.list(c.type("pods"), "t");
  REQUIRE(pods);
  for (const auto& p : pods->items)
    message = p.value("/status/containerStatuses/0/state/terminated/message"_json_pointer, std::string());
  CHECK(message.starts_with("check-container "));
  CHECK(message != "check-container 0");
}

namespace {

// The scenario's database switched to `image` and `claim` while the operator was held: released,
// the operator must change nothing of substance.
void check_left_alone(const std::string& scenario, const std::string& image, const std::string& claim) {
  // The state an upgrade done while the operator was stopped ends in (issue 13 item 2): the
  // scenario's database switched to the image the operator expects and to the claim it names.
  cluster c(/*hold=*/true);
  c.apply_dir(source_dir / "scenarios" / scenario, {{"{name: ROWS, value: \"1000\"}", "{name: ROWS, value: \"10\"}"}});
  c.apply(R"Y(
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {namespace: quay, name: )Y" +
          claim + R"Y(}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
)Y");
  auto d = *c.get("deployments.apps", "quay", "registry-quay-database");
  d["spec"]["template"]["spec"]["containers"][0]["image"] = image;
  for (auto& v : d["spec"]["template"]["spec"]["volumes"])
    if (v["name"] == "postgres-data") v["persistentVolumeClaim"]["claimName"] = claim;
  c.update("deployments.apps", d);
  const auto spec_before = c.get("deployments.apps", "quay", "registry-quay-database")->at("spec");

  const auto seq = c.quay_operator->log().last_seq();
  const auto reconciles = c.quay_operator->reconciles();
  c.quay_operator->set_hold(false);
  REQUIRE(c.run_until([&] { return c.quay_operator->reconciles() >= reconciles + 3; }, 60s));
  for (const auto& e : c.journal()) {
    if (e.value("seq", std::uint64_t{0}) <= seq || !e.contains("registry")) continue;
    INFO(e.dump());
    CHECK((e.value("result", "") == "no change" || e.value("result", "") == "metadata only"));
  }
  CHECK(c.get("deployments.apps", "quay", "registry-quay-database")->at("spec") == spec_before);
  CHECK_FALSE(c.get("jobs.batch", "quay", "registry-quay-postgres-upgrade"));
  CHECK_FALSE(c.get("deployments.apps", "quay", "registry-quay-database-old"));
  // It adopts the claim it renders (labels and its ownerReference): metadata only.
  const auto registry_uid = meta_string(*c.get("quayregistries.quay.redhat.com", "quay", "registry"), "uid");
  CHECK(owned_by_registry(*c.get("persistentvolumeclaims", "quay", claim), registry_uid));
}

}  // namespace

TEST_CASE("on the image and claim it expects, the scenario's database is left alone: nothing of substance changes", "[e2e]") {
  check_left_alone("quay-operator-pg10", "quay.io/sclorg/postgresql-13-c9s:latest", "registry-quay-postgres-13");
  check_left_alone("quay-operator-pg13", "quay.io/sclorg/postgresql-15-c9s:latest", "registry-quay-postgres-15");
}

TEST_CASE("an operator upgraded to expect 15 migrates Quay's and Clair's databases from 13, each from the claim it mounted",
          "[e2e]") {
  cluster c;
  std::string setup = operator_setup(true);
  // The operator of the release before: both databases on 13.
  setup.replace(setup.find("quay.io/sclorg/postgresql-15-c9s:latest"), 39, "quay.io/sclorg/postgresql-13-c9s:latest");
  c.apply(setup);
  REQUIRE(
      c.run_until([&] { return c.ready("quay", "registry-quay-database") && c.ready("quay", "registry-clair-postgres"); }, 180s));
  CHECK(claim_of(*c.get("deployments.apps", "quay", "registry-clair-postgres")) == "registry-clair-postgres-13");
  std::string out;
  for (const auto& [service, secret] :
       std::vector<std::pair<std::string, std::string>>{{"registry-quay-database", "registry-postgres-config-secret"},
                                                        {"registry-clair-postgres", "registry-clairpostgres-config-secret"}}) {
    REQUIRE(c.psql_admin("quay", service, secret, "SHOW server_version_num", out) == 0);
    REQUIRE(out.starts_with("13"));
    REQUIRE(c.psql_admin("quay", service, secret,
                         "CREATE TABLE carried (n int); INSERT INTO carried SELECT generate_series(1, 250)", out) == 0);
  }

  // The operator is upgraded: its new pod expects 15 for both, 13 being the previous image.
  const auto seq = c.quay_operator->log().last_seq();
  auto opd = *c.get("deployments.apps", "quay-operator", "quay-operator");
  for (auto& e : opd["spec"]["template"]["spec"]["containers"][0]["env"]) {
    const auto name = e["name"].get<std::string>();
    if (name == "RELATED_IMAGE_COMPONENT_POSTGRES" || name == "RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES") e["value"] = pg15_image;
    if (name == "RELATED_IMAGE_COMPONENT_POSTGRES_PREVIOUS") e["value"] = pg13_image;
  }
  c.update("deployments.apps", opd);
  REQUIRE(c.run_until(
      [&] {
        int finished = 0;
        for (const auto& e : c.journal())
          if (e.value("seq", std::uint64_t{0}) > seq)
            for (const auto& m : e.value("migrations", json::array())) finished += m.value("event", "") == "finished" ? 1 : 0;
        return finished == 2;
      },
      420s));
  int started = 0;
  for (const auto& e : c.journal())
    for (const auto& m : e.value("migrations", json::array()))
      if (m.value("event", "") == "started") {
        ++started;
        const bool quay = m["component"] == "postgres";
        CHECK(m["from"] == "postgresql-13-c9s");
        CHECK(m["to"] == "postgresql-15-c9s");
        CHECK(m["oldClaim"] == (quay ? "registry-quay-postgres-13" : "registry-clair-postgres-13"));
        CHECK(m["newClaim"] == (quay ? "registry-quay-postgres-15" : "registry-clair-postgres-15"));
      }
  CHECK(started == 2);
  REQUIRE(
      c.run_until([&] { return c.ready("quay", "registry-quay-database") && c.ready("quay", "registry-clair-postgres"); }, 180s));
  for (const auto& [service, secret] :
       std::vector<std::pair<std::string, std::string>>{{"registry-quay-database", "registry-postgres-config-secret"},
                                                        {"registry-clair-postgres", "registry-clairpostgres-config-secret"}}) {
    INFO(service);
    REQUIRE(c.psql_admin("quay", service, secret, "SHOW server_version_num", out) == 0);
    CHECK(out.starts_with("15"));
    REQUIRE(c.psql_admin("quay", service, secret, "SELECT count(*) FROM carried", out) == 0);
    CHECK(out == "250");
  }
  CHECK(claim_of(*c.get("deployments.apps", "quay", "registry-quay-database")) == "registry-quay-postgres-15");
  CHECK(claim_of(*c.get("deployments.apps", "quay", "registry-clair-postgres")) == "registry-clair-postgres-15");
  CHECK_FALSE(c.get("deployments.apps", "quay", "registry-quay-database-old"));
  CHECK_FALSE(c.get("deployments.apps", "quay", "registry-clair-postgres-old"));
  CHECK_FALSE(c.get("services", "quay", "registry-clair-postgres-old"));
  CHECK(c.get("persistentvolumeclaims", "quay", "registry-quay-postgres-13"));
  CHECK(c.get("persistentvolumeclaims", "quay", "registry-clair-postgres-13"));
}

TEST_CASE("the PostgreSQL images source the start hooks on every start, before the pod is Ready", "[e2e]") {
  cluster c;
  c.apply(R"Y(
apiVersion: v1
kind: Namespace
metadata: {name: t}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: t}
stringData: {user: app, password: app-password, database: app, root: root-password}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: hooks, namespace: t}
data:
  count-starts.sh: |
    psql --set ON_ERROR_STOP=1 -d "$POSTGRESQL_DATABASE" <<<"CREATE TABLE IF NOT EXISTS hook_runs (at timestamptz DEFAULT now()); INSERT INTO hook_runs DEFAULT VALUES;"
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: t}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 256Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: t}
spec:
  selector: {app: db}
  ports: [{port: 5432, targetPort: 5432}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: t}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      volumes:
        - {name: hooks, configMap: {name: hooks}}
        - {name: data, persistentVolumeClaim: {claimName: data}}
      containers:
        - name: postgres
          image: quay.io/sclorg/postgresql-13-c9s
          env:
            - {name: POSTGRESQL_USER, valueFrom: {secretKeyRef: {name: db, key: user}}}
            - {name: POSTGRESQL_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
            - {name: POSTGRESQL_DATABASE, valueFrom: {secretKeyRef: {name: db, key: database}}}
            - {name: POSTGRESQL_ADMIN_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: root}}}
          volumeMounts:
            - {name: data, mountPath: /var/lib/pgsql/data}
            - {name: hooks, mountPath: /usr/share/container-scripts/postgresql/start/count-starts.sh, subPath: count-starts.sh, readOnly: true}
          readinessProbe:
            exec: {command: [/usr/libexec/check-container]}
            periodSeconds: 1
)Y");
  auto runs = [&](std::string& out) {
    return c.run({"env", "PGPASSWORD=root-password", "PGCONNECT_TIMEOUT=5", pg15 + "/psql", "-X", "-qtA", "-h",
                  c.service_ip("t", "db"), "-U", "postgres", "-d", "app", "-c", "SELECT count(*) FROM hook_runs"},
                 out);
  };
  REQUIRE(c.run_until([&] { return c.ready("t", "db"); }, 120s));
  std::string out;
  REQUIRE(runs(out) == 0);
  CHECK(out == "1");

  // A new pod on the same data: the hook runs again.
  const auto pods = c.data.list(c.type("pods"), "t");
  REQUIRE(pods);
  for (const auto& p : pods->items) (void)c.data.remove(c.type("pods"), "t", object_name(p));
  REQUIRE(c.run_until(
      [&] {
        const auto now = c.data.list(c.type("pods"), "t");
        return now && now->items.size() == 1 && !now->items[0]["metadata"].contains("deletionTimestamp") && c.ready("t", "db");
      },
      120s));
  REQUIRE(runs(out) == 0);
  CHECK(out == "2");
}
