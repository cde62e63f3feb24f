#include "kube/api_client.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>

namespace qpu::kube {

namespace http = boost::beast::http;

const char* content_type(patch_type t) {
  switch (t) {
    case patch_type::merge: return "application/merge-patch+json";
    case patch_type::json: return "application/json-patch+json";
    case patch_type::strategic_merge: return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

api_client::result api_client::call(http::verb method, std::string target, std::string body, std::string type) {
  auto res = co_await client_->request(method, std::move(target), std::move(body), std::move(type));
  if (!res) co_return std::unexpected(res.error());
  if (res->status >= 200 && res->status < 300) co_return api_result{res->status, std::move(res->body)};
  co_return std::unexpected(error_from_response(static_cast<std::int32_t>(res->status), res->body, res->retry_after));
}

api_client::result api_client::create(resource_path p, std::string body) {
  p.name.clear();
  p.subresource.clear();
  return call(http::verb::post, target(p), std::move(body), "application/json");
}

api_client::result api_client::get(resource_path p) { return call(http::verb::get, target(p), {}, {}); }

api_client::result api_client::list(resource_path p, const query_params& query) {
  return call(http::verb::get, target(p, query), {}, {});
}

api_client::result api_client::replace(resource_path p, std::string body) {
  return call(http::verb::put, target(p), std::move(body), "application/json");
}

api_client::result api_client::patch(resource_path p, patch_type type, std::string body) {
  return call(http::verb::patch, target(p), std::move(body), content_type(type));
}

api_client::result api_client::patch_status(resource_path p, std::string merge_patch) {
  p.subresource = "status";
  return call(http::verb::patch, target(p), std::move(merge_patch), content_type(patch_type::merge));
}

api_client::result api_client::remove(resource_path p, std::optional<propagation> policy) {
  std::string body;
  if (policy) {
    const char* name = *policy == propagation::background   ? "Background"
                       : *policy == propagation::foreground ? "Foreground"
                                                            : "Orphan";
    body = std::string(R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":")") + name + "\"}";
  }
  return call(http::verb::delete_, target(p), std::move(body), body.empty() ? "" : "application/json");
}

}  // namespace qpu::kube
