#include "watch/redact.hpp"

#include <fcntl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace qpu::watch {

namespace {

using ojson = nlohmann::ordered_json;

constexpr std::size_t key_bytes = 32;

bool kept(std::string_view name) {
  return std::find(std::begin(kept_env_names), std::end(kept_env_names), name) != std::end(kept_env_names);
}

// Replaces, in place, what redact.hpp names; true when anything was replaced.
bool redact_tree(ojson& node, const redactor& r) {
  bool changed = false;
  if (node.is_array()) {
    for (auto& item : node) changed |= redact_tree(item, r);
    return changed;
  }
  if (!node.is_object()) return false;
  for (auto it = node.begin(); it != node.end(); ++it) {
    auto& value = it.value();
    if (it.key() == "env" && value.is_array()) {
      for (auto& var : value) {
        if (!var.is_object()) continue;
        auto v = var.find("value");
        if (v == var.end() || !v->is_string()) continue;
        auto name = var.find("name");
        if (name != var.end() && name->is_string() && kept(name->get_ref<const std::string&>())) continue;
        auto token = r.token(v->get_ref<const std::string&>());
        if (token != v->get_ref<const std::string&>()) *v = std::move(token), changed = true;
      }
    } else if (it.key() == "annotations" && value.is_object()) {
      auto a = value.find(std::string(last_applied_annotation));
      if (a != value.end() && a->is_string()) {
        auto token = r.token(a->get_ref<const std::string&>());
        if (token != a->get_ref<const std::string&>()) *a = std::move(token), changed = true;
      }
    }
    changed |= redact_tree(value, r);
  }
  return changed;
}

// The end of the JSON string whose opening quote is at `open` (the index of its closing quote),
// or npos when the text ends first.
std::size_t string_end(std::string_view t, std::size_t open) {
  for (std::size_t i = open + 1; i < t.size(); ++i) {
    if (t[i] == '\\') ++i;
    else if (t[i] == '"') return i;
  }
  return std::string_view::npos;
}

}  // namespace

std::expected<redactor, std::string> redactor::from_key_file(const std::string& path) {
  auto fail = [&](const std::string& what) {
    return std::unexpected("redaction key " + path + ": " + what + ": " + std::strerror(errno));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    // Made whole under another name and linked into place: two controllers sharing the log's
    // claim (leader election) that start at once both end up reading the one that got there first.
    unsigned char fresh[key_bytes];
    if (RAND_bytes(fresh, sizeof fresh) != 1) return std::unexpected("redaction key " + path + ": no random bytes from OpenSSL");
    std::string tmp = path + ".XXXXXX";
    const int tfd = ::mkstemp(tmp.data());
    if (tfd < 0) return fail("cannot create a file beside it");
    const bool written =
        ::fchmod(tfd, 0600) == 0 && ::write(tfd, fresh, sizeof fresh) == static_cast<ssize_t>(sizeof fresh) && ::fsync(tfd) == 0;
    ::close(tfd);
    const bool linked = written && ::link(tmp.c_str(), path.c_str()) == 0;
    const int link_errno = errno;
    ::unlink(tmp.c_str());
    if (!written) return fail("cannot write it");
    if (linked) return redactor(std::string(reinterpret_cast<const char*>(fresh), sizeof fresh));
    errno = link_errno;
    if (link_errno != EEXIST) return fail("cannot create it");
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // another process made it first: use theirs
  }
  if (fd < 0) return fail("cannot open it");
  std::string key(key_bytes * 2, '\0');
  const auto n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n < 0) return fail("cannot read it");
  if (static_cast<std::size_t>(n) < key_bytes / 2)
    return std::unexpected("redaction key " + path + ": " + std::to_string(n) + " bytes, fewer than " +
                           std::to_string(key_bytes / 2) + "; remove it and a new one is made");
  key.resize(static_cast<std::size_t>(n));
  return redactor(std::move(key));
}

std::string redactor::token(std::string_view value) const {
  if (value.starts_with(redacted_prefix)) return std::string(value);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(value.data()),
       value.size(), mac, &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(redacted_prefix);
  for (unsigned i = 0; i < 16 && i < len; ++i) out += hex[mac[i] >> 4], out += hex[mac[i] & 15];
  return out;
}

std::optional<std::string> redactor::json(std::string_view text) const {
  // Most lines carry neither: they are not parsed a second time.
  if (text.find("\"env\"") == std::string_view::npos && text.find(last_applied_annotation) == std::string_view::npos)
    return std::nullopt;
  auto doc = ojson::parse(text, nullptr, false);
  if (doc.is_discarded() || !redact_tree(doc, *this)) return std::nullopt;
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string redactor::text(std::string_view text) const {
  if (auto parsed = ojson::parse(text, nullptr, false); !parsed.is_discarded()) {
    if (auto r = json(text)) return *r;
    return std::string(text);
  }
  // Not JSON: every string value after a "value" key or the annotation's key, wherever it is.
  std::string out;
  std::size_t from = 0;
  for (;;) {
    std::size_t at = std::string_view::npos, key_end = 0;
    for (std::string_view key :
         {std::string_view("\"value\""), std::string_view("\"kubectl.kubernetes.io/last-applied-configuration\"")}) {
      const auto p = text.find(key, from);
      if (p < at) at = p, key_end = p + key.size();
    }
    if (at == std::string_view::npos) break;
    std::size_t i = key_end;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == ':')) ++i;
    if (i >= text.size() || text[i] != '"') {
      out.append(text.substr(from, key_end - from));
      from = key_end;
      continue;
    }
    const auto close = string_end(text, i);
    const auto end = close == std::string_view::npos ? text.size() : close;
    out.append(text.substr(from, i + 1 - from));
    out += token(text.substr(i + 1, end - i - 1));
    if (close == std::string_view::npos) return out;
    from = close;
  }
  out.append(text.substr(from));
  return out;
}

}  // namespace qpu::watch
