#pragma once
// Named failure-injection points of the projection engine (STYLE 2.8). Off unless a spec turns
// them on; `qrpay serve --projection-fault SPEC` (or QRPAY_PROJECTION_FAULT) passes one, and
// only tests set it. SPEC is a comma-separated list of:
//
//   crash_before_commit@N  the process kills itself with SIGKILL in the transaction that
//                          applies its Nth event (counted since start, N >= 1): after the
//                          read-model writes and the offset update, before COMMIT
//   fail_apply@TYPE        applying any event whose type is TYPE fails, so the event's shard
//                          stops there and retries with backoff

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace qrpay::projection {

struct FaultPoints {
    std::uint64_t crash_before_commit_at_event = 0;  // 0: off
    std::string fail_apply_type{};                   // empty: off

    [[nodiscard]] bool any() const {
        return crash_before_commit_at_event != 0 || !fail_apply_type.empty();
    }
};

// invalid_argument for an unknown point or a bad argument. An empty spec is all off.
Result<FaultPoints> parse_fault_points(std::string_view spec);

}  // namespace qrpay::projection
