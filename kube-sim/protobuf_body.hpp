#pragma once
// Kubernetes protobuf request bodies (Content-Type application/vnd.kubernetes.protobuf), as kubectl's
// typed commands send them (`kubectl create namespace|configmap|secret|deployment|job|...`), decoded
// into the object's JSON with the Kubernetes API's own .proto definitions (kube-sim/proto, read
// when first needed) and libprotobuf's reflection; nothing about the wire format is written here.
//
// The body: the 4 bytes "k8s\0", then a runtime.Unknown message whose typeMeta names the object's
// apiVersion and kind and whose raw bytes are that object's message (k8s.io.api.<group>.<version>.
// <Kind>). The JSON is the object as the API serves it: the field names of the .proto files (the
// JSON names), meta/v1 Time as RFC 3339, Quantity and IntOrString as their JSON forms, bytes as
// base64, maps as objects, and apiVersion and kind from typeMeta.
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kube_sim {

// The folder holding k8s.io/... (the .proto files): `proto` beside the kube-sim binary.
std::filesystem::path default_proto_dir();

// The object's JSON, or why the body cannot be read (not the envelope, a kind the definitions do
// not hold, bytes that are not that message, no definitions at `proto_dir`).
std::expected<nlohmann::json, std::string> protobuf_body_to_json(std::string_view body,
                                                                 const std::filesystem::path& proto_dir = default_proto_dir());

}  // namespace kube_sim
