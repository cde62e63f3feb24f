#pragma once
// The storage provisioner's disks. A bound claim is an ext4 image file of exactly the requested
// size, loop-mounted at <root>/<claim uid>/mnt, so writing past it fails with ENOSPC the way a
// full PersistentVolume does. Where loop mounts are impossible (not root, no loop devices) the
// claim is a plain directory at the same path: same layout, but its size is not enforced;
// `detect` decides once at start and says why.
//
// Clones (a claim whose dataSource is another claim): with loop mounts the images live on a
// copy-on-write pool, an XFS filesystem with reflink in a sparse image loop-mounted at <root>
// (made at the first start, mounted again after a restart), so a clone is `cp --reflink=always`
// of the source's image: constant time, no space until either side writes. The source's
// filesystem is frozen for that instant when it is mounted (a crash-consistent copy, as a CSI
// clone of a volume in use is). Without mkfs.xfs or reflink the pool is off and a clone is a
// full copy (`pool_reason` says why); in directory mode a clone copies the folder.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "api_error.hpp"

namespace kube_sim::runtime {

enum class volume_mode { loop, directory };
std::string_view to_string(volume_mode m);

class volume_set {
 public:
  explicit volume_set(std::filesystem::path root);

  /// Tries a small loop-mounted ext4 under the root; `why` gets the reason for a fallback.
  volume_mode detect(std::string& why);
  void set_mode(volume_mode m) { mode_ = m; }
  volume_mode mode() const { return mode_; }

  /// The mounted folder of the claim, creating and mounting its disk when needed (also after a
  /// restart: an existing image is mounted again, never re-formatted).
  result<std::filesystem::path> ensure(const std::string& uid, const std::string& description, std::uint64_t bytes);
  /// The claim's folder when its disk is mounted (by ensure).
  std::optional<std::filesystem::path> mounted(const std::string& uid) const;
  /// Makes (or mounts again) the copy-on-write pool at the root; loop mode only, before any claim.
  void enable_pool();
  bool pool() const { return pool_; }
  const std::string& pool_reason() const { return pool_reason_; }
  /// The disk of claim `uid`, of `bytes` (at least the source's), as a copy of claim `source_uid`'s
  /// disk, mounted; the source stays as it is.
  result<std::filesystem::path> clone(const std::string& source_uid, const std::string& uid, const std::string& description,
                                      std::uint64_t bytes);
  /// Snapshot `name` of claim `source_uid`'s disk (a reflink copy kept beside the claims); its
  /// size in bytes. `restore` makes claim `uid`'s disk from it as `clone` does from a claim.
  result<std::uint64_t> snapshot(const std::string& source_uid, const std::string& name);
  result<std::filesystem::path> restore(const std::string& snapshot, const std::string& uid, const std::string& description,
                                        std::uint64_t bytes);
  void drop_snapshot(const std::string& name);
  bool has_snapshot(const std::string& name) const;
  /// Unmounts and deletes the claim's disk (reclaimPolicy Delete).
  void release(const std::string& uid);
  /// Claim uids with a disk on file.
  std::vector<std::string> on_disk() const;
  /// Unmounts every disk this process mounted (shutdown); the images stay.
  void unmount_all();

 private:
  result<std::filesystem::path> populate(const std::filesystem::path& from, const std::filesystem::path& source_mnt,
                                         const std::string& uid, const std::string& description, std::uint64_t bytes);
  struct tool_result copy_image(const std::filesystem::path& from, const std::filesystem::path& source_mnt,
                                const std::filesystem::path& to) const;
  std::filesystem::path root_;
  volume_mode mode_ = volume_mode::directory;
  std::map<std::string, std::filesystem::path> mounted_;
  bool pool_ = false;
  std::string pool_reason_ = "not tried";
};

/// True when `dir` is a mount point (listed in /proc/self/mountinfo).
bool is_mount_point(const std::filesystem::path& dir);

}  // namespace kube_sim::runtime
