#include "api_error.hpp"

namespace kube_sim {

json to_status(const api_error& e) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"},   {"metadata", json::object()},
            {"status", "Failure"}, {"message", e.message}, {"reason", e.reason},
            {"code", e.code}};
  if (!e.details.is_null()) s["details"] = e.details;
  return s;
}

api_error bad_request(std::string message) { return {400, "BadRequest", std::move(message)}; }

api_error unauthorized() { return {401, "Unauthorized", "Unauthorized"}; }

api_error forbidden(std::string message) { return {403, "Forbidden", std::move(message)}; }

api_error not_found_path(std::string_view path) {
  return {
      404, "NotFound", "the server could not find the requested resource",
      json{{"causes",
            json::array({{{"reason", "UnexpectedServerResponse"}, {"message", "404 page not found: " + std::string(path)}}})}}};
}

api_error method_not_allowed() {
  return {405, "MethodNotAllowed", "the server does not allow this method on the requested resource"};
}

api_error unsupported_media_type(std::string message) { return {415, "UnsupportedMediaType", std::move(message)}; }

api_error not_acceptable(std::string message) { return {406, "NotAcceptable", std::move(message)}; }

api_error too_many_requests(int retry_after_seconds) {
  api_error e{429, "TooManyRequests", "the server has received too many requests and has asked us to try again later",
              json{{"retryAfterSeconds", retry_after_seconds}}};
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

api_error internal_error(std::string message) { return {500, "InternalError", "Internal error occurred: " + std::move(message)}; }

api_error expired(std::string message) { return {410, "Expired", std::move(message)}; }

}  // namespace kube_sim
