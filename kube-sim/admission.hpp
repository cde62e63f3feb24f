#pragma once
// Per-kind defaulting and validation the apiserver applies on writes (the few parts clients
// notice): Secret stringData, Service clusterIP, Deployment/Job defaults, Namespace and Pod
// phases, CRD names and conditions, a claim's default StorageClass.
#include <functional>
#include <string>

#include "api_error.hpp"
#include "resource_types.hpp"

namespace kube_sim {

/// `old` is null on create. `allocate_cluster_ip` hands out a free address in 127.0.0.0/8 so a
/// Service is reachable on this machine exactly as a ClusterIP is inside a cluster.
/// `default_storage_class` names the StorageClass marked the default ("" when none): a claim
/// created without spec.storageClassName gets it, as the DefaultStorageClass admission plugin does.
result<void> admit(const resource_type& t, json& object, const json* old, const std::function<std::string()>& allocate_cluster_ip,
                   const std::function<std::string()>& default_storage_class = {});

}  // namespace kube_sim
