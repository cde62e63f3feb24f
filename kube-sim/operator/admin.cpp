#include "admin.hpp"

#include <charconv>

namespace kube_sim::quay_operator {
namespace {

api_reply json_reply(int status, const json& body) { return {status, body.dump(), "application/json", {}}; }

api_reply error(int code, const std::string& reason, const std::string& message) {
  return json_reply(code, to_status(api_error{code, reason, message, nullptr, 0}));
}

std::uint64_t since_of(const std::string& target) {
  const auto at = target.find("since=");
  if (at == std::string::npos) return 0;
  std::uint64_t value = 0;
  const char* begin = target.data() + at + 6;
  (void)std::from_chars(begin, target.data() + target.size(), value);
  return value;
}

}  // namespace

void add_admin_routes(api_handler& handler, stand_in& s) {
  handler.add_admin_route("/_sim/quay-operator", [&s](const api_request& request) -> api_reply {
    if (request.method == "GET") return {200, s.log().lines_after(since_of(request.target)), "application/jsonl", {}};
    if (request.method != "POST") return error(405, "MethodNotAllowed", "GET or POST /_sim/quay-operator");
    const auto body = json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return error(400, "BadRequest", "POST /_sim/quay-operator wants a JSON object such as {\"hold\": false}");
    if (body.contains("hold")) {
      if (!body["hold"].is_boolean()) return error(400, "BadRequest", "\"hold\" must be true or false");
      s.set_hold(body["hold"].get<bool>());
    }
    return json_reply(200, s.status());
  });
  handler.add_admin_route("/_sim/quay-operator/status", [&s](const api_request& request) -> api_reply {
    if (request.method != "GET") return error(405, "MethodNotAllowed", "GET /_sim/quay-operator/status");
    return json_reply(200, s.status());
  });
}

}  // namespace kube_sim::quay_operator
