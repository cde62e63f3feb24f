#include "watch/reflector_driver.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <random>

#include "watch/list_page.hpp"
#include "watch/log.hpp"
#include "kube/resource_url.hpp"
#include "watch/stream_decoder.hpp"

namespace qpu::watch {

namespace net = boost::asio;
namespace http = boost::beast::http;
using net::awaitable;
using net::use_awaitable;

namespace {

// Failures no retry can cure: an operator must act (RBAC, credentials, the cluster's CA), so they
// are logged as warnings; the rest is transient and stays at debug.
bool needs_operator(const kube::api_error& e) {
  return e.kind == kube::api_error_kind::forbidden || e.kind == kube::api_error_kind::unauthorized ||
         e.message.find("certificate verify failed") != std::string::npos;
}

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};

timestamp system_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

reflector_driver::reflector_driver(std::shared_ptr<kube::http_client> client, reflector_spec spec, input_sink sink,
                                   clock_fn clock, random_fn random)
    : client_(std::move(client)),
      spec_(std::move(spec)),
      sink_(std::move(sink)),
      clock_(std::move(clock)),
      random_(std::move(random)) {
  if (!clock_) clock_ = system_now;
  if (!random_) {
    auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
    random_ = [gen] { return std::uniform_real_distribution<double>(0.0, 1.0)(*gen); };
  }
}

reflector_driver::~reflector_driver() = default;

void reflector_driver::apply(const reflector_input& in) {
  auto r = step(state_, in, step_context{clock_(), random_()}, spec_.options);
  state_ = std::move(r.state);
  for (auto& c : r.commands) {
    if (std::holds_alternative<close_watch>(c)) {
      close_requested_ = true;
    } else {
      pending_.push_back(std::move(c));
    }
  }
}

void reflector_driver::stop() {
  stopping_ = true;
  if (timer_) timer_->cancel();
}

awaitable<void> reflector_driver::run() {
  timer_ = std::make_unique<net::steady_timer>(co_await net::this_coro::executor);
  apply(start{});
  while (!stopping_ && !pending_.empty()) {
    reflector_command cmd = std::move(pending_.front());
    pending_.erase(pending_.begin());
    if (auto* l = std::get_if<send_list>(&cmd)) {
      co_await do_list(*l);
    } else if (auto* p = std::get_if<publish_relist>(&cmd)) {
      publish(p->rv);
    } else if (auto* w = std::get_if<send_watch>(&cmd)) {
      co_await do_watch(*w);
    } else if (auto* d = std::get_if<wait_for>(&cmd)) {
      co_await do_wait(*d);
    }
  }
}

awaitable<void> reflector_driver::do_list(const send_list& cmd) {
  if (cmd.continue_token.empty()) relist_items_.clear();
  kube::query_params q{{"limit", std::to_string(cmd.limit)}};
  if (!cmd.continue_token.empty()) q.emplace_back("continue", cmd.continue_token);
  if (!spec_.label_selector.empty()) q.emplace_back("labelSelector", spec_.label_selector);
  const std::string what = std::string("list ") + plural(spec_.kind);
  auto res = co_await client_->request(http::verb::get, kube::target(kube::path_of(spec_.kind, spec_.ns), q));
  if (!res) {
    ++stats_.failures;
    if (needs_operator(res.error())) log().warn("{} refused: {}", what, kube::describe(res.error()));
    else log().debug("{} failed: {}", what, kube::describe(res.error()));
    apply(list_failed{0});
    co_return;
  }
  if (res->status != 200) {
    ++stats_.failures;
    auto err = kube::error_from_response(static_cast<std::int32_t>(res->status), res->body, res->retry_after);
    // 403 means RBAC is wrong: an operator must act, so it is a warning; the rest is transient.
    if (needs_operator(err)) log().warn("{} refused: {}", what, kube::describe(err));
    else log().debug("{} failed: {}", what, kube::describe(err));
    apply(list_failed{err.code});
    co_return;
  }
  auto page = parse_list_page(res->body);
  if (!page) {
    ++stats_.failures;
    log().warn("{}: {}", what, page.error());
    apply(list_failed{0});
    co_return;
  }
  ++stats_.pages;
  for (auto& item : page->items) relist_items_.push_back(std::move(item));
  apply(list_page_received{page->rv, page->continue_token});
}

void reflector_driver::publish(const std::string& rv) {
  ++stats_.lists;
  log().info("relisted {}{}: {} objects at resourceVersion {}", plural(spec_.kind),
             spec_.label_selector.empty() ? std::string() : " (" + spec_.label_selector + ")", relist_items_.size(), rv);
  const event started = relist_started{spec_.kind, spec_.stream};
  sink_(watch_input{spec_.kind, input_origin::relist_start, {}, {}, started, spec_.stream, spec_.streams});
  for (std::size_t i = 0; i < relist_items_.size(); ++i) {
    const auto redacted = spec_.redact ? spec_.redact->json(relist_items_[i]) : std::nullopt;
    const std::string_view raw = redacted ? std::string_view(*redacted) : std::string_view(relist_items_[i]);
    auto obj = decoder_.decode_object(spec_.kind, raw);
    if (!obj) {
      ++stats_.malformed;
      std::string error = std::string("list ") + plural(spec_.kind) + " item " + std::to_string(i) + ": " + obj.error();
      log().warn("skipped a malformed input: {}", error);
      const event e = malformed_input{std::string("watch/") + plural(spec_.kind), error};
      const std::string logged = spec_.redact ? spec_.redact->text(relist_items_[i]) : relist_items_[i];
      sink_(watch_input{spec_.kind, input_origin::malformed, logged, error, e, spec_.stream, spec_.streams});
      continue;
    }
    std::visit([&](auto& v) { v.meta.stream = spec_.stream; }, *obj);
    const event e = relist_item{std::move(*obj)};
    sink_(watch_input{spec_.kind, input_origin::relist_item, raw, {}, e, spec_.stream, spec_.streams});
  }
  relist_items_.clear();
  relist_items_.shrink_to_fit();
  const event done = relist_done{spec_.kind, rv, spec_.stream, spec_.streams};
  sink_(watch_input{spec_.kind, input_origin::relist_done, rv, {}, done, spec_.stream, spec_.streams});
}

awaitable<void> reflector_driver::do_watch(const send_watch& cmd) {
  kube::query_params q{{"watch", "1"},
                       {"resourceVersion", cmd.rv},
                       {"allowWatchBookmarks", "true"},
                       {"timeoutSeconds", std::to_string(cmd.timeout_seconds)}};
  if (!spec_.label_selector.empty()) q.emplace_back("labelSelector", spec_.label_selector);
  ++stats_.watches;
  close_requested_ = false;
  stream_decoder decoder(spec_.kind, decoder_, spec_.max_line, spec_.stream, spec_.redact.get());
  auto on_input = [&](const watch_input& in) -> bool {
    if (stopping_) return false;
    if (in.origin == input_origin::malformed) {
      ++stats_.malformed;
      log().warn("skipped a malformed input: {}", in.error);
      sink_(in);
      return true;
    }
    ++stats_.events;
    sink_(in);
    std::visit(overloaded{
                   [&](const object_event& e) { apply(watch_event_seen{meta_of(e.object).rv}); },
                   [&](const bookmark_seen& b) { apply(watch_event_seen{b.rv}); },
                   [&](const watch_error& w) {
                     log().info("watch {} ended by the server: {} {}: {}", plural(spec_.kind), w.code, w.reason, w.message);
                     apply(watch_error_seen{w.code});
                   },
                   [](const auto&) {},
               },
               in.body);
    return !close_requested_;
  };
  // The server ends the stream after timeoutSeconds; a read idle well past that is a dead peer.
  const auto idle = std::chrono::milliseconds(seconds(cmd.timeout_seconds) + seconds(30));
  auto res = co_await client_->stream(
      kube::target(kube::path_of(spec_.kind, spec_.ns), q),
      [&](std::string_view bytes) {
        stats_.bytes += bytes.size();
        return decoder.feed(bytes, on_input);
      },
      idle);
  if (close_requested_ || stopping_) co_return;
  if (!res) {
    ++stats_.failures;
    log().debug("watch {} failed: {}", plural(spec_.kind), kube::describe(res.error()));
    apply(watch_failed{0});
    co_return;
  }
  if (res->status != 200) {
    ++stats_.failures;
    auto err = kube::error_from_response(static_cast<std::int32_t>(res->status), res->error_body, res->retry_after);
    log().debug("watch {} failed: {}", plural(spec_.kind), kube::describe(err));
    apply(watch_failed{err.code});
    co_return;
  }
  if (res->end != kube::stream_end::complete) log().debug("watch {} ended: {}", plural(spec_.kind), res->detail);
  if (decoder.pending_bytes() > 0)
    log().debug("watch {} ended inside a line; {} bytes dropped", plural(spec_.kind), decoder.pending_bytes());
  apply(watch_ended{});
}

awaitable<void> reflector_driver::do_wait(const wait_for& cmd) {
  log().debug("{}: retrying in {} ms", plural(spec_.kind), cmd.delay);
  timer_->expires_after(std::chrono::milliseconds(cmd.delay));
  boost::system::error_code ec;
  co_await timer_->async_wait(net::redirect_error(use_awaitable, ec));
  if (stopping_) co_return;
  apply(backoff_elapsed{});
}

}  // namespace qpu::watch
