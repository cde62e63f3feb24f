#pragma once
// Kubernetes protobuf bodies (application/vnd.kubernetes.protobuf) in both directions, with the
// Kubernetes API's own .proto definitions (kube-sim/proto, read when first needed) and
// libprotobuf's reflection; nothing about the wire format is written here. Requests: the objects
// kubectl's typed commands send (`kubectl create namespace|configmap|secret|deployment|...`).
// Answers: the objects, lists and Status errors written for clients that prefer protobuf (the same
// typed commands, `kubectl logs` listing a Deployment's pods, `kubectl describe` listing events).
//
// The body: the 4 bytes "k8s\0", then a runtime.Unknown message whose typeMeta names the object's
// apiVersion and kind and whose raw bytes are that object's message (k8s.io.api.<group>.<version>.
// <Kind>, or meta/v1 Status). The JSON is the object as the API serves it: the field names of the
// .proto files (the JSON names), meta/v1 Time as RFC 3339, Quantity and IntOrString as their JSON
// forms, bytes as base64, maps as objects, and apiVersion and kind from typeMeta.
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kube_sim {

// The folder holding k8s.io/... (the .proto files): `proto` beside the kube-sim binary.
std::filesystem::path default_proto_dir();

/// Whether the definitions hold the message of `kind` in `api_version`: the built-in kinds (and
/// their lists) of core/v1, apps/v1, batch/v1 and rbac/v1, and meta/v1 Status; never a custom
/// resource. False when the definitions cannot be read.
bool has_protobuf_message(std::string_view api_version, std::string_view kind,
                          const std::filesystem::path& proto_dir = default_proto_dir());

// The object's JSON, or why the body cannot be read (not the envelope, a kind the definitions do
// not hold, bytes that are not that message, no definitions at `proto_dir`).
std::expected<nlohmann::json, std::string> protobuf_body_to_json(std::string_view body,
                                                                 const std::filesystem::path& proto_dir = default_proto_dir());

/// The body of `object` (its apiVersion and kind name the message), as the apiserver writes it:
/// typeMeta set, contentEncoding and contentType empty, maps in key order. Or why it cannot be
/// written: no message for its kind, a field the message does not have (the apiserver would have
/// dropped it when the object was written; kube-sim keeps what it is given), a value of another
/// JSON type than the field's, a time that is not RFC 3339, bytes that are not base64.
std::expected<std::string, std::string> json_to_protobuf_body(const nlohmann::json& object,
                                                              const std::filesystem::path& proto_dir = default_proto_dir());

}  // namespace kube_sim
