// The storage provisioner (PVC -> disk, reclaimPolicy Delete) and the garbage collector.
#include "object_meta.hpp"
#include "quantity.hpp"
#include "runtime.hpp"

namespace kube_sim::runtime {

void runtime::sync_claims() {
  std::set<std::string> live;
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
    const bool has_class = pvc["spec"].contains("storageClassName") && !pvc["spec"]["storageClassName"].is_null();
    const std::string sc = has_class ? pvc["spec"]["storageClassName"].get<std::string>() : options_.default_storage_class;
    // A class nobody provisions leaves the claim Pending, as in a cluster without that
    // provisioner; "" asks for static binding, which the simulator has no volumes for.
    const bool known = sc == options_.default_storage_class || (!sc.empty() && get("storageclasses.storage.k8s.io", "", sc));
    if (!known || !bytes || *bytes == 0) {
      if (phase != "Pending") merge_status("persistentvolumeclaims", ns, name, {{"status", {{"phase", "Pending"}}}});
      continue;
    }
    auto disk = volumes_->ensure(uid, ns + "/" + name, *bytes);
    if (!disk) {
      if (phase != "Pending") merge_status("persistentvolumeclaims", ns, name, {{"status", {{"phase", "Pending"}}}});
      continue;
    }
    merge_main("persistentvolumeclaims", ns, name,
               {{"metadata",
                 {{"annotations",
                   {{"pv.kubernetes.io/bind-completed", "yes"},
                    {"pv.kubernetes.io/bound-by-controller", "yes"},
                    {"volume.kubernetes.io/storage-provisioner", "kube-sim.io/local"},
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
