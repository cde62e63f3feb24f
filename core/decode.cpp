#include "core/decode.hpp"

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__PCLMUL__)
#include <wmmintrin.h>
#endif

#include <bit>
#include <charconv>
#include <cstring>
#include <map>
#include <vector>

#include "core/quantity.hpp"

namespace qpu {

namespace od = simdjson::ondemand;

namespace {

// A decoding failure: what was expected where.
// `path` is always a string literal: a status is then two words, returned on every field without
// constructing or destroying a std::string (it was a measurable share of decoding).
struct failure {
  const char* path;
  simdjson::error_code code;
};

using status = std::optional<failure>;

#define QPU_TRY(expr)                            \
  do {                                           \
    if (status qpu_st_ = (expr)) return qpu_st_; \
  } while (0)

inline status check(simdjson::error_code code, const char* path) {
  if (code == simdjson::SUCCESS) [[likely]]
    return std::nullopt;
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

// A string as a view into the parser's string buffer: valid until the decoder's next document.
// Temporaries (container names, mount paths, condition types) are read this way so that only
// the fields kept are copied.
status read_string(od::value v, istr& out, const char* path) {
  QPU_SKIP_NULL(v, path);
  std::string_view s;
  QPU_TRY(check(v.get_string().get(s), path));
  out = istr(s);
  return std::nullopt;
}

status read_view(od::value v, std::string_view& out, const char* path) {
  QPU_SKIP_NULL(v, path);
  return check(v.get_string().get(out), path);
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

// A key as written between its quotes, without copying: Kubernetes keys carry no escapes, and
// unescaping every key (into the parser's string buffer) cost more than reading the values. A key
// that does hold an escape is unescaped as before, so "na\u006de" still matches "name".
inline status key_of(od::field& field, std::string_view& key, const char* path) {
  const char* raw = field.key().raw();
  std::size_t n = 0;
  while (raw[n] != '"' && raw[n] != '\\') ++n;  // stage 1 guarantees a closing quote
  if (raw[n] == '"') [[likely]] {
    key = std::string_view(raw, n);
    return std::nullopt;
  }
  return check(field.unescaped_key().get(key), path);
}

// Iterate an object's fields: fn(key, value) -> status. A field fn does not read is skipped.
template <class Fn>
status for_fields(od::object obj, const char* path, Fn&& fn) {
  for (auto result : obj) {
    od::field field;
    QPU_TRY(check(std::move(result).get(field), path));
    std::string_view key;
    QPU_TRY(key_of(field, key, path));
    QPU_TRY(fn(key, field.value()));
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
  std::string component, registry, job_name, retry, method, original_replicas, revert_to_claim, maintenance_window, dry_run;
  std::string owner_registry;  // the QuayRegistry among metadata.ownerReferences with controller: true
  std::string created_for;  // label quay-pg-upgrader.quay.io/registry (objects this controller made)
  std::string skip_databases;  // annotation quay-pg-upgrader.quay.io/skip-databases
  std::string clone_for;  // annotation quay-pg-upgrader.quay.io/clone-for (claims this controller cloned)
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
        if (k == "quay-pg-upgrader.quay.io/registry") return read_string(lv, m.created_for, "metadata.labels");
        return std::nullopt;
      });
    }
    if (key == "ownerReferences") {
      return for_items(value, "metadata.ownerReferences", [&](od::value item) -> status {
        std::string_view kind, name;
        bool controller = false;
        QPU_TRY(for_fields(item, "metadata.ownerReferences[]", [&](std::string_view k, od::value ov) -> status {
          if (k == "kind") return read_view(ov, kind, "metadata.ownerReferences[].kind");
          if (k == "name") return read_view(ov, name, "metadata.ownerReferences[].name");
          if (k == "controller") return check(ov.get_bool().get(controller), "metadata.ownerReferences[].controller");
          return std::nullopt;
        }));
        if (kind == "QuayRegistry" && controller) m.owner_registry = name;
        return std::nullopt;
      });
    }
    if (key == "annotations") {
      return for_fields(value, "metadata.annotations", [&](std::string_view k, od::value av) -> status {
        if (k == "quay-pg-upgrader.quay.io/retry") return read_string(av, m.retry, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/method") return read_string(av, m.method, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/revert-to-claim") return read_string(av, m.revert_to_claim, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/skip-databases") return read_string(av, m.skip_databases, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/maintenance-window")
          return read_string(av, m.maintenance_window, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/dry-run") return read_string(av, m.dry_run, "metadata.annotations");
        if (k == "quay-pg-upgrader.quay.io/clone-for") return read_string(av, m.clone_for, "metadata.annotations");
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
          std::string_view kind;
          bool managed = true;
          QPU_TRY(for_fields(item, "spec.components[]", [&](std::string_view ck, od::value cv) -> status {
            if (ck == "kind") return read_view(cv, kind, "spec.components[].kind");
            if (ck == "managed") return check(cv.get_bool().get(managed), "spec.components[].managed");
            return std::nullopt;
          }));
          if (kind == "postgres") r.postgres_managed = managed;
          if (kind == "clairpostgres") r.clair_postgres_managed = managed;
          return std::nullopt;
        });
      });
    }
    return std::nullopt;
  }));
  r.retry_token = m.retry;
  r.method_override = m.method;
  r.revert_to_claim = m.revert_to_claim;
  r.skip_databases = m.skip_databases;
  r.maintenance_window = m.maintenance_window;
  r.dry_run = m.dry_run;
  return std::nullopt;
}

// Views into the parser's string buffer while one Deployment is read; only the chosen
// container's fields are copied into the view at the end. No allocation for the containers,
// volumes and env entries that are not kept.
struct env_view {
  std::string_view value, secret_name, secret_key;
  env_source owned() const { return env_source{std::string(value), std::string(secret_name), std::string(secret_key)}; }
};

struct container_info {
  std::string_view name, image;
  std::string_view data_volume;  // the volume mounted at /var/lib/pgsql/data
  bool has_data_volume = false;
  env_view user, password, database, admin_password;
  std::string_view pgdata;  // env PGDATA, when given as a literal value
  std::string_view operator_postgres_image, operator_clair_postgres_image;  // a Quay operator's env
};

status read_container(od::value v, container_info& c) {
  return for_fields(v, "spec.template.spec.containers[]", [&](std::string_view key, od::value value) -> status {
    if (key == "name") return read_view(value, c.name, "containers[].name");
    if (key == "image") return read_view(value, c.image, "containers[].image");
    if (key == "env") {
      return for_items(value, "containers[].env", [&](od::value item) -> status {
        // The name usually comes first; buffer the source until both are known.
        std::string_view name;
        env_view src;
        QPU_TRY(for_fields(item, "containers[].env[]", [&](std::string_view k, od::value ev) -> status {
          if (k == "name") return read_view(ev, name, "containers[].env[].name");
          if (k == "value") return read_view(ev, src.value, "containers[].env[].value");
          if (k == "valueFrom") {
            return for_fields(ev, "containers[].env[].valueFrom", [&](std::string_view fk, od::value fv) -> status {
              if (fk != "secretKeyRef") return std::nullopt;
              return for_fields(fv, "containers[].env[].valueFrom.secretKeyRef", [&](std::string_view sk, od::value s) -> status {
                if (sk == "name") return read_view(s, src.secret_name, "secretKeyRef.name");
                if (sk == "key") return read_view(s, src.secret_key, "secretKeyRef.key");
                return std::nullopt;
              });
            });
          }
          return std::nullopt;
        }));
        if (name == "POSTGRESQL_USER") c.user = src;
        else if (name == "POSTGRESQL_PASSWORD") c.password = src;
        else if (name == "POSTGRESQL_DATABASE") c.database = src;
        else if (name == "POSTGRESQL_ADMIN_PASSWORD") c.admin_password = src;
        else if (name == "PGDATA") c.pgdata = src.value;
        else if (name == "RELATED_IMAGE_COMPONENT_POSTGRES") c.operator_postgres_image = src.value;
        else if (name == "RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES") c.operator_clair_postgres_image = src.value;
        return std::nullopt;
      });
    }
    if (key == "volumeMounts") {
      return for_items(value, "containers[].volumeMounts", [&](od::value item) -> status {
        std::string_view name, path;
        QPU_TRY(for_fields(item, "containers[].volumeMounts[]", [&](std::string_view k, od::value mv) -> status {
          if (k == "name") return read_view(mv, name, "volumeMounts[].name");
          if (k == "mountPath") return read_view(mv, path, "volumeMounts[].mountPath");
          return std::nullopt;
        }));
        // As a map by volume name would: a later mount of the same volume decides its path.
        if (c.has_data_volume && name == c.data_volume) c.has_data_volume = false;
        if (path == "/var/lib/pgsql/data" || path == "/var/lib/pgsql/data/") c.data_volume = name, c.has_data_volume = true;
        return std::nullopt;
      });
    }
    return std::nullopt;
  });
}

status read_deployment(od::object root, deployment& d) {
  marks m;
  // The postgres container, else the first: only these two are kept while reading.
  container_info first, postgres, scratch;
  bool have_first = false, have_postgres = false;
  struct volume_claim {
    std::string_view volume, claim;
  };
  thread_local std::vector<volume_claim> volume_claims;  // reused: no allocation per Deployment
  volume_claims.clear();
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
                scratch = container_info{};
                QPU_TRY(read_container(item, scratch));
                if (!have_first) first = scratch, have_first = true;
                if (scratch.name == "postgres") postgres = scratch, have_postgres = true;  // the last one named postgres
                return std::nullopt;
              });
            }
            if (pk == "volumes") {
              return for_items(pv, "spec.template.spec.volumes", [&](od::value item) -> status {
                std::string_view name, claim_name;
                QPU_TRY(for_fields(item, "spec.template.spec.volumes[]", [&](std::string_view vk, od::value vv) -> status {
                  if (vk == "name") return read_view(vv, name, "volumes[].name");
                  if (vk == "persistentVolumeClaim") {
                    return for_fields(vv, "volumes[].persistentVolumeClaim", [&](std::string_view ck, od::value cv) -> status {
                      if (ck == "claimName") return read_view(cv, claim_name, "volumes[].persistentVolumeClaim.claimName");
                      return std::nullopt;
                    });
                  }
                  return std::nullopt;
                }));
                if (!claim_name.empty()) volume_claims.push_back({name, claim_name});
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
  const container_info* chosen = have_postgres ? &postgres : have_first ? &first : nullptr;
  if (chosen) {
    d.image = chosen->image;
    d.credentials =
        db_credentials{chosen->user.owned(), chosen->password.owned(), chosen->database.owned(), chosen->admin_password.owned()};
    d.pgdata = chosen->pgdata;
    d.operator_postgres_image = chosen->operator_postgres_image;
    d.operator_clair_postgres_image = chosen->operator_clair_postgres_image;
    if (chosen->has_data_volume) {
      // As a map by volume name would: the last volume of that name decides.
      for (auto it = volume_claims.rbegin(); it != volume_claims.rend(); ++it) {
        if (it->volume == chosen->data_volume) {
          d.data_claim = it->claim;
          break;
        }
      }
    }
  }
  d.owner_registry = m.owner_registry;
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
status read_terminated(od::value v, istr& message) {
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
    message = own;
  } else if (exit_code != 0 || signal != 0) {
    std::string text = "the container ended with exit code " + std::to_string(exit_code);
    if (signal != 0) text += ", killed by signal " + std::to_string(signal);
    if (!reason.empty()) text += " (" + reason + ")";
    text += " and left no termination message";
    message = text;
  }
  return std::nullopt;
}

status read_pod(od::object root, pod& p) {
  marks m;
  QPU_TRY(for_fields(root, "object", [&](std::string_view key, od::value value) -> status {
    if (key == "metadata") return read_meta(value, p.meta, m);
    if (key == "spec") {
      return for_fields(value, "spec", [&](std::string_view k, od::value sv) -> status {
        if (k == "nodeName") return read_string(sv, p.node, "spec.nodeName");
        return std::nullopt;
      });
    }
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
        std::string_view type, cstatus, reason, message;
        QPU_TRY(for_fields(item, "status.conditions[]", [&](std::string_view ck, od::value cv) -> status {
          if (ck == "type") return read_view(cv, type, "status.conditions[].type");
          if (ck == "status") return read_view(cv, cstatus, "status.conditions[].status");
          if (ck == "reason") return read_view(cv, reason, "status.conditions[].reason");
          if (ck == "message") return read_view(cv, message, "status.conditions[].message");
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
  QPU_TRY(for_fields(root, "object", [&](std::string_view key, od::value value) -> status {
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
  }));
  c.created_for = m.created_for;
  c.clone_for = m.clone_for;
  return std::nullopt;
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

// managedFields (metadata.managedFields: which manager last set which field) is often the larger
// half of an object's bytes, and the controller reads nothing in it. Skipped inside simdjson it
// still costs stage 1 over its bytes and a token-by-token walk (together more than a bare pass
// over the whole object, measured with callgrind); cut out of the copy the decoder makes anyway it
// costs one vectorised scan. Cut only when sure that the bytes are exactly one member
// `,"managedFields":[...]` of an object:
//  - the comma is outside any string (the scan tracks strings and escapes from the first byte, as
//    simdjson's stage 1 does), so the quote after it opens the key;
//  - the array closes (brackets outside strings counted as simdjson's own skip counts them);
//  - its bytes are valid UTF-8 (else nothing is cut and the parse reports the input's error).
// Returns {offset, length} of the member, or {0, 0}.
struct bracket_scan {
  static constexpr std::uint64_t odd_bits = 0xAAAAAAAAAAAAAAAAull;
  std::uint64_t next_escaped = 0;  // the first byte of the next block is escaped
  std::uint64_t prev_in_string = 0;  // all ones when the previous block ended inside a string

  static std::uint64_t prefix_xor(std::uint64_t x) {
#if defined(__PCLMUL__)
    const __m128i all_ones = _mm_set1_epi8(static_cast<char>(0xFF));
    return static_cast<std::uint64_t>(
        _mm_cvtsi128_si64(_mm_clmulepi64_si128(_mm_set_epi64x(0, static_cast<std::int64_t>(x)), all_ones, 0)));
#else
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
#endif
  }

#if defined(__SSE2__)
  // Written out: at -O2 GCC 12 keeps a loop here, a third of the scan's instructions.
  static std::uint64_t eq_mask(const __m128i v[4], __m128i c) {
    const auto m0 = static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v[0], c))));
    const auto m1 = static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v[1], c))));
    const auto m2 = static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v[2], c))));
    const auto m3 = static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v[3], c))));
    return m0 | m1 << 16 | m2 << 32 | m3 << 48;
  }
#endif

  // Bytes inside strings of one 64-byte block (opening quote included, closing quote not);
  // `opens` and `closes`, when given, receive the brackets outside strings.
  std::uint64_t in_string(const char* p, std::uint64_t* opens = nullptr, std::uint64_t* closes = nullptr) {
    std::uint64_t quote = 0, backslash = 0, open = 0, close = 0;
#if defined(__SSE2__)
    const __m128i v[4] = {
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 48))};
    quote = eq_mask(v, _mm_set1_epi8('"'));
    backslash = eq_mask(v, _mm_set1_epi8('\\'));
    if (opens) {
      const __m128i lower = _mm_set1_epi8(0x20);  // '[' | 0x20 == '{', ']' | 0x20 == '}'
      const __m128i folded[4] = {_mm_or_si128(v[0], lower), _mm_or_si128(v[1], lower), _mm_or_si128(v[2], lower),
                                 _mm_or_si128(v[3], lower)};
      open = eq_mask(folded, _mm_set1_epi8('{'));
      close = eq_mask(folded, _mm_set1_epi8('}'));
    }
#else
    for (int i = 0; i < 64; ++i) {
      const char c = p[i];
      const std::uint64_t bit = std::uint64_t{1} << i;
      if (c == '"') quote |= bit;
      if (c == '\\') backslash |= bit;
      if (c == '[' || c == '{') open |= bit;
      if (c == ']' || c == '}') close |= bit;
    }
#endif
    // Escaped bytes: the byte after an odd run of backslashes (simdjson's json_escape_scanner).
    std::uint64_t escaped = next_escaped;
    if (backslash) {
      const std::uint64_t potential = backslash & ~next_escaped;
      const std::uint64_t code = (((potential << 1) | odd_bits) - potential) ^ odd_bits;
      escaped = code ^ (backslash | next_escaped);
      next_escaped = (code & backslash) >> 63;
    } else {
      next_escaped = 0;
    }
    const std::uint64_t strings = prefix_xor(quote & ~escaped) ^ prev_in_string;
    prev_in_string = static_cast<std::uint64_t>(static_cast<std::int64_t>(strings) >> 63);
    if (opens) *opens = open & ~strings, *closes = close & ~strings;
    return strings;
  }
};

std::pair<std::size_t, std::size_t> managed_fields_span(std::string_view json) {
  static constexpr std::string_view needle = ",\"managedFields\":[";
  const void* hit = ::memmem(json.data(), json.size(), needle.data(), needle.size());
  if (!hit || hit == json.data()) return {0, 0};  // a leading comma is not JSON: nothing to cut
  const std::size_t start = static_cast<std::size_t>(static_cast<const char*>(hit) - json.data());
  const std::size_t open = start + needle.size() - 1;  // the '['
  bracket_scan scan;
  char tail[64];
  std::int64_t depth = 0;
  for (std::size_t block = 0; block < json.size(); block += 64) {
    const char* p = json.data() + block;
    if (json.size() - block < 64) {  // the last, partial block: padded with spaces
      std::memset(tail, ' ', sizeof tail);
      std::memcpy(tail, p, json.size() - block);
      p = tail;
    }
    if (block + 64 <= start) {  // before the member: only the string state matters
      scan.in_string(p);
      continue;
    }
    std::uint64_t opens = 0, closes = 0;
    const std::uint64_t strings = scan.in_string(p, &opens, &closes);
    if (start >= block && (strings >> (start - block) & 1)) return {0, 0};  // the comma is inside a string
    if (block + 64 <= open) continue;
    if (open > block) {  // only brackets from the array's own '[' on count
      const std::uint64_t from = ~std::uint64_t{0} << (open - block);
      opens &= from;
      closes &= from;
    }
    const auto n_closes = std::popcount(closes);
    if (depth > n_closes) {  // cannot reach zero inside this block
      depth += std::popcount(opens) - n_closes;
      continue;
    }
    for (std::uint64_t brackets = opens | closes; brackets; brackets &= brackets - 1) {
      const std::uint64_t bit = brackets & (~brackets + 1);
      if (opens & bit) {
        ++depth;
      } else if (--depth == 0) {
        const std::size_t end = block + static_cast<std::size_t>(std::countr_zero(bit));
        if (json[end] != ']') return {0, 0};
        const std::size_t len = end + 1 - start;
        if (!simdjson::validate_utf8(json.data() + start, len)) return {0, 0};
        return {start, len};
      }
    }
  }
  return {0, 0};  // the array never closes: let the parse report it
}

}  // namespace

struct json_decoder::impl {
  od::parser parser{max_line_bytes + 64};
  std::vector<char> buffer;
  std::size_t cut_at = 0;  // where managedFields was taken out of `buffer` (0: nothing was)
  std::size_t cut_len = 0;  // how many bytes of the input were taken out there

  // Copies `json` into the reused padded buffer (simdjson reads a few bytes past the end),
  // leaving out the `,"managedFields":[...]` member (managed_fields_span explains why).
  simdjson::padded_string_view pad(std::string_view json) {
    const std::size_t need = json.size() + simdjson::SIMDJSON_PADDING;
    if (buffer.size() < need) buffer.resize(need);
    const auto cut = managed_fields_span(json);
    cut_at = cut.first;
    cut_len = cut.second;
    std::memcpy(buffer.data(), json.data(), cut_at ? cut_at : json.size());
    if (cut_at) std::memcpy(buffer.data() + cut_at, json.data() + cut_at + cut_len, json.size() - cut_at - cut_len);
    return simdjson::padded_string_view(buffer.data(), json.size() - cut_len, buffer.size());
  }

  std::string describe(const failure& f, od::document& doc) {
    std::string text = std::string(f.path) + ": " + simdjson::error_message(f.code);
    const char* where = nullptr;
    if (doc.current_location().get(where) == simdjson::SUCCESS && where && !buffer.empty()) {
      // Offsets name the input's bytes, as if nothing had been left out.
      auto at = static_cast<std::size_t>(where - buffer.data());
      if (cut_at && at >= cut_at) at += cut_len;
      text += " (at byte " + std::to_string(at) + ")";
    }
    return text;
  }
};

json_decoder::json_decoder() : impl_(std::make_unique<impl>()) {}
json_decoder::~json_decoder() = default;

std::expected<object_view, std::string> json_decoder::decode_object(resource_kind kind, std::string_view json) {
  if (json.size() > max_line_bytes)
    return std::unexpected("object larger than the " + std::to_string(max_line_bytes) + " byte limit");
  od::document doc;
  if (auto err = impl_->parser.iterate(impl_->pad(json)).get(doc))
    return std::unexpected(std::string("not JSON: ") + simdjson::error_message(err));
  od::object root;
  if (auto err = doc.get_object().get(root))
    return std::unexpected(std::string("object is not a JSON object: ") + simdjson::error_message(err));
  object_view out;
  if (auto f = read_object(kind, root, out)) return std::unexpected(impl_->describe(*f, doc));
  if (meta_of(out).key.name.empty()) return std::unexpected("metadata.name missing");
  return out;
}

std::expected<event, std::string> json_decoder::decode_watch_line(resource_kind kind, std::string_view line) {
  if (line.size() > max_line_bytes)
    return std::unexpected("watch line larger than the " + std::to_string(max_line_bytes) + " byte limit");
  od::document doc;
  if (auto err = impl_->parser.iterate(impl_->pad(line)).get(doc))
    return std::unexpected(std::string("not JSON: ") + simdjson::error_message(err));
  od::object top;
  if (auto err = doc.get_object().get(top))
    return std::unexpected(std::string("watch line is not a JSON object: ") + simdjson::error_message(err));
  // Kubernetes writes "type" before "object", but JSON does not promise it: keep the object's raw
  // bytes when it comes first and decode it once the type is known.
  std::string_view type;  // into the parser's string buffer
  std::string_view deferred;
  event out;
  bool have_object = false;
  for (auto field : top) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key))
      return std::unexpected(std::string("watch line: ") + simdjson::error_message(err));
    od::value value;
    if (auto err = field.value().get(value)) return std::unexpected(std::string("watch line: ") + simdjson::error_message(err));
    if (key == "type") {
      if (auto f = read_view(value, type, "type")) return std::unexpected(impl_->describe(*f, doc));
    } else if (key == "object") {
      have_object = true;
      if (type.empty()) {
        od::object obj;
        if (auto err = value.get_object().get(obj))
          return std::unexpected(std::string("object: ") + simdjson::error_message(err));
        if (auto err = obj.raw_json().get(deferred))
          return std::unexpected(std::string("object: ") + simdjson::error_message(err));
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
        auto& oe = out.emplace<object_event>();  // in place: the view is not moved again
        oe.type = type == "ADDED" ? watch_type::added : type == "MODIFIED" ? watch_type::modified : watch_type::deleted;
        st = read_object(kind, obj, oe.object);
        if (!st && meta_of(oe.object).key.name.empty()) return std::unexpected("object.metadata.name missing");
      } else {
        return std::unexpected("unknown watch event type \"" + std::string(type) + "\"");
      }
      if (st) return std::unexpected(impl_->describe(*st, doc));
    }
  }
  if (type.empty()) return std::unexpected("watch line has no \"type\"");
  if (!have_object) return std::unexpected("watch line has no \"object\"");
  if (!deferred.empty()) {
    // Re-wrap in the usual order and decode that (rare: only hand-written streams do this).
    std::string canonical = "{\"type\":\"" + std::string(type) + "\",\"object\":" + std::string(deferred) + "}";
    return decode_watch_line(kind, canonical);
  }
  return out;
}

}  // namespace qpu
