#pragma once
// Performs one decided effect and returns its outcome as an event (effect_succeeded or
// effect_failed). Never throws for API, network or database trouble: those are results.
// requeue_after is performed by effects::requeue_timers (effects/requeue_timers.hpp), which keeps
// one timer per registry for as long as the process runs.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>

#include "core/effects.hpp"
#include "core/events.hpp"
#include "effects/db_inspect.hpp"
#include "effects/k8s_effects.hpp"

namespace qpu::effects {

struct context {
  k8s_context k8s;
  // A database session: 120 s, and a manifest 120 s plus the database's size at 20 MB/s (a
  // manifest reads every row: 80 MB/s on this project's 2-core machine, db_inspect_tests
  // "[throughput]").
  time_limit database_limit{std::chrono::milliseconds{120'000}, 20e6};
  // TLS of the controller's own database sessions (run --database-sslmode, --database-ca-file).
  std::string database_sslmode = "prefer";
  std::string database_ca_file;
  // A role's password hash as an inspection's catalog carries it into the event log: a keyed
  // digest (the controller sets its redaction token). Unset: only whether the role has one.
  std::function<std::string(std::string_view)> fingerprint;
  // Where an effect under way reports how far it has come (effect_progress; the controller logs
  // and folds it), at most once per progress_every. Unset: not reported. Only the manifest of the
  // upgraded database (inspect-verify) reports, table after table.
  std::function<void(event)> report_progress;
  std::chrono::milliseconds progress_every{5'000};
};

boost::asio::awaitable<event> perform(context& ctx, const effect& e);

}  // namespace qpu::effects
