#include "selectors.hpp"

#include <algorithm>
#include <optional>

namespace kube_sim {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Commas inside "in (a,b)" do not separate requirements.
std::vector<std::string_view> split_requirements(std::string_view text) {
  std::vector<std::string_view> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')') --depth;
    if (text[i] == ',' && depth == 0) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

bool valid_key(std::string_view k) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

result<requirement> parse_set_requirement(std::string_view part, std::size_t op_at, std::size_t op_len, requirement::op op) {
  requirement r{std::string(trim(part.substr(0, op_at))), op, {}};
  auto rest = trim(part.substr(op_at + op_len));
  if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')')
    return std::unexpected(bad_request("unable to parse requirement: found '" + std::string(rest) + "', expected: '('"));
  rest = rest.substr(1, rest.size() - 2);
  std::size_t start = 0;
  for (std::size_t i = 0; i <= rest.size(); ++i) {
    if (i == rest.size() || rest[i] == ',') {
      r.values.emplace_back(trim(rest.substr(start, i - start)));
      start = i + 1;
    }
  }
  return r;
}

std::optional<std::size_t> find_word(std::string_view part, std::string_view word) {
  auto at = part.find(word);
  if (at == std::string_view::npos || at == 0 || part[at - 1] != ' ') return std::nullopt;
  return at;
}

result<requirement> parse_one(std::string_view part, bool fields) {
  part = trim(part);
  if (!fields) {
    if (auto at = find_word(part, "notin ")) return parse_set_requirement(part, *at, 6, requirement::op::not_in);
    if (auto at = find_word(part, "in ")) return parse_set_requirement(part, *at, 3, requirement::op::in);
  }
  struct candidate {
    std::string_view token;
    requirement::op op;
  };
  for (auto [token, op] : {candidate{"!=", requirement::op::not_equals}, candidate{"==", requirement::op::equals},
                           candidate{"=", requirement::op::equals}}) {
    auto at = part.find(token);
    if (at == std::string_view::npos) continue;
    requirement r{std::string(trim(part.substr(0, at))), op, {std::string(trim(part.substr(at + token.size())))}};
    if (!valid_key(r.key)) return std::unexpected(bad_request("invalid selector key: " + r.key));
    return r;
  }
  if (fields) return std::unexpected(bad_request("invalid field selector: '" + std::string(part) + "'"));
  if (!part.empty() && part.front() == '!') {
    requirement r{std::string(trim(part.substr(1))), requirement::op::not_exists, {}};
    if (!valid_key(r.key)) return std::unexpected(bad_request("invalid label key: " + r.key));
    return r;
  }
  if (!valid_key(part)) return std::unexpected(bad_request("unable to parse requirement: '" + std::string(part) + "'"));
  return requirement{std::string(part), requirement::op::exists, {}};
}

result<selector> parse(std::string_view text, bool fields) {
  selector s;
  if (trim(text).empty()) return s;
  for (auto part : split_requirements(text)) {
    auto r = parse_one(part, fields);
    if (!r) return std::unexpected(r.error());
    s.requirements.push_back(std::move(*r));
  }
  return s;
}

bool holds(const requirement& r, const std::optional<std::string>& value) {
  auto listed = [&] { return value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end(); };
  switch (r.operation) {
    case requirement::op::equals: return value && *value == r.values.front();
    case requirement::op::not_equals: return !value || *value != r.values.front();
    case requirement::op::in: return listed();
    case requirement::op::not_in: return !listed();
    case requirement::op::exists: return value.has_value();
    case requirement::op::not_exists: return !value.has_value();
  }
  return false;
}

std::optional<std::string> field_value(const json& object, const std::string& path) {
  const json* at = &object;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto dot = path.find('.', start);
    auto name = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!at->is_object() || !at->contains(name)) return std::nullopt;
    at = &(*at)[name];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_null()) return std::nullopt;
  return at->dump();
}

}  // namespace

result<selector> parse_label_selector(std::string_view text) { return parse(text, false); }
result<selector> parse_field_selector(std::string_view text) { return parse(text, true); }

bool matches_labels(const selector& s, const json& object) {
  const json* labels = nullptr;
  if (object.contains("metadata") && object["metadata"].contains("labels")) labels = &object["metadata"]["labels"];
  return std::all_of(s.requirements.begin(), s.requirements.end(), [&](const requirement& r) {
    std::optional<std::string> value;
    if (labels && labels->is_object() && labels->contains(r.key) && (*labels)[r.key].is_string())
      value = (*labels)[r.key].get<std::string>();
    return holds(r, value);
  });
}

bool matches_fields(const selector& s, const json& object) {
  return std::all_of(s.requirements.begin(), s.requirements.end(), [&](const requirement& r) {
    auto value = field_value(object, r.key);
    // A field that is absent compares as the empty string, as the apiserver's field sets do.
    return holds(r, value.value_or(""));
  });
}

}  // namespace kube_sim
