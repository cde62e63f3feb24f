#include "kube/api_error.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace qpu::kube {

const char* to_string(api_error_kind k) {
  switch (k) {
    case api_error_kind::already_exists: return "already_exists";
    case api_error_kind::conflict: return "conflict";
    case api_error_kind::not_found: return "not_found";
    case api_error_kind::invalid: return "invalid";
    case api_error_kind::expired: return "expired";
    case api_error_kind::too_many_requests: return "too_many_requests";
    case api_error_kind::unauthorized: return "unauthorized";
    case api_error_kind::forbidden: return "forbidden";
    case api_error_kind::bad_request: return "bad_request";
    case api_error_kind::unsupported_media_type: return "unsupported_media_type";
    case api_error_kind::server_error: return "server_error";
    case api_error_kind::connection: return "connection";
    case api_error_kind::timeout: return "timeout";
  }
  return "unknown";
}

std::string describe(const api_error& e) {
  std::string s = e.code ? std::to_string(e.code) + " " : std::string();
  s += e.reason.empty() ? to_string(e.kind) : e.reason;
  if (!e.message.empty()) s += ": " + e.message;
  return s;
}

namespace {

api_error_kind kind_of(std::int32_t code, std::string_view reason) {
  switch (code) {
    case 409: return reason == "AlreadyExists" ? api_error_kind::already_exists : api_error_kind::conflict;
    case 404: return api_error_kind::not_found;
    case 422: return api_error_kind::invalid;
    case 410: return api_error_kind::expired;
    case 429: return api_error_kind::too_many_requests;
    case 401: return api_error_kind::unauthorized;
    case 403: return api_error_kind::forbidden;
    case 415: return api_error_kind::unsupported_media_type;
    default: break;
  }
  if (code >= 500) return api_error_kind::server_error;
  return api_error_kind::bad_request;
}

const char* default_reason(std::int32_t code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 504: return "Timeout";
    default: return code >= 500 ? "InternalError" : "BadRequest";
  }
}

}  // namespace

api_error error_from_response(std::int32_t code, std::string_view body, std::string_view retry_after) {
  api_error e;
  e.code = code;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.value("kind", "") == "Status") {
    e.reason = j.value("reason", "");
    e.message = j.value("message", "");
  }
  if (e.reason.empty()) e.reason = default_reason(code);
  if (e.message.empty() && !body.empty()) e.message = std::string(body.substr(0, 512));
  e.kind = kind_of(code, e.reason);
  if (!retry_after.empty()) {
    long secs = 0;
    auto [p, ec] = std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), secs);
    if (ec == std::errc{} && secs >= 0) e.retry_after = std::chrono::seconds(secs);
  }
  return e;
}

api_error connection_error(std::string message) {
  return api_error{api_error_kind::connection, 0, "ConnectionFailed", std::move(message), std::nullopt};
}

api_error timeout_error(std::string message) {
  return api_error{api_error_kind::timeout, 0, "Timeout", std::move(message), std::nullopt};
}

}  // namespace qpu::kube
