#pragma once
// The Quay operator's database templates (kustomize/components/postgres, clairpostgres,
// pgupgrade and clairpgupgrade in quay/quay-operator; the facts are in QUAY-OPERATOR.md), as
// pure functions: a registry and the operator's images in, the objects it applies out. Every
// name gets the registry's name as a prefix, as the operator's kustomize namePrefix does.
#include <optional>
#include <string>
#include <string_view>

#include "api_error.hpp"

namespace kube_sim::quay_operator {

/// The two database components the operator manages.
enum class component { postgres, clair_postgres };
std::string_view to_string(component c);

/// What the operator renders the databases with: its own env (RELATED_IMAGE_COMPONENT_*), with the
/// real operator's defaults for the _PREVIOUS images.
struct operator_env {
  std::string postgres_image;
  std::string clair_postgres_image;
  std::string postgres_previous_image = "centos/postgresql-10-centos7";
  std::string clair_postgres_previous_image = "quay.io/sclorg/postgresql-13-c9s";
  /// POSTGRES_UPGRADE_DELETE_BACKUP set and not "false": the old claim is deleted after a migration.
  bool delete_backup = false;
  /// Requested size of the claims it creates (the real operator: 50Gi). kube-sim makes a claim a
  /// filesystem of exactly that size, so a test or scenario asks for less (env
  /// KUBE_SIM_DATABASE_CLAIM_SIZE of the operator's container).
  std::string claim_size = "50Gi";
  const std::string& expected_image(component c) const {
    return c == component::postgres ? postgres_image : clair_postgres_image;
  }
  const std::string& previous_image(component c) const {
    return c == component::postgres ? postgres_previous_image : clair_postgres_previous_image;
  }
  bool operator==(const operator_env&) const = default;
};

/// The QuayRegistry a set of objects belongs to (their ownerReference).
struct registry_ref {
  std::string ns, name, uid;
};

/// The names of one component's objects for registry `r` (QUAY-OPERATOR.md's table).
struct component_names {
  std::string deployment;  // R-quay-database | R-clair-postgres
  std::string service;
  std::string label;  // quay-component: postgres | clair-postgres
  std::string container;
  std::string service_account;
  std::string config_secret;  // R-postgres-config-secret | R-clairpostgres-config-secret
  std::string conf_sample;  // ConfigMap R-postgres-conf-sample | R-clair-postgres-conf-sample
  std::string bootstrap;  // Secret R-postgres-bootstrap (Quay's only)
  std::string old_deployment;  // R-quay-database-old | R-clair-postgres-old
  std::string old_label;  // the -old pod's quay-component label
  std::string old_service;  // R-clair-postgres-old (Clair's only; Quay's migration reads the main Service)
  std::string job;  // R-quay-postgres-upgrade | R-clair-postgres-upgrade
  std::string app;  // the app scaled to 0 during the migration: R-quay-app | R-clair-app
};
component_names names_for(const registry_ref& r, component c);

/// The last path segment of an image's repository, tag and digest stripped: what the operator
/// compares (`quay.io/sclorg/postgresql-13-c9s:latest` -> `postgresql-13-c9s`).
std::string repository_segment(std::string_view image);
/// The PostgreSQL major an image name carries (`postgresql-13-c9s`, `postgresql-10-centos7`,
/// `postgres:15.4`), if any.
std::optional<int> image_major(std::string_view image);
/// The claim the templates mount for a database on `image`: R-quay-postgres-<major> from 13 on,
/// R-quay-database before (R-clair-postgres-<major> / R-clair-postgres for Clair).
std::string claim_for(const registry_ref& r, component c, std::string_view image);

/// metadata.ownerReferences[] entry to the QuayRegistry (controller=true, as the operator sets it).
json owner_reference(const registry_ref& r);

// The objects. `replicas` is 0 while the operator's migration runs.
json database_deployment(const registry_ref& r, component c, const std::string& image, const std::string& claim, int replicas);
json database_service(const registry_ref& r, component c);
json database_claim(const registry_ref& r, component c, const std::string& name, const std::string& size);
json service_account(const registry_ref& r, component c);
json conf_sample(const registry_ref& r, component c);
json bootstrap_secret(const registry_ref& r);  // postgres only: create-extensions.sh (pg_trgm)
/// The credentials Secret the operator generates when it is missing (random passwords).
json config_secret(const registry_ref& r, component c);

// Its migration (pgupgrade / clairpgupgrade).
json old_deployment(const registry_ref& r, component c, const std::string& previous_image, const std::string& old_claim);
json old_service(const registry_ref& r);  // Clair's only
json upgrade_job(const registry_ref& r, component c, const std::string& image, const std::string& new_claim);

}  // namespace kube_sim::quay_operator
