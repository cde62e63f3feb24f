#pragma once
// --state-dir: the store survives a restart of kube-sim. Every change schedules a save a few
// milliseconds later (one write for a burst of changes); the file is replaced atomically.
#include <filesystem>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "store.hpp"

namespace kube_sim {

/// Loads `dir/state.json` into `s` if it exists (a missing file is a fresh start).
result<void> load_state(store& s, const std::filesystem::path& dir);

/// Saves the store to `dir/state.json` after changes, on the store's io_context.
class state_saver {
 public:
  state_saver(boost::asio::io_context& io, store& s, std::filesystem::path dir);
  ~state_saver();
  /// Writes now (also used at shutdown).
  result<void> save_now();

 private:
  store& store_;
  std::filesystem::path dir_;
  boost::asio::steady_timer timer_;
  std::uint64_t subscription_ = 0;
  bool pending_ = false;
};

}  // namespace kube_sim
