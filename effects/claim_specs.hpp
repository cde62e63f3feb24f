// The PersistentVolumeClaim body for a create_claim effect.
#pragma once
#include <nlohmann/json.hpp>

#include "core/effects.hpp"

namespace qpu::effects {

// v1 PersistentVolumeClaim: ReadWriteOnce, requests.storage = size_bytes (a plain byte count, a
// valid quantity), storageClassName only when set (else the cluster's default), managed labels
// with role backup|data. Only the DATA claim is owned by the QuayRegistry: deleting the registry
// then removes the database it runs on, as the Quay operator's own claim does. The backup claim
// has no owner: it must outlive a deleted registry, it is the way back.
nlohmann::json claim_body(const create_claim& c);

}  // namespace qpu::effects
