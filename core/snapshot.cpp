#include "core/snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <variant>

#include "core/codec.hpp"

// Every field by name, both ways: nlohmann's NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT lists
// each struct's members once (a member missing from the list is the one thing that could make a
// restored state differ: tests/unit/snapshot_test.cpp compares whole states after every replay
// golden's lines). Enums are written as their numbers (snapshot_format covers their order).

namespace nlohmann {

template <class T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& o) {
    if (o) j = *o;
    else j = nullptr;
  }
  static void from_json(const json& j, std::optional<T>& o) {
    if (j.is_null()) o.reset();
    else o = j.get<T>();
  }
};

}  // namespace nlohmann

namespace qpu {

using nlohmann::json;

// The configuration travels as the event log writes it (core/codec.cpp), which reads it back whole.
void to_json(json& j, const config& c) { j = qpu::to_json(c); }
void from_json(const json& j, config& c) {
  auto parsed = config_from_json(j);
  if (!parsed) throw std::runtime_error("config: " + parsed.error());
  c = std::move(*parsed);
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(pg_major, code)
// A store as the list of its objects (each carries its key).
template <class T>
void to_json(json& j, const object_store<T>& store) {
  j = json::array();
  for (const auto& [key, v] : store) j.push_back(v);
}
template <class T>
void from_json(const json& j, object_store<T>& store) {
  store = {};
  for (const auto& v : j) store.insert_or_assign(v.get<T>());
}
template <class T>
void to_json(json& j, const interned<T>& v) {
  j = v.get();
}
template <class T>
void from_json(const json& j, interned<T>& v) {
  v = interned<T>(j.get<T>());
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(object_key, ns, name)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(database_key, registry, component)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(object_meta, key, uid, rv, generation, deleting, stream)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(env_source, value, secret_name, secret_key)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(db_credentials, user, password, database, admin_password)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(quay_registry, meta, postgres_managed, clair_postgres_managed, skip_databases,
                                                retry_token, method_override, revert_to_claim, maintenance_window, dry_run)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(deployment, meta, replicas, status_replicas, ready_replicas, updated_replicas,
                                                observed_generation, image, data_claim, pgdata, recorded_replicas, credentials,
                                                owner_registry, operator_postgres_image, operator_clair_postgres_image)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(pod, meta, component, registry, job_name, phase, termination_message, node)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(job, meta, active, succeeded, failed, complete, has_failed, reason, message)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(claim, meta, phase, requested_bytes, capacity_bytes, storage_class, created_for,
                                                clone_for)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(table_digest, table, rows, checksum, database)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(catalog_fact, object, attribute, value)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(database_facts, server_version_num, database_bytes, has_pg_trgm, has_manifest,
                                                tables, has_catalog, catalog, cluster_encoding, cluster_collate, cluster_ctype,
                                                install_user)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(claim_facts, storage_class, class_exists, binding_mode, provisioner, event_type,
                                                event_reason, event_message)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(effect_id, registry, component, attempt, revert_run, step, target, generation,
                                                seq)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(revert_record, run, token, refused, new_image, started, finished, measured,
                                                verified, db_replicas, app_replicas, switched, error, failed_in,
                                                restore_incomplete)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(operator_record, deployment, expected_image, replicas)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(unsent_event, type, reason, message, at)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(progress_record, in, stage, unit, done, total, at, first_done, first_at,
                                                told_tenth, told_at, told_line)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(registry_upgrade, registry, component, current, attempt, phase_since, started,
                                                finished, from, to, method, old_image, old_claim, detected_image, detected_pgdata,
                                                quay_operator, block_reason, before, after, db_replicas, app_replicas, switched,
                                                last_error, failed_in, rollback_incomplete, retry_token, revert, in_flight, done,
                                                transient_failures, retry_at, wakeup, status_written, unsent_events, claims_seen,
                                                claims_requested, claims_read, jobs_seen, progress, dry_run, dry_run_token, plan,
                                                downtime_started, clone, clone_note, archived, archive_error, verify_after_resume,
                                                verified_after_resume, analyzed, analyze_error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(cluster_state, registries, deployments, pods, jobs, claims, rv, synced,
                                                streams_listed, streams)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(downtime_record, database_bytes, took, database)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(state, cfg, cluster, upgrades, downtimes, last_seq, now, malformed_inputs,
                                                watch_errors)

bool snapshot_ready(const state& s) {
  for (const auto& by_stream : s.cluster.relisting)
    for (const auto& buffered : by_stream)
      if (buffered) return false;
  return true;
}

json snapshot_json(const state& s) { return json{{"format", snapshot_format}, {"seq", s.last_seq}, {"state", s}}; }

namespace {

// Format 1 (before issue 17 item 2) wrote each store as a map: [[key, object], ...], every object
// with its resourceVersion and uid. Read as format 2 it is the list of the objects, holding only
// what a fold keeps now (reducers/reduce.cpp, stored), so that a controller upgraded over an
// archived log (whose snapshot is its only history) starts from it and ends where a fold would.
json state_from_format_1(json st) {
  auto& cluster = st.at("cluster");
  for (const char* store : {"registries", "deployments", "pods", "jobs", "claims"}) {
    json objects = json::array();
    for (auto& pair : cluster.at(store)) {
      json object = std::move(pair.at(1));
      object.at("meta")["rv"] = "";
      if (std::string_view(store) != "registries") object.at("meta")["uid"] = "";
      objects.push_back(std::move(object));
    }
    cluster[store] = std::move(objects);
  }
  return st;
}

}  // namespace

std::expected<state, std::string> state_from_snapshot(const json& j) {
  if (!j.is_object() || !j.contains("format") || !j.contains("state")) return std::unexpected("not a snapshot");
  if (j["format"] != snapshot_format && j["format"] != 1)
    return std::unexpected("snapshot format " + j["format"].dump() + ", this build reads " + std::to_string(snapshot_format) +
                           " and 1");
  try {
    state s = j["format"] == 1 ? state_from_format_1(j["state"]).get<state>() : j["state"].get<state>();
    if (j.value("seq", std::uint64_t{0}) != s.last_seq) return std::unexpected("the snapshot's seq differs from its state's");
    return s;
  } catch (const std::exception& e) {
    return std::unexpected(std::string("snapshot: ") + e.what());
  }
}

std::string snapshot_path(const std::string& event_log) { return event_log + ".snapshot"; }

std::expected<void, std::string> write_snapshot(const std::string& path, const state& s, std::uint64_t log_offset) {
  auto j = snapshot_json(s);
  j["logOffset"] = log_offset;
  const std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  const std::string tmp = path + ".tmp";
  auto fail = [&](const char* what) { return std::unexpected(tmp + ": " + what + ": " + std::strerror(errno)); };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail("cannot create");
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return fail("cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("cannot fsync");
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename");
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

std::expected<std::optional<snapshot_file>, std::string> read_snapshot(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<snapshot_file>{};
    return std::unexpected(path + ": cannot open: " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  const auto j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded()) return std::unexpected(path + ": not JSON");
  auto s = state_from_snapshot(j);
  if (!s) return std::unexpected(path + ": " + s.error());
  const auto offset = j.contains("logOffset") ? json_integer(j["logOffset"]) : std::nullopt;
  if (!offset || *offset < 0) return std::unexpected(path + ": logOffset is missing or not a byte offset");
  return std::optional<snapshot_file>{snapshot_file{std::move(*s), static_cast<std::uint64_t>(*offset)}};
}

}  // namespace qpu
