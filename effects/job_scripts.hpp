// The Job scripts of effects/scripts/, compiled into the binary (the generated
// job_scripts.cpp, made by effects/scripts/embed.cmake).
#pragma once
#include <string>
#include <string_view>

#include "core/effects.hpp"

namespace qpu::effects {

// The text of effects/scripts/<name> ("common.sh", "backup.sh", ...); empty when unknown.
std::string_view job_script_file(std::string_view name);

// The script a Job of this role runs: common.sh (prelude: set -eu, the termination-message trap,
// helpers) followed by the role's own script.
std::string job_script(job_role role);

}  // namespace qpu::effects
