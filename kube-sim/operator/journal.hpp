#pragma once
// The stand-in's reconcile log: one JSON object per reconcile of a registry (and one per change of
// whether the operator runs), kept in memory for GET /_sim/quay-operator and appended as JSON Lines
// to a file (kube-sim/README.md describes the fields). Never holds a secret: entries name objects
// and images, not Secret data.
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>

#include "api_error.hpp"

namespace kube_sim::quay_operator {

class journal {
 public:
  /// `file` empty: memory only. An existing file is read back and appended to (a restarted
  /// kube-sim continues it and its numbering).
  explicit journal(std::filesystem::path file = {});

  /// Stamps `entry` with "seq" and "time", keeps it and appends it to the file; returns its seq.
  std::uint64_t append(json entry);
  /// Entries with seq > `after`, oldest first, as JSON Lines.
  std::string lines_after(std::uint64_t after) const;
  std::uint64_t last_seq() const { return seq_; }
  const std::deque<json>& entries() const { return entries_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  static constexpr std::size_t kept = 20000;
  std::filesystem::path file_;
  std::ofstream out_;
  std::deque<json> entries_;
  std::uint64_t seq_ = 0;
};

}  // namespace kube_sim::quay_operator
