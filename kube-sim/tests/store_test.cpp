// The store's API semantics, as DESIGN.md section 4 states them, without any HTTP.
#include <catch2/catch.hpp>

#include "object_meta.hpp"
#include "store.hpp"

using namespace kube_sim;

namespace {

const resource_type& type_of(const store& s, std::string_view id) { return *s.types().find_id(id); }

json config_map(const std::string& name, json data = {{"k", "v"}}) {
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", data}};
}

json deployment(const std::string& name, int replicas) {
  json container = {{"name", "db"}, {"image", "postgres:10"}};
  json pod_spec = {{"containers", json::array({container})}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec", {{"replicas", replicas}, {"template", {{"spec", pod_spec}}}}}};
}

std::uint64_t rv_of(const json& o) { return *parse_rv(meta_string(o, "resourceVersion")); }

}  // namespace

TEST_CASE("every write takes the next value of one counter shared by all types") {
  auto s = seeded_store(100);
  const auto before = s.revision();
  auto cm = s.create(type_of(s, "configmaps"), "default", config_map("a"));
  REQUIRE(cm);
  auto d = s.create(type_of(s, "deployments.apps"), "default", deployment("db", 1));
  REQUIRE(d);
  CHECK(rv_of(*cm) == before + 1);
  CHECK(rv_of(*d) == before + 2);
  CHECK(s.revision() == before + 2);
  CHECK(meta_string(*cm, "uid").size() == 36);
  CHECK(!meta_string(*cm, "creationTimestamp").empty());
}

TEST_CASE("a list's resourceVersion is the store revision, not the newest item's") {
  auto s = seeded_store(100);
  REQUIRE(s.create(type_of(s, "configmaps"), "default", config_map("a")));
  REQUIRE(s.create(type_of(s, "secrets"), "default", json{{"metadata", {{"name", "x"}}}}));
  auto page = s.list(type_of(s, "configmaps"), "default");
  REQUIRE(page);
  CHECK(page->items.size() == 1);
  CHECK(page->revision == s.revision());
  CHECK(page->revision > rv_of(page->items[0]));
}

TEST_CASE("create refuses duplicates, missing namespaces and missing names") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  REQUIRE(s.create(cms, "default", config_map("a")));
  auto again = s.create(cms, "default", config_map("a"));
  REQUIRE(!again);
  CHECK(again.error().code == 409);
  CHECK(again.error().reason == "AlreadyExists");
  auto nowhere = s.create(cms, "missing", config_map("a"));
  REQUIRE(!nowhere);
  CHECK(nowhere.error().code == 404);
  CHECK(nowhere.error().message == "namespaces \"missing\" not found");
  auto nameless = s.create(cms, "default", json{{"data", {{"k", "v"}}}});
  REQUIRE(!nameless);
  CHECK(nameless.error().code == 422);
  auto bad = s.create(cms, "default", config_map("Not_Valid"));
  REQUIRE(!bad);
  CHECK(bad.error().code == 422);
}

TEST_CASE("generateName appends five random characters") {
  auto s = seeded_store(100);
  auto made = s.create(type_of(s, "configmaps"), "default", json{{"metadata", {{"generateName", "backup-"}}}});
  REQUIRE(made);
  const auto name = object_name(*made);
  CHECK(name.starts_with("backup-"));
  CHECK(name.size() == std::string("backup-").size() + 5);
  CHECK(s.get(type_of(s, "configmaps"), "default", name));
}

TEST_CASE("a watch from an RV the history no longer holds is 410 Expired") {
  auto s = seeded_store(3);
  const auto& cms = type_of(s, "configmaps");
  auto first = s.create(cms, "default", config_map("a"));
  REQUIRE(first);
  const auto start = rv_of(*first);
  for (int i = 0; i < 5; ++i) REQUIRE(s.create(cms, "default", config_map("n" + std::to_string(i))));
  auto old = s.changes_since(cms, start);
  REQUIRE(!old);
  CHECK(old.error().code == 410);
  CHECK(old.error().reason == "Expired");
  CHECK(old.error().message.starts_with("too old resource version: " + std::to_string(start)));
  auto recent = s.changes_since(cms, s.revision() - 2);
  REQUIRE(recent);
  CHECK(recent->size() == 2);
}

TEST_CASE("compact makes every earlier RV too old") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  REQUIRE(s.create(cms, "default", config_map("a")));
  const auto rv = s.revision();
  REQUIRE(s.changes_since(cms, rv - 1));
  s.compact();
  CHECK(s.changes_since(cms, rv - 1).error().code == 410);
  CHECK(s.changes_since(cms, rv));
}

TEST_CASE("pagination pins a snapshot and an expired continue token is 410") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  for (auto n : {"a", "b", "c", "d", "e"}) REQUIRE(s.create(cms, "default", config_map(n)));
  list_options first_page;
  first_page.limit = 2;
  auto p1 = s.list(cms, "default", first_page);
  REQUIRE(p1);
  REQUIRE(p1->items.size() == 2);
  CHECK(object_name(p1->items[0]) == "a");
  REQUIRE(!p1->continue_token.empty());
  CHECK(p1->remaining_item_count == 3);

  // Changes after the first page do not show in later pages of the same list.
  REQUIRE(s.create(cms, "default", config_map("bb")));
  REQUIRE(s.remove(cms, "default", "d"));
  auto e = *s.get(cms, "default", "e");
  e["data"]["k"] = "changed";
  auto once = s.update(cms, "default", "e", e);
  REQUIRE(once);
  (*once)["data"]["k"] = "changed twice";
  REQUIRE(s.update(cms, "default", "e", *once));
  list_options next = first_page;
  next.continue_token = p1->continue_token;
  auto p2 = s.list(cms, "default", next);
  REQUIRE(p2);
  REQUIRE(p2->items.size() == 2);
  CHECK(object_name(p2->items[0]) == "c");
  CHECK(object_name(p2->items[1]) == "d");
  CHECK(p2->revision == p1->revision);
  next.continue_token = p2->continue_token;
  auto p3 = s.list(cms, "default", next);
  REQUIRE(p3);
  REQUIRE(p3->items.size() == 1);
  CHECK(object_name(p3->items[0]) == "e");
  CHECK(p3->items[0]["data"]["k"] == "v");  // as it was when the list began
  CHECK(p3->continue_token.empty());
  CHECK(s.list(cms, "default")->items.back()["data"]["k"] == "changed twice");

  s.compact();
  next.continue_token = p2->continue_token;
  auto stale = s.list(cms, "default", next);
  REQUIRE(!stale);
  CHECK(stale.error().code == 410);
  CHECK(stale.error().reason == "Expired");
}

TEST_CASE("a no-op update makes no event and no new resourceVersion") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  auto made = s.create(cms, "default", config_map("a"));
  REQUIRE(made);
  int events = 0;
  s.subscribe([&](const change&) { ++events; });
  auto same = s.update(cms, "default", "a", *made);
  REQUIRE(same);
  CHECK(*same == *made);
  auto same_patch = s.patch(cms, "default", "a", patch_kind::merge, json{{"data", {{"k", "v"}}}}, subresource::main);
  REQUIRE(same_patch);
  CHECK(events == 0);
  CHECK(s.revision() == rv_of(*made));
  auto changed = s.patch(cms, "default", "a", patch_kind::merge, json{{"data", {{"k", "w"}}}}, subresource::main);
  REQUIRE(changed);
  CHECK(events == 1);
  CHECK(rv_of(changed->object) == rv_of(*made) + 1);
}

TEST_CASE("a stale resourceVersion on update is 409 Conflict") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  auto made = s.create(cms, "default", config_map("a"));
  REQUIRE(made);
  auto v2 = *made;
  v2["data"]["k"] = "2";
  REQUIRE(s.update(cms, "default", "a", v2));
  auto stale = *made;
  stale["data"]["k"] = "3";
  auto refused = s.update(cms, "default", "a", stale);
  REQUIRE(!refused);
  CHECK(refused.error().code == 409);
  CHECK(refused.error().reason == "Conflict");
  auto stale_patch = s.patch(cms, "default", "a", patch_kind::merge,
                             json{{"metadata", {{"resourceVersion", meta_string(*made, "resourceVersion")}}}}, subresource::main);
  REQUIRE(!stale_patch);
  CHECK(stale_patch.error().code == 409);
}

TEST_CASE("custom resources need metadata.resourceVersion on PUT") {
  auto s = seeded_store(100);
  const auto* quay = s.types().find("quay.redhat.com", "v1", "quayregistries");
  REQUIRE(quay);
  REQUIRE(s.create(*quay, "default", json{{"metadata", {{"name", "r"}}}, {"spec", {{"a", 1}}}}));
  auto put = s.update(*quay, "default", "r", json{{"metadata", {{"name", "r"}}}, {"spec", {{"a", 2}}}});
  REQUIRE(!put);
  CHECK(put.error().code == 422);
  auto strategic = s.patch(*quay, "default", "r", patch_kind::strategic, json{{"spec", {{"a", 3}}}}, subresource::main);
  REQUIRE(!strategic);
  CHECK(strategic.error().code == 415);
}

TEST_CASE("generation counts spec changes only and status is its own subresource") {
  auto s = seeded_store(100);
  const auto& deps = type_of(s, "deployments.apps");
  auto made = s.create(deps, "default", deployment("db", 1));
  REQUIRE(made);
  CHECK(made->at("metadata").at("generation") == 1);

  auto labelled =
      s.patch(deps, "default", "db", patch_kind::merge, json{{"metadata", {{"labels", {{"a", "b"}}}}}}, subresource::main);
  REQUIRE(labelled);
  CHECK(labelled->object["metadata"]["generation"] == 1);

  auto with_status = s.patch(deps, "default", "db", patch_kind::merge,
                             json{{"status", {{"replicas", 1}}}, {"spec", {{"replicas", 5}}}}, subresource::status);
  REQUIRE(with_status);
  CHECK(with_status->object["status"]["replicas"] == 1);
  CHECK(with_status->object["spec"]["replicas"] == 1);  // /status ignores spec
  CHECK(with_status->object["metadata"]["generation"] == 1);

  auto scaled = s.patch(deps, "default", "db", patch_kind::merge,
                        json{{"spec", {{"replicas", 0}}}, {"status", {{"replicas", 7}}}}, subresource::main);
  REQUIRE(scaled);
  CHECK(scaled->object["spec"]["replicas"] == 0);
  CHECK(scaled->object["status"]["replicas"] == 1);  // the main resource ignores status
  CHECK(scaled->object["metadata"]["generation"] == 2);
}

TEST_CASE("finalizers keep a deleted object until they are removed") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  auto cm = config_map("guarded");
  cm["metadata"]["finalizers"] = json::array({"example.com/keep"});
  REQUIRE(s.create(cms, "default", cm));
  std::vector<change> seen;
  s.subscribe([&](const change& c) { seen.push_back(c); });

  auto marked = s.remove(cms, "default", "guarded");
  REQUIRE(marked);
  CHECK(!marked->removed);
  CHECK(marked->object["metadata"].contains("deletionTimestamp"));
  REQUIRE(s.get(cms, "default", "guarded"));
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].type == event_type::modified);

  auto released =
      s.patch(cms, "default", "guarded", patch_kind::merge, json{{"metadata", {{"finalizers", nullptr}}}}, subresource::main);
  REQUIRE(released);
  CHECK(!s.get(cms, "default", "guarded"));
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].type == event_type::deleted);
  CHECK(rv_of(seen[1].object) == s.revision());
  CHECK(seen[1].rv == s.revision());
}

TEST_CASE("DELETED carries the last state with the RV of the delete") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  REQUIRE(s.create(cms, "default", config_map("a")));
  auto gone = s.remove(cms, "default", "a");
  REQUIRE(gone);
  CHECK(gone->removed);
  auto events = s.changes_since(cms, s.revision() - 1);
  REQUIRE(events);
  REQUIRE(events->size() == 1);
  CHECK(events->at(0).type == event_type::deleted);
  CHECK(rv_of(events->at(0).object) == s.revision());
  CHECK(events->at(0).object["data"]["k"] == "v");
  CHECK(s.remove(cms, "default", "a").error().code == 404);
}

TEST_CASE("deleting an owner deletes its dependents") {
  auto s = seeded_store(100);
  auto job = s.create(type_of(s, "jobs.batch"), "default",
                      json{{"metadata", {{"name", "backup"}}}, {"spec", {{"template", json::object()}}}});
  REQUIRE(job);
  auto pod = json{
      {"metadata",
       {{"name", "backup-x"},
        {"ownerReferences",
         json::array({{{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"name", "backup"}, {"uid", meta_string(*job, "uid")}}})}}}};
  REQUIRE(s.create(type_of(s, "pods"), "default", pod));
  REQUIRE(s.remove(type_of(s, "jobs.batch"), "default", "backup"));
  CHECK(!s.get(type_of(s, "pods"), "default", "backup-x"));
}

TEST_CASE("the garbage collector follows ownerReferences as they are now, in the owner's namespace") {
  auto s = seeded_store(100);
  const auto& jobs = type_of(s, "jobs.batch");
  const auto& pods = type_of(s, "pods");
  REQUIRE(s.create(type_of(s, "namespaces"), "", json{{"metadata", {{"name", "other"}}}}));
  auto job = s.create(jobs, "default", json{{"metadata", {{"name", "backup"}}}, {"spec", {{"template", json::object()}}}});
  REQUIRE(job);
  const json owner_ref =
      json::array({{{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"name", "backup"}, {"uid", meta_string(*job, "uid")}}});
  auto owned = [&](const std::string& name) { return json{{"metadata", {{"name", name}, {"ownerReferences", owner_ref}}}}; };
  REQUIRE(s.create(pods, "default", owned("kept-by-update")));
  REQUIRE(s.create(pods, "default", owned("owned-later")));
  REQUIRE(s.create(pods, "default", json{{"metadata", {{"name", "adopted"}}}}));
  REQUIRE(s.create(pods, "other", owned("elsewhere")));  // a namespaced owner has no dependents in other namespaces
  // An update that drops the reference releases the pod; one that adds it makes the pod a dependent.
  REQUIRE(s.patch(pods, "default", "kept-by-update", patch_kind::merge, json{{"metadata", {{"ownerReferences", nullptr}}}},
                  subresource::main));
  REQUIRE(s.patch(pods, "default", "adopted", patch_kind::merge, json{{"metadata", {{"ownerReferences", owner_ref}}}},
                  subresource::main));
  // The index is rebuilt from a saved state.
  auto reloaded = seeded_store(100);
  REQUIRE(reloaded.load(s.save()));
  for (auto* st : {&s, &reloaded}) {
    REQUIRE(st->remove(jobs, "default", "backup"));
    CHECK(!st->get(pods, "default", "owned-later"));
    CHECK(!st->get(pods, "default", "adopted"));
    CHECK(st->get(pods, "default", "kept-by-update"));
    CHECK(st->get(pods, "other", "elsewhere"));
  }
}

TEST_CASE("deleting a namespace deletes what is in it") {
  auto s = seeded_store(100);
  REQUIRE(s.create(type_of(s, "namespaces"), "", json{{"metadata", {{"name", "quay"}}}}));
  REQUIRE(s.create(type_of(s, "configmaps"), "quay", config_map("a")));
  auto gone = s.remove(type_of(s, "namespaces"), "", "quay");
  REQUIRE(gone);
  CHECK(gone->removed);
  CHECK(!s.get(type_of(s, "configmaps"), "quay", "a"));
  CHECK(!s.get(type_of(s, "namespaces"), "", "quay"));
}

TEST_CASE("a POSTed CRD becomes a served type and its deletion removes it") {
  auto s = seeded_store(100);
  json crd = quay_registry_crd();
  crd["metadata"]["name"] = "widgets.example.com";
  crd["spec"]["group"] = "example.com";
  crd["spec"]["names"] = {{"kind", "Widget"}, {"plural", "widgets"}};
  crd["spec"]["scope"] = "Cluster";
  REQUIRE(s.create(type_of(s, "customresourcedefinitions.apiextensions.k8s.io"), "", crd));
  const auto* widgets = s.types().find("example.com", "v1", "widgets");
  REQUIRE(widgets);
  CHECK(!widgets->namespaced);
  REQUIRE(s.create(*widgets, "", json{{"metadata", {{"name", "w"}}}}));
  REQUIRE(s.remove(type_of(s, "customresourcedefinitions.apiextensions.k8s.io"), "", "widgets.example.com"));
  CHECK(s.types().find("example.com", "v1", "widgets") == nullptr);
}

TEST_CASE("server-side apply needs a field manager, creates, then merges") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  auto no_manager = s.patch(cms, "default", "a", patch_kind::apply, config_map("a"), subresource::main);
  REQUIRE(!no_manager);
  CHECK(no_manager.error().code == 400);
  auto created = s.patch(cms, "default", "a", patch_kind::apply, config_map("a"), subresource::main, "test");
  REQUIRE(created);
  CHECK(created->created);
  auto merged = s.patch(cms, "default", "a", patch_kind::apply, config_map("a", {{"k2", "v2"}}), subresource::main, "test");
  REQUIRE(merged);
  CHECK(!merged->created);
  CHECK(merged->object["data"] == json{{"k", "v"}, {"k2", "v2"}});
}

TEST_CASE("label and field selectors filter lists") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  auto a = config_map("a");
  a["metadata"]["labels"] = {{"app", "quay"}};
  REQUIRE(s.create(cms, "default", a));
  REQUIRE(s.create(cms, "default", config_map("b")));
  list_options by_label;
  by_label.labels = *parse_label_selector("app=quay");
  CHECK(s.list(cms, "", by_label)->items.size() == 1);
  list_options by_name;
  by_name.fields = *parse_field_selector("metadata.name=b");
  auto named = s.list(cms, "default", by_name);
  REQUIRE(named->items.size() == 1);
  CHECK(object_name(named->items[0]) == "b");
}

TEST_CASE("save and load keep objects, the counter and custom types") {
  auto s = seeded_store(100);
  REQUIRE(s.create(type_of(s, "configmaps"), "default", config_map("a")));
  const auto* quay = s.types().find("quay.redhat.com", "v1", "quayregistries");
  REQUIRE(s.create(*quay, "default", json{{"metadata", {{"name", "r"}}}}));
  store restored(100);
  REQUIRE(restored.load(s.save()));
  CHECK(restored.revision() == s.revision());
  CHECK(restored.get(type_of(restored, "configmaps"), "default", "a"));
  const auto* quay2 = restored.types().find("quay.redhat.com", "v1", "quayregistries");
  REQUIRE(quay2);
  CHECK(restored.get(*quay2, "default", "r"));
  CHECK(restored.changes_since(*quay2, restored.revision() - 1).error().code == 410);
}

TEST_CASE("subscribers see changes in commit order even when they write") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  std::vector<std::uint64_t> first, second;
  s.subscribe([&](const change& c) {
    first.push_back(c.rv);
    if (object_name(c.object) == "a" && c.type == event_type::added) (void)s.create(cms, "default", config_map("echo"));
  });
  s.subscribe([&](const change& c) { second.push_back(c.rv); });
  REQUIRE(s.create(cms, "default", config_map("a")));
  CHECK(first == second);
  REQUIRE(second.size() == 2);
  CHECK(second[0] < second[1]);
}

TEST_CASE("the expire-history fault makes every RV handed out so far too old") {
  auto s = seeded_store(100);
  const auto& cms = type_of(s, "configmaps");
  const auto listed = s.list(cms, "default")->revision;
  s.expire_history();
  CHECK(s.changes_since(cms, listed).error().code == 410);
  const auto relisted = s.list(cms, "default")->revision;
  CHECK(relisted > listed);
  CHECK(s.changes_since(cms, relisted));
}

TEST_CASE("a claim created without a class gets the default StorageClass; an explicit \"\" keeps none") {
  auto s = seeded_store(100);
  auto claim = [](const std::string& name) {
    return json{{"apiVersion", "v1"},
                {"kind", "PersistentVolumeClaim"},
                {"metadata", {{"name", name}}},
                {"spec", {{"accessModes", {"ReadWriteOnce"}}, {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}};
  };
  const auto& pvcs = type_of(s, "persistentvolumeclaims");
  auto before = s.create(pvcs, "default", claim("before"));
  REQUIRE(before);
  CHECK_FALSE((*before)["spec"].contains("storageClassName"));  // no default exists yet
  REQUIRE(
      s.create(type_of(s, "storageclasses.storage.k8s.io"), "",
               json{{"apiVersion", "storage.k8s.io/v1"},
                    {"kind", "StorageClass"},
                    {"metadata", {{"name", "fast"}, {"annotations", {{"storageclass.kubernetes.io/is-default-class", "true"}}}}},
                    {"provisioner", "kube-sim.io/local"}}));
  auto defaulted = s.create(pvcs, "default", claim("defaulted"));
  REQUIRE(defaulted);
  CHECK((*defaulted)["spec"]["storageClassName"] == "fast");
  auto null_class = claim("null-class");
  null_class["spec"]["storageClassName"] = nullptr;
  auto nulled = s.create(pvcs, "default", null_class);
  REQUIRE(nulled);
  CHECK((*nulled)["spec"]["storageClassName"] == "fast");
  auto none = claim("none");
  none["spec"]["storageClassName"] = "";
  auto kept = s.create(pvcs, "default", none);
  REQUIRE(kept);
  CHECK((*kept)["spec"]["storageClassName"] == "");
}
