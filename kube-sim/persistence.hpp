#pragma once
// --state-dir: the store survives a restart of kube-sim, killed or not. As etcd does, no write is
// answered before it is kept: every committed change is appended to `journal.jsonl` (and flushed to
// the kernel) while the request that made it is still being handled, so a SIGKILL right after a 201
// loses nothing. A snapshot of the whole store, `state.json` (replaced atomically), is written a
// moment after a burst of changes and empties the journal; a start loads the snapshot and then
// replays the journal's changes newer than it.
//
// Not fsynced: a killed process loses nothing that reached the kernel; a machine that loses power
// is not what the simulator plays.
#include <filesystem>
#include <fstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "store.hpp"

namespace kube_sim {

/// Loads `dir/state.json` and then the changes of `dir/journal.jsonl` after it into `s`; neither
/// file is a fresh start. A journal's torn last line (a kill in the middle of a write that was then
/// never answered) is ignored.
result<void> load_state(store& s, const std::filesystem::path& dir);

/// Journals every change of the store in `dir` and snapshots it after bursts, on the store's
/// io_context.
class state_saver {
 public:
  /// Takes a snapshot at once, so that the journal starts empty.
  state_saver(boost::asio::io_context& io, store& s, std::filesystem::path dir);
  ~state_saver();
  /// Writes the snapshot now and empties the journal (also used at shutdown).
  result<void> save_now();

 private:
  void journal(const change& c);

  store& store_;
  std::filesystem::path dir_;
  std::ofstream journal_;
  boost::asio::steady_timer timer_;
  std::uint64_t subscription_ = 0;
  bool pending_ = false;
};

}  // namespace kube_sim
