// libFuzzer target: the event-log reader. The input is a whole log file; it is read as a restarted
// controller reads it (read_event_log), and each line is also parsed alone (parse_log_line). A
// bad line must be an error naming file:line, never a crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/event_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    auto line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    auto parsed = qpu::parse_log_line(line);
    if (!parsed && parsed.error().empty()) __builtin_trap();
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  static const std::string path = std::string(std::getenv("QPU_FUZZ_TMP") ? std::getenv("QPU_FUZZ_TMP") : "/tmp") +
                                  "/qpu-fuzz-event-log-" + std::to_string(::getpid()) + ".jsonl";
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    std::uint64_t n = 0;
    auto r = qpu::read_event_log(
        path, [&](qpu::logged_event&&) { ++n; }, [](const std::string&) {});
    if (!r && r.error().find(path) == std::string::npos) __builtin_trap();  // errors name the file
    if (r && *r != n) __builtin_trap();
  }
  return 0;
}
