#include "effects/dispatch.hpp"

#include "effects/db_inspect.hpp"

namespace qpu::effects {

namespace {

// Connect as the database's superuser when the Deployment names an admin password (the manifest
// reads every table), else as the application user, which owns Quay's tables.
connection_spec connection_for(const context& ctx, const resolved_database& db) {
  connection_spec spec;
  spec.sslmode = ctx.database_sslmode;
  spec.sslrootcert = ctx.database_ca_file;
  spec.host = db.host;
  spec.port = db.port;
  spec.dbname = db.dbname.empty() ? "postgres" : db.dbname;
  if (!db.admin_password.empty()) {
    spec.user = "postgres";
    spec.password = db.admin_password;
  } else {
    spec.user = db.user;
    spec.password = db.password;
  }
  return spec;
}

boost::asio::awaitable<event> inspect(context& ctx, const qpu::inspect_database& e) {
  auto db = co_await resolve_database(ctx.k8s, e.db);
  if (!db) co_return failure(e.id, db.error());
  manifest_progress_fn on_table;
  if (ctx.report_progress && e.with_manifest && e.id.step == step_kind::inspect_verify) {
    on_table = [&ctx, id = e.id, last = std::chrono::steady_clock::time_point{}](std::int64_t done, std::int64_t total) mutable {
      const auto now = std::chrono::steady_clock::now();
      if (now - last < ctx.progress_every) return;
      last = now;
      const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
      ctx.report_progress(effect_progress{id, job_progress{"verify", "bytes", done, total, at.count()}});
    };
  }
  // The image sets these roles' passwords from its Secret (sclorg: at every start).
  catalog_options catalog{ctx.fingerprint, {db->user}, true};
  if (!db->admin_password.empty()) catalog.image_roles.push_back("postgres");
  auto facts = co_await inspect_database(co_await boost::asio::this_coro::executor, connection_for(ctx, *db), e.with_manifest,
                                         ctx.database_limit, std::move(on_table), std::move(catalog));
  if (!facts) {
    const auto f = to_failure(facts.error());
    co_return effect_failed{e.id, 0, f.reason, f.message};
  }
  co_return effect_succeeded{e.id, std::move(*facts)};
}

}  // namespace

boost::asio::awaitable<event> perform(context& ctx, const effect& e) {
  if (const auto* i = std::get_if<qpu::inspect_database>(&e)) co_return co_await inspect(ctx, *i);
  if (const auto* r = std::get_if<requeue_after>(&e)) co_return effect_succeeded{r->id, std::nullopt};
  // One executor per effect kind (effects/k8s_effects.hpp).
  if (const auto* x = std::get_if<create_claim>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<create_job>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<scale_deployment>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<patch_database_deployment>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<update_registry_status>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<emit_event>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<inspect_claim>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<read_job_progress>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<read_job_manifest>(&e)) co_return co_await perform(ctx.k8s, *x);
  if (const auto* x = std::get_if<read_claim>(&e)) co_return co_await perform(ctx.k8s, *x);
  const auto& d = std::get<delete_job>(e);
  co_return co_await perform(ctx.k8s, d);
}

}  // namespace qpu::effects
