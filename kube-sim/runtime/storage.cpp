// The storage provisioner (PVC -> disk, reclaimPolicy Delete) and the garbage collector.
#include <cctype>

#include "object_meta.hpp"
#include "quantity.hpp"
#include "runtime.hpp"

namespace kube_sim::runtime {

namespace {

constexpr const char* own_provisioner = "kube-sim.io/local";
// Also provisioned here, like a CSI driver without the CLONE_VOLUME capability: no clones.
constexpr const char* basic_provisioner = "kube-sim.io/basic";

// The claim a claim is to be cloned from: spec.dataSourceRef, else spec.dataSource (the API
// server keeps both when either is set). nullopt: an empty claim.
std::optional<json> data_source(const json& pvc) {
  for (const char* field : {"dataSourceRef", "dataSource"})
    if (pvc["spec"].contains(field) && pvc["spec"][field].is_object()) return pvc["spec"][field];
  return std::nullopt;
}

// Claims a pod that is not terminating mounts, as "ns/name": a WaitForFirstConsumer claim binds
// once one exists.
std::string lowercase(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::set<std::string> consumed_claims(const std::vector<json>& pods) {
  std::set<std::string> out;
  for (const auto& pod : pods) {
    if (pod["metadata"].contains("deletionTimestamp")) continue;
    for (const auto& v : pod.value("/spec/volumes"_json_pointer, json::array()))
      if (v.contains("persistentVolumeClaim"))
        out.insert(object_namespace(pod) + "/" + v["persistentVolumeClaim"].value("claimName", ""));
  }
  return out;
}

}  // namespace

// Why a claim stays Pending, as the PersistentVolume controller tells it in an Event on the claim.
void runtime::claim_event(const json& pvc, const std::string& event_type, const std::string& reason, const std::string& message) {
  const auto ns = object_namespace(pvc), name = object_name(pvc), uid = meta_string(pvc, "uid");
  const auto key = uid + "/" + reason;
  if (claim_events_.contains(key)) return;
  const auto now = now_rfc3339();
  json event{{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", name + "." + lowercase(reason) + "-" + uid.substr(0, 8)}, {"namespace", ns}}},
             {"involvedObject",
              {{"apiVersion", "v1"},
               {"kind", "PersistentVolumeClaim"},
               {"namespace", ns},
               {"name", name},
               {"uid", uid},
               {"resourceVersion", meta_string(pvc, "resourceVersion")}}},
             {"reason", reason},
             {"message", message},
             {"type", event_type},
             {"source", {{"component", "persistentvolume-controller"}}},
             {"reportingComponent", "persistentvolume-controller"},
             {"firstTimestamp", now},
             {"lastTimestamp", now},
             {"count", 1}};
  // Once per claim and reason: also when it exists already (a restarted simulator).
  if (auto r = store_.create(type("events"), ns, std::move(event)); r || r.error().code == 409) claim_events_.insert(key);
}

void runtime::sync_claims() {
  std::set<std::string> live;
  std::optional<std::set<std::string>> consumed;  // read once a WaitForFirstConsumer claim needs it
  for (const auto& pvc : list("persistentvolumeclaims")) {
    const auto ns = object_namespace(pvc), name = object_name(pvc), uid = meta_string(pvc, "uid");
    live.insert(uid);
    const auto phase = pvc.value("/status/phase"_json_pointer, std::string());
    const auto request = pvc.value("/spec/resources/requests/storage"_json_pointer, std::string());
    const auto bytes = parse_quantity_bytes(request);
    if (phase == "Bound") {
      // After a restart the disk is mounted again before any pod needs it.
      (void)volumes_->ensure(uid, ns + "/" + name, bytes.value_or(0));
      continue;
    }
    if (pvc["metadata"].contains("deletionTimestamp")) continue;
    const auto stay_pending = [&](const char* type, const char* reason, const std::string& message) {
      if (phase != "Pending") merge_status("persistentvolumeclaims", ns, name, {{"status", {{"phase", "Pending"}}}});
      claim_event(pvc, type, reason, message);
    };
    const bool has_class = pvc["spec"].contains("storageClassName") && !pvc["spec"]["storageClassName"].is_null();
    const std::string sc = has_class ? pvc["spec"]["storageClassName"].get<std::string>() : options_.default_storage_class;
    // "" asks for static binding, which the simulator has no volumes for; a class that does not
    // exist, or whose provisioner is not the simulator's, leaves the claim Pending with the
    // PersistentVolume controller's Event, as in a cluster without that provisioner.
    if (sc.empty()) {
      stay_pending("Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set");
      continue;
    }
    const auto cls = sc == options_.default_storage_class ? std::nullopt : get("storageclasses.storage.k8s.io", "", sc);
    if (sc != options_.default_storage_class && !cls) {
      stay_pending("Warning", "ProvisioningFailed", "storageclass.storage.k8s.io \"" + sc + "\" not found");
      continue;
    }
    const std::string provisioner = cls ? cls->value("provisioner", std::string()) : own_provisioner;
    if (provisioner != own_provisioner && provisioner != basic_provisioner) {
      stay_pending("Normal", "ExternalProvisioning",
                   "Waiting for a volume to be created either by the external provisioner '" +
                       cls->value("provisioner", std::string()) +
                       "' or manually by the system administrator. If volume creation is delayed, please verify that the "
                       "provisioner is running and correctly registered.");
      continue;
    }
    if (cls && cls->value("volumeBindingMode", std::string()) == "WaitForFirstConsumer") {
      if (!consumed) consumed = consumed_claims(list("pods"));
      if (!consumed->contains(ns + "/" + name)) {
        stay_pending("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding");
        continue;
      }
    }
    if (!bytes || *bytes == 0) {
      stay_pending("Warning", "ProvisioningFailed", "spec.resources.requests.storage is missing or zero");
      continue;
    }
    // A clone of a claim or a restore of a snapshot, as the external provisioner checks them and
    // a CSI driver makes them.
    std::string clone_of, restore_of;
    if (const auto source = data_source(pvc)) {
      const auto kind = source->value("kind", std::string()), from = source->value("name", std::string());
      const auto group = source->value("apiGroup", std::string());
      const auto failed = [&](const std::string& why) {
        stay_pending("Warning", "ProvisioningFailed", "failed to provision volume with StorageClass \"" + sc + "\": " + why);
      };
      const std::string handle = "error getting handle for DataSource Type " + kind + " by Name " + from + ": ";
      const auto too_small = [&](std::optional<std::uint64_t> source_bytes, const std::string& what) {
        if (!source_bytes || *bytes >= *source_bytes) return false;
        failed(handle + "requested volume size " + std::to_string(*bytes) + " is less than the size " +
               std::to_string(*source_bytes) + " for the source " + what + " " + from);
        return true;
      };
      if (kind == "VolumeSnapshot" && group == "snapshot.storage.k8s.io") {
        const char* snapshots = "volumesnapshots.snapshot.storage.k8s.io";
        const auto vs = store_.types().find_id(snapshots) ? get(snapshots, ns, from) : std::nullopt;
        if (!vs) {
          failed(handle + "error getting snapshot " + from + " from api server: " + snapshots + " \"" + from + "\" not found");
          continue;
        }
        const auto content = vs->value("/status/boundVolumeSnapshotContentName"_json_pointer, std::string());
        if (!vs->value("/status/readyToUse"_json_pointer, false) || !volumes_->has_snapshot(content)) {
          failed(handle + "snapshot " + from + " is not Ready");
          continue;
        }
        if (provisioner == basic_provisioner) {
          failed("rpc error: code = InvalidArgument desc = restoring a snapshot is not supported");
          continue;
        }
        if (too_small(parse_quantity_bytes(vs->value("/status/restoreSize"_json_pointer, std::string("0"))), "snapshot"))
          continue;
        restore_of = content;
      } else if (kind == "PersistentVolumeClaim" && group.empty()) {
        if (provisioner == basic_provisioner) {
          failed("rpc error: code = InvalidArgument desc = volume cloning is not supported");
          continue;
        }
        const auto src = get("persistentvolumeclaims", ns, from);
        if (!src) {
          failed(handle + "error getting PVC " + from + " from api server: persistentvolumeclaims \"" + from + "\" not found");
          continue;
        }
        if (src->value("/status/phase"_json_pointer, std::string()) != "Bound") {
          failed(handle + "the PVC " + from + " is not bound");
          continue;
        }
        if (too_small(parse_quantity_bytes(src->value("/status/capacity/storage"_json_pointer, std::string("0"))), "PVC"))
          continue;
        clone_of = meta_string(*src, "uid");
      } else {
        failed("kube-sim provisions claims from claims and VolumeSnapshots only, not from a " + kind);
        continue;
      }
    }
    auto disk = !restore_of.empty() ? volumes_->restore(restore_of, uid, ns + "/" + name, *bytes)
                : !clone_of.empty() ? volumes_->clone(clone_of, uid, ns + "/" + name, *bytes)
                                    : volumes_->ensure(uid, ns + "/" + name, *bytes);
    if (!disk) {
      stay_pending("Warning", "ProvisioningFailed",
                   "failed to provision volume with StorageClass \"" + sc + "\": " + disk.error().message);
      continue;
    }
    merge_main("persistentvolumeclaims", ns, name,
               {{"metadata",
                 {{"annotations",
                   {{"pv.kubernetes.io/bind-completed", "yes"},
                    {"pv.kubernetes.io/bound-by-controller", "yes"},
                    {"volume.kubernetes.io/storage-provisioner", provisioner},
                    {"kube-sim.io/volume-mode", std::string(to_string(volumes_->mode()))}}}}},
                {"spec", {{"volumeName", "pvc-" + uid}, {"storageClassName", sc}, {"volumeMode", "Filesystem"}}}});
    merge_status("persistentvolumeclaims", ns, name,
                 {{"status",
                   {{"phase", "Bound"},
                    {"accessModes", pvc.value("/spec/accessModes"_json_pointer, json::array({"ReadWriteOnce"}))},
                    {"capacity", {{"storage", request}}}}}});
  }
  // reclaimPolicy Delete: a claim's disk goes with the claim once no running pod has it mounted.
  for (const auto& uid : volumes_->on_disk()) {
    if (live.contains(uid)) continue;
    const auto marker = "/volumes/" + uid + "/";
    bool in_use = false;
    for (const auto& [pod_uid, p] : pods_)
      for (const auto& c : p.containers)
        for (const auto& m : c.launch.mounts)
          if (c.pid > 0 && m.source.find(marker) != std::string::npos) in_use = true;
    if (!in_use) volumes_->release(uid);
  }
}

void runtime::collect_garbage() {
  // Background cascading deletion: an object all of whose owners are gone is deleted.
  std::set<std::string> uids;
  std::vector<std::pair<const resource_type*, json>> owned;
  for (const auto& [group, versions] : store_.types().groups())
    for (const auto& version : versions)
      for (const auto* t : store_.types().in_group_version(group, version)) {
        auto page = store_.list(*t, "");
        if (!page) continue;
        for (auto& o : page->items) {
          uids.insert(meta_string(o, "uid"));
          if (o["metadata"].contains("ownerReferences") && !o["metadata"]["ownerReferences"].empty())
            owned.emplace_back(t, std::move(o));
        }
      }
  for (const auto& [t, o] : owned) {
    const auto& refs = o["metadata"]["ownerReferences"];
    const bool orphan = std::none_of(refs.begin(), refs.end(), [&](const json& r) { return uids.contains(r.value("uid", "")); });
    if (orphan && !o["metadata"].contains("deletionTimestamp"))
      (void)store_.remove(*t, object_namespace(o), object_name(o), delete_options{{}, {}, "Background"});
  }
}

}  // namespace kube_sim::runtime
