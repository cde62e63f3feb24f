#include "watch/log.hpp"

namespace qpu::watch {

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("watch")) return existing;
    auto l = spdlog::default_logger()->clone("watch");
    spdlog::register_logger(l);
    return l;
  }();
  return *logger;
}

}  // namespace qpu::watch
