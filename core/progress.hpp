#pragma once
// Progress of a data-moving phase and its estimated time left, from the Job's own measurements
// (core/state.hpp, progress_record). Pure: the rate is the work done since the stage's first line
// over the Job's clock between the two lines, so a replay gives the same estimate.
#include <cstdint>
#include <optional>
#include <string>

#include "core/state.hpp"
#include "core/time.hpp"

namespace qpu {

// 0..100, whole percent of done over total; 0 while the total is unknown.
std::int32_t percent(const progress_record& p);
// The time left at the rate so far: none before two lines with progress between them.
std::optional<duration_ms> time_left(const progress_record& p);
// "512 MiB", "1.5 GiB", "900 kB": bytes for people, binary units, one decimal below 10.
std::string format_bytes(std::int64_t bytes);
// "2 h 05 min", "12 min 30 s", "45 s".
std::string format_duration(duration_ms d);
// "dump: 512 MiB of 1.0 GiB (50 %), about 6 s left" (or "..., estimating the time left").
std::string progress_text(const progress_record& p);

}  // namespace qpu
