// libFuzzer target: one watch line (as the API server sends it) through the decoder, for every
// resource kind the controller watches. A line must decode or be refused with a message; it must
// never crash, hang, or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/decode.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static qpu::json_decoder decoder;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  for (auto kind : qpu::all_resource_kinds) {
    auto ev = decoder.decode_watch_line(kind, line);
    if (!ev && ev.error().empty()) __builtin_trap();  // every refusal says why
    auto obj = decoder.decode_object(kind, line);
    if (!obj && obj.error().empty()) __builtin_trap();
  }
  return 0;
}
