#pragma once
// spdlog output for `run`: "text" (spdlog's default human pattern) or "json" (one object per line:
// ts, level, logger, msg; the message JSON-escaped). Every logger cloned from the default one after
// this call, and every one registered before it, gets the format.
#include <expected>
#include <string>

namespace qpu::app {

std::expected<void, std::string> set_log_format(const std::string& format);

}  // namespace qpu::app
