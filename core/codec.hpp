#pragma once
// JSON for the values core defines: effects (replay output, golden files), the state dump, and
// the non-watch events of the event log. Objects are written with sorted keys (nlohmann::json's
// std::map), so equal values give equal bytes.
#include <expected>
#include <string>

#include <nlohmann/json.hpp>
#include <cstdint>
#include <optional>

#include "core/config.hpp"
#include "core/effects.hpp"
#include "core/events.hpp"
#include "core/state.hpp"

namespace qpu {

nlohmann::json to_json(const effect& e);
nlohmann::json to_json(const config& c);
nlohmann::json to_json(const database_facts& f);
nlohmann::json to_json(const claim_facts& f);
// status.postgresUpgrade.progress, as the event log and the status write both render it.
nlohmann::json progress_json(const summary_progress& p);
std::expected<claim_facts, std::string> claim_facts_from_json(const nlohmann::json& j);
nlohmann::json to_json(const state& s);

std::expected<config, std::string> config_from_json(const nlohmann::json& j);

// The "event" payload of a log line for events that are not watch input
// (controller_started, timer_fired, effect_succeeded, effect_failed).
nlohmann::json event_payload(const event& e);
std::expected<event, std::string> event_from_payload(const nlohmann::json& j);

// Compact, stable text: what `replay` prints and golden files hold.
std::string dump(const nlohmann::json& j);

// A JSON value as a 64-bit integer when it is one (an integer that fits; never a fraction, a float
// or another type). nlohmann's get<int64_t>() and value(key, int) cast floats such as 3e25 with a
// plain conversion, which is undefined behaviour: read integers others wrote through this.
std::optional<std::int64_t> json_integer(const nlohmann::json& v);

}  // namespace qpu
