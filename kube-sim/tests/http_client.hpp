#pragma once
// A minimal synchronous Beast client for the HTTP-level tests (plain HTTP only).
#include <string>

#include <nlohmann/json.hpp>

namespace kube_sim::testing {

struct http_result {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;
  std::string transfer_encoding;
  bool complete = true;  // false: the connection ended before the response did
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

http_result send(unsigned short port, const std::string& method, const std::string& target, const std::string& body = {},
                 const std::string& content_type = "application/json", const std::string& user_agent = {});

}  // namespace kube_sim::testing
