// The operator's templates as pure functions: names, the image comparison it makes, the claim
// naming by major, and the objects it renders (QUAY-OPERATOR.md).
#include <catch2/catch.hpp>

#include "templates.hpp"

using namespace kube_sim;
using namespace kube_sim::quay_operator;

namespace {
const registry_ref reg{"quay", "registry", "uid-1"};
}

TEST_CASE("only the last repository segment of an image counts, as the operator compares it") {
  CHECK(repository_segment("quay.io/sclorg/postgresql-13-c9s:latest") == "postgresql-13-c9s");
  CHECK(repository_segment("registry.example.com:5000/mirror/postgresql-13-c9s@sha256:abc") == "postgresql-13-c9s");
  CHECK(repository_segment("centos/postgresql-10-centos7") == "postgresql-10-centos7");
  CHECK(repository_segment("postgres:15") == "postgres");
  CHECK(repository_segment("quay.io/sclorg/postgresql-13-c8s") != repository_segment("quay.io/sclorg/postgresql-13-c9s"));
}

TEST_CASE("the claim is named after the major of the image: R-quay-postgres-<major> from 13 on, R-quay-database before") {
  CHECK(image_major("quay.io/sclorg/postgresql-13-c9s:latest") == 13);
  CHECK(image_major("centos/postgresql-10-centos7@sha256:47783d08") == 10);
  CHECK(image_major("postgres:15.4") == 15);
  CHECK_FALSE(image_major("busybox").has_value());
  CHECK(claim_for(reg, component::postgres, "quay.io/sclorg/postgresql-13-c9s") == "registry-quay-postgres-13");
  CHECK(claim_for(reg, component::postgres, "quay.io/sclorg/postgresql-15-c9s") == "registry-quay-postgres-15");
  CHECK(claim_for(reg, component::postgres, "centos/postgresql-10-centos7") == "registry-quay-database");
  CHECK(claim_for(reg, component::clair_postgres, "quay.io/sclorg/postgresql-15-c9s") == "registry-clair-postgres-15");
  CHECK(claim_for(reg, component::clair_postgres, "quay.io/sclorg/postgresql-13-c9s") == "registry-clair-postgres-13");
  CHECK(claim_for(reg, component::clair_postgres, "centos/postgresql-10-centos7") == "registry-clair-postgres");
}

TEST_CASE("the database Deployment carries the templates' image, claim, probe, env, labels and owner") {
  const auto d =
      database_deployment(reg, component::postgres, "quay.io/sclorg/postgresql-13-c9s:latest", "registry-quay-postgres-13", 1);
  CHECK(d["metadata"]["name"] == "registry-quay-database");
  CHECK(d["metadata"]["labels"]["quay-component"] == "postgres");
  CHECK(d["metadata"]["ownerReferences"][0]["kind"] == "QuayRegistry");
  CHECK(d["metadata"]["ownerReferences"][0]["uid"] == "uid-1");
  CHECK(d["metadata"]["ownerReferences"][0]["controller"] == true);
  CHECK(d["spec"]["strategy"]["type"] == "Recreate");
  const auto& c = d["spec"]["template"]["spec"]["containers"][0];
  CHECK(c["image"] == "quay.io/sclorg/postgresql-13-c9s:latest");
  CHECK(c["readinessProbe"]["exec"]["command"][0] == "/usr/libexec/check-container");
  CHECK(c["readinessProbe"]["initialDelaySeconds"] == 5);
  CHECK(c["readinessProbe"]["periodSeconds"] == 10);
  bool user_from_secret = false;
  for (const auto& e : c["env"])
    if (e["name"] == "POSTGRESQL_USER")
      user_from_secret =
          e["valueFrom"]["secretKeyRef"] == json{{"name", "registry-postgres-config-secret"}, {"key", "database-username"}};
  CHECK(user_from_secret);
  bool claim = false;
  for (const auto& v : d["spec"]["template"]["spec"]["volumes"])
    if (v["name"] == "postgres-data") claim = v["persistentVolumeClaim"]["claimName"] == "registry-quay-postgres-13";
  CHECK(claim);
  const auto mounts = c["volumeMounts"].dump();
  CHECK(mounts.find("/usr/share/container-scripts/postgresql/start/create-extensions.sh") != std::string::npos);
  CHECK(mounts.find("/usr/share/pgsql/postgresql.conf.sample") != std::string::npos);

  const auto clair =
      database_deployment(reg, component::clair_postgres, "quay.io/sclorg/postgresql-15-c9s", "registry-clair-postgres-15", 1);
  CHECK(clair["metadata"]["name"] == "registry-clair-postgres");
  CHECK(clair["metadata"]["labels"]["quay-component"] == "clair-postgres");
  CHECK(clair.dump().find("create-extensions.sh") == std::string::npos);  // Clair's has no bootstrap hook
}

TEST_CASE("the migration renders the -old Deployment on the old claim and a pg_dumpall Job into the new one") {
  const auto old = old_deployment(reg, component::postgres, "centos/postgresql-10-centos7", "registry-quay-database");
  CHECK(old["metadata"]["name"] == "registry-quay-database-old");
  CHECK(old["spec"]["template"]["spec"]["containers"][0]["image"] == "centos/postgresql-10-centos7");
  CHECK(old.dump().find("\"claimName\":\"registry-quay-database\"") != std::string::npos);
  const auto job = upgrade_job(reg, component::postgres, "quay.io/sclorg/postgresql-13-c9s", "registry-quay-postgres-13");
  CHECK(job["metadata"]["name"] == "registry-quay-postgres-upgrade");
  CHECK(job["spec"]["backoffLimit"] == 50);
  CHECK(job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure");
  CHECK(job.dump().find("\"claimName\":\"registry-quay-postgres-13\"") != std::string::npos);
  CHECK(job.dump().find("POSTGRESQL_MIGRATION_REMOTE_HOST") != std::string::npos);
  CHECK(job["spec"]["template"]["spec"]["containers"][0]["args"][0].get<std::string>().starts_with("run-postgresql --version"));
  const auto clair_job =
      upgrade_job(reg, component::clair_postgres, "quay.io/sclorg/postgresql-15-c9s", "registry-clair-postgres-15");
  CHECK(clair_job["metadata"]["name"] == "registry-clair-postgres-upgrade");
  CHECK(clair_job.dump().find("registry-clair-postgres-old") != std::string::npos);  // reads Clair's -old Service
}
