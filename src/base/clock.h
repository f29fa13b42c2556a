#pragma once
// Time is injected (STYLE 2.5): domain and runtime never call now() themselves.
// Monotonic time is for deadlines and waits; wall time (Unix milliseconds) is what events store.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace qrpay {

// Wall-clock instant as Unix milliseconds, the unit events and JSON carry.
struct UnixMs {
    std::int64_t value = 0;
    constexpr auto operator<=>(const UnixMs&) const = default;
};

class Clock {
public:
    virtual ~Clock() = default;
    [[nodiscard]] virtual std::chrono::steady_clock::time_point monotonic_now() const = 0;
    [[nodiscard]] virtual UnixMs wall_now() const = 0;
};

class SystemClock final : public Clock {
public:
    [[nodiscard]] std::chrono::steady_clock::time_point monotonic_now() const override {
        return std::chrono::steady_clock::now();
    }
    [[nodiscard]] UnixMs wall_now() const override {
        auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
        return {std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count()};
    }
};

// A clock tests drive by hand. Thread-safe: tests advance it while workers read it.
class ManualClock final : public Clock {
public:
    explicit ManualClock(UnixMs start = {1'700'000'000'000}) : wall_ms_(start.value) {}

    [[nodiscard]] std::chrono::steady_clock::time_point monotonic_now() const override {
        return std::chrono::steady_clock::time_point(std::chrono::milliseconds(mono_ms_.load()));
    }
    [[nodiscard]] UnixMs wall_now() const override { return {wall_ms_.load()}; }
    void advance(std::chrono::milliseconds by) {
        mono_ms_ += by.count();
        wall_ms_ += by.count();
    }

private:
    std::atomic<std::int64_t> wall_ms_;
    std::atomic<std::int64_t> mono_ms_{1'000'000};
};

}  // namespace qrpay
