#include "faults.hpp"

namespace kube_sim {

json to_json(const fault_settings& f) {
  return {{"dropWatchAfterEvents", f.drop_watch_after_events},
          {"failNext", f.fail_next},
          {"failRate", f.fail_rate},
          {"failCode", f.fail_code},
          {"retryAfterSeconds", f.retry_after_seconds},
          {"chunkBytes", f.chunk_bytes},
          {"eventDelayMs", f.event_delay_ms},
          {"failClient", f.fail_client},
          {"failRequest", f.fail_request}};
}

json to_json(const fault_counts& c) {
  json by_code = json::object();
  for (const auto& [code, n] : c.failed_by_code) by_code[std::to_string(code)] = n;
  std::int64_t failed = 0;
  for (const auto& [resource, n] : c.failed_requests) failed += n;
  return {{"failedRequests", failed},
          {"failedByResource", c.failed_requests},
          {"failedByCode", by_code},
          {"droppedWatches", c.dropped_watches},
          {"chunkedEvents", c.chunked_events},
          {"delayedEvents", c.delayed_events},
          {"expiredWatches", c.expired_watches}};
}

result<void> apply_fault_update(fault_settings& f, const json& body) {
  if (!body.is_object()) return std::unexpected(bad_request("fault settings must be a JSON object"));
  fault_settings next = f;
  for (const auto& [key, value] : body.items()) {
    if (key == "expireHistory") continue;  // an action, handled by the caller
    if (key == "failClient") {
      if (!value.is_string()) return std::unexpected(bad_request("failClient must be a string (a User-Agent prefix)"));
      next.fail_client = value.get<std::string>();
      continue;
    }
    if (key == "failRequest") {
      if (!value.is_string()) return std::unexpected(bad_request("failRequest must be a string (part of \"METHOD path\")"));
      next.fail_request = value.get<std::string>();
      continue;
    }
    if (key == "failRate") {
      if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 1)
        return std::unexpected(bad_request("failRate must be a number in [0, 1]"));
      next.fail_rate = value.get<double>();
      continue;
    }
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0)
      return std::unexpected(bad_request(key + " must be a non-negative integer"));
    const auto n = value.get<std::int64_t>();
    if (key == "dropWatchAfterEvents") next.drop_watch_after_events = n;
    else if (key == "failNext") next.fail_next = n;
    else if (key == "failCode") {
      if (n != 403 && n != 429 && n != 500 && n != 503 && n != 504)
        return std::unexpected(bad_request("failCode must be 403, 429, 500, 503 or 504"));
      next.fail_code = static_cast<int>(n);
    } else if (key == "retryAfterSeconds") next.retry_after_seconds = static_cast<int>(n);
    else if (key == "chunkBytes") next.chunk_bytes = n;
    else if (key == "eventDelayMs") next.event_delay_ms = n;
    else return std::unexpected(bad_request("unknown fault setting: " + key));
  }
  f = next;
  return {};
}

std::optional<api_error> fault_injector::next_request_failure(const std::string& client, const std::string& resource,
                                                              const std::string& request) {
  if (!settings.fail_client.empty() && !client.starts_with(settings.fail_client)) return std::nullopt;
  if (!settings.fail_request.empty() && request.find(settings.fail_request) == std::string::npos) return std::nullopt;
  bool fail = false;
  if (settings.fail_next > 0) {
    --settings.fail_next;
    fail = true;
  } else if (settings.fail_rate > 0) {
    fail = std::uniform_real_distribution<double>(0, 1)(random_) < settings.fail_rate;
  }
  if (!fail) return std::nullopt;
  auto& counts = by_client[client];
  ++counts.failed_requests[resource];
  ++counts.failed_by_code[settings.fail_code];
  if (settings.fail_code == 403)
    return api_error{403, "Forbidden", resource + " is forbidden: the request was refused (injected by kube-sim)"};
  if (settings.fail_code == 429) return too_many_requests(settings.retry_after_seconds);
  if (settings.fail_code == 500) return internal_error("injected by kube-sim");
  if (settings.fail_code == 503)
    return api_error{503, "ServiceUnavailable", "the server is currently unable to handle the request (injected by kube-sim)"};
  return api_error{504, "Timeout", "the server was unable to return a response in the time allotted (injected by kube-sim)"};
}

}  // namespace kube_sim
