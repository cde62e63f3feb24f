#pragma once
// The reducers: pure functions from (state, event) to (state, effects). No clock (time is the
// event's timestamp), no I/O, no logging, no randomness: folding the same log twice gives the
// same bytes.
#include <string>
#include <vector>

#include "core/effects.hpp"
#include "core/events.hpp"
#include "core/state.hpp"

namespace qpu::reducers {

struct step_result {
  state next;
  std::vector<effect> effects;
};

// Folds one event. Takes the state by value: callers move it in.
step_result reduce(state s, const logged_event& e);

// Plain words for a person: where each registry's upgrade stands, what the controller waits for,
// and what it will do next. Derived from the same table the reducer runs.
std::string explain(const state& s);

}  // namespace qpu::reducers
