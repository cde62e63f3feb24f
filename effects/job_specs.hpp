// The batch/v1 Job body for a create_job effect, one per job_role.
//
// Every Job: one container running `/bin/bash -c <embedded script>` (effects/scripts/), every
// path and setting in env, passwords only as env valueFrom.secretKeyRef (a literal-valued
// credential is passed as a plain env value; neither ever appears in command or args),
// runAsNonRoot, restartPolicy Never, backoffLimit 0, activeDeadlineSeconds = deadline_s, no
// ttlSecondsAfterFinished (the finished Job and its pod stay for diagnosis until the controller
// deletes them), terminationMessagePath /dev/termination-log written by the script's trap,
// managed labels plus the job role, and an owner reference to the QuayRegistry.
//
// backoffLimit 0: a second pod would hide the first failure's termination message behind a
// generic BackoffLimitExceeded and run a half-done step again; the scripts are re-runnable (each
// clears its own output first), so the retry is the controller's: roll back, then a new attempt
// on the retry annotation, with a new Job name.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/effects.hpp"

namespace qpu::effects {

// Where the Job containers mount things. The data claim goes where the database Deployment
// mounts it (/var/lib/pgsql/data), and the cluster lives in the sclorg images' PGDATA below it
// (userdata), so the target image finds it as its own.
inline constexpr const char* data_mount_path = "/var/lib/pgsql/data";
inline constexpr const char* old_data_mount_path = "/var/lib/pgsql/old";
inline constexpr const char* backup_mount_path = "/backup";
// The archive Job of an upgrade verified after the resume: the clone of the upgraded data.
inline constexpr const char* verify_mount_path = "/var/lib/pgsql/verify";
// The sclorg images' socket folder, where the live check's relay socket goes (an emptyDir).
inline constexpr const char* socket_mount_path = "/var/run/postgresql";
// The database's CA bundle (job_options::ca_configmap), for PGSSLROOTCERT.
inline constexpr const char* database_ca_mount_path = "/etc/quay-pg-upgrader/database-ca";

struct job_options {
  // Unset: the image's own USER (26 in the sclorg images); runAsNonRoot refuses a root image.
  std::optional<std::int64_t> run_as_user;
  // Group that owns the claims' files (the sclorg images' postgres group, 26); unset on
  // OpenShift, whose restricted SCC assigns one.
  std::optional<std::int64_t> fs_group = 26;
  std::string data_subdir = "userdata";  // PGDATA below the mount (sclorg convention)
  std::int32_t parallel_jobs = 2;  // pg_restore -j / pg_upgrade --jobs / vacuumdb -j
  // resources.requests.cpu of the backup and upgrade Jobs' container (0: none), so that the
  // scheduler gives them the cores their parallelism uses.
  std::int32_t cpu_request = 0;
  std::int32_t wait_seconds = 120;  // how long the backup/check wait for the server
  // How often the backup and upgrade Jobs print a progress line (QPU_PROGRESS_SECONDS): half the
  // controller's --progress-interval, so each read finds a fresh line.
  double progress_seconds = 2.5;
  // TLS of the Jobs that reach the server through its Service (run --database-sslmode): PGSSLMODE
  // when not libpq's default "prefer"; with ca_configmap, that ConfigMap of the registry's
  // namespace (key ca.crt) mounted read-only and named by PGSSLROOTCERT, for verify-ca/verify-full.
  std::string sslmode = "prefer";
  std::string ca_configmap;
  // The psql manifest script; empty: effects::manifest_psql_script().
  std::string manifest_sql;
};

// The folder of a backup inside the backup claim: /backup/pg<from>.
std::string backup_dir(const create_job& j);

nlohmann::json job_body(const create_job& j, const job_options& options = {});

}  // namespace qpu::effects
