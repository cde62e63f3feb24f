// bench_fold: the controller's in-process paths, measured on realistic watch streams.
//   bench_fold throughput EVENTS RUNS   decode + fold of a watch stream vs a bare simdjson pass
//   bench_fold memory OBJECTS [FIELDS]  heap bytes per tracked object in the folded state
//   bench_fold log EVENTS RUNS          event-log bytes per event, replay (read + fold) speed
// Every figure is printed as `metric NAME MEDIAN MIN MAX UNIT` (over RUNS repetitions) for
// scripts/bench.sh; ratios are taken inside one repetition, from runs measured side by side.
#include <malloc.h>
#include <sys/stat.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/decode.hpp"
#include "core/event_log.hpp"
#include "core/snapshot.hpp"
#include "reducers/reduce.hpp"
#include "tests/bench/fixtures.hpp"
#include "watch/stream_decoder.hpp"

namespace od = simdjson::ondemand;

namespace {

using qpu::resource_kind;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct spread {
  double median = 0, min = 0, max = 0;
};
spread spread_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}
void metric(const char* name, const std::vector<double>& v, const char* unit) {
  const auto s = spread_of(v);
  std::printf("metric %s %.6g %.6g %.6g %s\n", name, s.median, s.min, s.max, unit);
}

// One watch stream per kind, as the controller has one watch per resource. `distinct` objects
// per kind, spread over 100 namespaces, each line a MODIFIED with its own resourceVersion.
struct streams {
  std::vector<std::string> by_kind;  // indexed like fixture_kinds
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
};
streams make_streams(std::uint64_t events) {
  streams s;
  s.by_kind.resize(std::size(qpu::bench::fixture_kinds));
  for (std::uint64_t i = 0; i < events; ++i) {
    const auto k = i % s.by_kind.size();
    const auto obj = i / s.by_kind.size();
    const std::string ns = "ns-" + std::to_string(obj % 100);
    const std::string name = "object-" + std::to_string(obj % 2500);
    s.by_kind[k] += qpu::bench::watch_line("MODIFIED", qpu::bench::object_json(qpu::bench::fixture_kinds[k], ns, name, 1000 + i));
  }
  s.lines = events;
  for (const auto& b : s.by_kind) s.bytes += b.size();
  return s;
}

// The state the stream folds into: configured and synced, as after the controller's start.
qpu::state synced_state() {
  qpu::state st;
  qpu::config cfg;
  cfg.target_image = "quay.io/sclorg/postgresql-15-c9s:latest";
  std::uint64_t seq = 0;
  auto fold = [&](qpu::event e) {
    st = qpu::reducers::reduce(std::move(st), qpu::logged_event{++seq, 1, "bench", std::move(e)}).next;
  };
  fold(qpu::controller_started{cfg, "bench"});
  for (auto k : qpu::all_resource_kinds) {
    fold(qpu::relist_started{k});
    fold(qpu::relist_done{k, "1"});
  }
  return st;
}

// Feeds the streams in 16 KiB reads (a TLS record's worth), round robin over the kinds, as the
// controller's one thread serves its five watches.
template <class OnInput>
void feed_all(const streams& s, qpu::json_decoder& decoder, OnInput&& on_input) {
  std::vector<qpu::watch::stream_decoder> sds;
  sds.reserve(s.by_kind.size());
  for (std::size_t k = 0; k < s.by_kind.size(); ++k) sds.emplace_back(qpu::bench::fixture_kinds[k], decoder);
  const qpu::watch::stream_decoder::handler h = [&](const qpu::watch::watch_input& in) {
    on_input(in);
    return true;
  };
  std::size_t offset = 0;
  bool more = true;
  while (more) {
    more = false;
    for (std::size_t k = 0; k < s.by_kind.size(); ++k) {
      const std::string_view all(s.by_kind[k]);
      if (offset >= all.size()) continue;
      more = true;
      sds[k].feed(all.substr(offset, 16384), h);
    }
    offset += 16384;
  }
}

// The limit: split on '\n', copy into a reused padded buffer, read type, name and RV.
std::uint64_t bare_pass(const streams& s, od::parser& parser, std::vector<char>& pad) {
  std::uint64_t n = 0;
  for (const auto& b : s.by_kind) {
    std::size_t start = 0;
    while (start < b.size()) {
      const std::size_t nl = b.find('\n', start);
      const std::string_view line(b.data() + start, nl - start);
      start = nl + 1;
      if (pad.size() < line.size() + simdjson::SIMDJSON_PADDING) pad.resize(line.size() + simdjson::SIMDJSON_PADDING);
      std::memcpy(pad.data(), line.data(), line.size());
      auto doc = parser.iterate(pad.data(), line.size(), pad.size());
      std::string_view type, name, rv;
      if (doc["type"].get_string().get(type)) continue;
      auto m = doc["object"]["metadata"];
      if (m["name"].get_string().get(name)) continue;
      if (m["resourceVersion"].get_string().get(rv)) continue;
      n += !type.empty() && !name.empty() && !rv.empty();
    }
  }
  return n;
}

int throughput(std::uint64_t events, int runs) {
  const auto s = make_streams(events);
  const double mb = static_cast<double>(s.bytes) / 1e6;
  std::printf("input: %llu watch lines (Job/PVC/Deployment/QuayRegistry, managedFields), %.1f MB, %.0f bytes/line\n",
              static_cast<unsigned long long>(s.lines), mb, static_cast<double>(s.bytes) / static_cast<double>(s.lines));
  qpu::json_decoder decoder;
  od::parser parser;
  std::vector<char> pad;
  std::vector<double> bare_eps, bare_mbs, dec_eps, fold_eps, fold_mbs, ratio, dec_ratio;
  bool ok = true;
  for (int r = 0; r < runs; ++r) {
    double t0 = now_s();
    const auto bare = bare_pass(s, parser, pad);
    const double bare_t = now_s() - t0;

    std::uint64_t decoded = 0;
    t0 = now_s();
    feed_all(s, decoder,
             [&](const qpu::watch::watch_input& in) { decoded += in.origin == qpu::watch::input_origin::watch_line; });
    const double dec_t = now_s() - t0;

    auto st = synced_state();
    std::uint64_t folded = 0, effects = 0, seq = 100;
    t0 = now_s();
    feed_all(s, decoder, [&](const qpu::watch::watch_input& in) {
      auto r2 = qpu::reducers::reduce(std::move(st), qpu::logged_event{++seq, 1000, "watch/x", in.body});
      st = std::move(r2.next);
      effects += r2.effects.size();
      folded += in.origin == qpu::watch::input_origin::watch_line;
    });
    const double fold_t = now_s() - t0;
    ok = ok && bare == s.lines && decoded == s.lines && folded == s.lines;

    bare_eps.push_back(static_cast<double>(s.lines) / bare_t);
    bare_mbs.push_back(mb / bare_t);
    dec_eps.push_back(static_cast<double>(s.lines) / dec_t);
    fold_eps.push_back(static_cast<double>(s.lines) / fold_t);
    fold_mbs.push_back(mb / fold_t);
    ratio.push_back(bare_t / fold_t);
    dec_ratio.push_back(bare_t / dec_t);
    std::fprintf(stderr, "run %d: bare %.3fs decode %.3fs decode+fold %.3fs (%llu effects decided)\n", r + 1, bare_t, dec_t,
                 fold_t, static_cast<unsigned long long>(effects));
  }
  metric("bare_simdjson_events_per_s", bare_eps, "events/s");
  metric("bare_simdjson_mb_per_s", bare_mbs, "MB/s");
  metric("decode_events_per_s", dec_eps, "events/s");
  metric("decode_fold_events_per_s", fold_eps, "events/s");
  metric("decode_fold_mb_per_s", fold_mbs, "MB/s");
  metric("decode_vs_limit", dec_ratio, "x");
  metric("decode_fold_vs_limit", ratio, "x");
  return ok ? 0 : 1;
}

std::size_t heap_in_use() {
  const auto mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// Folds `objects` objects (the four kinds in turn, 10 per namespace) as one relist per kind and
// reports heap bytes per object held by the state, against the raw JSON bytes of the objects.
int memory(std::uint64_t objects, int fields) {
  qpu::json_decoder decoder;
  auto st = synced_state();
  std::string json;
  {  // warm the decoder's buffers so that they are not counted
    json = qpu::bench::deployment_json("ns", "warm", 1, fields);
    (void)decoder.decode_object(resource_kind::deployment, json);
  }
  ::malloc_trim(0);
  const std::size_t before = heap_in_use();
  std::uint64_t raw = 0, seq = 100;
  const std::size_t nk = std::size(qpu::bench::fixture_kinds);
  for (std::size_t k = 0; k < nk; ++k) {
    const auto kind = qpu::bench::fixture_kinds[k];
    st = qpu::reducers::reduce(std::move(st), qpu::logged_event{++seq, 1000, "bench", qpu::relist_started{kind}}).next;
    for (std::uint64_t i = k; i < objects; i += nk) {
      json =
          qpu::bench::object_json(kind, "namespace-" + std::to_string(i / 10), "object-" + std::to_string(i), 1000 + i, fields);
      raw += json.size();
      auto o = decoder.decode_object(kind, json);
      if (!o) {
        std::fprintf(stderr, "decode failed: %s\n", o.error().c_str());
        return 1;
      }
      st = qpu::reducers::reduce(std::move(st), qpu::logged_event{++seq, 1000, "bench", qpu::relist_item{std::move(*o)}}).next;
    }
    st = qpu::reducers::reduce(std::move(st), qpu::logged_event{++seq, 1000, "bench", qpu::relist_done{kind, "2"}}).next;
  }
  ::malloc_trim(0);
  const std::size_t after = heap_in_use();
  const std::size_t tracked =
      st.cluster.registries.size() + st.cluster.deployments.size() + st.cluster.jobs.size() + st.cluster.claims.size();
  const double whole = static_cast<double>(after - before) / static_cast<double>(tracked);
  // The upgrade records (one per registry and database, idle here) are the registries' state, not
  // the store's: what dropping them frees is theirs; the rest (the stores, with the interned texts
  // they hold) is the store's.
  const std::size_t upgrades = st.upgrades.size();
  st.upgrades.clear();
  ::malloc_trim(0);
  const std::size_t store_only = heap_in_use();
  const double per = static_cast<double>(store_only - before) / static_cast<double>(tracked);
  const double per_upgrade = upgrades ? static_cast<double>(after - store_only) / static_cast<double>(upgrades) : 0;
  std::printf(
      "objects %zu (managedFields entries %d): the store %.0f bytes/object (interned texts: %zu, %zu bytes); with the idle "
      "upgrade records %.0f bytes/object; an idle upgrade record %.0f bytes (%zu of them); raw JSON %.0f bytes/object\n",
      tracked, fields, per, qpu::istr::pool_size(), qpu::istr::pool_bytes(), whole, per_upgrade, upgrades,
      static_cast<double>(raw) / static_cast<double>(objects));
  std::printf("sizeof: deployment %zu, job %zu, claim %zu, quay_registry %zu, object_view %zu, registry_upgrade %zu\n",
              sizeof(qpu::deployment), sizeof(qpu::job), sizeof(qpu::claim), sizeof(qpu::quay_registry), sizeof(qpu::object_view),
              sizeof(qpu::registry_upgrade));
  std::printf("metric bytes_per_object_%llu_f%d %.6g %.6g %.6g bytes\n", static_cast<unsigned long long>(objects), fields, per,
              per, per);
  std::printf("metric state_bytes_per_object_%llu_f%d %.6g %.6g %.6g bytes\n", static_cast<unsigned long long>(objects), fields,
              whole, whole, whole);
  std::printf("metric idle_upgrade_record_bytes %.6g %.6g %.6g bytes\n", per_upgrade, per_upgrade, per_upgrade);
  const double rawper = static_cast<double>(raw) / static_cast<double>(objects);
  std::printf("metric raw_json_bytes_per_object_%llu_f%d %.6g %.6g %.6g bytes\n", static_cast<unsigned long long>(objects),
              fields, rawper, rawper, rawper);
  return tracked == objects ? 0 : 1;
}

// Writes the stream as the controller logs it (one watch line per event), then replays the file:
// read_event_log + reduce, as `quay-pg-upgrader replay` and a restarted controller do.
int log_bench(std::uint64_t events, int runs) {
  const auto s = make_streams(events);
  char path[] = "/tmp/qpu-bench-log-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return 1;
  ::close(fd);
  std::uint64_t log_bytes = 0;
  {
    std::FILE* f = std::fopen(path, "w");
    std::uint64_t seq = 0;
    for (std::size_t k = 0; k < s.by_kind.size(); ++k) {
      const std::string_view all(s.by_kind[k]);
      std::size_t start = 0;
      while (start < all.size()) {
        const std::size_t nl = all.find('\n', start);
        ++seq;
        const auto line = qpu::log_line_watch(seq, 1795000000000 + static_cast<qpu::timestamp>(seq), qpu::bench::fixture_kinds[k],
                                              all.substr(start, nl - start));
        start = nl + 1;
        log_bytes += line.size();
        std::fwrite(line.data(), 1, line.size(), f);
      }
    }
    std::fclose(f);
  }
  const double per_event = static_cast<double>(log_bytes) / static_cast<double>(s.lines);
  const double watch_per_event = static_cast<double>(s.bytes) / static_cast<double>(s.lines);
  std::printf("event log: %llu events, %.1f MB, %.0f bytes/event (the watch line itself: %.0f bytes)\n",
              static_cast<unsigned long long>(s.lines), static_cast<double>(log_bytes) / 1e6, per_event, watch_per_event);
  std::printf("metric log_bytes_per_event %.6g %.6g %.6g bytes\n", per_event, per_event, per_event);
  std::vector<double> eps, mbs, full_s;
  bool ok = true;
  qpu::state last;
  for (int r = 0; r < runs; ++r) {
    auto st = synced_state();
    std::uint64_t n = 0;
    const double t0 = now_s();
    auto read = qpu::read_event_log(
        path,
        [&](qpu::logged_event&& e) {
          st = qpu::reducers::reduce(std::move(st), e).next;
          ++n;
        },
        [](const std::string&) {});
    const double t = now_s() - t0;
    ok = ok && read && n == s.lines;
    eps.push_back(static_cast<double>(n) / t);
    mbs.push_back(static_cast<double>(log_bytes) / 1e6 / t);
    full_s.push_back(t);
    std::fprintf(stderr, "replay run %d: %.3fs\n", r + 1, t);
    last = std::move(st);
  }
  metric("replay_events_per_s", eps, "events/s");
  metric("replay_mb_per_s", mbs, "MB/s");
  // A start from a snapshot at the log's last line (issue 17, item 4): restore it, then read the
  // log from its offset (nothing after it), against the whole log's fold above.
  const std::string snap = std::string(path) + ".snapshot";
  std::vector<double> write_s, start_s;
  double snap_mb = 0;
  for (int r = 0; r < runs; ++r) {
    const double t0 = now_s();
    ok = ok && qpu::write_snapshot(snap, last, log_bytes).has_value();
    write_s.push_back(now_s() - t0);
    struct stat st {};
    if (::stat(snap.c_str(), &st) == 0) snap_mb = static_cast<double>(st.st_size) / 1e6;
    const double t1 = now_s();
    auto loaded = qpu::read_snapshot(snap);
    std::uint64_t after = 0;
    bool same = false;
    if (loaded && *loaded) {
      auto restored = std::move((*loaded)->s);
      auto read = qpu::read_event_log(
          path, [&](qpu::logged_event&&) { ++after; }, [](const std::string&) {},
          qpu::log_resume{(*loaded)->log_offset, restored.last_seq});
      same = read && restored == last;
    }
    start_s.push_back(now_s() - t1);
    ok = ok && same && after == 0;
  }
  ::unlink(snap.c_str());
  ::unlink(path);
  std::printf("snapshot of the state after %llu events: %.1f MB\n", static_cast<unsigned long long>(s.lines), snap_mb);
  metric("snapshot_mb", {snap_mb}, "MB");
  metric("snapshot_write_s", write_s, "s");
  metric("start_full_refold_s", full_s, "s");
  metric("start_from_snapshot_s", start_s, "s");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const std::uint64_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  const int third = argc > 3 ? std::atoi(argv[3]) : 0;
  if (mode == "throughput" && n > 0) return throughput(n, std::max(third, 1));
  if (mode == "memory" && n > 0) return memory(n, third > 0 ? third : 3);
  if (mode == "log" && n > 0) return log_bench(n, std::max(third, 1));
  std::fprintf(stderr, "usage: bench_fold throughput EVENTS RUNS | memory OBJECTS [MANAGED_FIELDS] | log EVENTS RUNS\n");
  return 2;
}
