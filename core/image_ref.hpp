#pragma once
// Container image references ([domain/]path[:tag][@digest]) and the PostgreSQL major they hint at.
// The hint is only a hint: the data directory / running server is the truth (DESIGN.md section 1).
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "core/pg_version.hpp"

namespace qpu {

struct image_ref {
  std::string domain;  // "quay.io", "localhost:5000"; empty for Docker Hub short names
  std::string path;  // "sclorg/postgresql-13-c9s", "postgres"
  std::string tag;  // "14.5-alpine"; empty when absent
  std::string digest;  // "sha256:<64 hex>"; empty when absent
  bool operator==(const image_ref&) const = default;

  // The repository without domain, tag or digest's last path segment: "postgresql-13-c9s".
  std::string_view name() const;
};

// Parses the reference grammar of the distribution spec (the subset Kubernetes accepts).
std::expected<image_ref, std::string> parse_image_ref(std::string_view text);

// The major a reference names: first the repository (`postgresql-10-centos7`, `postgresql-13`,
// `postgresql-96-centos7` -> 9.6), then, for repositories named `postgres`/`postgresql`, the tag
// (`14.5-alpine`, `10`). Digests and tags such as `latest` or `1-109` carry no version.
std::optional<pg_major> pg_major_hint(const image_ref& ref);

// Two references name the same repository the way the Quay operator compares them: only the last
// path segment counts (`quay.io/sclorg/postgresql-13-c9s:1` and `mirror/postgresql-13-c9s@sha256:..`
// are the same to it); registry, organisation, tag and digest are ignored. Unparsable: different.
bool same_repository_name(std::string_view a, std::string_view b);

// Where the controller puts the upgraded cluster: the sclorg layout of the Quay operator's images,
// the claim mounted at /var/lib/pgsql/data and the cluster in userdata/ below it. The sclorg
// scripts set PGDATA to this path themselves, whatever the container's env says.
inline constexpr std::string_view sclorg_pgdata = "/var/lib/pgsql/data/userdata";

// The data directory a database image's server will look in, given the container's env PGDATA
// (empty when unset). The Docker library's `postgres` image (and mirrors of it, any repository
// named `postgres`) reads $PGDATA, /var/lib/postgresql/data by default; every other image is
// taken to follow the sclorg layout. A reference that does not parse gets the sclorg answer too:
// detection reports bad references on its own.
std::string data_directory_of(std::string_view image, std::string_view pgdata_env);

}  // namespace qpu
