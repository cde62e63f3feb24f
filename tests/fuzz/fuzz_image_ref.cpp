// libFuzzer target: image references and the PostgreSQL major they hint at.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/image_ref.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ref = qpu::parse_image_ref(text);
  if (!ref) {
    if (ref.error().empty()) __builtin_trap();
    return 0;
  }
  // A parsed reference is made of pieces of the input.
  if (ref->path.empty() || ref->path.size() > text.size() || ref->tag.size() > text.size()) __builtin_trap();
  (void)ref->name();
  (void)qpu::pg_major_hint(*ref);
  return 0;
}
