#pragma once
// The writes (and reads) the effects layer performs, as coroutines returning values:
// `std::expected<api_result, api_error>`. A non-2xx response is an api_error decoded from the
// server's Status (409 AlreadyExists on a create means "already done" for the caller to decide).
//
//   api_client api(client);
//   auto r = co_await api.create(path_of(resource_kind::job, "quay"), job_json);
//   if (!r && r.error().kind != api_error_kind::already_exists) ...
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>

#include <expected>
#include <memory>
#include <optional>
#include <string>

#include "kube/api_error.hpp"
#include "kube/http_client.hpp"
#include "kube/resource_url.hpp"

namespace qpu::kube {

struct api_result {
  unsigned status = 0;
  std::string body;  // the server's JSON (the object as stored, or a Status for deletes)
};

enum class patch_type : std::uint8_t {
  merge,  // application/merge-patch+json (RFC 7386)
  json,  // application/json-patch+json (RFC 6902)
  strategic_merge,  // application/strategic-merge-patch+json: built-in types only (415 on CRs)
};
const char* content_type(patch_type t);

enum class propagation : std::uint8_t { background, foreground, orphan };

class api_client {
 public:
  explicit api_client(std::shared_ptr<http_client> client) : client_(std::move(client)) {}

  using result = boost::asio::awaitable<std::expected<api_result, api_error>>;

  // POST to the collection `p` (p.name empty).
  result create(resource_path p, std::string body);
  result get(resource_path p);
  // GET of a collection with query parameters (labelSelector, fieldSelector, limit).
  result list(resource_path p, const query_params& query);
  // PUT: custom resources need metadata.resourceVersion in `body` (a stale one is 409 Conflict).
  result replace(resource_path p, std::string body);
  result patch(resource_path p, patch_type type, std::string body);
  // A merge patch of the /status subresource: only .status changes.
  result patch_status(resource_path p, std::string merge_patch);
  result remove(resource_path p, std::optional<propagation> policy = std::nullopt);

  http_client& client() { return *client_; }

 private:
  result call(boost::beast::http::verb method, std::string target, std::string body, std::string content_type);
  std::shared_ptr<http_client> client_;
};

}  // namespace qpu::kube
