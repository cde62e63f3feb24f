#include "watch/reflector.hpp"

#include <algorithm>
#include <cmath>

namespace qpu::watch {

namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};

std::int32_t watch_timeout(const step_context& ctx, const reflector_options& o) {
  const std::int32_t span = o.max_watch_timeout_s - o.min_watch_timeout_s + 1;
  return std::min(o.max_watch_timeout_s, o.min_watch_timeout_s + static_cast<std::int32_t>(ctx.random * span));
}

step_result begin_list(reflector_state s) {
  s.phase = reflector_phase::listing;
  s.continue_token.clear();
  s.relist_pending = true;
  return {std::move(s), {send_list{"", 0}}};
}

step_result begin_watch(reflector_state s, const step_context& ctx, const reflector_options& o) {
  s.phase = reflector_phase::watching;
  s.relist_pending = false;
  s.watch_started_at = ctx.now;
  s.watch_saw_event = false;
  std::string rv = s.rv;
  return {std::move(s), {send_watch{std::move(rv), watch_timeout(ctx, o)}}};
}

// A failure waits before the same kind of request again; `relist` says which one.
step_result fail(reflector_state s, bool relist, const step_context& ctx, const reflector_options& o) {
  if (s.failures > 0 && ctx.now - s.last_failure_at >= o.backoff_reset_after) s.failures = 0;
  ++s.failures;
  s.last_failure_at = ctx.now;
  s.phase = reflector_phase::backing_off;
  s.relist_pending = relist;
  s.continue_token.clear();
  const std::uint32_t n = s.failures;
  return {std::move(s), {wait_for{backoff_delay(n, ctx.random, o)}}};
}

void with_limit(step_result& r, const reflector_options& o) {
  for (auto& c : r.commands)
    if (auto* l = std::get_if<send_list>(&c)) l->limit = o.page_size;
}

}  // namespace

duration_ms backoff_delay(std::uint32_t failures, double random, const reflector_options& o) {
  const std::uint32_t exponent = std::min<std::uint32_t>(failures == 0 ? 0 : failures - 1, 30);
  const double base = std::min<double>(static_cast<double>(o.max_backoff),
                                       static_cast<double>(o.initial_backoff) * std::ldexp(1.0, static_cast<int>(exponent)));
  const double jittered = base * (1.0 + 0.25 * std::clamp(random, 0.0, 1.0));
  return std::min<duration_ms>(o.max_backoff, static_cast<duration_ms>(jittered));
}

step_result step(const reflector_state& s, const reflector_input& in, const step_context& ctx, const reflector_options& o) {
  using P = reflector_phase;
  step_result r = std::visit(overloaded{
                                 [&](const start&) { return begin_list(s); },
                                 [&](const list_page_received& page) -> step_result {
                                   if (s.phase != P::listing) return {s, {}};
                                   reflector_state n = s;
                                   if (!page.continue_token.empty()) {
                                     n.continue_token = page.continue_token;
                                     return {std::move(n), {send_list{page.continue_token, 0}}};
                                   }
                                   n.rv = page.rv;
                                   n.continue_token.clear();
                                   auto w = begin_watch(std::move(n), ctx, o);
                                   w.commands.insert(w.commands.begin(), publish_relist{page.rv});
                                   return w;
                                 },
                                 [&](const list_failed& f) -> step_result {
                                   if (s.phase != P::listing) return {s, {}};
                                   // An expired continue token: the snapshot is gone, start the list over at once.
                                   if (f.code == 410 && !s.continue_token.empty()) return begin_list(s);
                                   return fail(s, true, ctx, o);
                                 },
                                 [&](const watch_event_seen& e) -> step_result {
                                   if (s.phase != P::watching) return {s, {}};
                                   reflector_state n = s;
                                   if (!e.rv.empty()) n.rv = e.rv;
                                   n.watch_saw_event = true;
                                   return {std::move(n), {}};
                                 },
                                 [&](const watch_error_seen& e) -> step_result {
                                   if (s.phase != P::watching) return {s, {}};
                                   if (e.code == 410) {
                                     reflector_state n = s;
                                     n.rv.clear();
                                     auto l = begin_list(std::move(n));
                                     l.commands.insert(l.commands.begin(), close_watch{});
                                     return l;
                                   }
                                   auto f = fail(s, false, ctx, o);
                                   f.commands.insert(f.commands.begin(), close_watch{});
                                   return f;
                                 },
                                 [&](const watch_ended&) -> step_result {
                                   if (s.phase != P::watching) return {s, {}};
                                   // client-go's "very short watch": the server closing at once, with nothing to say,
                                   // is a sign of trouble (a proxy, an overloaded apiserver), not a normal rollover.
                                   if (!s.watch_saw_event && ctx.now - s.watch_started_at < o.short_watch)
                                     return fail(s, false, ctx, o);
                                   return begin_watch(s, ctx, o);
                                 },
                                 [&](const watch_failed& f) -> step_result {
                                   if (s.phase != P::watching) return {s, {}};
                                   if (f.code == 410) {
                                     reflector_state n = s;
                                     n.rv.clear();
                                     return begin_list(std::move(n));
                                   }
                                   return fail(s, false, ctx, o);
                                 },
                                 [&](const backoff_elapsed&) -> step_result {
                                   if (s.phase != P::backing_off) return {s, {}};
                                   if (s.relist_pending || s.rv.empty()) return begin_list(s);
                                   return begin_watch(s, ctx, o);
                                 },
                             },
                             in);
  with_limit(r, o);
  return r;
}

const char* to_string(reflector_phase p) {
  switch (p) {
    case reflector_phase::empty: return "empty";
    case reflector_phase::listing: return "listing";
    case reflector_phase::watching: return "watching";
    case reflector_phase::backing_off: return "backing_off";
  }
  return "unknown";
}

}  // namespace qpu::watch
