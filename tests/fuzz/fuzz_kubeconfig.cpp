// libFuzzer target: the kubeconfig loader (YAML, base64 -data fields, relative file fields). The
// input is written to a file, as the loader reads files; it must load or fail with a message that
// names the file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kube/kube_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = std::string(std::getenv("QPU_FUZZ_TMP") ? std::getenv("QPU_FUZZ_TMP") : "/tmp") +
                                  "/qpu-fuzz-kubeconfig-" + std::to_string(::getpid()) + ".yaml";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto cfg = qpu::kube::load_kubeconfig(path);
  if (!cfg && cfg.error().empty()) __builtin_trap();
  return 0;
}
