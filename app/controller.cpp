#include "app/controller.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "core/codec.hpp"
#include "core/snapshot.hpp"
#include "effects/dispatch.hpp"
#include "effects/labels.hpp"
#include "effects/requeue_timers.hpp"
#include "reducers/reduce.hpp"
#include "kube/api_client.hpp"
#include "kube/http_client.hpp"
#include "kube/kube_config.hpp"
#include "watch/reflector_driver.hpp"
#include "watch/watch_input.hpp"

namespace qpu::app {

namespace net = boost::asio;

timestamp now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = [] {
    auto existing = spdlog::get("controller");
    return existing ? existing : spdlog::default_logger()->clone("controller");
  }();
  return l;
}

const char* effect_name(const effect& e) {
  return std::visit(
      [](const auto& v) -> const char* {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, create_claim>) return "create_claim";
        else if constexpr (std::is_same_v<T, create_job>) return "create_job";
        else if constexpr (std::is_same_v<T, scale_deployment>) return "scale_deployment";
        else if constexpr (std::is_same_v<T, patch_database_deployment>) return "patch_database_deployment";
        else if constexpr (std::is_same_v<T, update_registry_status>) return "update_registry_status";
        else if constexpr (std::is_same_v<T, emit_event>) return "emit_event";
        else if constexpr (std::is_same_v<T, inspect_database>) return "inspect_database";
        else if constexpr (std::is_same_v<T, delete_job>) return "delete_job";
        else if constexpr (std::is_same_v<T, inspect_claim>) return "inspect_claim";
        else if constexpr (std::is_same_v<T, read_claim>) return "read_claim";
        else if constexpr (std::is_same_v<T, read_job_progress>) return "read_job_progress";
        else if constexpr (std::is_same_v<T, read_job_manifest>) return "read_job_manifest";
        else return "requeue_after";
      },
      e);
}

// A test hook for the crash tests (tests/reliability/): QPU_CRASH_AT="<substring>:<point>" makes
// the process die as a SIGKILL would (_exit(137), no flush, no destructors) at one effect
// boundary of the first effect whose id contains <substring>:
//   before      the effect was decided and its cause is on disk, the request is not sent;
//   after-send  the request was answered, its result is not yet in the event log;
//   after-log   its result is in the event log (synced), the effects it decides are not performed.
// Unset (production), it costs one getenv at start.
struct crash_point {
  std::string id_part;
  std::string point;
};

const std::optional<crash_point>& crash_at() {
  static const std::optional<crash_point> cp = []() -> std::optional<crash_point> {
    const char* v = std::getenv("QPU_CRASH_AT");
    if (!v || !*v) return std::nullopt;
    std::string_view s(v);
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    return crash_point{std::string(s.substr(0, colon)), std::string(s.substr(colon + 1))};
  }();
  return cp;
}

void maybe_crash(const effect_id& effect, std::string_view point) {
  const auto& cp = crash_at();
  if (!cp || cp->point != point) return;
  const std::string id = to_string(effect);
  if (id.find(cp->id_part) == std::string::npos) return;
  logger()->warn("QPU_CRASH_AT: dying {} {}", point, id);
  logger()->flush();
  ::_exit(137);
}

// The watch event type for /metrics, as the API server names it.
const char* watch_type_name(const event& e) {
  if (const auto* o = std::get_if<object_event>(&e))
    return o->type == watch_type::added ? "ADDED" : o->type == watch_type::modified ? "MODIFIED" : "DELETED";
  if (std::holds_alternative<bookmark_seen>(e)) return "BOOKMARK";
  if (std::holds_alternative<watch_error>(e)) return "ERROR";
  return "OTHER";
}

// The effect's main API verb (inspect_database reads a Service and Secrets, then speaks libpq).
const char* effect_verb(const effect& e) {
  if (std::holds_alternative<create_claim>(e) || std::holds_alternative<create_job>(e) || std::holds_alternative<emit_event>(e))
    return "POST";
  if (std::holds_alternative<delete_job>(e)) return "DELETE";
  if (std::holds_alternative<inspect_database>(e) || std::holds_alternative<inspect_claim>(e) ||
      std::holds_alternative<read_claim>(e) || std::holds_alternative<read_job_progress>(e) ||
      std::holds_alternative<read_job_manifest>(e))
    return "GET";
  return "PATCH";
}

}  // namespace

std::vector<std::string> watch_selectors(resource_kind kind, const watch_selection& w) {
  if (w.all || kind == resource_kind::quay_registry) return {""};
  const std::string rendered = "quay-component";
  const std::string not_rendered = ",!quay-component";  // keeps the streams disjoint
  if (kind == resource_kind::deployment) {
    std::vector<std::string> s{rendered};
    if (!w.operator_selector.empty()) s.push_back(w.operator_selector + not_rendered);
    return s;
  }
  return {rendered, std::string(effects::managed_by_label) + "=" + std::string(effects::component_name) + not_rendered};
}

controller::controller(net::io_context& ioc, run_options options) : ioc_(ioc), options_(std::move(options)) {}
controller::~controller() = default;

std::expected<void, std::string> controller::start() {
  auto cfg = kube::load_default(options_.kubeconfig);
  if (!cfg) return std::unexpected("cluster configuration: " + cfg.error());
  if (options_.allow_insecure_http) {
    cfg->allow_insecure_http = true;
    if (cfg->server.starts_with("http://"))
      logger()->warn("--allow-insecure-http: talking plain HTTP to {}; the bearer token is sent unencrypted", cfg->server);
  }
  auto client = kube::http_client::create(ioc_.get_executor(), *cfg);
  if (!client) return std::unexpected("API client: " + client.error());
  client_ = *client;
  api_ = std::make_shared<kube::api_client>(client_);

  // A restarted controller refolds its own log first: the upgrade's bookkeeping (attempt,
  // recorded replicas, the manifest) survives, and the relists that follow bring the cluster's
  // present state. The decided effects of the past are not performed again.
  // A snapshot, when there is one, holds the log up to its seq: only the lines after it are read.
  log_resume from;
  auto fold = [&](logged_event&& e) { state_ = reducers::reduce(std::move(state_), e).next; };
  auto warn = [](const std::string& w) { logger()->warn("{}", w); };
  const bool have_log = ::access(options_.event_log.c_str(), F_OK) == 0;
  if (auto snap = read_snapshot(snapshot_path(options_.event_log)); !snap) {
    logger()->warn("{}; folding the whole event log instead", snap.error());
  } else if (*snap) {
    state_ = std::move((*snap)->s);
    from = {(*snap)->log_offset, state_.last_seq};
    auto read = have_log ? read_event_log(options_.event_log, fold, warn, from) : std::expected<std::uint64_t, std::string>(0);
    if (read) {
      snapshot_seq_ = from.after_seq;
      logger()->info("restored the snapshot at seq {} and folded {} events after it from {}", from.after_seq, *read,
                     options_.event_log);
    } else {
      logger()->warn("the snapshot at seq {} does not continue into {} ({}); folding the whole event log instead", from.after_seq,
                     options_.event_log, read.error());
      state_ = state{};
      from = {};
    }
  }
  if (have_log && from.after_seq == 0) {
    std::uint64_t first_seq = 0;
    auto read = read_event_log(
        options_.event_log,
        [&](logged_event&& e) {
          if (first_seq == 0) first_seq = e.seq;
          if (first_seq == 1) fold(std::move(e));
        },
        warn);
    if (!read) return std::unexpected(read.error());
    // A log whose earlier lines were archived (snapshot --archive) is only whole with its snapshot.
    if (first_seq > 1)
      return std::unexpected(options_.event_log + " starts at seq " + std::to_string(first_seq) +
                             ": its earlier lines were archived, and its snapshot " + snapshot_path(options_.event_log) +
                             " is missing or unusable; put the snapshot back (or the archived lines before the log's)");
    logger()->info("refolded {} events from {}", *read, options_.event_log);
  }
  timers_ = std::make_unique<effects::requeue_timers>(ioc_.get_executor(), now_ms, [this](timer_fired fired) {
    if (!stopping_) record_result("timer", std::move(fired));
  });
  auto log = event_log_writer::open(options_.event_log, options_.fsync, from);
  if (!log) return std::unexpected(log.error());
  log_.emplace(std::move(*log));

  const timestamp ts = now_ms();
  controller_started started{options_.cfg, options_.version};
  ingest(log_line_event(log_->next_seq(), ts, "controller", started), logged_event{log_->next_seq(), ts, "controller", started});

  // Secrets in what is watched (literal env values, the last-applied annotation) are never logged.
  const std::string key_file = options_.redaction_key_file.empty() ? options_.event_log + ".key" : options_.redaction_key_file;
  auto redact = watch::redactor::from_key_file(key_file);
  if (!redact) return std::unexpected(redact.error());
  const auto redaction = std::make_shared<const watch::redactor>(std::move(*redact));
  redaction_ = redaction;

  for (auto kind : all_resource_kinds) {
    const auto selectors = watch_selectors(kind, options_.watch);
    for (std::size_t stream = 0; stream < selectors.size(); ++stream) {
      watch::reflector_spec spec;
      spec.kind = kind;
      spec.ns = options_.cfg.watch_namespace;
      spec.label_selector = selectors[stream];
      spec.stream = static_cast<std::uint8_t>(stream);
      spec.streams = static_cast<std::uint8_t>(selectors.size());
      spec.redact = redaction;
      drivers_.push_back(std::make_unique<watch::reflector_driver>(
          client_, spec,
          [this](const watch::watch_input& in) {
            if (stopping_) return;
            if (in.origin == watch::input_origin::watch_line)
              ++metrics_.watch_events[{plural(in.kind), watch_type_name(in.body)}];
            if (in.origin == watch::input_origin::relist_done) ++metrics_.relists[plural(in.kind)];
            if (in.kind == resource_kind::quay_registry) remember_status(in);
            const timestamp now = now_ms();
            const std::uint64_t seq = log_->next_seq();
            std::string line = watch::log_line(in, seq, now);
            if (in.origin == watch::input_origin::malformed) {
              // Fold exactly what a replay of this line will see.
              auto parsed = parse_log_line(std::string_view(line).substr(0, line.size() - 1));
              if (parsed) return ingest(std::move(line), std::move(*parsed));
            }
            ingest(std::move(line), logged_event{seq, now, std::string("watch/") + plural(in.kind), in.body});
          },
          now_ms));
      net::co_spawn(ioc_, drivers_.back()->run(), net::detached);
    }
  }
  logger()->info("watching {} for QuayRegistries; target {}; {}",
                 options_.cfg.watch_namespace.empty() ? "all namespaces" : "namespace " + options_.cfg.watch_namespace,
                 options_.cfg.target_image,
                 options_.watch.all
                     ? std::string("every Deployment, Pod, Job and claim (--watch-all)")
                     : "Deployments, Pods, Jobs and claims labelled quay-component or made by quay-pg-upgrader, "
                       "and the operator's Deployment (" +
                           (options_.watch.operator_selector.empty() ? std::string("none") : options_.watch.operator_selector) +
                           ")");
  return {};
}

// The status write's base (effects/status_cache.hpp): each QuayRegistry as the watch shows it.
void controller::remember_status(const watch::watch_input& in) {
  if (in.origin == watch::input_origin::relist_start) return statuses_.clear();
  const object_view* o = nullptr;
  if (const auto* oe = std::get_if<object_event>(&in.body)) o = &oe->object;
  else if (const auto* item = std::get_if<relist_item>(&in.body)) o = &item->object;
  if (o) statuses_.seen(meta_of(*o).key, in.raw);
}

void controller::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& d : drivers_) d->stop();
  if (timers_) timers_->cancel_all();
  if (log_) {
    if (auto r = log_->sync(); !r) logger()->error("{}", r.error());
    else maybe_snapshot(true);  // the next start reads nothing but this
  }
}

// Append, fold, and queue the decided effects; they run once the log is on disk.
void controller::ingest(std::string line, logged_event ev) {
  log_->append(std::move(line));
  // Phase changes feed the metrics. Relist steps, bookmarks and stream errors only fill the
  // stores (reduce decides nothing on them), so no phase can move and no snapshot is taken; other
  // events snapshot (phase, since) in key order and compare by position after the fold, or by key
  // when the event may add or remove registries. A map of every registry built for every input
  // was most of an initial sync's time across 1000 registries (docs/BENCHMARKS.md, item 4).
  const bool may_move_phases = !std::holds_alternative<relist_item>(ev.body) &&
                               !std::holds_alternative<relist_started>(ev.body) &&
                               !std::holds_alternative<bookmark_seen>(ev.body) && !std::holds_alternative<watch_error>(ev.body) &&
                               !std::holds_alternative<malformed_input>(ev.body);
  const auto* oe = std::get_if<object_event>(&ev.body);
  const bool may_change_registries = std::holds_alternative<relist_done>(ev.body) ||
                                     std::holds_alternative<controller_started>(ev.body) ||
                                     (oe && (kind_of(oe->object) == resource_kind::quay_registry ||
                                             kind_of(oe->object) == resource_kind::deployment));  // Clair's database appears
  thread_local std::vector<std::pair<phase, timestamp>> by_position;  // reused: no allocation per event
  std::map<database_key, std::pair<phase, timestamp>> by_key;
  by_position.clear();
  if (may_move_phases && may_change_registries)
    for (const auto& [key, u] : state_.upgrades) by_key[key] = {u.current, u.phase_since};
  else if (may_move_phases)
    for (const auto& [key, u] : state_.upgrades) by_position.emplace_back(u.current, u.phase_since);
  auto r = reducers::reduce(std::move(state_), ev);
  state_ = std::move(r.next);
  // Only QuayRegistry events and their relists add or remove registries; were that ever to change,
  // skip the metrics rather than pair the wrong registries.
  const bool comparable = may_change_registries || by_position.size() == state_.upgrades.size();
  std::size_t position = 0;
  for (const auto& [key, u] : state_.upgrades) {
    if (!may_move_phases || !comparable) break;
    const std::pair<phase, timestamp>* was = nullptr;
    if (!may_change_registries) {
      was = &by_position[position++];
    } else if (auto it = by_key.find(key); it != by_key.end()) {
      was = &it->second;
    }
    if (was && was->first == u.current) continue;
    if (was)
      metrics_.phase_seconds.try_emplace(to_string(was->first), histogram{{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400}})
          .first->second.observe(static_cast<double>(ev.ts - was->second) / 1000.0);
    if (u.current == phase::succeeded || u.current == phase::failed || u.current == phase::refused ||
        u.current == phase::unsupported || u.current == phase::reverted || u.current == phase::revert_failed ||
        u.current == phase::revert_refused || u.current == phase::blocked)
      ++metrics_.upgrades[to_string(u.current)];
  }
  for (auto& e : r.effects) pending_effects_.push_back(std::move(e));
  if (options_.on_fold) options_.on_fold(state_, ev);
  if (!flush_posted_) {
    flush_posted_ = true;
    net::post(ioc_, [this] { flush_and_perform(); });
  }
}

void controller::flush_and_perform() {
  flush_posted_ = false;
  if (auto r = log_->sync(); !r) {
    // Without a durable log a restart could repeat or lose decisions: stop rather than act.
    logger()->critical("{}; stopping before performing {} effects", r.error(), pending_effects_.size());
    pending_effects_.clear();
    stop();
    ioc_.stop();
    return;
  }
  maybe_snapshot(false);
  auto effects = std::move(pending_effects_);
  pending_effects_.clear();
  if (stopping_) return;
  for (const auto& e : effects) perform(e);
}

// After the log is on disk: the state then is exactly the fold of the log's lines so far.
void controller::maybe_snapshot(bool now) {
  if (!log_ || options_.snapshot_every == 0 || state_.last_seq + 1 != log_->next_seq() || state_.last_seq <= snapshot_seq_)
    return;
  if (!now && state_.last_seq - snapshot_seq_ < options_.snapshot_every) return;
  if (!snapshot_ready(state_)) return;  // a relist under way: the next sync after it
  if (auto r = write_snapshot(snapshot_path(options_.event_log), state_, log_->file_size()); !r) {
    logger()->warn("no snapshot written: {}", r.error());
    snapshot_seq_ = state_.last_seq;  // tried: not again before another snapshot_every events
    return;
  }
  snapshot_seq_ = state_.last_seq;
  logger()->info("wrote a snapshot of the state at seq {}", snapshot_seq_);
}

void controller::perform(const effect& e) {
  if (options_.may_perform && !options_.may_perform()) {
    ++metrics_.effects_gated;  // not the leader (any more): the leader re-decides it
    return;
  }
  if (const auto* r = std::get_if<requeue_after>(&e)) return timers_->arm(*r);
  ++performed_;
  logger()->info("{} {}", effect_name(e), to_string(id_of(e)));
  maybe_crash(id_of(e), "before");
  // Status writes of one registry go out one at a time, in the order decided: run concurrently,
  // an older phase's write could land after a newer one and leave a stale status behind.
  if (const auto* st = std::get_if<update_registry_status>(&e)) {
    auto& queue = status_queues_[st->registry];
    queue.push_back(e);
    if (queue.size() > 1) return;  // the running write starts the next one when it is done
  }
  start_effect(e);
}

namespace {
bool api_bound(const effect& e) { return !std::holds_alternative<inspect_database>(e); }
}  // namespace

void controller::start_effect(effect e) {
  if (api_bound(e)) {
    if (api_effects_running_ >= kApiEffectsRunning) {
      api_backlog_.push_back(std::move(e));
      metrics_.effects_waiting_peak = std::max<std::uint64_t>(metrics_.effects_waiting_peak, api_backlog_.size());
      return;
    }
    ++api_effects_running_;
  }
  net::co_spawn(ioc_, run_effect(std::move(e)), net::detached);
}

void controller::status_written(const object_key& registry) {
  auto it = status_queues_.find(registry);
  if (it == status_queues_.end() || it->second.empty()) return;
  it->second.pop_front();
  if (it->second.empty() || stopping_) return;
  start_effect(it->second.front());
}

net::awaitable<void> controller::run_effect(effect e) {
  effects::context ctx;
  ctx.k8s.api = api_;
  ctx.k8s.statuses = &statuses_;
  ctx.database_limit = options_.database_limit;
  ctx.k8s.jobs.progress_seconds = std::max(0.5, static_cast<double>(options_.cfg.progress_interval_s) / 2);
  ctx.k8s.jobs.parallel_jobs = options_.job_cpus;
  ctx.k8s.jobs.cpu_request = options_.job_cpus;
  ctx.database_sslmode = options_.database_sslmode;
  ctx.database_ca_file = options_.database_ca_file;
  if (redaction_) ctx.fingerprint = [r = redaction_](std::string_view hash) { return r->token(hash); };
  ctx.k8s.jobs.sslmode = options_.database_sslmode;
  ctx.k8s.jobs.ca_configmap = options_.database_ca_configmap;
  ctx.progress_every = std::chrono::milliseconds(options_.cfg.progress_interval_s * 1000);
  ctx.report_progress = [this](event ev) {
    if (!stopping_) record_result("effect", std::move(ev));
  };
  const auto t0 = std::chrono::steady_clock::now();
  event result = co_await effects::perform(ctx, e);
  metrics_.effect_seconds.try_emplace(effect_name(e), histogram{{0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60}})
      .first->second.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  const auto* failed = std::get_if<effect_failed>(&result);
  ++metrics_.requests[{effect_verb(e), failed ? (failed->code ? std::to_string(failed->code) : "error")
                                       : std::holds_alternative<create_claim>(e) || std::holds_alternative<create_job>(e) ||
                                               std::holds_alternative<emit_event>(e)
                                           ? "201"
                                           : "200"}];
  if (const auto* f = std::get_if<effect_failed>(&result))
    logger()->warn("{} failed: {} {} {}", to_string(f->id), f->code, f->reason, f->message);
  maybe_crash(id_of(e), "after-send");
  if (!stopping_) record_result("effect", std::move(result));
  if (api_bound(e)) {
    --api_effects_running_;
    if (!api_backlog_.empty() && !stopping_) {
      effect next = std::move(api_backlog_.front());
      api_backlog_.pop_front();
      start_effect(std::move(next));
    }
  }
  if (const auto* st = std::get_if<update_registry_status>(&e)) status_written(st->registry);
  if (crash_at() && crash_at()->point == "after-log" && to_string(id_of(e)).find(crash_at()->id_part) != std::string::npos) {
    if (auto r = log_->sync(); !r) logger()->error("{}", r.error());
    maybe_crash(id_of(e), "after-log");
  }
}

void controller::record_result(const std::string& source, event body) {
  const timestamp ts = now_ms();
  const std::uint64_t seq = log_->next_seq();
  std::string line = log_line_event(seq, ts, source, body);
  ingest(std::move(line), logged_event{seq, ts, source, std::move(body)});
}

}  // namespace qpu::app
