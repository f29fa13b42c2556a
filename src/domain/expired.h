#pragma once
// Expired: the one event Token and Transaction share (DESIGN §2). Both record it when the
// durable timer at `expires_at` ran: Token goes InUse -> Unused, Transaction goes
// WaitingForReadToken -> Finished(expired). One type, one meaning, one stored format.

#include "base/clock.h"

namespace qrpay::domain {

struct Expired {
    UnixMs expires_at;  // the deadline that passed (equals the state's expires_at)
    UnixMs at;          // when the entity recorded it (>= expires_at)
    bool operator==(const Expired&) const = default;
};

}  // namespace qrpay::domain
