// g++ 12 at -O2 flags the delete of Asio's coroutine frames as mismatched: a false positive
// (GCC PR 109224 family), as in effects/k8s_effects.cpp.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include "app/leader_election.hpp"

#include "core/codec.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>

#include "kube/api_client.hpp"
#include "kube/kube_config.hpp"

namespace qpu::app {

namespace net = boost::asio;
using nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = [] {
    if (auto existing = spdlog::get("leader")) return existing;
    auto made = spdlog::default_logger()->clone("leader");
    spdlog::register_logger(made);
    return made;
  }();
  return l;
}

// metav1.MicroTime: RFC 3339 with microseconds, UTC.
std::string micro_time_now() {
  const auto now = std::chrono::system_clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us % 1'000'000));
  return buf;
}

lease_record record_of(const json& lease) {
  const json spec = lease.value("spec", json::object());
  lease_record r;
  r.holder = spec.value("holderIdentity", "");
  // Absent or not an integer (the API server validates int32): 0, as client-go reads a nil one.
  const auto integer = [&](const char* key) { return spec.contains(key) ? json_integer(spec[key]).value_or(0) : 0; };
  r.lease_duration_s = integer("leaseDurationSeconds");
  r.acquire_time = spec.value("acquireTime", "");
  r.renew_time = spec.value("renewTime", "");
  r.transitions = integer("leaseTransitions");
  return r;
}

json spec_of(const lease_record& r) {
  json s = {{"holderIdentity", r.holder}, {"leaseDurationSeconds", r.lease_duration_s}, {"leaseTransitions", r.transitions}};
  if (!r.acquire_time.empty()) s["acquireTime"] = r.acquire_time;
  if (!r.renew_time.empty()) s["renewTime"] = r.renew_time;
  return s;
}

}  // namespace

leader_elector::leader_elector(net::io_context& ioc, std::shared_ptr<kube::http_client> client, leader_election_options o,
                               callbacks cb)
    : ioc_(ioc), api_(std::make_shared<kube::api_client>(std::move(client))), o_(std::move(o)), cb_(std::move(cb)) {}
leader_elector::~leader_elector() = default;

bool leader_elector::is_leader() const { return leading_ && steady::now() - renewed_at_ < o_.renew_deadline; }

void leader_elector::stop() {
  stopping_ = true;
  if (timer_) timer_->cancel();
}

net::awaitable<void> leader_elector::sleep(std::chrono::milliseconds d) {
  if (!timer_) timer_ = std::make_unique<net::steady_timer>(ioc_);
  timer_->expires_after(d);
  boost::system::error_code ec;  // cancelled by stop(): the loop sees stopping_
  co_await timer_->async_wait(net::redirect_error(net::use_awaitable, ec));
}

// client-go's tryAcquireOrRenew: read, judge expiry by when WE saw the record change, write with
// the resourceVersion read (or create when there is no Lease yet).
net::awaitable<bool> leader_elector::try_acquire_or_renew() {
  const kube::resource_path path{"coordination.k8s.io", "v1", "leases", o_.ns, o_.name, ""};
  const std::string now = micro_time_now();
  lease_record mine{o_.identity, std::chrono::duration_cast<std::chrono::seconds>(o_.lease_duration).count(), now, now, 0};

  auto got = co_await api_->get(path);
  if (!got) {
    if (got.error().kind != kube::api_error_kind::not_found) {
      logger()->debug("reading Lease {}/{}: {} {}", o_.ns, o_.name, got.error().code, got.error().message);
      co_return false;
    }
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", o_.name}, {"namespace", o_.ns}}},
                  {"spec", spec_of(mine)}};
    kube::resource_path collection = path;
    collection.name.clear();
    auto made = co_await api_->create(collection, lease.dump());
    if (!made) {
      logger()->debug("creating Lease {}/{}: {} {}", o_.ns, o_.name, made.error().code, made.error().message);
      co_return false;
    }
    observed_ = mine;
    observed_at_ = steady::now();
    co_return true;
  }
  json lease = json::parse(got->body, nullptr, false);
  if (lease.is_discarded()) co_return false;
  const lease_record seen = record_of(lease);
  if (seen != observed_) {
    if (seen.holder != observed_.holder && cb_.new_leader) cb_.new_leader(seen.holder);
    observed_ = seen;
    observed_at_ = steady::now();
  }
  const auto held_for = std::chrono::seconds(seen.lease_duration_s > 0 ? seen.lease_duration_s : 1);
  if (!seen.holder.empty() && seen.holder != o_.identity && observed_at_ + held_for > steady::now())
    co_return false;  // held by another, and not expired by our own observation

  if (seen.holder == o_.identity) {
    mine.acquire_time = seen.acquire_time;
    mine.transitions = seen.transitions;
  } else {
    mine.transitions = seen.transitions + 1;
  }
  lease["spec"] = spec_of(mine);  // metadata.resourceVersion stays: the precondition of the PUT
  auto put = co_await api_->replace(path, lease.dump());
  if (!put) {
    logger()->debug("updating Lease {}/{}: {} {}", o_.ns, o_.name, put.error().code, put.error().reason);
    co_return false;
  }
  observed_ = mine;
  observed_at_ = steady::now();
  co_return true;
}

net::awaitable<void> leader_elector::run() {
  logger()->info("attempting to acquire leader lease {}/{} as {}", o_.ns, o_.name, o_.identity);
  // acquire: retry every retry_period with up to 20% jitter (client-go's JitterFactor 1.2).
  std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(1.0, 1.2);
  while (!stopping_) {
    if (co_await try_acquire_or_renew()) break;
    co_await sleep(std::chrono::milliseconds(static_cast<std::int64_t>(o_.retry_period.count() * jitter(rng))));
  }
  if (stopping_) co_return;
  leading_ = true;
  renewed_at_ = steady::now();
  logger()->info("acquired leader lease {}/{} as {} (transitions {})", o_.ns, o_.name, o_.identity, observed_.transitions);
  if (cb_.started_leading) cb_.started_leading();
  // renew: every retry_period; lost when none succeeded within renew_deadline.
  while (!stopping_) {
    co_await sleep(o_.retry_period);
    if (stopping_) break;
    const bool ok = co_await try_acquire_or_renew();
    // Asked to stop while the renewal was in flight: the stop is the outcome (the Lease is given
    // away by release()), not a lost election, whatever that renewal answered.
    if (stopping_) break;
    // A renewal that only answered after the deadline does not count: effects already stopped.
    if (ok && is_leader()) {
      renewed_at_ = steady::now();
      continue;
    }
    if (!is_leader()) {
      leading_ = false;
      logger()->error("leader lease {}/{} lost: no renewal for {} ms (holder now \"{}\")", o_.ns, o_.name,
                      o_.renew_deadline.count(), observed_.holder);
      if (cb_.stopped_leading) cb_.stopped_leading();
      co_return;
    }
  }
}

net::awaitable<void> leader_elector::release() {
  if (!leading_) co_return;
  leading_ = false;  // effects stop before the Lease is given away
  const kube::resource_path path{"coordination.k8s.io", "v1", "leases", o_.ns, o_.name, ""};
  auto got = co_await api_->get(path);
  if (!got) co_return;
  json lease = json::parse(got->body, nullptr, false);
  if (lease.is_discarded() || record_of(lease).holder != o_.identity) co_return;
  lease_record gone = record_of(lease);
  gone.holder.clear();
  gone.lease_duration_s = 1;
  gone.renew_time = micro_time_now();
  lease["spec"] = spec_of(gone);
  auto put = co_await api_->replace(path, lease.dump());
  if (put) logger()->info("released leader lease {}/{}", o_.ns, o_.name);
}

std::string default_identity() {
  std::string base;
  if (const char* pod = std::getenv("POD_NAME"); pod && *pod) base = pod;
  if (base.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) base = host;
  }
  std::mt19937_64 rng{std::random_device{}()};
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%08llx", static_cast<unsigned long long>(rng() & 0xffffffffULL));
  return (base.empty() ? std::string("quay-pg-upgrader") : base) + "_" + suffix;
}

std::string default_lease_namespace(const std::string& kubeconfig_namespace) {
  if (const char* ns = std::getenv("POD_NAMESPACE"); ns && *ns) return ns;
  std::ifstream in(std::string(kube::service_account_dir) + "/namespace");
  std::string ns;
  if (in && std::getline(in, ns) && !ns.empty()) return ns;
  return kubeconfig_namespace.empty() ? "default" : kubeconfig_namespace;
}

}  // namespace qpu::app
