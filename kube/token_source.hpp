#pragma once
// The bearer token: a literal, or a file re-read every `refresh` and after a 401, because
// projected service account tokens rotate (about hourly) and the old one stops working
// (https://kubernetes.io/docs/concepts/security/service-accounts/#bound-service-account-tokens).
// The token is never logged: nothing here formats it.
#include <chrono>
#include <string>

namespace qpu::kube {

class token_source {
 public:
  token_source() = default;
  token_source(std::string literal, std::string file, std::chrono::seconds refresh = std::chrono::seconds(60));

  // The token to send now ("" for none), re-reading the file when due.
  const std::string& current();
  // After a 401: re-read on the next call. True when there is a file to re-read (a retry may help).
  bool invalidate();
  bool from_file() const { return !file_.empty(); }

 private:
  std::string token_;
  std::string file_;
  std::chrono::seconds refresh_{60};
  std::chrono::steady_clock::time_point read_at_{};
  bool stale_ = true;
};

}  // namespace qpu::kube
