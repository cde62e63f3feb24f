#include "image_map.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kube_sim::runtime {
namespace {

std::string expand(std::string text, const std::string& pg, const std::string& images) {
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"{pg}", pg}, {"{images}", images}}) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  }
  if (!text.empty() && text.front() == '/') text = std::filesystem::path(text).lexically_normal().string();
  return text;
}

bool tag_matches(const std::string& pattern, const std::string& tag) {
  if (pattern.empty()) return true;
  if (tag.size() < pattern.size() || tag.compare(0, pattern.size(), pattern) != 0) return false;
  return tag.size() == pattern.size() || tag[pattern.size()] == '.' || tag[pattern.size()] == '-';
}

}  // namespace

image_ref parse_image_ref(std::string_view reference) {
  image_ref out;
  std::string rest(reference);
  if (auto at = rest.find('@'); at != std::string::npos) {
    out.digest = rest.substr(at + 1);
    rest.resize(at);
  }
  const auto slash = rest.rfind('/');
  if (auto colon = rest.rfind(':'); colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    out.tag = rest.substr(colon + 1);
    rest.resize(colon);
  }
  // Docker's normalisation: the first component is a registry only when it looks like a host.
  const auto first_slash = rest.find('/');
  const std::string first = rest.substr(0, first_slash);
  const bool has_registry = first_slash != std::string::npos && (first.find('.') != std::string::npos ||
                                                                 first.find(':') != std::string::npos || first == "localhost");
  if (!has_registry) rest = "docker.io/" + (first_slash == std::string::npos ? "library/" + rest : rest);
  if (rest.starts_with("index.docker.io/")) rest = "docker.io/" + rest.substr(16);
  out.repository = rest;
  return out;
}

std::filesystem::path default_pg_cache() {
  const char* env = std::getenv("QPU_PG_CACHE");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path("/var/cache/quay-pg-upgrader/pg");
}

// Beside the running binary (a build tree links kube-sim/images there): no source path is
// compiled in, so a copied kube-sim finds the map it was shipped with.
std::filesystem::path default_image_map_file() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (ec ? std::filesystem::current_path() : self.parent_path()) / "images" / "image-map.json";
}

result<image_map> image_map::load(const std::filesystem::path& file, const std::filesystem::path& pg_cache) {
  std::ifstream in(file);
  if (!in) return std::unexpected(internal_error("cannot read the image map " + file.string()));
  std::stringstream text;
  text << in.rdbuf();
  const auto doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.contains("images") || !doc["images"].is_array())
    return std::unexpected(internal_error("the image map " + file.string() + " is not JSON with an \"images\" array"));
  const std::string pg = pg_cache.string();
  const std::string images = std::filesystem::absolute(file).parent_path().lexically_normal().string();
  image_map map;
  for (const auto& e : doc["images"]) {
    image_entry entry;
    for (const auto& r : e.value("repositories", json::array())) entry.patterns.push_back(parse_image_ref(r.get<std::string>()));
    for (const auto& p : e.value("path", json::array())) entry.install.path.push_back(expand(p.get<std::string>(), pg, images));
    const json env = e.value("env", json::object());
    for (const auto& [k, v] : env.items()) entry.install.env[k] = expand(v.get<std::string>(), pg, images);
    for (const auto& c : e.value("cmd", json::array())) entry.install.cmd.push_back(expand(c.get<std::string>(), pg, images));
    const json files = e.value("files", json::object());
    for (const auto& [target, source] : files.items()) {
      if (target.empty() || target.front() != '/')
        return std::unexpected(
            internal_error("the image map " + file.string() + " has a file path that is not absolute: " + target));
      entry.install.files[target] = expand(source.get<std::string>(), pg, images);
    }
    if (entry.patterns.empty())
      return std::unexpected(internal_error("an entry of the image map " + file.string() + " has no repositories"));
    map.entries_.push_back(std::move(entry));
  }
  return map;
}

result<image_install> image_map::resolve(std::string_view reference) const {
  const auto ref = parse_image_ref(reference);
  for (const auto& e : entries_)
    for (const auto& p : e.patterns)
      if (p.repository == ref.repository && tag_matches(p.tag, ref.tag)) return e.install;
  return std::unexpected(api_error{404, "ErrImagePull",
                                   "Failed to pull image \"" + std::string(reference) +
                                       "\": kube-sim's image map has no entry for repository " + ref.repository +
                                       (ref.tag.empty() ? "" : " with tag " + ref.tag) +
                                       "; add one to kube-sim/images/image-map.json (or the file given with --image-map)",
                                   nullptr, 0});
}

}  // namespace kube_sim::runtime
