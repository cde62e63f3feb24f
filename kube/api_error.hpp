#pragma once
// A failed API call as a value: the HTTP status, the Status object's reason and message, and a
// kind the caller switches on. Transport failures (TLS, connect, timeout) have code 0.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qpu::kube {

enum class api_error_kind : std::uint8_t {
  already_exists,  // 409 AlreadyExists (a create that already happened: treat as done)
  conflict,  // 409 Conflict (stale resourceVersion)
  not_found,  // 404
  invalid,  // 422
  expired,  // 410 Expired / Gone (watch history or continue token compacted)
  too_many_requests,  // 429, with Retry-After
  unauthorized,  // 401
  forbidden,  // 403
  bad_request,  // 400 and other 4xx
  unsupported_media_type,  // 415 (strategic merge patch on a custom resource)
  server_error,  // 5xx
  connection,  // resolve/connect/TLS/read failure
  timeout,  // a step took longer than its deadline
};

const char* to_string(api_error_kind k);

struct api_error {
  api_error_kind kind = api_error_kind::connection;
  std::int32_t code = 0;  // HTTP status; 0 for transport failures
  std::string reason;  // the Status reason ("AlreadyExists") or ours ("ConnectionFailed", "Timeout")
  std::string message;  // the server's message, or what failed in transport (OpenSSL's reason)
  std::optional<std::chrono::seconds> retry_after;
  bool operator==(const api_error&) const = default;

  bool transient() const {
    return kind == api_error_kind::too_many_requests || kind == api_error_kind::server_error ||
           kind == api_error_kind::connection || kind == api_error_kind::timeout;
  }
};

// "409 AlreadyExists: jobs.batch \"x\" already exists", for logs and conditions.
std::string describe(const api_error& e);

// From an HTTP error response: the body is decoded as a Status when it is one, else quoted.
api_error error_from_response(std::int32_t code, std::string_view body, std::string_view retry_after = "");
api_error connection_error(std::string message);
api_error timeout_error(std::string message);

}  // namespace qpu::kube
