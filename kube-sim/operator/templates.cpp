#include "templates.hpp"

#include <cctype>
#include <fstream>

#include "base64.hpp"

namespace kube_sim::quay_operator {
namespace {

const char* const registry_label = "quay-operator/quayregistry";
const char* const data_path = "/var/lib/pgsql/data";

// The operator's create-extensions.sh (kustomize/components/postgres), sourced by the image as
// a start hook: Quay needs pg_trgm.
const char* const create_extensions = R"(#!/bin/bash

echo "attempting to create pg_trgm extension if it does not exist"

_psql () { psql --set ON_ERROR_STOP=1 "$@" ; }

_psql -d $POSTGRESQL_DATABASE <<<"CREATE EXTENSION IF NOT EXISTS pg_trgm;"
)";

// The operator's postgresql.conf.sample ConfigMap (both components carry the same text).
const char* const conf_sample_text = R"(huge_pages = off
logging_collector = on
log_filename = 'postgresql-%a.log'
log_truncate_on_rotation = on
log_rotation_age = 1d
log_rotation_size = 0
)";

json labels(const registry_ref& r, const std::string& component_label) {
  return {{"quay-component", component_label}, {registry_label, r.name}};
}

json metadata(const registry_ref& r, const std::string& name, const std::string& component_label) {
  return {{"name", name},
          {"namespace", r.ns},
          {"labels", labels(r, component_label)},
          {"annotations", {{"quay-component", component_label}}},
          {"ownerReferences", json::array({owner_reference(r)})}};
}

json secret_env(const std::string& name, const std::string& secret, const std::string& key) {
  return {{"name", name}, {"valueFrom", {{"secretKeyRef", {{"name", secret}, {"key", key}}}}}};
}

json tuning_env() {
  return json::array(
      {{{"name", "POSTGRESQL_SHARED_BUFFERS"}, {"value", "256MB"}}, {{"name", "POSTGRESQL_MAX_CONNECTIONS"}, {"value", "2000"}}});
}

json credentials_env(const component_names& n) {
  json env = json::array({secret_env("POSTGRESQL_USER", n.config_secret, "database-username"),
                          secret_env("POSTGRESQL_DATABASE", n.config_secret, "database-name"),
                          secret_env("POSTGRESQL_ADMIN_PASSWORD", n.config_secret, "database-root-password"),
                          secret_env("POSTGRESQL_PASSWORD", n.config_secret, "database-password")});
  for (const auto& e : tuning_env()) env.push_back(e);
  return env;
}

json resources() { return {{"requests", {{"cpu", "500m"}, {"memory", "2Gi"}}}}; }

// Volumes and mounts shared by the database, its -old copy and the upgrade Job: the data claim,
// the postgresql.conf.sample ConfigMap and (Quay's database only) the bootstrap start hook.
struct pod_files {
  json volumes = json::array();
  json mounts = json::array();
};

pod_files files_for(const component_names& n, component c, const std::string& claim, bool with_bootstrap) {
  pod_files f;
  const std::string conf_volume = c == component::postgres ? "postgres-conf-sample" : "clair-postgres-conf-sample";
  f.volumes.push_back({{"name", conf_volume}, {"configMap", {{"name", n.conf_sample}}}});
  f.mounts.push_back(
      {{"name", conf_volume}, {"mountPath", "/usr/share/pgsql/postgresql.conf.sample"}, {"subPath", "postgresql.conf.sample"}});
  if (with_bootstrap) f.volumes.push_back({{"name", "postgres-bootstrap"}, {"secret", {{"secretName", n.bootstrap}}}});
  f.volumes.push_back({{"name", "postgres-data"}, {"persistentVolumeClaim", {{"claimName", claim}}}});
  f.mounts.push_back({{"name", "postgres-data"}, {"mountPath", data_path}});
  if (with_bootstrap)
    f.mounts.push_back({{"name", "postgres-bootstrap"},
                        {"mountPath", "/usr/share/container-scripts/postgresql/start/create-extensions.sh"},
                        {"subPath", "create-extensions.sh"},
                        {"readOnly", true}});
  return f;
}

std::string random_password() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string bytes(24, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::string out;
  for (unsigned char ch : bytes) out += "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[ch % 62];
  return out;
}

}  // namespace

std::string_view to_string(component c) { return c == component::postgres ? "postgres" : "clairpostgres"; }

component_names names_for(const registry_ref& r, component c) {
  const std::string p = r.name + "-";
  if (c == component::postgres)
    return {.deployment = p + "quay-database",
            .service = p + "quay-database",
            .label = "postgres",
            .container = "postgres",
            .service_account = p + "quay-database",
            .config_secret = p + "postgres-config-secret",
            .conf_sample = p + "postgres-conf-sample",
            .bootstrap = p + "postgres-bootstrap",
            .old_deployment = p + "quay-database-old",
            .old_label = "postgres",
            .old_service = "",
            .job = p + "quay-postgres-upgrade",
            .app = p + "quay-app"};
  return {.deployment = p + "clair-postgres",
          .service = p + "clair-postgres",
          .label = "clair-postgres",
          .container = "clair-postgres",
          .service_account = p + "clair-postgres",
          .config_secret = p + "clairpostgres-config-secret",
          .conf_sample = p + "clair-postgres-conf-sample",
          .bootstrap = "",
          .old_deployment = p + "clair-postgres-old",
          .old_label = "clair-postgres-old",
          .old_service = p + "clair-postgres-old",
          .job = p + "clair-postgres-upgrade",
          .app = p + "clair-app"};
}

std::string repository_segment(std::string_view image) {
  std::string rest(image.substr(0, image.find('@')));
  const auto slash = rest.rfind('/');
  if (auto colon = rest.rfind(':'); colon != std::string::npos && (slash == std::string::npos || colon > slash))
    rest.resize(colon);
  const auto last = rest.rfind('/');
  return last == std::string::npos ? rest : rest.substr(last + 1);
}

std::optional<int> image_major(std::string_view image) {
  const auto segment = repository_segment(image);
  auto digits_at = [](std::string_view text, std::size_t at) -> std::optional<int> {
    int value = 0;
    std::size_t i = at;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && i - at < 3; ++i)
      value = value * 10 + (text[i] - '0');
    return i > at ? std::optional<int>(value) : std::nullopt;
  };
  if (const auto at = segment.find("postgresql-"); at != std::string::npos) return digits_at(segment, at + 11);
  if (segment == "postgres") {
    const auto without_digest = image.substr(0, image.find('@'));
    const auto colon = without_digest.rfind(':');
    if (colon != std::string_view::npos && without_digest.find('/', colon) == std::string_view::npos)
      return digits_at(without_digest, colon + 1);
  }
  return std::nullopt;
}

std::string claim_for(const registry_ref& r, component c, std::string_view image) {
  const auto major = image_major(image);
  const std::string base = c == component::postgres ? "quay-postgres-" : "clair-postgres-";
  if (major && *major >= 13) return r.name + "-" + base + std::to_string(*major);
  return r.name + (c == component::postgres ? "-quay-database" : "-clair-postgres");
}

json owner_reference(const registry_ref& r) {
  return {{"apiVersion", "quay.redhat.com/v1"}, {"kind", "QuayRegistry"}, {"name", r.name}, {"uid", r.uid}, {"controller", true},
          {"blockOwnerDeletion", true}};
}

json database_deployment(const registry_ref& r, component c, const std::string& image, const std::string& claim, int replicas) {
  const auto n = names_for(r, c);
  const auto files = files_for(n, c, claim, c == component::postgres);
  json container = {{"name", n.container},
                    {"image", image},
                    {"imagePullPolicy", "IfNotPresent"},
                    {"ports", json::array({{{"containerPort", 5432}, {"protocol", "TCP"}}})},
                    {"readinessProbe",
                     {{"exec", {{"command", json::array({"/usr/libexec/check-container"})}}},
                      {"initialDelaySeconds", 5},
                      {"periodSeconds", 10},
                      {"timeoutSeconds", 5}}},
                    {"env", credentials_env(n)},
                    {"volumeMounts", files.mounts},
                    {"resources", resources()}};
  // The templates misspell terminationGracePeriodSeconds ("Graceperiod"), which the apiserver drops:
  // the grace period is Kubernetes' default until the operator sets 600 s for its migration.
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", metadata(r, n.deployment, n.label)},
          {"spec",
           {{"replicas", replicas},
            {"strategy", {{"type", "Recreate"}}},
            {"selector", {{"matchLabels", labels(r, n.label)}}},
            {"template",
             {{"metadata", {{"labels", labels(r, n.label)}}},
              {"spec",
               {{"serviceAccountName", n.service_account},
                {"volumes", files.volumes},
                {"containers", json::array({container})}}}}}}}};
}

json database_service(const registry_ref& r, component c) {
  const auto n = names_for(r, c);
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", metadata(r, n.service, n.label)},
          {"spec",
           {{"type", "ClusterIP"},
            {"ports", json::array({{{"port", 5432}, {"protocol", "TCP"}, {"name", "postgres"}, {"targetPort", 5432}}})},
            {"selector", labels(r, n.label)}}}};
}

json database_claim(const registry_ref& r, component c, const std::string& name, const std::string& size) {
  const auto n = names_for(r, c);
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"metadata", metadata(r, name, n.label)},
          {"spec", {{"accessModes", json::array({"ReadWriteOnce"})}, {"resources", {{"requests", {{"storage", size}}}}}}}};
}

json service_account(const registry_ref& r, component c) {
  const auto n = names_for(r, c);
  json meta = metadata(r, n.service_account, n.label);
  return {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", meta}};
}

json conf_sample(const registry_ref& r, component c) {
  const auto n = names_for(r, c);
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", metadata(r, n.conf_sample, n.label)},
          {"data", {{"postgresql.conf.sample", conf_sample_text}}}};
}

json bootstrap_secret(const registry_ref& r) {
  const auto n = names_for(r, component::postgres);
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", metadata(r, n.bootstrap, n.label)},
          {"type", "Opaque"},
          {"data", {{"create-extensions.sh", base64_encode(create_extensions)}}}};
}

json config_secret(const registry_ref& r, component c) {
  const auto n = names_for(r, c);
  // The operator names Quay's user and database after the database's Service (its DB_URI).
  const std::string user = c == component::postgres ? r.name + "-quay-database" : r.name + "-clair-postgres";
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", metadata(r, n.config_secret, n.label)},
          {"type", "Opaque"},
          {"data",
           {{"database-username", base64_encode(user)},
            {"database-name", base64_encode(user)},
            {"database-password", base64_encode(random_password())},
            {"database-root-password", base64_encode(random_password())}}}};
}

json old_deployment(const registry_ref& r, component c, const std::string& previous_image, const std::string& old_claim) {
  const auto n = names_for(r, c);
  const auto files = files_for(n, c, old_claim, c == component::postgres);
  json container = {{"name", "postgres"},
                    {"image", previous_image},
                    {"imagePullPolicy", "IfNotPresent"},
                    {"ports", json::array({{{"containerPort", 5432}, {"protocol", "TCP"}}})},
                    {"env", credentials_env(n)},
                    {"volumeMounts", files.mounts},
                    {"resources", resources()}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", metadata(r, n.old_deployment, n.old_label)},
          {"spec",
           {{"replicas", 1},
            {"strategy", {{"type", "Recreate"}}},
            {"selector", {{"matchLabels", labels(r, n.old_label)}}},
            {"template",
             {{"metadata", {{"labels", labels(r, n.old_label)}}},
              {"spec",
               {{"serviceAccountName", n.service_account},
                {"volumes", files.volumes},
                {"containers", json::array({container})}}}}}}}};
}

json old_service(const registry_ref& r) {
  const auto n = names_for(r, component::clair_postgres);
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", metadata(r, n.old_service, n.old_label)},
          {"spec",
           {{"type", "ClusterIP"},
            {"ports", json::array({{{"port", 5432}, {"protocol", "TCP"}, {"name", "postgres"}, {"targetPort", 5432}}})},
            {"selector", labels(r, n.old_label)}}}};
}

json upgrade_job(const registry_ref& r, component c, const std::string& image, const std::string& new_claim) {
  const auto n = names_for(r, c);
  const auto files = files_for(n, c, new_claim, false);
  // The real templates read the old host from a Secret key: Quay's `database-name`, which the
  // operator makes equal to the Service's name, and Clair's `clair-db-old-host`. The stand-in
  // writes the host itself: Quay's main Service (whose selector finds the -old pod while the
  // database is at 0) and Clair's -old Service.
  const std::string old_host = c == component::postgres ? n.service : n.old_service;
  json env = json::array({{{"name", "POSTGRESQL_MIGRATION_REMOTE_HOST"}, {"value", old_host}},
                          secret_env("POSTGRESQL_MIGRATION_ADMIN_PASSWORD", n.config_secret, "database-root-password")});
  for (const auto& e : tuning_env()) env.push_back(e);
  const std::string label = c == component::postgres ? "quay-postgres-upgrade" : "clair-postgres-upgrade";
  json container = {
      {"name", c == component::postgres ? "postgres-upgrade" : "clair-postgres-upgrade"},
      {"image", image},
      {"imagePullPolicy", "IfNotPresent"},
      {"ports", json::array({{{"containerPort", 5432}, {"protocol", "TCP"}}})},
      {"env", env},
      {"volumeMounts", files.mounts},
      {"resources", resources()},
      {"command", json::array({"/bin/sh", "-c"})},
      {"args", json::array({"run-postgresql --version || (echo \"postgres migration command failed, cleaning up...\" && rm -rf "
                            "/var/lib/pgsql/data/* && exit 1)\n"})}};
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", metadata(r, n.job, label)},
          {"spec",
           {{"backoffLimit", 50},
            {"template",
             {{"metadata", {{"labels", labels(r, label)}}},
              {"spec",
               {{"restartPolicy", "OnFailure"},
                {"serviceAccountName", n.service_account},
                {"volumes", files.volumes},
                {"containers", json::array({container})}}}}}}}};
}

}  // namespace kube_sim::quay_operator
