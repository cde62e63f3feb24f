#include "kube/token_source.hpp"

#include <fstream>
#include <sstream>

namespace qpu::kube {

token_source::token_source(std::string literal, std::string file, std::chrono::seconds refresh)
    : token_(std::move(literal)), file_(std::move(file)), refresh_(refresh) {}

const std::string& token_source::current() {
  if (file_.empty()) return token_;
  auto now = std::chrono::steady_clock::now();
  if (stale_ || now - read_at_ >= refresh_) {
    std::ifstream in(file_, std::ios::binary);
    // A failed re-read keeps the previous token: the file may be mid-rotation (kubelet swaps a
    // symlink), and the next 401 or refresh tries again.
    if (in) {
      std::ostringstream s;
      s << in.rdbuf();
      std::string t = s.str();
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      token_ = std::move(t);
      read_at_ = now;
      stale_ = false;
    }
  }
  return token_;
}

bool token_source::invalidate() {
  stale_ = true;
  return !file_.empty();
}

}  // namespace qpu::kube
