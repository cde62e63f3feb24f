#include "negotiation.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <string>

namespace kube_sim {
namespace {

struct clause {
  std::string type;
  std::string subtype;
  double q = 1;
  std::map<std::string, std::string> params;
};

std::string trimmed_lower(std::string_view s, bool lower) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  std::string out(s);
  if (lower)
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string_view> split(std::string_view s, char by) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto end = s.find(by, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// goautoneg.ParseAccept: "type/subtype;k=v;q=0.5, ..."; "*" alone is "*/*"; a range without a
// slash is dropped; an unreadable q is 0.
std::vector<clause> parse_accept(std::string_view header) {
  std::vector<clause> out;
  for (const auto part : split(header, ',')) {
    const auto pieces = split(part, ';');
    const auto range = trimmed_lower(pieces[0], true);
    const auto slash = range.find('/');
    clause c;
    if (range == "*") {
      c.type = c.subtype = "*";
    } else if (slash != std::string::npos) {
      c.type = range.substr(0, slash);
      c.subtype = range.substr(slash + 1);
    } else {
      continue;
    }
    for (std::size_t i = 1; i < pieces.size(); ++i) {
      const auto eq = pieces[i].find('=');
      const auto key = trimmed_lower(pieces[i].substr(0, eq), true);
      const auto value = eq == std::string_view::npos ? std::string() : trimmed_lower(pieces[i].substr(eq + 1), false);
      if (key != "q") {
        c.params[key] = value;
        continue;
      }
      double q = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), q);
      c.q = ec == std::errc{} && end == value.data() + value.size() ? q : 0;
    }
    out.push_back(std::move(c));
  }
  // goautoneg's order: higher q first, then a named type before "*", a named subtype before "*".
  std::stable_sort(out.begin(), out.end(), [](const clause& a, const clause& b) {
    if (a.q != b.q) return a.q > b.q;
    return std::pair(a.type == "*", a.subtype == "*") < std::pair(b.type == "*", b.subtype == "*");
  });
  return out;
}

std::pair<std::string_view, std::string_view> split_type(media_type m) {
  const auto full = content_type_of(m);
  const auto slash = full.find('/');
  return {full.substr(0, slash), full.substr(slash + 1)};
}

bool matches(const clause& c, media_type m) {
  const auto [type, subtype] = split_type(m);
  return (c.type == type && (c.subtype == subtype || c.subtype == "*")) || (c.type == "*" && c.subtype == "*");
}

// acceptMediaTypeOptions: the parameters kube-sim can honour.
bool servable(const clause& c) {
  for (const auto& [key, value] : c.params) {
    if (key == "as" || key == "g" || key == "v") return false;  // conversions (Table, ...) are not served
    if (key == "sv" && !value.empty()) return false;
    if (key == "stream" && !value.empty() && value != "watch") return false;
  }
  return true;
}

}  // namespace

std::string_view content_type_of(media_type m) {
  switch (m) {
    case media_type::yaml: return "application/yaml";
    case media_type::protobuf: return "application/vnd.kubernetes.protobuf";
    case media_type::json: break;
  }
  return "application/json";
}

result<std::vector<media_type>> acceptable_media_types(std::string_view accept, bool protobuf_offered, bool streaming) {
  std::vector<media_type> offered{media_type::json};
  if (!streaming) offered.push_back(media_type::yaml);
  if (protobuf_offered) offered.push_back(media_type::protobuf);
  if (trimmed_lower(accept, false).empty()) return std::vector{media_type::json};
  const auto clauses = parse_accept(accept);
  std::vector<media_type> out;
  const auto refused = [&](media_type m) {
    const auto [type, subtype] = split_type(m);
    return std::ranges::any_of(clauses, [&](const clause& c) { return c.q <= 0 && c.type == type && c.subtype == subtype; });
  };
  for (const auto& c : clauses) {
    if (c.q <= 0 || !servable(c)) continue;
    for (const auto m : offered)
      if (matches(c, m) && !refused(m) && std::ranges::find(out, m) == out.end()) out.push_back(m);
  }
  if (!out.empty()) return out;
  std::string names;
  for (const auto m : offered) names += (names.empty() ? "" : ", ") + std::string(content_type_of(m));
  return std::unexpected(not_acceptable("only the following media types are accepted: " + names));
}

}  // namespace kube_sim
