#include "api_handler.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>

#include "discovery.hpp"
#include "negotiation.hpp"
#include "object_meta.hpp"
#include "openapi.hpp"
#include "protobuf_codec.hpp"
#include "yaml_json.hpp"

namespace kube_sim {

/// How one request's answers are written once its Accept header is negotiated: in the first
/// acceptable media type that can carry the answer.
struct answer_format {
  std::vector<media_type> acceptable;  // never empty
  api_reply operator()(int status, const json& body) const;
};

namespace {

api_reply reply(int status, const json& body) { return {status, body.dump(), "application/json", {}}; }

// Answers before negotiation (discovery, unknown paths, 406 itself) are JSON, as the apiserver's
// are (it writes a failed negotiation's Status as raw JSON).
const answer_format json_answers{{media_type::json}};

api_reply error_reply(const api_error& e, const answer_format& out = json_answers) {
  api_reply r = out(e.code, to_status(e));
  if (e.retry_after_seconds > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_seconds));
  return r;
}

// Protobuf is chosen only by a clause that names it (wildcards pick JSON, first in the server's
// order), so the definitions are consulted, and loaded, only then.
result<answer_format> negotiate(const std::string& accept, const std::string& api_version, const std::string& kind,
                                bool streaming = false) {
  const bool protobuf = accept.find("protobuf") != std::string::npos && has_protobuf_message(api_version, kind);
  auto acceptable = acceptable_media_types(accept, protobuf, streaming);
  if (!acceptable) return std::unexpected(acceptable.error());
  return answer_format{std::move(*acceptable)};
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.push_back(url_decode(path.substr(start, slash - start), false));
    start = slash + 1;
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start <= q.size() && !q.empty()) {
    auto amp = q.find('&', start);
    if (amp == std::string_view::npos) amp = q.size();
    auto part = q.substr(start, amp - start);
    auto eq = part.find('=');
    if (!part.empty())
      out[url_decode(part.substr(0, eq), true)] = eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1), true);
    start = amp + 1;
    if (amp == q.size()) break;
  }
  return out;
}

std::string get(const std::map<std::string, std::string>& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? "" : it->second;
}

// Go's strconv.ParseBool, which the apiserver uses for query flags: python-kubernetes sends "True".
bool truthy(const std::string& v) { return v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True"; }

result<json> parse_body(const api_request& r) {
  // JSON, YAML, and the protobuf kubectl's typed commands send (`kubectl create namespace ...`),
  // read with the Kubernetes API's own definitions (protobuf_codec.hpp); not CBOR.
  if (r.content_type.find("protobuf") != std::string::npos) {
    auto object = protobuf_body_to_json(r.body);
    if (!object) return std::unexpected(bad_request("the body of the request could not be decoded as protobuf: " + object.error()));
    return std::move(*object);
  }
  if (r.content_type.find("cbor") != std::string::npos)
    return std::unexpected(unsupported_media_type(
        "the body of the request was in an unknown format - accepted media types include: application/json, "
        "application/yaml, application/vnd.kubernetes.protobuf"));
  if (r.content_type.find("yaml") != std::string::npos) return yaml_to_json(r.body);
  auto body = json::parse(r.body, nullptr, false);
  if (body.is_discarded()) return std::unexpected(bad_request("the body of the request could not be decoded as JSON"));
  return body;
}

json list_document(const resource_type& t, list_page&& page) {
  json md = {{"resourceVersion", std::to_string(page.revision)}};
  if (!page.continue_token.empty()) md["continue"] = page.continue_token;
  if (page.remaining_item_count) md["remainingItemCount"] = *page.remaining_item_count;
  return {{"kind", t.list_kind()}, {"apiVersion", t.api_version()}, {"metadata", md}, {"items", std::move(page.items)}};
}

api_error invalid_list_options(std::string_view field, std::string_view detail) {
  return {422, "Invalid",
          std::string("ListOptions.meta.k8s.io \"\" is invalid: ") + std::string(field) + ": Forbidden: " + std::string(detail),
          json{{"kind", "ListOptions"},
               {"group", "meta.k8s.io"},
               {"causes", json::array({{{"reason", "FieldValueForbidden"},
                                        {"field", field},
                                        {"message", std::string("Forbidden: ") + std::string(detail)}}})}}};
}

result<list_options> read_list_options(const std::map<std::string, std::string>& q) {
  list_options o;
  auto labels = parse_label_selector(get(q, "labelSelector"));
  if (!labels) return std::unexpected(labels.error());
  auto fields = parse_field_selector(get(q, "fieldSelector"));
  if (!fields) return std::unexpected(fields.error());
  o.labels = std::move(*labels);
  o.fields = std::move(*fields);
  if (auto limit = get(q, "limit"); !limit.empty()) {
    auto n = parse_rv(limit);
    if (!n) return std::unexpected(bad_request("limit must be a non-negative integer, got " + limit));
    o.limit = static_cast<std::int64_t>(*n);
  }
  o.continue_token = get(q, "continue");
  o.resource_version = get(q, "resourceVersion");
  o.resource_version_match = get(q, "resourceVersionMatch");
  return o;
}

}  // namespace

api_reply answer_format::operator()(int status, const json& body) const {
  std::string unwritable;
  for (const auto m : acceptable) {
    if (m == media_type::json) return reply(status, body);
    if (m == media_type::yaml) return {status, json_to_yaml(body), std::string(content_type_of(m)), {}};
    auto bytes = json_to_protobuf_body(body);
    if (bytes) return {status, std::move(*bytes), std::string(content_type_of(m)), {}};
    // kube-sim keeps fields the apiserver would have dropped when the object was written, and the
    // message has no place for them: the next acceptable type carries them, if there is one.
    unwritable = bytes.error();
  }
  return reply(500, to_status(internal_error("the only media type the request accepts is protobuf: " + unwritable)));
}

// deployments/<name>/scale (autoscaling/v1 Scale), as `kubectl scale` reads and writes it: the
// Deployment's spec.replicas, its status.replicas and its selector as a string. PUT and PATCH
// (merge, JSON, strategic) change spec.replicas only; a resourceVersion in a PUT body must match.
api_reply api_handler::scale(const resource_type& t, const std::string& ns, const std::string& name, const api_request& request,
                             const answer_format& out) {
  auto live = store_.get(t, ns, name);
  if (!live) return error_reply(live.error(), out);
  auto scale_of = [](const json& d) {
    std::string selector;
    const auto labels_at = "/spec/selector/matchLabels"_json_pointer;
    if (d.contains(labels_at) && d.at(labels_at).is_object())
      for (const auto& [k, v] : d.at(labels_at).items())
        selector += (selector.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    json meta = {{"name", d["metadata"].value("name", "")},
                 {"namespace", d["metadata"].value("namespace", "")},
                 {"uid", d["metadata"].value("uid", "")},
                 {"resourceVersion", d["metadata"].value("resourceVersion", "")}};
    if (d["metadata"].contains("creationTimestamp")) meta["creationTimestamp"] = d["metadata"]["creationTimestamp"];
    return json{{"apiVersion", "autoscaling/v1"},
                {"kind", "Scale"},
                {"metadata", meta},
                {"spec", {{"replicas", d.value("/spec/replicas"_json_pointer, 1)}}},
                {"status", {{"replicas", d.value("/status/replicas"_json_pointer, 0)}, {"selector", selector}}}};
  };
  if (request.method == "GET") return out(200, scale_of(*live));
  json wanted;
  if (request.method == "PUT") {
    auto body = parse_body(request);
    if (!body) return error_reply(body.error(), out);
    const auto rv = body->value("/metadata/resourceVersion"_json_pointer, std::string());
    if (!rv.empty() && rv != (*live)["metadata"].value("resourceVersion", "")) return error_reply(conflict(t, name), out);
    wanted = std::move(*body);
  } else if (request.method == "PATCH") {
    auto kind = patch_kind_from_content_type(request.content_type);
    if (!kind) return error_reply(kind.error(), out);
    if (*kind == patch_kind::apply)
      return error_reply(bad_request("kube-sim does not apply server-side to deployments/scale"), out);
    auto body = parse_body(api_request{{}, {}, "application/json", {}, {}, request.body, {}});
    if (!body) return error_reply(body.error(), out);
    if (*kind == patch_kind::json_patch) {
      auto patched = json_patch(scale_of(*live), *body);
      if (!patched) return error_reply(patched.error(), out);
      wanted = std::move(*patched);
    } else {
      wanted = *kind == patch_kind::merge ? merge_patch(scale_of(*live), *body) : strategic_merge_patch(scale_of(*live), *body);
    }
  } else {
    return error_reply(method_not_allowed(), out);
  }
  const auto replicas = wanted.value("/spec/replicas"_json_pointer, json());
  if (!replicas.is_number_integer() || replicas.get<std::int64_t>() < 0)
    return error_reply(invalid(t, name, "spec.replicas", "must be greater than or equal to 0"), out);
  json next = *live;
  next["spec"]["replicas"] = replicas;
  auto updated = store_.update(t, ns, name, std::move(next), subresource::main);
  if (!updated) return error_reply(updated.error(), out);
  return out(200, scale_of(*updated));
}

// GET pods/<name>/log, as the kubelet serves it through the apiserver (kubectl logs): the
// container's output as text/plain; `container` when the pod has more than one, `tailLines`.
// Not kept: `previous` (one file holds every run of the container), `follow` (the text so far).
api_reply api_handler::pod_log(const resource_type& pods, const std::string& ns, const std::string& name, const query& q,
                               const answer_format& out) {
  auto pod = store_.get(pods, ns, name);
  if (!pod) return error_reply(pod.error(), out);
  if (!log_locator_)
    return error_reply(not_found_path("pods/" + name + "/log (kube-sim runs no pods: start it with a runtime)"), out);
  std::vector<std::string> containers;
  for (const auto& c : pod->value("/spec/containers"_json_pointer, json::array())) containers.push_back(c.value("name", ""));
  std::string container = get(q, "container");
  if (container.empty()) {
    if (containers.size() != 1) {
      std::string names;
      for (const auto& c : containers) names += (names.empty() ? "" : " ") + c;
      return error_reply(bad_request("a container name must be specified for pod " + name + ", choose one of: [" + names + "]"),
                         out);
    }
    container = containers[0];
  } else if (std::find(containers.begin(), containers.end(), container) == containers.end()) {
    return error_reply(bad_request("container " + container + " is not valid for pod " + name), out);
  }
  const auto file = log_locator_ ? log_locator_(ns, name, container) : std::filesystem::path();
  std::ifstream in(file);
  if (file.empty() || !in)
    return error_reply(bad_request("container \"" + container + "\" in pod \"" + name + "\" is waiting to start: no log yet"),
                       out);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (const auto tail = get(q, "tailLines"); !tail.empty()) {
    long long n = -1;
    const auto [end, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), n);
    if (ec != std::errc{} || end != tail.data() + tail.size() || n < 0)
      return error_reply(bad_request("tailLines must be a non-negative integer, not \"" + tail + "\""), out);
    std::size_t at = text.size();
    if (at > 0 && text[at - 1] == '\n') --at;
    for (long long seen = 0; at > 0; --at)
      if (text[at - 1] == '\n' && ++seen == n) break;
    text.erase(0, n == 0 ? text.size() : at);
  }
  return {200, std::move(text), "text/plain", {}};
}

std::string url_decode(std::string_view text, bool query_component) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += query_component && text[i] == '+' ? ' ' : text[i];
  }
  return out;
}

std::variant<api_reply, watch_request> api_handler::handle(const api_request& request) {
  const auto question = request.target.find('?');
  const std::string path = request.target.substr(0, question);
  const auto q = question == std::string::npos ? query{} : parse_query(std::string_view(request.target).substr(question + 1));

  if (path.starts_with("/_sim/")) return admin(request, path);
  if (path == "/healthz" || path == "/readyz" || path == "/livez") return api_reply{200, "ok", "text/plain", {}};
  if (path == "/version") return reply(200, version_document());
  if (settings_.token && request.authorization != "Bearer " + *settings_.token) return error_reply(unauthorized());

  const auto segments = split_path(path);
  const bool discovery = segments.size() <= 2 || (segments.size() == 3 && segments[0] == "apis");
  if (discovery && request.method != "GET") return error_reply(method_not_allowed());
  if (path == "/openapi/v3") return reply(200, openapi_v3_index(store_.types()));
  if (path.starts_with("/openapi/v3/")) {
    if (auto doc = openapi_v3_document(store_.types(), path.substr(std::string_view("/openapi/v3/").size())))
      return reply(200, *doc);
    return error_reply(not_found_path(path));
  }
  if (segments.size() == 1 && segments[0] == "api") return reply(200, core_versions_document(settings_.server_address));
  if (segments.size() == 1 && segments[0] == "apis") return reply(200, group_list_document(store_.types()));
  if (segments.size() == 2 && segments[0] == "api") {
    if (auto doc = resource_list_document(store_.types(), "", segments[1])) return reply(200, *doc);
    return error_reply(not_found_path(path));
  }
  if (segments.size() == 2 && segments[0] == "apis") {
    if (auto doc = group_document(store_.types(), segments[1])) return reply(200, *doc);
    return error_reply(not_found_path(path));
  }
  if (segments.size() == 3 && segments[0] == "apis") {
    if (auto doc = resource_list_document(store_.types(), segments[1], segments[2])) return reply(200, *doc);
    return error_reply(not_found_path(path));
  }
  if (segments.size() >= 3 && segments[0] == "api")
    return resource(request, "", segments[1], {segments.begin() + 2, segments.end()}, q);
  if (segments.size() >= 4 && segments[0] == "apis")
    return resource(request, segments[1], segments[2], {segments.begin() + 3, segments.end()}, q);
  return error_reply(not_found_path(path));
}

api_reply api_handler::admin(const api_request& request, const std::string& path) {
  if (auto it = admin_routes_.find(path); it != admin_routes_.end()) return it->second(request);
  if (path == "/_sim/faults") {
    if (request.method == "GET") return reply(200, to_json(faults_.settings));
    if (request.method != "POST") return error_reply(method_not_allowed());
    auto body = json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
    if (body.is_discarded()) return error_reply(bad_request("fault settings must be JSON"));
    if (auto ok = apply_fault_update(faults_.settings, body); !ok) return error_reply(ok.error());
    if (body.value("expireHistory", false)) store_.expire_history();
    return reply(200, to_json(faults_.settings));
  }
  if (path == "/_sim/fault-counts" && request.method == "GET") {
    json clients = json::object();
    for (const auto& [client, counts] : faults_.by_client) clients[client] = to_json(counts);
    return reply(200, {{"clients", clients}});
  }
  if (path == "/_sim/expire-history" && request.method == "POST") {
    store_.expire_history();
    return reply(200, {{"compactedRevision", store_.compacted_revision()}});
  }
  if (path == "/_sim/state" && request.method == "GET")
    return reply(200, {{"revision", store_.revision()}, {"compactedRevision", store_.compacted_revision()}});
  return error_reply(not_found_path(path));
}

std::variant<api_reply, watch_request> api_handler::resource(const api_request& request, const std::string& group,
                                                             const std::string& version, std::vector<std::string> rest,
                                                             const query& q) {
  const auto path = request.target.substr(0, request.target.find('?'));
  bool watch = truthy(get(q, "watch"));
  if (!rest.empty() && rest[0] == "watch") {  // the deprecated /watch/ prefix
    watch = true;
    rest.erase(rest.begin());
  }
  if (rest.empty()) return error_reply(not_found_path(path));

  // Split "[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]"; namespaces/<name>[/status] is
  // the Namespace object itself.
  std::string ns, plural, name, sub;
  if (rest[0] == "namespaces" && rest.size() >= 3 &&
      !(group.empty() && rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    ns = rest[1];
    plural = rest[2];
    if (rest.size() > 3) name = rest[3];
    if (rest.size() > 4) sub = rest[4];
    if (rest.size() > 5) return error_reply(not_found_path(path));
  } else {
    plural = rest[0];
    if (rest.size() > 1) name = rest[1];
    if (rest.size() > 2) sub = rest[2];
    if (rest.size() > 3) return error_reply(not_found_path(path));
  }
  if (auto failure = faults_.next_request_failure(request.user_agent, plural, request.method + " " + path))
    return error_reply(*failure);
  const auto* found = store_.types().find(group, version, plural);
  if (!found) return error_reply(not_found_path(path));
  const resource_type t = *found;  // a copy: deleting a CRD during this request must not dangle
  if (!t.namespaced && !ns.empty()) return error_reply(not_found_path(path));
  const bool is_scale = sub == "scale" && t.id() == "deployments.apps" && !name.empty() && !ns.empty();
  const bool is_log = sub == "log" && plural == "pods" && group.empty() && !name.empty();
  if (!sub.empty() && !is_scale && !is_log && (sub != "status" || !t.has_status)) return error_reply(not_found_path(path));
  // The apiserver negotiates before it acts: a custom resource asked for in protobuf alone is 406
  // and nothing is written. A pod's log is text whatever was negotiated.
  const auto format =
      is_scale ? negotiate(request.accept, "autoscaling/v1", "Scale")
               : negotiate(request.accept, t.api_version(), t.kind, request.method == "GET" && watch);
  if (!format) return error_reply(format.error());
  const answer_format& out = *format;
  if (is_scale) return scale(t, ns, name, request, out);
  if (is_log) {
    if (request.method != "GET") return error_reply(method_not_allowed(), out);
    return pod_log(t, ns, name, q, out);
  }
  const auto sr = sub == "status" ? subresource::status : subresource::main;
  if (get(q, "dryRun") == "All")
    return error_reply(bad_request("kube-sim does not implement dryRun; drop --dry-run=server"), out);

  if (name.empty()) {
    // Watches stream JSON whatever was negotiated: the protobuf framing (a length-prefixed
    // WatchEvent around each envelope) is not written, as no kubectl command asks for a protobuf
    // watch (get -w, rollout status and wait watch in JSON); client-go reads the stream's own
    // Content-Type either way.
    if (request.method == "GET" && watch) {
      auto options = read_list_options(q);
      if (!options) return error_reply(options.error(), out);
      watch_request w{t,
                      ns,
                      options->labels,
                      options->fields,
                      options->resource_version,
                      truthy(get(q, "allowWatchBookmarks")),
                      std::nullopt,
                      std::chrono::seconds{1800},
                      path};
      if (q.contains("sendInitialEvents")) {
        w.send_initial_events = truthy(get(q, "sendInitialEvents"));
        if (options->resource_version_match != "NotOlderThan")
          return error_reply(invalid_list_options("resourceVersionMatch",
                                                  "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
                             out);
        if (!w.allow_bookmarks)
          return error_reply(
              invalid_list_options("allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true"), out);
      } else if (!options->resource_version_match.empty()) {
        return error_reply(
            invalid_list_options("resourceVersionMatch",
                                 "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"),
            out);
      }
      if (!w.resource_version.empty() && !parse_rv(w.resource_version))
        return error_reply(bad_request("invalid resource version: " + w.resource_version), out);
      if (auto timeout = get(q, "timeoutSeconds"); !timeout.empty()) {
        auto seconds = parse_rv(timeout);
        if (!seconds) return error_reply(bad_request("timeoutSeconds must be a non-negative integer"), out);
        w.timeout = std::chrono::seconds(*seconds);
      }
      return w;
    }
    if (request.method == "GET") {
      auto options = read_list_options(q);
      if (!options) return error_reply(options.error(), out);
      auto page = store_.list(t, ns, *options);
      if (!page) return error_reply(page.error(), out);
      return out(200, list_document(t, std::move(*page)));
    }
    if (request.method == "POST") {
      if (t.namespaced && ns.empty()) return error_reply(method_not_allowed(), out);
      auto body = parse_body(request);
      if (!body) return error_reply(body.error(), out);
      auto made = store_.create(t, ns, std::move(*body));
      if (!made) return error_reply(made.error(), out);
      return out(201, *made);
    }
    if (request.method == "DELETE") {
      auto options = read_list_options(q);
      if (!options) return error_reply(options.error(), out);
      auto page = store_.list(t, ns, *options);
      if (!page) return error_reply(page.error(), out);
      list_page removed{{}, store_.revision(), {}, {}};
      for (const auto& item : page->items) {
        auto gone = store_.remove(t, object_namespace(item), object_name(item), {});
        if (gone) removed.items.push_back(gone->object);
      }
      removed.revision = store_.revision();
      return out(200, list_document(t, std::move(removed)));
    }
    return error_reply(method_not_allowed(), out);
  }

  if (t.namespaced && ns.empty()) return error_reply(not_found_path(path), out);
  if (request.method == "GET") {
    if (watch) {
      watch_request w{t,
                      ns,
                      {},
                      *parse_field_selector("metadata.name=" + name),
                      get(q, "resourceVersion"),
                      truthy(get(q, "allowWatchBookmarks")),
                      std::nullopt,
                      std::chrono::seconds{1800},
                      path};
      return w;
    }
    auto object = store_.get(t, ns, name);
    if (!object) return error_reply(object.error(), out);
    return out(200, *object);
  }
  if (request.method == "PUT") {
    auto body = parse_body(request);
    if (!body) return error_reply(body.error(), out);
    auto updated = store_.update(t, ns, name, std::move(*body), sr);
    if (!updated) return error_reply(updated.error(), out);
    return out(200, *updated);
  }
  if (request.method == "PATCH") {
    auto kind = patch_kind_from_content_type(request.content_type);
    if (!kind) return error_reply(kind.error(), out);
    auto body = *kind == patch_kind::apply ? yaml_to_json(request.body)
                                           : parse_body(api_request{{}, {}, "application/json", {}, {}, request.body, {}});
    if (!body) return error_reply(body.error(), out);
    auto patched = store_.patch(t, ns, name, *kind, *body, sr, get(q, "fieldManager"));
    if (!patched) return error_reply(patched.error(), out);
    return out(patched->created ? 201 : 200, patched->object);
  }
  if (request.method == "DELETE") {
    if (sr == subresource::status) return error_reply(method_not_allowed(), out);
    delete_options options;
    options.propagation_policy = get(q, "propagationPolicy");
    if (!request.body.empty()) {
      auto body = json::parse(request.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) return error_reply(bad_request("DeleteOptions must be a JSON object"), out);
      if (body.contains("propagationPolicy") && body["propagationPolicy"].is_string())
        options.propagation_policy = body["propagationPolicy"].get<std::string>();
      if (auto uid = body.value("/preconditions/uid"_json_pointer, json()); uid.is_string())
        options.precondition_uid = uid.get<std::string>();
      if (auto rv = body.value("/preconditions/resourceVersion"_json_pointer, json()); rv.is_string())
        options.precondition_rv = rv.get<std::string>();
    }
    auto gone = store_.remove(t, ns, name, options);
    if (!gone) return error_reply(gone.error(), out);
    // 200 when the object is gone, 202 while finalizers hold it, as the apiserver answers.
    return out(gone->removed ? 200 : 202, gone->object);
  }
  return error_reply(method_not_allowed(), out);
}

}  // namespace kube_sim
