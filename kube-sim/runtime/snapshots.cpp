// VolumeSnapshots (snapshot.storage.k8s.io/v1): the snapshot controller and the CSI snapshotter
// of kube-sim's provisioner in one, active once the CRDs are installed (as in a real cluster:
// kube-sim/scenarios/snapshot-crds/). A VolumeSnapshot of a Bound claim of provisioner
// kube-sim.io/local gets a VolumeSnapshotContent (snapcontent-<snapshot uid>) and a reflink copy
// of the claim's disk (volume_set::snapshot), then status.readyToUse; a claim whose data source
// is a ready VolumeSnapshot is restored from that copy (storage.cpp). A snapshot that cannot be
// taken says why in status.error, as the snapshot controller does; one of a driver without a
// snapshotter (kube-sim.io/basic) waits, never ready, as it would without the sidecar.
// Deleting a VolumeSnapshot deletes its content and copy when the content's deletionPolicy is
// Delete (finalizers are not modelled: the content goes after the snapshot object).
#include <chrono>
#include <set>

#include "object_meta.hpp"
#include "quantity.hpp"
#include "runtime.hpp"

namespace kube_sim::runtime {

namespace {

constexpr const char* snapshots_id = "volumesnapshots.snapshot.storage.k8s.io";
constexpr const char* contents_id = "volumesnapshotcontents.snapshot.storage.k8s.io";
constexpr const char* classes_id = "volumesnapshotclasses.snapshot.storage.k8s.io";
constexpr const char* own_driver = "kube-sim.io/local";

std::string snapshot_content_name(const json& snapshot) { return "snapcontent-" + meta_string(snapshot, "uid"); }

}  // namespace

void runtime::sync_snapshots() {
  if (!store_.types().find_id(snapshots_id) || !store_.types().find_id(contents_id) || !store_.types().find_id(classes_id))
    return;
  std::set<std::string> live;
  for (const auto& vs : list(snapshots_id)) {
    live.insert(meta_string(vs, "uid"));
    if (vs["metadata"].contains("deletionTimestamp") || vs.value("/status/readyToUse"_json_pointer, false)) continue;
    const auto ns = object_namespace(vs), name = object_name(vs);
    const auto failed = [&](const std::string& message) {
      if (vs.value("/status/error/message"_json_pointer, std::string()) == message) return;
      merge_status(snapshots_id, ns, name,
                   {{"status", {{"readyToUse", false}, {"error", {{"message", message}, {"time", now_rfc3339()}}}}}});
    };
    const auto claim_name = vs.value("/spec/source/persistentVolumeClaimName"_json_pointer, std::string());
    if (claim_name.empty()) {
      failed(
          "kube-sim takes snapshots of claims only (spec.source.persistentVolumeClaimName); pre-provisioned "
          "VolumeSnapshotContents are not modelled");
      continue;
    }
    // The class: the one named, else the cluster's default for the claim's driver.
    std::optional<json> cls;
    const auto class_name = vs.value("/spec/volumeSnapshotClassName"_json_pointer, std::string());
    const auto claim = get("persistentvolumeclaims", ns, claim_name);
    if (!claim) {
      failed(
          "Failed to create snapshot content with error snapshot controller failed to get input parameters to create "
          "snapshot " +
          name + ": \"persistentvolumeclaims \\\"" + claim_name + "\\\" not found\"");
      continue;
    }
    if (claim->value("/status/phase"_json_pointer, std::string()) != "Bound") {
      failed("the PVC " + claim_name + " is not yet bound to a PV, will not attempt to take a snapshot");
      continue;
    }
    const auto sc_name = claim->value("/spec/storageClassName"_json_pointer, std::string());
    const auto sc = sc_name.empty() ? std::nullopt : get("storageclasses.storage.k8s.io", "", sc_name);
    const std::string driver = sc ? sc->value("provisioner", std::string()) : own_driver;
    if (!class_name.empty()) {
      cls = get(classes_id, "", class_name);
      if (!cls) {
        failed("Failed to get snapshot class with error volumesnapshotclass.snapshot.storage.k8s.io \"" + class_name +
               "\" not found");
        continue;
      }
    } else {
      for (const auto& c : list(classes_id))
        if (c.value("/metadata/annotations/snapshot.storage.kubernetes.io~1is-default-class"_json_pointer, std::string()) ==
                "true" &&
            c.value("driver", std::string()) == driver)
          cls = c;
      if (!cls) {
        failed("Failed to set default snapshot class with error cannot find default snapshot class");
        continue;
      }
    }
    if (cls->value("driver", std::string()) != driver) {
      failed("Failed to create snapshot content with error the VolumeSnapshotClass " + object_name(*cls) + " is for driver " +
             cls->value("driver", std::string()) + ", the claim " + claim_name + " is of " + driver);
      continue;
    }
    const auto content_name = snapshot_content_name(vs);
    const auto claim_uid = meta_string(*claim, "uid");
    json content{{"apiVersion", "snapshot.storage.k8s.io/v1"},
                 {"kind", "VolumeSnapshotContent"},
                 {"metadata", {{"name", content_name}}},
                 {"spec",
                  {{"deletionPolicy", cls->value("deletionPolicy", std::string("Delete"))},
                   {"driver", driver},
                   {"source", {{"volumeHandle", "pvc-" + claim_uid}}},
                   {"volumeSnapshotClassName", object_name(*cls)},
                   {"volumeSnapshotRef",
                    {{"apiVersion", "snapshot.storage.k8s.io/v1"},
                     {"kind", "VolumeSnapshot"},
                     {"name", name},
                     {"namespace", ns},
                     {"uid", meta_string(vs, "uid")}}}}}};
    if (!get(contents_id, "", content_name)) (void)store_.create(type(contents_id), "", content);
    merge_status(snapshots_id, ns, name, {{"status", {{"boundVolumeSnapshotContentName", content_name}, {"readyToUse", false}}}});
    // A driver with no snapshotter here: the content waits, as without the CSI sidecar.
    if (driver != own_driver) continue;
    auto taken = volumes_->snapshot(claim_uid, content_name);
    if (!taken) {
      failed("Failed to check and update snapshot content: " + taken.error().message);
      continue;
    }
    const auto created =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
    merge_status(contents_id, "", content_name,
                 {{"status",
                   {{"creationTime", created.count()},
                    {"readyToUse", true},
                    {"restoreSize", *taken},
                    {"snapshotHandle", "snap-" + content_name}}}});
    merge_status(snapshots_id, ns, name,
                 {{"status",
                   {{"boundVolumeSnapshotContentName", content_name},
                    {"creationTime", now_rfc3339()},
                    {"readyToUse", true},
                    {"restoreSize", format_quantity_bytes(*taken)},
                    {"error", nullptr}}}});
  }
  // A content whose snapshot is gone: deleted with its copy (deletionPolicy Delete) or kept.
  for (const auto& content : list(contents_id)) {
    const auto ref_uid = content.value("/spec/volumeSnapshotRef/uid"_json_pointer, std::string());
    if (ref_uid.empty() || live.contains(ref_uid)) continue;
    if (content.value("/spec/deletionPolicy"_json_pointer, std::string()) != "Delete") continue;
    volumes_->drop_snapshot(object_name(content));
    (void)store_.remove(type(contents_id), "", object_name(content));
  }
}

}  // namespace kube_sim::runtime
