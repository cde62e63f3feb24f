#pragma once
// What a person sees of a registry's upgrade: the QuayRegistry's conditions and summary block,
// a Kubernetes Event per phase entered, and what the controller waits for in plain words.
#include <string>

#include "reducers/context.hpp"

namespace qpu::reducers {

// The message of both conditions: where the upgrade stands and, when it ended, how.
std::string summary_message(const upgrade_ctx& c);
// What the registry waits for now, in plain words (for `plan` and condition messages).
std::string waiting_for(const upgrade_ctx& c);
// The Kubernetes Event for a phase just entered.
void announce(upgrade_ctx& c);
// The QuayRegistry's status, written when the phase or the error changed since the last write
// (or when a failed write's back-off has passed).
void report_status(upgrade_ctx& c);

}  // namespace qpu::reducers
