// Executors of the effects that write to the Kubernetes API, one small coroutine per effect.
// Each returns the outcome as an event: effect_succeeded{id}, or effect_failed{id, code, reason,
// message} with code = the HTTP status (0 for transport failures, reason ConnectionFailed or
// Timeout, as is_transient() expects). Idempotent by construction: a create that already
// happened (409 AlreadyExists) and a delete of what is gone (404) are successes.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#pragma once
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string_view>
#include <string>

#include "core/effects.hpp"
#include "core/events.hpp"
#include "effects/job_specs.hpp"
#include "effects/status_cache.hpp"
#include "kube/api_client.hpp"
#include "kube/api_error.hpp"

namespace qpu::effects {

struct k8s_context {
  std::shared_ptr<kube::api_client> api;
  job_options jobs;
  int conflict_retries = 4;  // update_registry_status: re-read and re-apply on 409 Conflict
  // update_registry_status writes on top of the registry as last seen, without reading it first,
  // when this knows it (a 409 then reads); each successful write updates it. Optional.
  status_cache* statuses = nullptr;
};

boost::asio::awaitable<event> perform(k8s_context& ctx, const create_claim& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const create_job& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const scale_deployment& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const patch_database_deployment& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const update_registry_status& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const emit_event& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const delete_job& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const inspect_claim& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const read_job_progress& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const read_claim& e);
boost::asio::awaitable<event> perform(k8s_context& ctx, const read_job_manifest& e);

// The last well-formed progress line of a Job's log (effects/scripts/common.sh, progress_begin):
// `QPU_PROGRESS <ms since the epoch> <stage> <unit> <done> <total>`. Other lines are skipped.
std::optional<job_progress> last_progress_line(std::string_view log);

// One side's manifest as the archive Job printed it (effects/scripts/archive.sh, verify_manifests):
// its `QPU_MANIFEST <side> ` lines, and has_manifest once `QPU_MANIFEST_END <side> <n>` closed
// them with n equal to the lines read (a log cut short is not a manifest). Other lines are skipped.
database_facts manifest_in_log(std::string_view log, std::string_view side);

// The database as a client connects to it: the Service's clusterIP and port, and the credential
// values from their Secrets (or literals). Holds secrets: never log it, never put it in an event
// or an error message (errors from resolve_database name objects and keys, never values).
struct resolved_database {
  std::string host;
  std::uint16_t port = 5432;
  std::string user;
  std::string password;
  std::string dbname;
  std::string admin_password;  // empty when the Deployment has none
};

boost::asio::awaitable<std::expected<resolved_database, kube::api_error>> resolve_database(k8s_context& ctx,
                                                                                           const database_endpoint& db);

// The effect_failed for an API error (code, reason, the server's message).
effect_failed failure(const effect_id& id, const kube::api_error& e);

}  // namespace qpu::effects
