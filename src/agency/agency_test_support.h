#pragma once
// Test-only (qrpay_agency_tests, qrpay_agency_sim_tests): waits for one AgencyPort-style
// callback, bounded.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>

#include "domain/agency_port.h"

namespace qrpay::agency::test_support {

inline constexpr std::chrono::seconds wait_max{20};

// Calls `call(done)` and returns what `done` received; a failure (and an empty outcome) when
// nothing arrives within wait_max.
template <class Call>
domain::AgencyOutcome wait_outcome(Call call) {
    auto promise = std::make_shared<std::promise<domain::AgencyOutcome>>();
    auto future = promise->get_future();
    call([promise](domain::AgencyOutcome outcome) { promise->set_value(std::move(outcome)); });
    if (future.wait_for(wait_max) != std::future_status::ready) {
        ADD_FAILURE() << "no outcome within the test's bound";
        return {};
    }
    return future.get();
}

}  // namespace qrpay::agency::test_support
