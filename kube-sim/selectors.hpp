#pragma once
// Label and field selectors as the apiserver parses them (k8s.io/apimachinery/pkg/labels and
// pkg/fields): equality, inequality, existence and set-based requirements joined by commas.
#include <string>
#include <string_view>
#include <vector>

#include "api_error.hpp"

namespace kube_sim {

/// One requirement of a selector; all requirements of a selector must hold.
struct requirement {
  enum class op { equals, not_equals, in, not_in, exists, not_exists };
  std::string key;
  op operation = op::equals;
  std::vector<std::string> values;
  bool operator==(const requirement&) const = default;
};

/// A parsed selector; the empty selector matches everything.
struct selector {
  std::vector<requirement> requirements;
  bool empty() const { return requirements.empty(); }
  bool operator==(const selector&) const = default;
};

/// `app=db,tier!=web,env in (a,b),!legacy,owner`; 400 on a malformed expression.
result<selector> parse_label_selector(std::string_view text);
/// `metadata.name=x,metadata.namespace!=y`; only =, == and != exist for fields.
result<selector> parse_field_selector(std::string_view text);

bool matches_labels(const selector& s, const json& object);
/// Field paths are dotted paths into the object ("metadata.name", "status.phase").
bool matches_fields(const selector& s, const json& object);

}  // namespace kube_sim
