#include "core/decode.hpp"

#include <simdjson.h>

#include <charconv>
#include <map>
#include <vector>

#include "core/quantity.hpp"

namespace qpu {

namespace od = simdjson::ondemand;

namespace {

// A decoding failure: what was expected where.
struct failure {
  std::string path;
  simdjson::error_code code;
};

using status = std::optional<failure>;

#define QPU_TRY(expr)                        \
  do {                                       \
    if (status qpu_st_ = (expr)) return qpu_st_; \
  } while (0)

status check(simdjson::error_code code, const char* path) {
  if (code == simdjson::SUCCESS) return std::nullopt;
  return failure{path, code};
}

// value::is_null() is a simdjson_result<bool>: on a malformed literal (`tFue`, `nul`) converting
// it to bool throws simdjson_error, which nothing catches (found by fuzzing: a crash, not an error
// value). Read it as every other value: an error is a failure at `path`.
status read_null(od::value& v, bool& null, const char* path) { return check(v.is_null().get(null), path); }

#define QPU_SKIP_NULL(v, path)              \
  do {                                      \
    bool qpu_null_ = false;                 \
    QPU_TRY(read_null(v, qpu_null_, path)); \
    if (qpu_null_) return std::nullopt;     \
  } while (0)

status read_string(od::value v, std::string& out, const char* path) {
  QPU_SKIP_NULL(v, path);
  std::string_view s;
  QPU_TRY(check(v.get_string().get(s), path));
  out.assign(s);
  return std::nullopt;
}

template <class Int>
status read_int(od::value v, Int& out, const char* path) {
  QPU_SKIP_NULL(v, path);
  std::int64_t i = 0;
  QPU_TRY(check(v.get_int64().get(i), path));
  out = static_cast<Int>(i);
  return std::nullopt;
}

// A quantity may be a string ("10Gi") or, from hand-written clients, a number.
status read_quantity(od::value v, std::int64_t& out, const char* path) {
  od::json_type t = od::json_type::null;
  QPU_TRY(check(v.type().get(t), path));
  if (t == od::json_type::number) {
    double d = 0;
    QPU_TRY(check(v.get_double().get(d), path));
    out = static_cast<std::int64_t>(d);
    return std::nullopt;
  }
  std::string_view s;
  QPU_TRY(check(v.get_string().get(s), path));
  auto q = parse_quantity(s);
  if (!q) return failure{path, simdjson::NUMBER_ERROR};
  out = *q;
  return std::nullopt;
}

// Iterate an object's fields: fn(key, value) -> status.
template <class Fn>
status for_fields(od::object obj, const char* path, Fn&& fn) {
  for (auto field : obj) {
    std::string_view key;
    QPU_TRY(check(field.unescaped_key().get(key), path));
    od::value value;
    QPU_TRY(check(field.value().get(value), path));
    QPU_TRY(fn(key, value));
  }
  return std::nullopt;
}

template <class Fn>
status for_fields(od::value v, const char* path, Fn&& fn) {
  QPU_SKIP_NULL(v, path);
  od::object obj;
  QPU_TRY(check(v.get_object().get(obj), path));
  return for_fields(obj, path, std::forward<Fn>(fn));
}

template <class Fn>
status for_items(od::value v, const char* path, Fn&& fn) {
  QPU_SKIP_NULL(v, path);
  od::array arr;
  QPU_TRY(check(v.get_array().get(arr), path));
  for (auto element : arr) {
    od::value value;
    QPU_TRY(check(element.get(value), path));
    QPU_TRY(fn(value));
  }
  return std::nullopt;
}

// The labels and annotations the reducers look at.
struct marks {
  std::string component, registry, job_name, retry, method, original_replicas, revert_to_claim;
};

status read_meta(od::value v, object_meta& meta, marks& m) {
  return for_fields(v, "metadata", [&](std::string_view key, od::value value) -> status {
    if (key == "name") return read_string(value, meta.key.name, "metadata.name");
    if (key == "namespace") return read_string(value, meta.key.ns, "metadata.namespace");
    if (key == "uid") return read_string(value, meta.uid, "metadata.uid");
    if (key == "resourceVersion") return read_string(value, meta.rv, "metadata.resourceVersion");
    if (key == "generation") return read_int(value, meta.generation, "metadata.generation");
    if (key == "deletionTimestamp") {
      bool null = false;
      QPU_TRY(read_null(value, null, "metadata.deletionTimestamp"));
      meta.deleting = !null;
      return std::nullopt;
    }
    if (key == "labels") {
      return for_fields(value, "metadata.labels", [&](std::string_view k, od::value lv) -> status {
        if (k == "quay-component") return read_string(lv, m.component, "metadata.labels");
        if (k == "quay-operator/quayregistry") return read_string(lv, m.registry, "metadata.labels");
        if (k == "job-name" || k == "batch.kubernetes.io/job-name") return read_string(lv, m.job_name, "metadata.labels");
        return std::nullopt;
      });
    }
    if (key == "annotations") {
      return for_fields(value, "metadata.annotations", [&](std::string_view k, od::value av) -> status {
        if (k == "quay-pg-upgrader.quay.io/retry") return read_string(av, m.retry, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/method") return read_string(av, m.method, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/revert-to-claim") return read_string(av, m.revert_to_claim, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/original-replicas")
          return read_string(av, m.original_replicas, "metadata.annotations");
        return std::nullopt;
      });
    }
    return std::nullopt;
  });
}

status read_registry(od::object root, quay_registry& r) {
  marks m;
  QPU_TRY(for_fields(root, "object", [&](std::string_view key, od::value value) -> status {
    if (key == "metadata") return read_meta(value, r.meta, m);
    if (key == "spec") {
      return for_fields(value, "spec", [&](std::string_view k, od::value sv) -> status {
        if (k != "components") return std::nullopt;
        return for_items(sv, "spec.components", [&](od::value item) -> status {
          std::string kind;
          bool managed = true;
          QPU_TRY(for_fields(item, "spec.components[]", [&](std::string_view ck, od::value cv) -> status {
            if (ck == "kind") return read_string(cv, kind, "spec.components[].kind");
            if (ck == "managed") return check(cv.get_bool().get(managed), "spec.components[].managed");
            return std::nullopt;
          }));
          if (kind == "postgres") r.postgres_managed = managed;
          return std::nullopt;
        });
      });
    }
    return std::nullopt;
  }));
  r.retry_token = m.retry;
  r.method_override = m.method;
  r.revert_to_claim = m.revert_to_claim;
  return std::nullopt;
}

struct container_info {
  std::string name, image;
  std::map<std::string, std::string> mounts;  // volume name -> mountPath
  db_credentials credentials;
  std::string pgdata;  // env PGDATA, when given as a literal value
};

status read_container(od::value v, container_info& c) {
  return for_fields(v, "spec.template.spec.containers[]", [&](std::string_view key, od::value value) -> status {
    if (key == "name") return read_string(value, c.name, "containers[].name");
    if (key == "image") return read_string(value, c.image, "containers[].image");
    if (key == "env") {
      return for_items(value, "containers[].env", [&](od::value item) -> status {
        // The name usually comes first; buffer the source until both are known.
        std::string name;
        env_source src;
        QPU_TRY(for_fields(item, "containers[].env[]", [&](std::string_view k, od::value ev) -> status {
          if (k == "name") return read_string(ev, name, "containers[].env[].name");
          if (k == "value") return read_string(ev, src.value, "containers[].env[].value");
          if (k == "valueFrom") {
            return for_fields(ev, "containers[].env[].valueFrom", [&](std::string_view fk, od::value fv) -> status {
              if (fk != "secretKeyRef") return std::nullopt;
              return for_fields(fv, "containers[].env[].valueFrom.secretKeyRef", [&](std::string_view sk, od::value s) -> status {
                if (sk == "name") return read_string(s, src.secret_name, "secretKeyRef.name");
                if (sk == "key") return read_string(s, src.secret_key, "secretKeyRef.key");
                return std::nullopt;
              });
            });
          }
          return std::nullopt;
        }));
        if (name == "POSTGRESQL_USER") c.credentials.user = src;
        else if (name == "POSTGRESQL_PASSWORD") c.credentials.password = src;
        else if (name == "POSTGRESQL_DATABASE") c.credentials.database = src;
        else if (name == "POSTGRESQL_ADMIN_PASSWORD") c.credentials.admin_password = src;
        else if (name == "PGDATA") c.pgdata = src.value;
        return std::nullopt;
      });
    }
    if (key == "volumeMounts") {
      return for_items(value, "containers[].volumeMounts", [&](od::value item) -> status {
        std::string name, path;
        QPU_TRY(for_fields(item, "containers[].volumeMounts[]", [&](std::string_view k, od::value mv) -> status {
          if (k == "name") return read_string(mv, name, "volumeMounts[].name");
          if (k == "mountPath") return read_string(mv, path, "volumeMounts[].mountPath");
          return std::nullopt;
        }));
        c.mounts[name] = path;
        return std::nullopt;
      });
    }
    return std::nullopt;
  });
}

status read_deployment(od::object root, deployment& d) {
  marks m;
  std::vector<container_info> containers;
  std::map<std::string, std::string> volume_claims;  // volume name -> claimName
  QPU_TRY(for_fields(root, "object", [&](std::string_view key, od::value value) -> status {
    if (key == "metadata") return read_meta(value, d.meta, m);
    if (key == "spec") {
      return for_fields(value, "spec", [&](std::string_view k, od::value sv) -> status {
        if (k == "replicas") return read_int(sv, d.replicas, "spec.replicas");
        if (k != "template") return std::nullopt;
        return for_fields(sv, "spec.template", [&](std::string_view tk, od::value tv) -> status {
          if (tk != "spec") return std::nullopt;
          return for_fields(tv, "spec.template.spec", [&](std::string_view pk, od::value pv) -> status {
            if (pk == "containers") {
              return for_items(pv, "spec.template.spec.containers", [&](od::value item) -> status {
                containers.emplace_back();
                return read_container(item, containers.back());
              });
            }
            if (pk == "volumes") {
              return for_items(pv, "spec.template.spec.volumes", [&](od::value item) -> status {
                std::string name, claim_name;
                QPU_TRY(for_fields(item, "spec.template.spec.volumes[]", [&](std::string_view vk, od::value vv) -> status {
                  if (vk == "name") return read_string(vv, name, "volumes[].name");
                  if (vk == "persistentVolumeClaim") {
                    return for_fields(vv, "volumes[].persistentVolumeClaim", [&](std::string_view ck, od::value cv) -> status {
                      if (ck == "claimName") return read_string(cv, claim_name, "volumes[].persistentVolumeClaim.claimName");
                      return std::nullopt;
                    });
                  }
                  return std::nullopt;
                }));
                if (!claim_name.empty()) volume_claims[name] = claim_name;
                return std::nullopt;
              });
            }
            return std::nullopt;
          });
        });
      });
    }
    if (key == "status") {
      return for_fields(value, "status", [&](std::string_view k, od::value sv) -> status {
        if (k == "replicas") return read_int(sv, d.status_replicas, "status.replicas");
        if (k == "readyReplicas") return read_int(sv, d.ready_replicas, "status.readyReplicas");
        if (k == "updatedReplicas") return read_int(sv, d.updated_replicas, "status.updatedReplicas");
        if (k == "observedGeneration") return read_int(sv, d.observed_generation, "status.observedGeneration");
        return std::nullopt;
      });
    }
    return std::nullopt;
  }));
  const container_info* chosen = nullptr;
  for (const auto& c : containers)
    if (c.name == "postgres") chosen = &c;
  if (!chosen && !containers.empty()) chosen = &containers.front();
  if (chosen) {
    d.image = chosen->image;
    d.credentials = chosen->credentials;
    d.pgdata = chosen->pgdata;
    for (const auto& [volume, path] : chosen->mounts) {
      if (path == "/var/lib/pgsql/data" || path == "/var/lib/pgsql/data/") {
        if (auto it = volume_claims.find(volume); it != volume_claims.end()) d.data_claim = it->second;
      }
    }
  }
  if (!m.original_replicas.empty()) {
    std::int32_t n = 0;
    const auto& s = m.original_replicas;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc{} && p == s.data() + s.size() && n >= 0) d.recorded_replicas = n;
  }
  return std::nullopt;
}

// The terminated container's message; when it left none (a process killed by a signal writes no
// termination log), how it ended, so that a failure names the cause: exit code 137 is 128 + 9,
// SIGKILL, as the kubelet reports it.
status read_terminated(od::value v, std::string& message) {
  std::int32_t exit_code = 0, signal = 0;
  std::string reason, own;
  QPU_TRY(for_fields(v, "status.containerStatuses[].state", [&](std::string_view k, od::value sv) -> status {
    if (k != "terminated") return std::nullopt;
    return for_fields(sv, "state.terminated", [&](std::string_view tk, od::value tv) -> status {
      if (tk == "message") return read_string(tv, own, "state.terminated.message");
      if (tk == "exitCode") return read_int(tv, exit_code, "state.terminated.exitCode");
      if (tk == "signal") return read_int(tv, signal, "state.terminated.signal");
      if (tk == "reason") return read_string(tv, reason, "state.terminated.reason");
      return std::nullopt;
    });
  }));
  if (signal == 0 && exit_code > 128 && exit_code < 128 + 65) signal = exit_code - 128;
  if (!own.empty()) {
    message = std::move(own);
  } else if (exit_code != 0 || signal != 0) {
    message = "the container ended with exit code " + std::to_string(exit_code);
    if (signal != 0) message += ", killed by signal " + std::to_string(signal);
    if (!reason.empty()) message += " (" + reason + ")";
    message += " and left no termination message";
  }
  return std::nullopt;
}

status read_pod(od::object root, pod& p) {
  marks m;
  QPU_TRY(for_fields(root, "object", [&](std::string_view key, od::value value) -> status {
    if (key == "metadata") return read_meta(value, p.meta, m);
    if (key == "status") {
      return for_fields(value, "status", [&](std::string_view k, od::value sv) -> status {
        if (k == "phase") return read_string(sv, p.phase, "status.phase");
        if (k == "containerStatuses") {
          return for_items(sv, "status.containerStatuses", [&](od::value item) -> status {
            return for_fields(item, "status.containerStatuses[]", [&](std::string_view ck, od::value cv) -> status {
              if (ck == "state") return read_terminated(cv, p.termination_message);
              return std::nullopt;
            });
          });
        }
        return std::nullopt;
      });
    }
    return std::nullopt;
  }));
  p.component = m.component;
  p.registry = m.registry;
  p.job_name = m.job_name;
  return std::nullopt;
}

status read_job(od::object root, job& j) {
  marks m;
  return for_fields(root, "object", [&](std::string_view key, od::value value) -> status {
    if (key == "metadata") return read_meta(value, j.meta, m);
    if (key != "status") return std::nullopt;
    return for_fields(value, "status", [&](std::string_view k, od::value sv) -> status {
      if (k == "active") return read_int(sv, j.active, "status.active");
      if (k == "succeeded") return read_int(sv, j.succeeded, "status.succeeded");
      if (k == "failed") return read_int(sv, j.failed, "status.failed");
      if (k != "conditions") return std::nullopt;
      return for_items(sv, "status.conditions", [&](od::value item) -> status {
        std::string type, cstatus, reason, message;
        QPU_TRY(for_fields(item, "status.conditions[]", [&](std::string_view ck, od::value cv) -> status {
          if (ck == "type") return read_string(cv, type, "status.conditions[].type");
          if (ck == "status") return read_string(cv, cstatus, "status.conditions[].status");
          if (ck == "reason") return read_string(cv, reason, "status.conditions[].reason");
          if (ck == "message") return read_string(cv, message, "status.conditions[].message");
          return std::nullopt;
        }));
        // Only the terminal conditions decide; SuccessCriteriaMet / FailureTarget precede them.
        if (cstatus == "True" && (type == "Complete" || type == "Failed")) {
          (type == "Complete" ? j.complete : j.has_failed) = true;
          j.reason = reason;
          j.message = message;
        }
        return std::nullopt;
      });
    });
  });
}

status read_claim(od::object root, claim& c) {
  marks m;
  return for_fields(root, "object", [&](std::string_view key, od::value value) -> status {
    if (key == "metadata") return read_meta(value, c.meta, m);
    if (key == "spec") {
      return for_fields(value, "spec", [&](std::string_view k, od::value sv) -> status {
        if (k == "storageClassName") return read_string(sv, c.storage_class, "spec.storageClassName");
        if (k != "resources") return std::nullopt;
        return for_fields(sv, "spec.resources", [&](std::string_view rk, od::value rv) -> status {
          if (rk != "requests") return std::nullopt;
          return for_fields(rv, "spec.resources.requests", [&](std::string_view qk, od::value qv) -> status {
            if (qk == "storage") return read_quantity(qv, c.requested_bytes, "spec.resources.requests.storage");
            return std::nullopt;
          });
        });
      });
    }
    if (key == "status") {
      return for_fields(value, "status", [&](std::string_view k, od::value sv) -> status {
        if (k == "phase") return read_string(sv, c.phase, "status.phase");
        if (k != "capacity") return std::nullopt;
        return for_fields(sv, "status.capacity", [&](std::string_view qk, od::value qv) -> status {
          if (qk == "storage") return read_quantity(qv, c.capacity_bytes, "status.capacity.storage");
          return std::nullopt;
        });
      });
    }
    return std::nullopt;
  });
}

status read_object(resource_kind kind, od::object v, object_view& out) {
  switch (kind) {
    case resource_kind::quay_registry: out.emplace<quay_registry>(); return read_registry(v, std::get<quay_registry>(out));
    case resource_kind::deployment: out.emplace<deployment>(); return read_deployment(v, std::get<deployment>(out));
    case resource_kind::pod: out.emplace<pod>(); return read_pod(v, std::get<pod>(out));
    case resource_kind::job: out.emplace<job>(); return read_job(v, std::get<job>(out));
    case resource_kind::claim: out.emplace<claim>(); return read_claim(v, std::get<claim>(out));
  }
  return failure{"object", simdjson::INCORRECT_TYPE};
}

status read_status(od::object v, watch_error& e) {
  return for_fields(v, "object", [&](std::string_view k, od::value sv) -> status {
    if (k == "code") return read_int(sv, e.code, "object.code");
    if (k == "reason") return read_string(sv, e.reason, "object.reason");
    if (k == "message") return read_string(sv, e.message, "object.message");
    return std::nullopt;
  });
}

status read_bookmark_rv(od::object v, std::string& rv) {
  return for_fields(v, "object", [&](std::string_view k, od::value mv) -> status {
    if (k != "metadata") return std::nullopt;
    return for_fields(mv, "object.metadata", [&](std::string_view mk, od::value rvv) -> status {
      if (mk == "resourceVersion") return read_string(rvv, rv, "object.metadata.resourceVersion");
      return std::nullopt;
    });
  });
}

}  // namespace

struct json_decoder::impl {
  od::parser parser{max_line_bytes + 64};
  std::vector<char> buffer;

  // Copies `json` into the reused padded buffer (simdjson reads a few bytes past the end).
  simdjson::padded_string_view pad(std::string_view json) {
    const std::size_t need = json.size() + simdjson::SIMDJSON_PADDING;
    if (buffer.size() < need) buffer.resize(need);
    std::copy(json.begin(), json.end(), buffer.begin());
    return simdjson::padded_string_view(buffer.data(), json.size(), buffer.size());
  }

  std::string describe(const failure& f, od::document& doc) {
    std::string text = std::string(f.path) + ": " + simdjson::error_message(f.code);
    const char* where = nullptr;
    if (doc.current_location().get(where) == simdjson::SUCCESS && where && !buffer.empty())
      text += " (at byte " + std::to_string(where - buffer.data()) + ")";
    return text;
  }
};

json_decoder::json_decoder() : impl_(std::make_unique<impl>()) {}
json_decoder::~json_decoder() = default;

std::expected<object_view, std::string> json_decoder::decode_object(resource_kind kind, std::string_view json) {
  if (json.size() > max_line_bytes) return std::unexpected("object larger than the " + std::to_string(max_line_bytes) + " byte limit");
  od::document doc;
  if (auto err = impl_->parser.iterate(impl_->pad(json)).get(doc)) return std::unexpected(std::string("not JSON: ") + simdjson::error_message(err));
  od::object root;
  if (auto err = doc.get_object().get(root)) return std::unexpected(std::string("object is not a JSON object: ") + simdjson::error_message(err));
  object_view out;
  if (auto f = read_object(kind, root, out)) return std::unexpected(impl_->describe(*f, doc));
  if (meta_of(out).key.name.empty()) return std::unexpected("metadata.name missing");
  return out;
}

std::expected<event, std::string> json_decoder::decode_watch_line(resource_kind kind, std::string_view line) {
  if (line.size() > max_line_bytes) return std::unexpected("watch line larger than the " + std::to_string(max_line_bytes) + " byte limit");
  od::document doc;
  if (auto err = impl_->parser.iterate(impl_->pad(line)).get(doc)) return std::unexpected(std::string("not JSON: ") + simdjson::error_message(err));
  od::object top;
  if (auto err = doc.get_object().get(top)) return std::unexpected(std::string("watch line is not a JSON object: ") + simdjson::error_message(err));
  // Kubernetes writes "type" before "object", but JSON does not promise it: keep the object's raw
  // bytes when it comes first and decode it once the type is known.
  std::string type;
  std::string_view deferred;
  event out;
  bool have_object = false;
  for (auto field : top) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return std::unexpected(std::string("watch line: ") + simdjson::error_message(err));
    od::value value;
    if (auto err = field.value().get(value)) return std::unexpected(std::string("watch line: ") + simdjson::error_message(err));
    if (key == "type") {
      if (auto f = read_string(value, type, "type")) return std::unexpected(impl_->describe(*f, doc));
    } else if (key == "object") {
      have_object = true;
      if (type.empty()) {
        od::object obj;
        if (auto err = value.get_object().get(obj)) return std::unexpected(std::string("object: ") + simdjson::error_message(err));
        if (auto err = obj.raw_json().get(deferred)) return std::unexpected(std::string("object: ") + simdjson::error_message(err));
        continue;
      }
      od::object obj;
      if (auto err = value.get_object().get(obj)) return std::unexpected(std::string("object: ") + simdjson::error_message(err));
      status st;
      if (type == "BOOKMARK") {
        bookmark_seen b{kind, {}};
        st = read_bookmark_rv(obj, b.rv);
        out = b;
      } else if (type == "ERROR") {
        watch_error e{kind, 0, {}, {}};
        st = read_status(obj, e);
        out = e;
      } else if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
        object_event oe;
        oe.type = type == "ADDED" ? watch_type::added : type == "MODIFIED" ? watch_type::modified : watch_type::deleted;
        st = read_object(kind, obj, oe.object);
        if (!st && meta_of(oe.object).key.name.empty()) return std::unexpected("object.metadata.name missing");
        out = std::move(oe);
      } else {
        return std::unexpected("unknown watch event type \"" + type + "\"");
      }
      if (st) return std::unexpected(impl_->describe(*st, doc));
    }
  }
  if (type.empty()) return std::unexpected("watch line has no \"type\"");
  if (!have_object) return std::unexpected("watch line has no \"object\"");
  if (!deferred.empty()) {
    // Re-wrap in the usual order and decode that (rare: only hand-written streams do this).
    std::string canonical = "{\"type\":\"" + type + "\",\"object\":" + std::string(deferred) + "}";
    return decode_watch_line(kind, canonical);
  }
  return out;
}

}  // namespace qpu
