#pragma once
// Test-only. eventually(condition): polls until `condition` holds or `wait_max` passes and says
// which. A test asserts the result, so a slow machine makes it slower, never flaky on timing:
// the bound only stops a hang, it measures nothing.

#include <chrono>
#include <thread>

namespace qrpay::testing {

// `poll` is the pause between two looks (longer when a look is itself a request).
template <class Condition>
bool eventually(Condition condition,
                std::chrono::milliseconds wait_max = std::chrono::seconds(120),
                std::chrono::milliseconds poll = std::chrono::milliseconds(2)) {
    const auto give_up = std::chrono::steady_clock::now() + wait_max;
    while (std::chrono::steady_clock::now() < give_up) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(poll);
    }
    return condition();
}

}  // namespace qrpay::testing
