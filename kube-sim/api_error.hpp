#pragma once
// Errors the simulated API server returns, shaped like the apiserver's metav1.Status so that
// clients (client-go, python-kubernetes, our own watch layer) see the same codes and reasons
// they would see from a real cluster.
#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kube_sim {

using json = nlohmann::json;

/// A failed API call: HTTP code, the Status `reason`, a human message and Status `details`.
struct api_error {
  int code = 500;
  std::string reason;
  std::string message;
  json details = nullptr;
  int retry_after_seconds = 0;  // only for 429: sent as Retry-After and in details

  bool operator==(const api_error&) const = default;
};

template <class T>
using result = std::expected<T, api_error>;

/// The `Status` body every error response carries.
json to_status(const api_error& e);

api_error bad_request(std::string message);
api_error unauthorized();
api_error forbidden(std::string message);
api_error not_found_path(std::string_view path);
api_error method_not_allowed();
api_error unsupported_media_type(std::string message);
/// 406: the Accept header allows none of the media types the answer can be written in.
api_error not_acceptable(std::string message);
api_error too_many_requests(int retry_after_seconds);
api_error internal_error(std::string message);
/// 410 with reason Expired: too old resource version or an expired continue token.
api_error expired(std::string message);

}  // namespace kube_sim
