#include "persistence.hpp"

#include <map>
#include <sstream>
#include <tuple>

#include "object_meta.hpp"

namespace kube_sim {

namespace {

constexpr const char* snapshot_file = "state.json";
constexpr const char* journal_file = "journal.jsonl";

result<json> read_snapshot(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto saved = json::parse(text.str(), nullptr, false);
  if (saved.is_discarded() || !saved.is_object() || !saved.contains("objects") || !saved.contains("revision"))
    return std::unexpected(internal_error(file.string() + " is not a saved state; move it away to start empty"));
  return saved;
}

// Applies the journal's changes newer than `saved`'s revision to it.
result<void> replay_journal(json& saved, const std::filesystem::path& file) {
  using key = std::tuple<std::string, std::string, std::string>;  // type id, namespace, name
  std::map<key, json> objects;
  for (auto& entry : saved["objects"]) {
    // The key first: json's assignment takes its operand by value, moved before the left side is read.
    key k{entry.value("type", ""), object_namespace(entry["object"]), object_name(entry["object"])};
    objects[std::move(k)] = std::move(entry);
  }
  const std::uint64_t snapshot = saved["revision"].get<std::uint64_t>();
  std::uint64_t revision = snapshot;
  std::ifstream in(file);
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto record = json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.contains("rv") || !record.contains("object")) {
      // Only the last line can be torn by a kill; a bad line before it is damage.
      if (in.peek() == std::char_traits<char>::eof()) break;
      return std::unexpected(internal_error(file.string() + " line " + std::to_string(number) +
                                            " is not a journal record; move the folder away to start empty"));
    }
    const auto rv = record["rv"].get<std::uint64_t>();
    revision = std::max(revision, rv);  // each change takes the next revision: the last one is the counter
    if (rv <= snapshot) continue;  // already in the snapshot
    const auto& o = record["object"];
    const key k{record.value("type", ""), object_namespace(o), object_name(o)};
    if (record.value("deleted", false)) objects.erase(k);
    else objects[k] = {{"type", std::get<0>(k)}, {"object", o}};
  }
  json list = json::array();
  for (auto& [k, entry] : objects) list.push_back(std::move(entry));
  saved = {{"revision", revision}, {"objects", std::move(list)}};
  return {};
}

}  // namespace

result<void> load_state(store& s, const std::filesystem::path& dir) {
  const auto snapshot = dir / snapshot_file;
  const auto journal = dir / journal_file;
  const bool has_snapshot = std::filesystem::exists(snapshot);
  if (!has_snapshot && !std::filesystem::exists(journal)) return {};
  json saved = s.save();  // a journal without a snapshot began on the seeded store
  if (has_snapshot) {
    auto read = read_snapshot(snapshot);
    if (!read) return std::unexpected(read.error());
    saved = std::move(*read);
  }
  if (auto replayed = replay_journal(saved, journal); !replayed) return replayed;
  return s.load(saved);
}

state_saver::state_saver(boost::asio::io_context& io, store& s, std::filesystem::path dir)
    : store_(s), dir_(std::move(dir)), timer_(io) {
  std::filesystem::create_directories(dir_);
  (void)save_now();
  subscription_ = store_.subscribe([this](const change& c) {
    journal(c);
    if (pending_) return;
    pending_ = true;
    timer_.expires_after(std::chrono::milliseconds(200));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      pending_ = false;
      (void)save_now();
    });
  });
}

state_saver::~state_saver() { store_.unsubscribe(subscription_); }

void state_saver::journal(const change& c) {
  const json record = {{"rv", c.rv}, {"type", c.type_id}, {"deleted", c.type == event_type::deleted}, {"object", c.object}};
  journal_ << record.dump() << '\n';
  journal_.flush();  // in the kernel before the request that made the change is answered
}

result<void> state_saver::save_now() {
  const auto file = dir_ / snapshot_file;
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
  // A kill between the rename and this leaves records the snapshot holds: the load skips them.
  journal_.close();
  journal_.open(dir_ / journal_file, std::ios::trunc);
  if (!journal_) return std::unexpected(internal_error("cannot open " + (dir_ / journal_file).string()));
  return {};
}

}  // namespace kube_sim
