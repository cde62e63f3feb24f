// bench_decode: the client's watch decode path (line splitting + qpu::json_decoder into core
// views) against a bare simdjson on-demand pass (reading type, name and resourceVersion) over the
// same bytes: 200k synthetic Job / Deployment / PVC watch lines of realistic size, managedFields
// included. Prints events/s and MB/s of each and their ratio.
//   bench_decode [lines]
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/decode.hpp"
#include "watch/stream_decoder.hpp"

namespace od = simdjson::ondemand;

namespace {

std::string managed_fields(int n) {
  std::string s = R"("managedFields":[)";
  for (int i = 0; i < n; ++i) {
    s += (i ? "," : "");
    s +=
        R"({"manager":"kube-controller-manager","operation":"Update","apiVersion":"batch/v1","time":"2026-11-24T04:13:42Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:active":{},"f:conditions":{".":{},"k:{\"type\":\"Complete\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:ready":{},"f:startTime":{},"f:terminating":{},"f:uncountedTerminatedPods":{}}}})";
  }
  return s + "]";
}

std::string meta(const std::string& name, std::uint64_t rv) {
  return R"("metadata":{"name":")" + name + R"(","namespace":"quay-enterprise","uid":"6f1c7f0e-2b1d-4a53-9d1e-)" +
         std::to_string(100000000000 + rv) + R"(","resourceVersion":")" + std::to_string(rv) +
         R"(","generation":3,"creationTimestamp":"2026-11-24T04:13:42Z","labels":{"quay-component":"postgres","quay-operator/quayregistry":"registry","app":"quay"},"annotations":{"quay-pg-upgrader.quay.io/original-replicas":"2","deployment.kubernetes.io/revision":"4"},)" +
         managed_fields(3) + "}";
}

std::string job_line(std::uint64_t rv) {
  return R"({"type":"MODIFIED","object":{"kind":"Job","apiVersion":"batch/v1",)" + meta("registry-pg-backup-10", rv) +
         R"(,"spec":{"parallelism":1,"completions":1,"backoffLimit":0,"template":{"spec":{"containers":[{"name":"backup","image":"quay.io/sclorg/postgresql-15-c9s:latest","command":["/bin/sh","-c","pg_dump"],"env":[{"name":"PGPASSWORD","valueFrom":{"secretKeyRef":{"name":"db","key":"database-password"}}}],"volumeMounts":[{"name":"backup","mountPath":"/backup"}]}],"restartPolicy":"Never","volumes":[{"name":"backup","persistentVolumeClaim":{"claimName":"registry-quay-database-backup-pg10"}}]}}},"status":{"active":1,"startTime":"2026-11-24T04:13:42Z","conditions":[{"type":"Complete","status":"False","lastProbeTime":"2026-11-24T04:13:42Z","lastTransitionTime":"2026-11-24T04:13:42Z","reason":"Running","message":"still going"}]}}})"
         "\n";
}

std::string deployment_line(std::uint64_t rv) {
  return R"({"type":"MODIFIED","object":{"kind":"Deployment","apiVersion":"apps/v1",)" + meta("registry-quay-database", rv) +
         R"(,"spec":{"replicas":1,"strategy":{"type":"Recreate"},"selector":{"matchLabels":{"quay-component":"postgres"}},"template":{"metadata":{"labels":{"quay-component":"postgres"}},"spec":{"containers":[{"name":"postgres","image":"quay.io/sclorg/postgresql-10-c8s:latest","env":[{"name":"POSTGRESQL_USER","valueFrom":{"secretKeyRef":{"name":"registry-postgres-config-secret","key":"database-username"}}},{"name":"POSTGRESQL_PASSWORD","valueFrom":{"secretKeyRef":{"name":"registry-postgres-config-secret","key":"database-password"}}},{"name":"POSTGRESQL_DATABASE","valueFrom":{"secretKeyRef":{"name":"registry-postgres-config-secret","key":"database-name"}}},{"name":"POSTGRESQL_ADMIN_PASSWORD","valueFrom":{"secretKeyRef":{"name":"registry-postgres-config-secret","key":"database-root-password"}}}],"volumeMounts":[{"name":"postgres-data","mountPath":"/var/lib/pgsql/data"}],"resources":{"requests":{"cpu":"500m","memory":"2Gi"}}}],"volumes":[{"name":"postgres-data","persistentVolumeClaim":{"claimName":"registry-quay-database"}}]}}},"status":{"observedGeneration":3,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1}}})"
         "\n";
}

std::string claim_line(std::uint64_t rv) {
  return R"({"type":"MODIFIED","object":{"kind":"PersistentVolumeClaim","apiVersion":"v1",)" +
         meta("registry-quay-database-pg15", rv) +
         R"(,"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"50Gi"}},"storageClassName":"gp3-csi","volumeMode":"Filesystem","volumeName":"pvc-6f1c7f0e"},"status":{"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{"storage":"50Gi"}}}})"
         "\n";
}

// Visits every value, so that the whole document is read (on-demand otherwise stops early).
std::uint64_t walk(od::value v) {
  od::json_type t;
  if (v.type().get(t)) return 0;
  std::uint64_t n = 1;
  if (t == od::json_type::object) {
    od::object o;
    if (v.get_object().get(o)) return n;
    for (auto f : o) {
      od::value x;
      if (!f.value().get(x)) n += walk(x);
    }
  } else if (t == od::json_type::array) {
    od::array a;
    if (v.get_array().get(a)) return n;
    for (auto e : a) {
      od::value x;
      if (!e.get(x)) n += walk(x);
    }
  } else if (t == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return n;
  } else {
    (void)v.raw_json_token();
  }
  return n;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t lines = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200'000;
  const qpu::resource_kind kinds[] = {qpu::resource_kind::job, qpu::resource_kind::deployment, qpu::resource_kind::claim};
  std::vector<std::string> streams(3);
  for (std::uint64_t i = 0; i < lines; ++i) {
    auto k = i % 3;
    streams[k] += k == 0 ? job_line(1000 + i) : k == 1 ? deployment_line(1000 + i) : claim_line(1000 + i);
  }
  std::uint64_t bytes = 0;
  for (const auto& s : streams) bytes += s.size();

  // The client's path: 16 KiB reads (a TLS record's worth) through the splitter and decoder.
  qpu::json_decoder decoder;
  std::uint64_t decoded = 0, bad = 0;
  double t0 = now_s();
  for (int k = 0; k < 3; ++k) {
    qpu::watch::stream_decoder sd(kinds[k], decoder);
    std::string_view all(streams[k]);
    for (std::size_t i = 0; i < all.size(); i += 16384) {
      sd.feed(all.substr(i, 16384), [&](const qpu::watch::watch_input& in) {
        if (in.origin == qpu::watch::input_origin::malformed) ++bad;
        else ++decoded;
        return true;
      });
    }
  }
  const double client_s = now_s() - t0;

  // Bare simdjson: split on '\n', copy into a reused padded buffer, read type, name and RV.
  od::parser parser;
  std::vector<char> pad;
  std::uint64_t bare = 0, checksum = 0;
  t0 = now_s();
  for (const auto& s : streams) {
    std::size_t start = 0;
    while (start < s.size()) {
      std::size_t nl = s.find('\n', start);
      std::string_view line(s.data() + start, nl - start);
      start = nl + 1;
      if (pad.size() < line.size() + simdjson::SIMDJSON_PADDING) pad.resize(line.size() + simdjson::SIMDJSON_PADDING);
      std::memcpy(pad.data(), line.data(), line.size());
      auto doc = parser.iterate(pad.data(), line.size(), pad.size());
      std::string_view type, name, rv;
      if (doc["type"].get_string().get(type)) continue;
      auto m = doc["object"]["metadata"];
      if (m["name"].get_string().get(name)) continue;
      if (m["resourceVersion"].get_string().get(rv)) continue;
      checksum += type.size() + name.size() + rv.size();
      ++bare;
    }
  }
  const double bare_s = now_s() - t0;

  // Bare simdjson, whole document: every value visited once.
  std::uint64_t walked = 0, values = 0;
  t0 = now_s();
  for (const auto& s : streams) {
    std::size_t start = 0;
    while (start < s.size()) {
      std::size_t nl = s.find('\n', start);
      std::string_view line(s.data() + start, nl - start);
      start = nl + 1;
      if (pad.size() < line.size() + simdjson::SIMDJSON_PADDING) pad.resize(line.size() + simdjson::SIMDJSON_PADDING);
      std::memcpy(pad.data(), line.data(), line.size());
      auto doc = parser.iterate(pad.data(), line.size(), pad.size());
      od::value root;
      if (doc.get_value().get(root)) continue;
      values += walk(root);
      ++walked;
    }
  }
  const double walk_s = now_s() - t0;

  const double mb = static_cast<double>(bytes) / 1e6;
  std::printf("input: %llu watch lines (Job/Deployment/PVC, managedFields), %.1f MB, %.0f bytes/line\n",
              static_cast<unsigned long long>(lines), mb, static_cast<double>(bytes) / static_cast<double>(lines));
  std::printf("client decode path (split + json_decoder): %10.0f events/s  %8.1f MB/s  (%llu decoded, %llu malformed)\n",
              static_cast<double>(decoded) / client_s, mb / client_s, static_cast<unsigned long long>(decoded),
              static_cast<unsigned long long>(bad));
  std::printf("bare simdjson on-demand (type, name, RV):  %10.0f events/s  %8.1f MB/s  (%llu lines, checksum %llu)\n",
              static_cast<double>(bare) / bare_s, mb / bare_s, static_cast<unsigned long long>(bare),
              static_cast<unsigned long long>(checksum));
  std::printf("bare simdjson on-demand (every value):     %10.0f events/s  %8.1f MB/s  (%llu lines, %llu values)\n",
              static_cast<double>(walked) / walk_s, mb / walk_s, static_cast<unsigned long long>(walked),
              static_cast<unsigned long long>(values));
  std::printf("ratio of times: client / bare(type,name,RV) = %.2fx, client / bare(every value) = %.2fx\n", client_s / bare_s,
              client_s / walk_s);
  return bad == 0 && decoded == lines ? 0 : 1;
}
