#pragma once
// Turns one HTTP request into a store call and a reply, or into a validated watch request for
// the streaming side. No sockets here: the Beast layer (http_server) owns all I/O, so this
// can be read as the apiserver's REST mapping in one place.
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "faults.hpp"
#include "store.hpp"
#include "watch_feed.hpp"

namespace kube_sim {

struct answer_format;  // the media types one request's answers may be written in (api_handler.cpp)

struct api_request {
  std::string method;
  std::string target;
  std::string content_type;
  std::string accept;
  std::string authorization;
  std::string body;
  std::string user_agent;  // who asked: faults are counted per client
};

struct api_reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Settings of the running server the handler needs.
struct api_settings {
  std::optional<std::string> token;  // when set, every API request needs "Bearer <token>"
  std::string server_address;  // host:port, for /api's serverAddressByClientCIDRs
};

class api_handler {
 public:
  api_handler(store& s, fault_injector& faults, api_settings settings)
      : store_(s), faults_(faults), settings_(std::move(settings)) {}

  std::variant<api_reply, watch_request> handle(const api_request& request);

  /// Known only after binding (port 0), before the first request.
  void set_server_address(std::string address) { settings_.server_address = std::move(address); }
  store& data() { return store_; }
  fault_injector& faults() { return faults_; }
  /// Serves `path` (under /_sim/, no auth, like the other admin routes) with `route`: parts of the
  /// simulator outside this library (the Quay operator stand-in) add their own.
  using admin_route = std::function<api_reply(const api_request&)>;
  void add_admin_route(std::string path, admin_route route) { admin_routes_[std::move(path)] = std::move(route); }
  /// Where a pod's container log is (the runtime's file), for GET pods/<name>/log (kubectl logs);
  /// unset: that subresource answers 404, as for a pod no kubelet runs.
  using log_locator =
      std::function<std::filesystem::path(const std::string& ns, const std::string& pod, const std::string& container)>;
  void set_log_locator(log_locator l) { log_locator_ = std::move(l); }

 private:
  using query = std::map<std::string, std::string>;
  api_reply admin(const api_request& request, const std::string& path);
  std::variant<api_reply, watch_request> resource(const api_request& request, const std::string& group,
                                                  const std::string& version, std::vector<std::string> rest, const query& q);

  store& store_;
  fault_injector& faults_;
  api_settings settings_;
  std::map<std::string, admin_route> admin_routes_;
  log_locator log_locator_;
  api_reply pod_log(const resource_type& pods, const std::string& ns, const std::string& name, const query& q,
                    const answer_format& out);
  api_reply scale(const resource_type& t, const std::string& ns, const std::string& name, const api_request& request,
                  const answer_format& out);
};

/// Percent-decoding of one URL component ('+' is a space in query strings).
std::string url_decode(std::string_view text, bool query_component);

}  // namespace kube_sim
