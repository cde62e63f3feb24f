#include "persistence.hpp"

#include <fstream>
#include <sstream>

namespace kube_sim {

result<void> load_state(store& s, const std::filesystem::path& dir) {
  const auto file = dir / "state.json";
  if (!std::filesystem::exists(file)) return {};
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto saved = json::parse(text.str(), nullptr, false);
  if (saved.is_discarded())
    return std::unexpected(internal_error(file.string() + " is not valid JSON; move it away to start empty"));
  return s.load(saved);
}

state_saver::state_saver(boost::asio::io_context& io, store& s, std::filesystem::path dir)
    : store_(s), dir_(std::move(dir)), timer_(io) {
  std::filesystem::create_directories(dir_);
  subscription_ = store_.subscribe([this](const change&) {
    if (pending_) return;
    pending_ = true;
    timer_.expires_after(std::chrono::milliseconds(20));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      pending_ = false;
      (void)save_now();
    });
  });
}

state_saver::~state_saver() { store_.unsubscribe(subscription_); }

result<void> state_saver::save_now() {
  const auto file = dir_ / "state.json";
  auto tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << store_.save().dump();
    if (!out) return std::unexpected(internal_error("cannot write " + tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) return std::unexpected(internal_error("cannot replace " + file.string() + ": " + ec.message()));
  return {};
}

}  // namespace kube_sim
