#pragma once
// The watch layer's named spdlog logger ("watch"), a clone of the default logger's sinks.
#include <spdlog/spdlog.h>

#include <memory>

namespace qpu::watch {

spdlog::logger& log();

}  // namespace qpu::watch
