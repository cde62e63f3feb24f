#pragma once
// The controller's configuration as the reducers see it. It travels inside the `controller_started`
// event, so a replayed log decides with the configuration the live controller had.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/resources.hpp"

#include "core/pg_version.hpp"
#include "core/time.hpp"

namespace qpu {

// How long a phase may take before it counts as hung and the upgrade rolls back.
struct phase_deadlines {
  std::int64_t detect_s = 900;
  std::int64_t preflight_s = 1800;
  std::int64_t quiesce_s = 600;
  std::int64_t backup_s = std::int64_t{4} * 3600;
  std::int64_t stop_s = 600;
  std::int64_t upgrade_s = std::int64_t{8} * 3600;
  std::int64_t switch_s = 900;
  std::int64_t verify_s = 3600;
  std::int64_t resume_s = 600;
  std::int64_t rollback_s = 1800;
  bool operator==(const phase_deadlines&) const = default;
};

struct config {
  std::string target_image;  // RELATED_IMAGE_COMPONENT_POSTGRES or --target-image
  std::optional<pg_major> target_major;  // --target-version, else the target image's hint
  std::string upgrade_image;  // image holding old and new binaries; empty: logical only
  std::vector<pg_major> upgrade_image_from;  // the old majors the upgrade image carries
  std::string watch_namespace;  // empty: all namespaces
  std::int64_t requeue_s = 60;  // re-check while a Job runs (the original proposal's 60 s)
  phase_deadlines deadlines;
  std::int32_t headroom_percent = 50;  // claim size = measured size * (1 + headroom)
  std::int64_t min_claim_bytes = 1LL << 30;
  std::string storage_class;  // empty: the old claim's class
  // Run the check Job in preflight, before anything is stopped: the target can initialise a
  // cluster with the old one's encoding, locale and checksums, every installed extension exists
  // in the target, and for pg_upgrade what it would refuse. `run` turns it on (run_defaults);
  // false here is what logs recorded before it was the default decided with.
  bool preflight_check = false;
  // For pg_upgrade, the check Job runs the real `pg_upgrade --check` against the running old
  // server (its claim mounted read-only next to it) when it can log in as the superuser; off, or
  // without the admin password, it checks over SQL what pg_upgrade would refuse. `run` turns it
  // on; false is what logs recorded before it existed decided with.
  bool live_check = false;
  // The target image was given with --target-image (not taken from the environment): when a Quay
  // operator manages a registry, its expected image is the target, and an explicit other one is
  // refused for that registry rather than silently ignored.
  bool target_image_explicit = false;
  bool pause_operator = true;  // pause a Quay operator for the upgrade; off: refuse while it runs
  // Clair's database: RELATED_IMAGE_COMPONENT_CLAIRPOSTGRES or --clair-target-image (and version).
  std::string clair_target_image;
  std::optional<pg_major> clair_target_major;
  bool clair_target_image_explicit = false;  // --clair-target-image was given (checked against an operator's)
  // Quay's and Clair's databases one after the other (Quay's first: two downtimes at once double
  // the load on the storage), or side by side.
  bool databases_side_by_side = false;
  // At most this many registries are in their downtime at once (a database between preflight and
  // resuming, or a revert under way); the others wait in `queued`, first come first served. 0: no
  // limit, which is what a log recorded before the setting existed decided with; `run` defaults
  // to 1 (--max-concurrent-upgrades, run_defaults).
  std::int32_t max_concurrent_upgrades = 0;
  // The backup and data claims are created before the downtime and must be Bound (or bind on their
  // first consumer) within this time, or the upgrade is refused with nothing stopped.
  std::int64_t claim_bind_timeout_s = 300;
  // While a backup or upgrade Job runs, its progress line is read from its pod's log this often.
  std::int64_t progress_interval_s = 5;
  // run --dry-run: every registry only plans (detection and the checks before the downtime, then
  // phase planned with the plan); nothing is stopped.
  bool dry_run = false;
  // StorageClasses whose storage clones a claim in constant time (PVC dataSource; "*": every
  // class). The Kubernetes API publishes no such capability (a CSIDriver object declares none), so
  // it is configured, not guessed. For the pg_upgrade method on such a class, the backup and the
  // new data claims are clones of the stopped old claim and `pg_upgrade --link` runs in the data
  // clone: no copy in the downtime, the old claim never mounted. Empty: the copy path, which
  // every log recorded before the setting decided with.
  std::vector<std::string> clone_storage_classes;
  // When a clone upgrade proves every row (run --verify): false, before the app is back (the
  // controller's manifests of the quiet old and the upgraded database, both in the downtime);
  // true, after it (both manifests from clones, the stopped old data and the upgraded data as it
  // was at the resume, read by the archive Job while the app serves; a difference stops the app
  // again and offers the revert). The copy paths always verify before the resume.
  bool verify_after_resume = false;
  std::int32_t max_transient_retries = 8;  // 429/5xx/connection failures of one effect
  bool operator==(const config&) const = default;
};

// What `run` (and the demo) start from: the defaults of its flags. The struct's own defaults are
// what a log recorded before a setting existed decided with (the check Job off, no limit), so a
// replayed old log keeps its decisions.
config run_defaults();

// The target major the configuration implies: the explicit one, else the target image's hint.
std::optional<pg_major> effective_target(const config& c);
std::optional<pg_major> effective_clair_target(const config& c);

}  // namespace qpu
