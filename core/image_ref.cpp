#include "core/image_ref.hpp"

#include <algorithm>
#include <cctype>

namespace qpu {
namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// path-component: [a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*
bool valid_component(std::string_view c) {
  if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
  return std::all_of(c.begin(), c.end(), [](char ch) { return is_lower_alnum(ch) || ch == '.' || ch == '_' || ch == '-'; });
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128 || !(std::isalnum(static_cast<unsigned char>(t.front())) || t.front() == '_')) return false;
  return std::all_of(t.begin(), t.end(),
                     [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-'; });
}

bool valid_digest(std::string_view d) {
  const auto colon = d.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const auto hex = d.substr(colon + 1);
  if (d.substr(0, colon) == "sha256" && hex.size() != 64) return false;
  return hex.size() >= 32 &&
         std::all_of(hex.begin(), hex.end(), [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'); });
}

// Leading decimal number of `s`, with how many characters it took.
std::optional<std::pair<int, std::size_t>> leading_number(std::string_view s) {
  std::size_t n = 0;
  int v = 0;
  while (n < s.size() && n < 4 && std::isdigit(static_cast<unsigned char>(s[n]))) v = v * 10 + (s[n++] - '0');
  if (n == 0) return std::nullopt;
  return std::pair{v, n};
}

// sclorg spells 9.6 as "96", 9.5 as "95"; 10 and later are the major itself.
std::optional<pg_major> major_from_repo_number(int n) {
  if (n >= 90 && n <= 96) return pg_major{900 + n % 10};
  if (n >= 10 && n < 90) return pg_major::of(n);
  return std::nullopt;
}

}  // namespace

std::string_view image_ref::name() const {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string_view{path} : std::string_view{path}.substr(slash + 1);
}

bool same_repository_name(std::string_view a, std::string_view b) {
  const auto ra = parse_image_ref(a), rb = parse_image_ref(b);
  return ra && rb && ra->name() == rb->name();
}

std::expected<image_ref, std::string> parse_image_ref(std::string_view text) {
  if (text.empty()) return std::unexpected("empty image reference");
  if (text.size() > 4096) return std::unexpected("image reference longer than 4096 characters");
  image_ref ref;
  std::string_view rest = text;
  if (const auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!valid_digest(ref.digest)) return std::unexpected("invalid digest in image reference \"" + std::string(text) + "\"");
  }
  // A tag is a ':' after the last '/', so "localhost:5000/postgres" keeps its port.
  const auto last_slash = rest.rfind('/');
  if (const auto colon = rest.rfind(':');
      colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!valid_tag(ref.tag)) return std::unexpected("invalid tag in image reference \"" + std::string(text) + "\"");
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const auto first = rest.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos || first == "localhost") {
      ref.domain = first;
      rest = rest.substr(slash + 1);
    }
  }
  if (rest.empty()) return std::unexpected("image reference \"" + std::string(text) + "\" names no repository");
  std::size_t start = 0;
  while (start <= rest.size()) {
    const auto end = std::min(rest.find('/', start), rest.size());
    if (!valid_component(rest.substr(start, end - start)))
      return std::unexpected("invalid repository \"" + std::string(rest) + "\" in image reference \"" + std::string(text) +
                             "\" (lower-case letters, digits and . _ - only)");
    start = end + 1;
  }
  ref.path = rest;
  if (ref.domain == "docker.io" && ref.path.rfind("library/", 0) == 0) ref.path.erase(0, 8);
  return ref;
}

std::optional<pg_major> pg_major_hint(const image_ref& ref) {
  const std::string_view name = ref.name();
  for (std::string_view prefix : {"postgresql-", "postgresql", "postgres-"}) {
    if (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix) {
      const auto tail = name.substr(prefix.size());
      if (const auto num = leading_number(tail); num && (num->second == tail.size() || tail[num->second] == '-')) {
        if (auto m = major_from_repo_number(num->first)) return m;
      }
    }
  }
  if ((name == "postgres" || name == "postgresql") && !ref.tag.empty()) {
    const auto num = leading_number(ref.tag);
    if (!num) return std::nullopt;
    const std::string_view after = std::string_view{ref.tag}.substr(num->second);
    if (num->first >= 10 && num->first < 100 && (after.empty() || after.front() == '.' || after.front() == '-'))
      return pg_major::of(num->first);
    if (num->first == 9 && after.size() >= 2 && after.front() == '.') return parse_pg_major(ref.tag.substr(0, 3));
  }
  return std::nullopt;
}

std::string data_directory_of(std::string_view image, std::string_view pgdata_env) {
  const auto ref = parse_image_ref(image);
  if (!ref || ref->name() != "postgres") return std::string(sclorg_pgdata);
  if (pgdata_env.empty()) return "/var/lib/postgresql/data";
  std::string dir(pgdata_env);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace qpu
