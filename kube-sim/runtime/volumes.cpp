#include "volumes.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>
#include <sstream>

#include "process.hpp"

namespace kube_sim::runtime {
namespace fs = std::filesystem;

std::string_view to_string(volume_mode m) { return m == volume_mode::loop ? "loop" : "directory"; }

bool is_mount_point(const fs::path& dir) {
  std::ifstream in("/proc/self/mountinfo");
  const auto wanted = fs::weakly_canonical(dir).string();
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    fields >> id >> parent >> devno >> root >> mount_point;
    if (mount_point == wanted) return true;
  }
  return false;
}

volume_set::volume_set(fs::path root) : root_(std::move(root)) { fs::create_directories(root_); }

volume_mode volume_set::detect(std::string& why) {
  if (::geteuid() != 0) {
    why = "not running as root, so loop devices cannot be mounted";
    return mode_ = volume_mode::directory;
  }
  const auto probe = root_ / ".probe";
  fs::create_directories(probe / "mnt");
  const auto image = (probe / "disk.img").string();
  const auto mnt = (probe / "mnt").string();
  {
    std::ofstream(image, std::ios::trunc).close();
    fs::resize_file(image, 4u << 20);
  }
  auto made = run_tool({"mkfs.ext4", "-q", "-F", image});
  if (made.status != 0) {
    why = "mkfs.ext4 failed: " + made.output;
  } else if (auto mounted = run_tool({"mount", "-o", "loop", image, mnt}); mounted.status != 0) {
    why = "mount -o loop failed: " + mounted.output;
  } else {
    (void)run_tool({"umount", mnt});
    why.clear();
  }
  std::error_code ec;
  fs::remove_all(probe, ec);
  return mode_ = why.empty() ? volume_mode::loop : volume_mode::directory;
}

result<fs::path> volume_set::ensure(const std::string& uid, const std::string& description, std::uint64_t bytes) {
  const auto dir = root_ / uid;
  const auto mnt = dir / "mnt";
  if (auto it = mounted_.find(uid); it != mounted_.end()) return it->second;
  fs::create_directories(mnt);
  std::ofstream(dir / "claim.txt", std::ios::trunc) << description << " " << bytes << " bytes\n";
  if (mode_ == volume_mode::directory) return mounted_[uid] = mnt;
  if (is_mount_point(mnt)) return mounted_[uid] = mnt;  // left mounted by an earlier run
  const auto image = (dir / "disk.img").string();
  if (!fs::exists(image)) {
    std::ofstream(image, std::ios::trunc).close();
    fs::resize_file(image, bytes);
    // -m 0: no blocks reserved for root; the pod's unprivileged user gets the whole size.
    if (auto made = run_tool({"mkfs.ext4", "-q", "-F", "-m", "0", image}); made.status != 0) {
      std::error_code ec;
      fs::remove(image, ec);
      return std::unexpected(internal_error("mkfs.ext4 for " + description + " failed: " + made.output));
    }
  }
  if (auto mounted = run_tool({"mount", "-o", "loop", image, mnt.string()}); mounted.status != 0)
    return std::unexpected(internal_error("mount -o loop for " + description + " failed: " + mounted.output));
  return mounted_[uid] = mnt;
}

void volume_set::enable_pool() {
  if (mode_ != volume_mode::loop) {
    pool_reason_ = "claims are directories";
    return;
  }
  // Beside the root, not in it: the image must outlive an unmount of the root.
  const auto image = root_.string() + ".pool.img";
  if (is_mount_point(root_)) {
    pool_ = true;  // left mounted by an earlier run
    return;
  }
  std::error_code ec;
  if (!fs::exists(image)) {
    if (!fs::is_empty(root_, ec)) {
      pool_reason_ = "claims from a run without the pool exist in " + root_.string();
      return;
    }
    if (run_tool({"sh", "-c", "command -v mkfs.xfs"}).status != 0) {
      pool_reason_ = "mkfs.xfs is not installed (Debian package xfsprogs)";
      return;
    }
    std::ofstream(image, std::ios::trunc).close();
    // Sparse: only what the claims write takes space. 64 GiB of real writes is plenty here, and
    // mkfs.xfs writes the log (64 MiB at this size) at every first start.
    fs::resize_file(image, 64ULL << 30);
    if (auto made = run_tool({"mkfs.xfs", "-q", "-m", "reflink=1", image}); made.status != 0) {
      fs::remove(image, ec);
      pool_reason_ = "mkfs.xfs -m reflink=1 failed: " + made.output;
      return;
    }
  }
  if (auto mounted = run_tool({"mount", "-o", "loop", image, root_.string()}); mounted.status != 0) {
    pool_reason_ = "mount -o loop of the pool failed: " + mounted.output;
    return;
  }
  pool_ = true;
  pool_reason_.clear();
}

// The source's image copied (a reflink on the pool), its filesystem frozen meanwhile when mounted.
tool_result volume_set::copy_image(const fs::path& from, const fs::path& source_mnt, const fs::path& to) const {
  const bool frozen =
      !source_mnt.empty() && is_mount_point(source_mnt) && run_tool({"fsfreeze", "-f", source_mnt.string()}).status == 0;
  auto copied = run_tool({"cp", pool_ ? "--reflink=always" : "--sparse=always", from.string(), to.string()});
  if (frozen) (void)run_tool({"fsfreeze", "-u", source_mnt.string()});
  return copied;
}

result<fs::path> volume_set::clone(const std::string& source_uid, const std::string& uid, const std::string& description,
                                   std::uint64_t bytes) {
  return populate(root_ / source_uid / "disk.img", root_ / source_uid / "mnt", uid, description + ", cloned from " + source_uid,
                  bytes);
}

result<fs::path> volume_set::restore(const std::string& snapshot, const std::string& uid, const std::string& description,
                                     std::uint64_t bytes) {
  return populate(root_ / ".snapshots" / (snapshot + ".img"), {}, uid, description + ", restored from " + snapshot, bytes);
}

result<fs::path> volume_set::populate(const fs::path& from, const fs::path& source_mnt, const std::string& uid,
                                      const std::string& description, std::uint64_t bytes) {
  if (auto it = mounted_.find(uid); it != mounted_.end()) return it->second;
  const auto dir = root_ / uid;
  fs::create_directories(dir / "mnt");
  std::ofstream(dir / "claim.txt", std::ios::trunc) << description << " " << bytes << " bytes\n";
  const auto fail = [&](const std::string& what, const tool_result& r) -> result<fs::path> {
    std::error_code ec;
    fs::remove(dir / "disk.img", ec);
    return std::unexpected(internal_error(what + " for " + description + " failed: " + r.output));
  };
  if (mode_ == volume_mode::directory) {
    if (source_mnt.empty()) return std::unexpected(internal_error("snapshots need loop-mounted claims: " + description));
    if (auto r = run_tool({"cp", "-a", "--reflink=auto", source_mnt.string() + "/.", (dir / "mnt").string()}); r.status != 0)
      return fail("copying the source folder", r);
    return mounted_[uid] = dir / "mnt";
  }
  const auto image = dir / "disk.img";
  if (!fs::exists(image)) {
    if (auto copied = copy_image(from, source_mnt, image); copied.status != 0) return fail("copying the source disk", copied);
    if (bytes > fs::file_size(image)) {
      // A larger claim: the filesystem grows to the new size (offline, as a CSI driver expands).
      // e2fsck exits 1 when it fixed something: a journal replayed after the frozen copy.
      if (auto checked = run_tool({"e2fsck", "-f", "-p", image.string()}); checked.status > 1) return fail("e2fsck", checked);
      fs::resize_file(image, bytes);
      if (auto grown = run_tool({"resize2fs", image.string()}); grown.status != 0) return fail("resize2fs", grown);
    }
  }
  if (auto mounted = run_tool({"mount", "-o", "loop", image.string(), (dir / "mnt").string()}); mounted.status != 0)
    return std::unexpected(internal_error("mount -o loop for " + description + " failed: " + mounted.output));
  return mounted_[uid] = dir / "mnt";
}

result<std::uint64_t> volume_set::snapshot(const std::string& source_uid, const std::string& name) {
  if (mode_ != volume_mode::loop) return std::unexpected(internal_error("snapshots need loop-mounted claims"));
  fs::create_directories(root_ / ".snapshots");
  const auto image = root_ / ".snapshots" / (name + ".img");
  if (!fs::exists(image)) {
    if (auto copied = copy_image(root_ / source_uid / "disk.img", root_ / source_uid / "mnt", image); copied.status != 0) {
      std::error_code ec;
      fs::remove(image, ec);
      return std::unexpected(internal_error("copying the source disk for snapshot " + name + " failed: " + copied.output));
    }
  }
  return fs::file_size(image);
}

void volume_set::drop_snapshot(const std::string& name) {
  std::error_code ec;
  fs::remove(root_ / ".snapshots" / (name + ".img"), ec);
}

bool volume_set::has_snapshot(const std::string& name) const { return fs::exists(root_ / ".snapshots" / (name + ".img")); }

std::optional<fs::path> volume_set::mounted(const std::string& uid) const {
  auto it = mounted_.find(uid);
  if (it == mounted_.end()) return std::nullopt;
  return it->second;
}

void volume_set::release(const std::string& uid) {
  const auto dir = root_ / uid;
  if (is_mount_point(dir / "mnt")) (void)run_tool({"umount", (dir / "mnt").string()});
  mounted_.erase(uid);
  std::error_code ec;
  if (!is_mount_point(dir / "mnt")) fs::remove_all(dir, ec);
}

std::vector<std::string> volume_set::on_disk() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_, ec))
    if (e.is_directory() && e.path().filename().string().front() != '.') out.push_back(e.path().filename().string());
  return out;
}

void volume_set::unmount_all() {
  for (const auto& [uid, mnt] : mounted_)
    if (mode_ == volume_mode::loop && is_mount_point(mnt)) (void)run_tool({"umount", mnt.string()});
  mounted_.clear();
  // The claims' loop devices let go of their images a moment after their umount: until then the
  // pool is busy. A few tries, then a lazy unmount (it goes once the last image is closed).
  for (int i = 0; pool_ && is_mount_point(root_); ++i) {
    if (i == 20) {
      (void)run_tool({"umount", "-l", root_.string()});
      break;
    }
    if (run_tool({"umount", root_.string()}).status == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace kube_sim::runtime
