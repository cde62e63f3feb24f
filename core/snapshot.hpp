#pragma once
// A snapshot of the whole state after one event of the log (issue 17, item 4): every field of
// `state`, the reflector stores and each database's upgrade bookkeeping alike, so that folding the
// log's later lines onto a restored snapshot gives the very state and effects a fold of the whole
// log gives. Unlike the state dump (`to_json(const state&)`, for people), nothing is left out.
//
//   {"format":1,"seq":N,"state":{...}}
//
// The format number changes whenever a field's meaning does; a snapshot of another format is
// refused (the controller then folds the whole log, as without one). A state in the middle of a
// relist (a kind's objects buffered until its InitDone) is not snapshotted: `snapshot_ready`.
#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/state.hpp"

namespace qpu {

// 2: the stores keep no resourceVersion and a uid only for QuayRegistries, and each is written as
// the list of its objects (issue 17 item 2). A format-1 snapshot is still read: its stores are
// converted, the resourceVersions and the uids a fold no longer keeps left out.
inline constexpr int snapshot_format = 2;

// Whether `s` may be snapshotted now: no relist is under way.
bool snapshot_ready(const state& s);

nlohmann::json snapshot_json(const state& s);
std::expected<state, std::string> state_from_snapshot(const nlohmann::json& j);

// The snapshot file beside an event log (run --snapshot-every): the state after seq N and where
// the log's next line starts ("logOffset"), so a start reads only the lines after it.
//   <event log>.snapshot
struct snapshot_file {
  state s;
  std::uint64_t log_offset = 0;
};
std::string snapshot_path(const std::string& event_log);
// Written whole or not at all: a temporary file, fsync, rename, fsync of the folder.
std::expected<void, std::string> write_snapshot(const std::string& path, const state& s, std::uint64_t log_offset);
// nullopt when there is none; an error names the file.
std::expected<std::optional<snapshot_file>, std::string> read_snapshot(const std::string& path);

}  // namespace qpu
