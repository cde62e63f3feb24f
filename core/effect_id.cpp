#include "core/effect_id.hpp"

#include <charconv>

namespace qpu {

namespace {

// Steps written as "<name>/<target>", "<name>" alone, and the two reports.
struct step_name {
  step_kind kind;
  std::string_view text;
  bool has_target;
};
constexpr step_name step_names[] = {
    {step_kind::inspect_manifest, "inspect-manifest", false},
    {step_kind::inspect_verify, "inspect-verify", false},
    {step_kind::inspect_size, "inspect-size", false},
    {step_kind::create_claim, "create-claim", true},
    {step_kind::create_job, "create-job", true},
    {step_kind::scale_down, "scale-down", true},
    {step_kind::scale_up, "scale-up", true},
    {step_kind::switch_database, "switch", false},
    {step_kind::restore, "restore", true},
    {step_kind::delete_job, "delete-job", true},
    {step_kind::inspect_claim, "inspect-claim", true},
    {step_kind::read_progress, "read-progress", true},
    {step_kind::read_manifest, "read-manifest", true},
    {step_kind::read_claim, "read-claim", true},
};

template <class Int>
std::optional<Int> number(std::string_view s) {
  Int v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// The part after "a<attempt>/" and an optional "revert-<run>/".
bool parse_step(std::string_view s, effect_id& id) {
  if (s.starts_with("status@")) {
    const auto seq = number<std::uint64_t>(s.substr(7));
    if (!seq) return false;
    id.step = step_kind::status;
    id.seq = *seq;
    return true;
  }
  if (s.starts_with("event@")) {
    const auto slash = s.find('/');
    if (slash == std::string_view::npos) return false;
    const auto seq = number<std::uint64_t>(s.substr(6, slash - 6));
    if (!seq) return false;
    id.step = step_kind::event;
    id.seq = *seq;
    id.target = std::string(s.substr(slash + 1));
    return true;
  }
  if (s.starts_with("inspect-version/g")) {
    const auto generation = number<std::int64_t>(s.substr(17));
    if (!generation) return false;
    id.step = step_kind::inspect_version;
    id.generation = *generation;
    return true;
  }
  const auto slash = s.find('/');
  const std::string_view name = s.substr(0, slash);
  for (const auto& n : step_names) {
    if (n.text != name || n.has_target != (slash != std::string_view::npos)) continue;
    id.step = n.kind;
    if (n.has_target) id.target = std::string(s.substr(slash + 1));
    return true;
  }
  return false;
}

}  // namespace

effect_id requeue_id(const database_key& database) {
  effect_id id;
  id.registry = database.registry;
  id.component = database.component;
  id.step = step_kind::requeue;
  return id;
}

database_key database_of(const effect_id& id) { return database_key{id.registry, id.component}; }

std::string step_text(const effect_id& id) {
  std::string s = id.revert_run > 0 ? "revert-" + std::to_string(id.revert_run) + "/" : std::string();
  switch (id.step) {
    case step_kind::inspect_version: return s + "inspect-version/g" + std::to_string(id.generation);
    case step_kind::status: return s + "status@" + std::to_string(id.seq);
    case step_kind::event: return s + "event@" + std::to_string(id.seq) + "/" + id.target;
    case step_kind::requeue: return "requeue";
    default: break;
  }
  for (const auto& n : step_names)
    if (n.kind == id.step) return s + std::string(n.text) + (n.has_target ? "/" + id.target : std::string());
  return s;
}

std::string to_string(const effect_id& id) {
  const std::string database = to_string(database_of(id));
  if (id.step == step_kind::requeue) return database + "/requeue";
  return database + "/a" + std::to_string(id.attempt) + "/" + step_text(id);
}

std::optional<effect_id> parse_effect_id(std::string_view text) {
  effect_id id;
  const auto first = text.find('/');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = text.find('/', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  id.registry = {std::string(text.substr(0, first)), std::string(text.substr(first + 1, second - first - 1))};
  std::string_view rest = text.substr(second + 1);
  if (rest.starts_with("clair/")) {
    id.component = db_component::clair;
    rest = rest.substr(6);
  }
  if (rest == "requeue") {
    id.step = step_kind::requeue;
  } else {
    const auto slash = rest.find('/');
    if (!rest.starts_with('a') || slash == std::string_view::npos) return std::nullopt;
    const auto attempt = number<std::int32_t>(rest.substr(1, slash - 1));
    if (!attempt || *attempt < 1) return std::nullopt;
    id.attempt = *attempt;
    rest = rest.substr(slash + 1);
    if (rest.starts_with("revert-")) {
      const auto end = rest.find('/');
      const auto run = end == std::string_view::npos ? std::nullopt : number<std::int32_t>(rest.substr(7, end - 7));
      if (!run || *run < 1) return std::nullopt;
      id.revert_run = *run;
      rest = rest.substr(end + 1);
    }
    if (!parse_step(rest, id)) return std::nullopt;
  }
  // Only a text this controller would write back the same: "a01" or "g+3" are refused.
  if (id.registry.ns.empty() || id.registry.name.empty() || to_string(id) != text) return std::nullopt;
  return id;
}

}  // namespace qpu
