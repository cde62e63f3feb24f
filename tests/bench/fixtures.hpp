#pragma once
// Realistic Kubernetes objects for the benchmarks: Jobs, PersistentVolumeClaims, Deployments and
// QuayRegistries as an API server sends them (metadata with labels, annotations and
// managedFields, full spec and status), compact JSON on one line. `fields` is the number of
// managedFields entries: 3 is typical, more makes the object bigger without adding anything the
// controller keeps (the memory benchmark uses it to show that the store does not grow with it).
#include <cstdint>
#include <string>

#include "core/resources.hpp"

namespace qpu::bench {

inline constexpr resource_kind fixture_kinds[] = {resource_kind::job, resource_kind::claim, resource_kind::deployment,
                                                  resource_kind::quay_registry};

inline std::string managed_fields(int n) {
  std::string s = R"("managedFields":[)";
  for (int i = 0; i < n; ++i) {
    s += (i ? "," : "");
    s +=
        R"({"manager":"kube-controller-manager","operation":"Update","apiVersion":"batch/v1","time":"2026-11-24T04:13:42Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:active":{},"f:conditions":{".":{},"k:{\"type\":\"Complete\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:ready":{},"f:startTime":{},"f:terminating":{},"f:uncountedTerminatedPods":{}}}})";
  }
  return s + "]";
}

inline std::string meta(const std::string& ns, const std::string& name, std::uint64_t rv, int fields) {
  return R"("metadata":{"name":")" + name + R"(","namespace":")" + ns + R"(","uid":"6f1c7f0e-2b1d-4a53-9d1e-)" +
         std::to_string(100000000000 + rv) + R"(","resourceVersion":")" + std::to_string(rv) +
         R"(","generation":3,"creationTimestamp":"2026-11-24T04:13:42Z","labels":{"quay-component":"postgres","quay-operator/quayregistry":"registry","app":"quay"},"annotations":{"deployment.kubernetes.io/revision":"4","kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"kind\":\"Object\"}"},)" +
         managed_fields(fields) + "}";
}

inline std::string job_json(const std::string& ns, const std::string& name, std::uint64_t rv, int fields = 3) {
  return R"({"kind":"Job","apiVersion":"batch/v1",)" + meta(ns, name, rv, fields) +
         R"(,"spec":{"parallelism":1,"completions":1,"backoffLimit":0,"template":{"spec":{"containers":[{"name":"backup","image":"quay.io/sclorg/postgresql-15-c9s:latest","command":["/bin/sh","-c","pg_dump"],"env":[{"name":"PGPASSWORD","valueFrom":{"secretKeyRef":{"name":"db","key":"database-password"}}}],"volumeMounts":[{"name":"backup","mountPath":"/backup"}]}],"restartPolicy":"Never","volumes":[{"name":"backup","persistentVolumeClaim":{"claimName":"registry-quay-database-backup-pg10"}}]}}},"status":{"active":1,"startTime":"2026-11-24T04:13:42Z","conditions":[{"type":"Complete","status":"False","lastProbeTime":"2026-11-24T04:13:42Z","lastTransitionTime":"2026-11-24T04:13:42Z","reason":"Running","message":"still going"}]}})";
}

inline std::string deployment_json(const std::string& ns, const std::string& name, std::uint64_t rv, int fields = 3) {
  return R"({"kind":"Deployment","apiVersion":"apps/v1",)" + meta(ns, name, rv, fields) +
         R"(,"spec":{"replicas":1,"strategy":{"type":"Recreate"},"selector":{"matchLabels":{"quay-component":"postgres"}},"template":{"metadata":{"labels":{"quay-component":"postgres"}},"spec":{"containers":[{"name":"postgres","image":"quay.io/sclorg/postgresql-10-c8s:latest","env":[{"name":"POSTGRESQL_USER","valueFrom":{"secretKeyRef":{"name":"registry-postgres-config-secret","key":"database-username"}}},{"name":"POSTGRESQL_PASSWORD","valueFrom":{"secretKeyRef":{"name":"registry-postgres-config-secret","key":"database-password"}}},{"name":"POSTGRESQL_DATABASE","valueFrom":{"secretKeyRef":{"name":"registry-postgres-config-secret","key":"database-name"}}},{"name":"POSTGRESQL_ADMIN_PASSWORD","valueFrom":{"secretKeyRef":{"name":"registry-postgres-config-secret","key":"database-root-password"}}}],"volumeMounts":[{"name":"postgres-data","mountPath":"/var/lib/pgsql/data"}],"resources":{"requests":{"cpu":"500m","memory":"2Gi"}}}],"volumes":[{"name":"postgres-data","persistentVolumeClaim":{"claimName":"registry-quay-database"}}]}}},"status":{"observedGeneration":3,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1}})";
}

inline std::string claim_json(const std::string& ns, const std::string& name, std::uint64_t rv, int fields = 3) {
  return R"({"kind":"PersistentVolumeClaim","apiVersion":"v1",)" + meta(ns, name, rv, fields) +
         R"(,"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"50Gi"}},"storageClassName":"gp3-csi","volumeMode":"Filesystem","volumeName":"pvc-6f1c7f0e"},"status":{"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{"storage":"50Gi"}}})";
}

// postgres unmanaged: the controller tracks the registry but leaves it alone, so a benchmark
// measures the fold, not an upgrade starting.
inline std::string registry_json(const std::string& ns, const std::string& name, std::uint64_t rv, int fields = 3,
                                 bool postgres_managed = false) {
  return R"({"kind":"QuayRegistry","apiVersion":"quay.redhat.com/v1",)" + meta(ns, name, rv, fields) +
         R"(,"spec":{"configBundleSecret":"registry-config-bundle","components":[{"kind":"postgres","managed":)" +
         (postgres_managed ? "true" : "false") +
         R"(},{"kind":"clair","managed":true},{"kind":"redis","managed":true},{"kind":"objectstorage","managed":true},{"kind":"route","managed":true},{"kind":"mirror","managed":true},{"kind":"horizontalpodautoscaler","managed":true}]},"status":{"currentVersion":"3.12.1","registryEndpoint":"https://registry-quay-quay.apps.example.com","conditions":[{"type":"Available","status":"True","reason":"HealthChecksPassing","message":"all objects created/updated successfully","lastUpdateTime":"2026-11-24T04:13:42Z","lastTransitionTime":"2026-11-24T04:13:42Z"}]}})";
}

inline std::string object_json(resource_kind k, const std::string& ns, const std::string& name, std::uint64_t rv,
                               int fields = 3) {
  switch (k) {
    case resource_kind::job: return job_json(ns, name, rv, fields);
    case resource_kind::claim: return claim_json(ns, name, rv, fields);
    case resource_kind::deployment: return deployment_json(ns, name, rv, fields);
    case resource_kind::quay_registry: return registry_json(ns, name, rv, fields);
    default: return {};
  }
}

inline std::string watch_line(const char* type, const std::string& object) {
  return std::string(R"({"type":")") + type + R"(","object":)" + object + "}\n";
}

}  // namespace qpu::bench
