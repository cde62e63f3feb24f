#pragma once
// Performs requeue_after: one timer per database of a registry, and the earliest deadline wins (asking for a
// later wakeup while an earlier one is pending changes nothing; an earlier one re-arms it). A
// timer that goes off becomes a timer_fired event, which the caller logs and folds like any
// other result (kube-rs's scheduler keeps one entry per key in the same way).
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <map>
#include <memory>

#include "core/effects.hpp"
#include "core/events.hpp"

namespace qpu::effects {

class requeue_timers {
 public:
  using clock_fn = std::function<timestamp()>;  // milliseconds since the epoch
  using fired_fn = std::function<void(timer_fired)>;  // called on the executor

  requeue_timers(boost::asio::any_io_executor ex, clock_fn now, fired_fn fired);

  void arm(const requeue_after& r);
  // Stops every timer; none fires afterwards.
  void cancel_all();
  std::size_t armed() const { return timers_.size(); }

 private:
  struct timer {
    std::unique_ptr<boost::asio::steady_timer> t;
    timestamp due = 0;
  };
  boost::asio::any_io_executor ex_;
  clock_fn now_;
  fired_fn fired_;
  std::map<database_key, timer> timers_;
  bool cancelled_ = false;
};

}  // namespace qpu::effects
