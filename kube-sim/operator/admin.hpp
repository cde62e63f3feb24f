#pragma once
// The stand-in's admin routes on kube-sim's port (no auth, as /_sim/faults):
//   GET  /_sim/quay-operator[?since=SEQ]  the reconcile log as JSON Lines (entries after SEQ)
//   GET  /_sim/quay-operator/status       {"held", "active", "reason", "ticks", "reconciles", "seq", "journal"}
//   POST /_sim/quay-operator              {"hold": true|false}; answers with the status
#include "api_handler.hpp"
#include "stand_in.hpp"

namespace kube_sim::quay_operator {

void add_admin_routes(api_handler& handler, stand_in& operator_stand_in);

}  // namespace kube_sim::quay_operator
