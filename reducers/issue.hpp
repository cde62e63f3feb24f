#pragma once
// Issuing effects and keeping their books: an effect is issued once (in flight until its result,
// then done), an object that already exists is adopted instead of created again, a transient
// failure waits out a back-off, and one requeue per registry wakes it for the earliest of its
// deadlines, Job re-checks and back-offs.
#include <optional>
#include <string>
#include <string_view>

#include "reducers/context.hpp"

namespace qpu::reducers {

// Issues an effect unless it is under way, done, adopted, or waiting out a transient failure.
void issue(upgrade_ctx& c, effect e);
bool issued_or_done(const upgrade_ctx& c, const effect_id& id);
// The step of this attempt (step_kind::create_claim, "backup") succeeded.
bool done(const upgrade_ctx& c, step_kind step, std::string target = {});

void inspect(upgrade_ctx& c, effect_id id, bool with_manifest);
void create_job_for(upgrade_ctx& c, job_role role, std::int64_t deadline_s);

// A result came back for an effect in flight. The facts of an inspection land where its id says.
void note_succeeded(registry_upgrade& u, const effect_succeeded& r);
// A failure: transient ones wait out a back-off (up to cfg's retries), reports are given up; a
// failure for good of a step is returned, in words, for the table to act on.
std::optional<step_failure> note_failed(registry_upgrade& u, const effect_failed& f, const std::optional<config>& cfg,
                                        timestamp now);
// A new controller process: nothing it had in flight will report back.
void forget_in_flight(registry_upgrade& u);

// Events whose write failed for a transient reason go out again, unchanged, once their back-off
// has passed.
void resend_events(upgrade_ctx& c);
// Sends a Kubernetes Event on the registry and keeps it until its write is acknowledged, so a
// transient failure sends the same Event again (resend_events).
void send_event(upgrade_ctx& c, const effect_id& id, unsent_event e);
// One requeue per registry, the earliest wins.
void arm_wakeup(upgrade_ctx& c);

}  // namespace qpu::reducers
