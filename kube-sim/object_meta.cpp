#include "object_meta.hpp"

#include <charconv>
#include <chrono>
#include <ctime>
#include <random>

namespace kube_sim {
namespace {
std::mt19937_64& random_bits() {
  static std::mt19937_64 engine{std::random_device{}()};
  return engine;
}
}  // namespace

std::string meta_string(const json& object, std::string_view field) {
  if (!object.is_object()) return {};
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return {};
  auto it = md->find(field);
  return it != md->end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::string object_name(const json& object) { return meta_string(object, "name"); }
std::string object_namespace(const json& object) { return meta_string(object, "namespace"); }

std::optional<std::uint64_t> parse_rv(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string now_rfc3339() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string new_uid() {
  auto hi = random_bits()(), lo = random_bits()();
  hi = (hi & ~0xf000ULL) | 0x4000ULL;  // version 4
  lo = (lo & ~(3ULL << 62)) | (2ULL << 62);  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>(hi >> 16 & 0xffff), static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

std::string random_name_suffix() {
  static constexpr std::string_view alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 5; ++i) out += alphabet[random_bits()() % alphabet.size()];
  return out;
}

bool valid_object_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (char c : name)
    if (!alnum(c) && c != '-' && c != '.') return false;
  return true;
}

}  // namespace kube_sim
