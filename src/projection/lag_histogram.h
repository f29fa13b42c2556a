#pragma once
// LagHistogram: how long events took from the journal (their written_at) to the read model's
// commit, in fixed buckets that render as a Prometheus histogram. Bounded: a fixed array of
// counters, no samples kept.
//
// Thread safety: observe() and snapshot() may be called from any thread (relaxed atomics; a
// snapshot may be a moment behind, never torn per counter).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace qrpay::projection {

class LagHistogram {
public:
    // Upper bounds of the buckets, in milliseconds; a last, implicit bucket takes the rest.
    static constexpr std::array<std::int64_t, 15> bucket_bounds_ms = {
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1'000, 2'000, 5'000, 10'000, 30'000, 60'000};

    struct Snapshot {
        std::array<std::uint64_t, bucket_bounds_ms.size() + 1>
            counts{};  // per bucket, not cumulative
        std::uint64_t count = 0;
        std::int64_t sum_ms = 0;
        std::int64_t max_ms = 0;
    };

    // A negative lag (clocks of different hosts) counts as 0.
    void observe(std::chrono::milliseconds lag);
    [[nodiscard]] Snapshot snapshot() const;

private:
    std::array<std::atomic<std::uint64_t>, bucket_bounds_ms.size() + 1> counts_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::int64_t> sum_ms_{0};
    std::atomic<std::int64_t> max_ms_{0};
};

}  // namespace qrpay::projection
