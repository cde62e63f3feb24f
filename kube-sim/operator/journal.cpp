#include "journal.hpp"

#include <algorithm>

#include "object_meta.hpp"

namespace kube_sim::quay_operator {

journal::journal(std::filesystem::path file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::error_code ec;
  if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path(), ec);
  // A restarted kube-sim (--state-dir) continues the file: its entries are served again and the
  // numbering goes on from the last one, so `seq` stays unique within the file.
  std::ifstream in(file_);
  for (std::string line; std::getline(in, line);) {
    auto entry = json::parse(line, nullptr, false);
    if (entry.is_discarded() || !entry.is_object()) continue;
    seq_ = std::max(seq_, entry.value("seq", std::uint64_t{0}));
    entries_.push_back(std::move(entry));
    if (entries_.size() > kept) entries_.pop_front();
  }
  out_.open(file_, std::ios::app);
}

std::uint64_t journal::append(json entry) {
  json stamped = {{"seq", ++seq_}, {"time", now_rfc3339()}};
  for (auto& [k, v] : entry.items()) stamped[k] = std::move(v);
  if (out_) out_ << stamped.dump() << '\n' << std::flush;
  entries_.push_back(std::move(stamped));
  if (entries_.size() > kept) entries_.pop_front();
  return seq_;
}

std::string journal::lines_after(std::uint64_t after) const {
  std::string out;
  for (const auto& e : entries_)
    if (e.value("seq", std::uint64_t{0}) > after) out += e.dump() + "\n";
  return out;
}

}  // namespace kube_sim::quay_operator
