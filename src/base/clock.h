#pragma once
// Time is injected (STYLE 2.5): domain and runtime never call now() themselves.
// Monotonic time is for deadlines and waits; wall time (Unix milliseconds) is what events store.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

namespace qrpay {

// Wall-clock instant as Unix milliseconds, the unit events and JSON carry.
struct UnixMs {
    std::int64_t value = 0;
    constexpr auto operator<=>(const UnixMs&) const = default;
};

class Clock {
public:
    // Whoever waits for a monotonic instant (an executor's timers, a projection's poll) and
    // must hear when the clock jumps instead of flowing: ManualClock::advance() calls every
    // listener. A real clock never jumps, so waiting for real time is enough and its
    // add_listener() does nothing: the production path pays nothing for it.
    class Listener {
    public:
        // Runs on the thread that moved the clock; must not block beyond a short lock, and
        // must not add or remove listeners.
        virtual void on_clock_advanced() = 0;

    protected:
        ~Listener() = default;
    };

    virtual ~Clock() = default;
    [[nodiscard]] virtual std::chrono::steady_clock::time_point monotonic_now() const = 0;
    [[nodiscard]] virtual UnixMs wall_now() const = 0;
    // REQUIRES: `listener` stays alive until remove_listener() returns. Any thread.
    virtual void add_listener(Listener& listener) const { (void)listener; }
    virtual void remove_listener(Listener& listener) const { (void)listener; }
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
    // Moves both times forward, then tells every listener (outside no lock of theirs).
    void advance(std::chrono::milliseconds by) {
        mono_ms_ += by.count();
        wall_ms_ += by.count();
        std::lock_guard lock(listeners_mutex_);
        for (Listener* listener : listeners_) {
            listener->on_clock_advanced();
        }
    }
    void add_listener(Listener& listener) const override {
        std::lock_guard lock(listeners_mutex_);
        listeners_.push_back(&listener);
    }
    void remove_listener(Listener& listener) const override {
        std::lock_guard lock(listeners_mutex_);
        listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), &listener),
                         listeners_.end());
    }

private:
    // Guards listeners_: tests advance the clock on their thread while executors and
    // projection workers register and leave on theirs.
    mutable std::mutex listeners_mutex_;
    mutable std::vector<Listener*> listeners_;
    std::atomic<std::int64_t> wall_ms_;
    std::atomic<std::int64_t> mono_ms_{1'000'000};
};

}  // namespace qrpay
