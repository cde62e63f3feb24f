#pragma once
// --record-watch FILE: every watch event kube-sim sends, as JSON Lines, so a test run's
// traffic can become a replay fixture.
#include <cstdint>
#include <fstream>
#include <string>

#include "api_error.hpp"

namespace kube_sim {

/// Appends {"watch":<stream id>,"path":"/api/v1/...","event":{...}} lines, flushed per event.
class watch_recorder {
 public:
  bool open(const std::string& file);
  bool enabled() const { return out_.is_open(); }
  void record(std::uint64_t watch_id, const std::string& path, const json& event);

 private:
  std::ofstream out_;
};

}  // namespace kube_sim
