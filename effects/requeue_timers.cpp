#include "effects/requeue_timers.hpp"

#include <chrono>

namespace qpu::effects {

requeue_timers::requeue_timers(boost::asio::any_io_executor ex, clock_fn now, fired_fn fired)
    : ex_(std::move(ex)), now_(std::move(now)), fired_(std::move(fired)) {}

void requeue_timers::arm(const requeue_after& r) {
  if (cancelled_) return;
  const timestamp now = now_();
  const timestamp due = now + r.after;
  auto& w = timers_[r.database];
  if (w.t && w.due > now && w.due <= due) return;  // an earlier wakeup is already pending
  if (!w.t) w.t = std::make_unique<boost::asio::steady_timer>(ex_);
  w.due = due;
  w.t->expires_after(std::chrono::milliseconds(r.after));
  w.t->async_wait([this, key = r.database, due](const boost::system::error_code& ec) {
    if (ec || cancelled_) return;
    const auto it = timers_.find(key);
    if (it == timers_.end() || it->second.due != due) return;  // re-armed since: that wait reports
    fired_(timer_fired{key.registry, key.component});
  });
}

void requeue_timers::cancel_all() {
  cancelled_ = true;
  for (auto& [key, w] : timers_) w.t->cancel();
}

}  // namespace qpu::effects
