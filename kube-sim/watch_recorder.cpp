#include "watch_recorder.hpp"

namespace kube_sim {

bool watch_recorder::open(const std::string& file) {
  out_.open(file, std::ios::app);
  return out_.is_open();
}

void watch_recorder::record(std::uint64_t watch_id, const std::string& path, const json& event) {
  if (!out_.is_open()) return;
  out_ << json{{"watch", watch_id}, {"path", path}, {"event", event}}.dump() << '\n';
  out_.flush();
}

}  // namespace kube_sim
