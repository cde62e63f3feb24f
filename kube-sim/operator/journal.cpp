#include "journal.hpp"

#include "object_meta.hpp"

namespace kube_sim::quay_operator {

journal::journal(std::filesystem::path file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::error_code ec;
  if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path(), ec);
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
