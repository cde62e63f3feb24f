#pragma once
// Image references -> local installations (kube-sim/images/image-map.json). There is no
// container runtime on the test machines, so an "image" is a PATH, some environment and a
// default command; PostgreSQL images point at the provisioned builds (docs/POSTGRES.md).
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api_error.hpp"

namespace kube_sim::runtime {

/// The parts of an image reference matching needs: `registry/path` (docker.io/library/ made
/// explicit for single names), the tag ("" when only a digest or nothing was given).
struct image_ref {
  std::string repository;
  std::string tag;
  std::string digest;
  bool operator==(const image_ref&) const = default;
};
image_ref parse_image_ref(std::string_view reference);

/// What a container on this image gets: PATH entries first, the image's environment, its CMD
/// (used when the container sets neither command nor args), and the files the image ships at fixed
/// paths (path in the container -> file on this machine, bound read-only before the volumes, so a
/// volume mounted over one wins, as it would over a file of a real image).
struct image_install {
  std::vector<std::string> path;
  std::map<std::string, std::string> env;
  std::vector<std::string> cmd;
  std::map<std::string, std::string> files;
  bool operator==(const image_install&) const = default;
};

/// One entry of the map: repositories it stands in for; a "repo:tag" pattern also requires the
/// tag to be that one or to start with it and '.' or '-' (postgres:14 matches 14, 14.5,
/// 14-alpine), because Docker Hub's postgres carries the major only in its tag.
struct image_entry {
  std::vector<image_ref> patterns;
  image_install install;
};

class image_map {
 public:
  /// Reads the JSON file; {pg} expands to the PostgreSQL cache, {images} to the file's folder.
  static result<image_map> load(const std::filesystem::path& file, const std::filesystem::path& pg_cache);
  /// The installation for a reference, or the message an ErrImagePull carries.
  result<image_install> resolve(std::string_view reference) const;
  const std::vector<image_entry>& entries() const { return entries_; }

 private:
  std::vector<image_entry> entries_;
};

/// QPU_PG_CACHE, or /var/cache/quay-pg-upgrader/pg.
std::filesystem::path default_pg_cache();
/// The image map shipped in the source tree (kube-sim/images/image-map.json).
std::filesystem::path default_image_map_file();

}  // namespace kube_sim::runtime
