#pragma once
// The apiserver's content negotiation of answers (k8s.io/apiserver .../handlers/negotiation):
// which of the media types kube-sim writes a request's Accept header allows, in its order.
#include <string_view>
#include <vector>

#include "api_error.hpp"

namespace kube_sim {

/// What kube-sim writes answers in, in the apiserver's order. CBOR and the
/// Table/PartialObjectMetadata conversions that the apiserver also offers are not among them.
enum class media_type { json, yaml, protobuf };

std::string_view content_type_of(media_type m);

/// The media types `accept` allows, most preferred first, never empty; or 406 NotAcceptable
/// naming what is offered, as the apiserver answers before doing anything else. Offered: JSON,
/// YAML unless `streaming` (a watch: the apiserver streams JSON or protobuf only), then protobuf
/// when `protobuf_offered` (the kind has a protobuf message).
///
/// As the apiserver does: clauses by descending q, exact before wildcard (goautoneg); within a
/// clause the server's own order, so `*/*` and `application/*` mean JSON; a clause asking for a
/// conversion (`as`, `g`, `v`: Table, PartialObjectMetadata) or a server version (`sv`) is not
/// served and is skipped, as is a `stream` other than `watch`; other parameters are ignored;
/// q=0 refuses a type. No header means JSON.
result<std::vector<media_type>> acceptable_media_types(std::string_view accept, bool protobuf_offered, bool streaming = false);

}  // namespace kube_sim
