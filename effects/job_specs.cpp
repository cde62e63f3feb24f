#include "effects/job_specs.hpp"

#include <cstdio>

#include "effects/job_scripts.hpp"
#include "effects/labels.hpp"
#include "effects/manifest_sql.hpp"

namespace qpu::effects {

using nlohmann::json;

std::string job_script(job_role role) {
  const char* file = "check.sh";
  switch (role) {
    case job_role::check: file = "check.sh"; break;
    case job_role::backup: file = "backup.sh"; break;
    case job_role::upgrade_logical: file = "upgrade-logical.sh"; break;
    case job_role::upgrade_pg_upgrade: file = "upgrade-pg-upgrade.sh"; break;
    case job_role::archive: file = "archive.sh"; break;
    case job_role::analyze: file = "analyze.sh"; break;
  }
  std::string text(job_script_file("common.sh"));
  text += '\n';
  text += job_script_file(file);
  // The archive starts the old server on the backup clone, then writes the backup as the backup
  // Job does.
  if (role == job_role::archive) {
    text += '\n';
    text += job_script_file("backup.sh");
  }
  return text;
}

std::string backup_dir(const create_job& j) { return std::string(backup_mount_path) + "/pg" + to_string(j.from); }

namespace {

json plain(const std::string& name, const std::string& value) { return {{"name", name}, {"value", value}}; }

// A credential: from its Secret key, or (when the Deployment had a literal) the literal itself.
json from_source(const std::string& name, const env_source& s) {
  if (!s.secret_name.empty())
    return {{"name", name}, {"valueFrom", {{"secretKeyRef", {{"name", s.secret_name}, {"key", s.secret_key}}}}}};
  return plain(name, s.value);
}

// How the backup and check Jobs reach the running server: through its Service, as the app does,
// as the superuser when an admin password exists (to read every database and the role passwords),
// else as the app user.
void add_connection_env(json& env, const create_job& j) {
  const auto& cred = j.db.credentials;
  env.push_back(plain("PGHOST", j.db.service.name + "." + j.db.service.ns + ".svc"));
  env.push_back(plain("PGPORT", std::to_string(j.db.port)));
  env.push_back(plain("PGCONNECT_TIMEOUT", "10"));
  env.push_back(plain("PGAPPNAME", std::string("quay-pg-upgrader-") + to_string(j.role)));
  if (!cred.admin_password.empty()) {
    env.push_back(plain("PGUSER", "postgres"));
    env.push_back(from_source("PGPASSWORD", cred.admin_password));
    env.push_back(plain("QPU_ADMIN", "1"));
  } else {
    env.push_back(from_source("PGUSER", cred.user));
    env.push_back(from_source("PGPASSWORD", cred.password));
    env.push_back(plain("QPU_ADMIN", "0"));
  }
  env.push_back(from_source("QPU_APP_DB", cred.database.empty() ? cred.user : cred.database));
}

// The folders of the new data claim the pg_upgrade Job works in (and clears first).
std::string old_copy_dir(const create_job& j) { return std::string(data_mount_path) + "/pg" + to_string(j.from) + "-copy"; }
std::string pg_upgrade_work_dir() { return std::string(data_mount_path) + "/pg_upgrade-work"; }

// The pg_upgrade Job's initdb settings, when the inspection before the downtime read them (else
// the Job starts the stopped old cluster to read them). Not secrets: names of an encoding, a
// locale and a role.
void add_old_cluster_settings(json& env, const create_job& j) {
  if (j.old_cluster.empty()) return;
  env.push_back(plain("QPU_OLD_ENCODING", j.old_cluster.encoding));
  env.push_back(plain("QPU_OLD_LC_COLLATE", j.old_cluster.collate));
  env.push_back(plain("QPU_OLD_LC_CTYPE", j.old_cluster.ctype));
  env.push_back(plain("QPU_OLD_INSTALL_USER", j.old_cluster.install_user));
}

json claim_volume(const std::string& name, const std::string& claim, bool read_only) {
  json pvc = {{"claimName", claim}};
  if (read_only) pvc["readOnly"] = true;
  return {{"name", name}, {"persistentVolumeClaim", pvc}};
}

json mount(const std::string& name, const std::string& path, bool read_only) {
  json m = {{"name", name}, {"mountPath", path}};
  if (read_only) m["readOnly"] = true;
  return m;
}

}  // namespace

json job_body(const create_job& j, const job_options& o) {
  const std::string role = to_string(j.role);
  const std::string pgdata = std::string(data_mount_path) + "/" + o.data_subdir;
  const std::string manifest = o.manifest_sql.empty() ? manifest_psql_script() : o.manifest_sql;
  json env = json::array();
  json volumes = json::array();
  json mounts = json::array();
  env.push_back(plain("QPU_JOB_ROLE", role));
  if (j.role != job_role::check) {
    char every[32];
    std::snprintf(every, sizeof every, "%g", o.progress_seconds);
    env.push_back(plain("QPU_PROGRESS_SECONDS", every));
  }
  switch (j.role) {
    case job_role::check:
      add_connection_env(env, j);
      env.push_back(plain("QPU_WAIT_SECONDS", std::to_string(o.wait_seconds)));
      env.push_back(plain("QPU_PG_UPGRADE_CHECKS", j.pg_upgrade_checks ? "1" : "0"));
      if (j.live_check) {
        // pg_upgrade --check reads the running cluster's directory (postmaster.pid, pg_control)
        // and connects through the socket postmaster.pid names, which the script relays to the
        // Service; that socket's folder is the Job's own, empty, writable one.
        env.push_back(plain("QPU_LIVE_CHECK", "1"));
        env.push_back(plain("QPU_OLD_PGDATA", std::string(old_data_mount_path) + "/" + o.data_subdir));
        volumes.push_back(claim_volume("old-data", j.old_claim, true));
        volumes.push_back({{"name", "sockets"}, {"emptyDir", json::object()}});
        mounts.push_back(mount("old-data", old_data_mount_path, true));
        mounts.push_back(mount("sockets", socket_mount_path, false));
      }
      // Adopted claims, read-only: their free space once the Jobs clear their own folders.
      if (j.backup_space_bytes > 0) {
        env.push_back(plain("QPU_BACKUP_CLAIM", j.backup_claim));
        env.push_back(plain("QPU_BACKUP_NEED", std::to_string(j.backup_space_bytes)));
        env.push_back(plain("QPU_BACKUP_DIR", backup_dir(j)));
        volumes.push_back(claim_volume("backup", j.backup_claim, true));
        mounts.push_back(mount("backup", backup_mount_path, true));
      }
      if (j.data_space_bytes > 0) {
        const bool pg_upgrade = j.live_check || j.pg_upgrade_checks;
        env.push_back(plain("QPU_DATA_CLAIM", j.new_claim));
        env.push_back(plain("QPU_DATA_NEED", std::to_string(j.data_space_bytes)));
        env.push_back(
            plain("QPU_DATA_CLEARED", pg_upgrade ? pgdata + ":" + old_copy_dir(j) + ":" + pg_upgrade_work_dir() : pgdata));
        volumes.push_back(claim_volume("data", j.new_claim, true));
        mounts.push_back(mount("data", data_mount_path, true));
      }
      break;
    case job_role::backup:
      add_connection_env(env, j);
      env.push_back(plain("QPU_JOBS", std::to_string(o.parallel_jobs)));  // pg_dump -Fd -j
      env.push_back(plain("QPU_WAIT_SECONDS", std::to_string(o.wait_seconds)));
      env.push_back(plain("QPU_BACKUP_DIR", backup_dir(j)));
      if (j.with_manifest) env.push_back(plain("QPU_MANIFEST_SQL", manifest));
      volumes.push_back(claim_volume("backup", j.backup_claim, false));
      mounts.push_back(mount("backup", backup_mount_path, false));
      break;
    case job_role::upgrade_logical:
      env.push_back(plain("QPU_BACKUP_DIR", backup_dir(j)));
      env.push_back(plain("QPU_PGDATA", pgdata));
      env.push_back(plain("QPU_JOBS", std::to_string(o.parallel_jobs)));
      volumes.push_back(claim_volume("backup", j.backup_claim, true));
      volumes.push_back(claim_volume("data", j.new_claim, false));
      mounts.push_back(mount("backup", backup_mount_path, true));
      mounts.push_back(mount("data", data_mount_path, false));
      break;
    case job_role::upgrade_pg_upgrade:
      if (j.cloned) {
        // The new claim is a clone of the stopped old claim: its data directory is the old
        // cluster, moved aside in place; the old claim itself is not mounted at all.
        env.push_back(plain("QPU_CLONED", "1"));
        add_old_cluster_settings(env, j);
        env.push_back(plain("QPU_OLD_PGDATA", pgdata));
        env.push_back(plain("QPU_OLD_COPY", old_copy_dir(j)));
        env.push_back(plain("QPU_PGDATA", pgdata));
        env.push_back(plain("QPU_WORK_DIR", pg_upgrade_work_dir()));
        env.push_back(plain("QPU_JOBS", std::to_string(o.parallel_jobs)));
        volumes.push_back(claim_volume("data", j.new_claim, false));
        mounts.push_back(mount("data", data_mount_path, false));
        break;
      }
      add_old_cluster_settings(env, j);
      env.push_back(plain("QPU_OLD_PGDATA", std::string(old_data_mount_path) + "/" + o.data_subdir));
      env.push_back(plain("QPU_OLD_COPY", old_copy_dir(j)));
      env.push_back(plain("QPU_PGDATA", pgdata));
      env.push_back(plain("QPU_WORK_DIR", pg_upgrade_work_dir()));
      env.push_back(plain("QPU_JOBS", std::to_string(o.parallel_jobs)));
      // Read-only twice: the volume (the kubelet mounts the claim read-only) and the mount.
      volumes.push_back(claim_volume("old-data", j.old_claim, true));
      volumes.push_back(claim_volume("data", j.new_claim, false));
      mounts.push_back(mount("old-data", old_data_mount_path, true));
      mounts.push_back(mount("data", data_mount_path, false));
      break;
    case job_role::archive: {
      // The backup claim is a clone of the old claim taken at the stop: the old server starts on
      // it (no network: a socket in the pod) and the archive goes beside its data directory.
      // Its first step analyzes the upgraded database, live, through the Service.
      add_connection_env(env, j);
      env.push_back(plain("QPU_JOBS", std::to_string(o.parallel_jobs)));
      env.push_back(plain("QPU_OLD_PGDATA", std::string(backup_mount_path) + "/" + o.data_subdir));
      env.push_back(plain("QPU_BACKUP_DIR", backup_dir(j)));
      env.push_back(plain("QPU_MANIFEST_SQL", manifest));
      volumes.push_back(claim_volume("backup", j.backup_claim, false));
      mounts.push_back(mount("backup", backup_mount_path, false));
      if (!j.verify_claim.empty()) {
        // The upgraded data as it was before the switch, in a clone of its own: the new server
        // starts on it for the manifest of the upgraded side (the live database is not read).
        env.push_back(plain("QPU_VERIFY_PGDATA", std::string(verify_mount_path) + "/" + o.data_subdir));
        volumes.push_back(claim_volume("verify", j.verify_claim, false));
        mounts.push_back(mount("verify", verify_mount_path, false));
      }
      break;
    }
    case job_role::analyze:
      // The live upgraded server through its Service, as the app reaches it; no claim.
      add_connection_env(env, j);
      env.push_back(plain("QPU_JOBS", std::to_string(o.parallel_jobs)));
      env.push_back(plain("QPU_WAIT_SECONDS", std::to_string(o.wait_seconds)));
      break;
  }

  // The Jobs that reach the server through its Service speak TLS as the controller was told to.
  const bool connects =
      j.role == job_role::check || j.role == job_role::backup || j.role == job_role::archive || j.role == job_role::analyze;
  if (connects && o.sslmode != "prefer") env.push_back(plain("PGSSLMODE", o.sslmode));
  if (connects && !o.ca_configmap.empty()) {
    env.push_back(plain("PGSSLROOTCERT", std::string(database_ca_mount_path) + "/ca.crt"));
    volumes.push_back(
        {{"name", "database-ca"},
         {"configMap", {{"name", o.ca_configmap}, {"items", json::array({{{"key", "ca.crt"}, {"path", "ca.crt"}}})}}}});
    mounts.push_back(mount("database-ca", database_ca_mount_path, true));
  }

  json labels = managed_labels(j.registry, "job");
  labels[std::string(job_role_label)] = role;
  json pod_security = {{"runAsNonRoot", true}};
  if (o.run_as_user) pod_security["runAsUser"] = *o.run_as_user;
  if (o.fs_group) pod_security["fsGroup"] = *o.fs_group;
  json container = {{"name", role},
                    {"image", j.image},
                    {"command", {"/bin/bash", "-c", job_script(j.role), std::string("qpu-") + role}},
                    {"env", env},
                    {"volumeMounts", mounts},
                    {"terminationMessagePath", "/dev/termination-log"},
                    {"terminationMessagePolicy", "File"},
                    {"securityContext", {{"allowPrivilegeEscalation", false}, {"capabilities", {{"drop", {"ALL"}}}}}}};
  if (o.cpu_request > 0 && j.role != job_role::check)
    container["resources"] = {{"requests", {{"cpu", std::to_string(o.cpu_request)}}}};
  json pod_spec = {{"restartPolicy", "Never"},
                   {"securityContext", pod_security},
                   {"containers", json::array({container})},
                   {"volumes", volumes}};
  json spec = {{"backoffLimit", 0}, {"template", {{"metadata", {{"labels", labels}}}, {"spec", pod_spec}}}};
  if (!j.node.empty()) {
    // Beside the database's pod: a ReadWriteOnce claim mounts on one node only. By the node's
    // name (matchFields), as the DaemonSet controller pins its pods, not by a label that may differ.
    json term = {{"matchFields", json::array({{{"key", "metadata.name"}, {"operator", "In"}, {"values", {j.node}}}})}};
    spec["template"]["spec"]["affinity"] = {
        {"nodeAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", json::array({term})}}}}}};
  }
  if (j.deadline_s > 0) spec["activeDeadlineSeconds"] = j.deadline_s;
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata",
           {{"name", j.key.name},
            {"namespace", j.key.ns},
            {"labels", labels},
            {"ownerReferences", json::array({registry_owner_reference(j.registry)})}}},
          {"spec", spec}};
}

}  // namespace qpu::effects
