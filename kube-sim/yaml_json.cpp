#include "yaml_json.hpp"

#include <charconv>
#include <regex>
#include <string>

#include <yaml-cpp/yaml.h>

namespace kube_sim {
namespace {

json scalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::int64_t i = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc{} && end == s.data() + s.size()) return i;
  static const std::regex floating(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, floating)) return std::stod(s);
  return s;
}

json convert(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: return scalar(node);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(convert(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = convert(kv.second);
      return out;
    }
  }
  return nullptr;
}

void emit(YAML::Emitter& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key;
        emit(out, key);
        out << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      return;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : value) emit(out, item);
      out << YAML::EndSeq;
      return;
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      // Plain when it reads back as this string (the reader's own rule), quoted otherwise.
      if (scalar(YAML::Node(s)) == value) out << s;
      else out << YAML::DoubleQuoted << s;
      return;
    }
    case json::value_t::null:
    case json::value_t::discarded: out << YAML::Null; return;
    default: out << value.dump(); return;  // numbers and booleans as JSON writes them
  }
}

}  // namespace

std::string json_to_yaml(const json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

result<json> yaml_to_json(std::string_view text) {
  auto as_json = json::parse(text, nullptr, false);
  if (!as_json.is_discarded()) return as_json;
  try {
    return convert(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    return std::unexpected(bad_request(std::string("error decoding YAML: ") + e.what()));
  }
}

}  // namespace kube_sim
