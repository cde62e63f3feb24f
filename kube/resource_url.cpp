#include "kube/resource_url.hpp"

namespace qpu::kube {

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                      c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string target(const resource_path& p, const query_params& query) {
  std::string t = p.group.empty() ? "/api/" + percent_encode(p.version)
                                  : "/apis/" + percent_encode(p.group) + "/" + percent_encode(p.version);
  if (!p.ns.empty()) t += "/namespaces/" + percent_encode(p.ns);
  t += "/" + percent_encode(p.plural);
  if (!p.name.empty()) {
    t += "/" + percent_encode(p.name);
    if (!p.subresource.empty()) t += "/" + percent_encode(p.subresource);
  }
  char sep = '?';
  for (const auto& [k, v] : query) {
    t += sep;
    t += percent_encode(k) + "=" + percent_encode(v);
    sep = '&';
  }
  return t;
}

resource_path path_of(resource_kind kind, std::string ns, std::string name) {
  resource_path p;
  p.plural = plural(kind);
  p.ns = std::move(ns);
  p.name = std::move(name);
  switch (kind) {
    case resource_kind::quay_registry:
      p.group = "quay.redhat.com";
      p.version = "v1";
      break;
    case resource_kind::deployment:
      p.group = "apps";
      p.version = "v1";
      break;
    case resource_kind::job:
      p.group = "batch";
      p.version = "v1";
      break;
    case resource_kind::pod:
    case resource_kind::claim: p.version = "v1"; break;
  }
  return p;
}

}  // namespace qpu::kube
