#pragma once
// LatencyHistogram: an HDR-style histogram of non-negative integer values (qrpay's benchmarks
// record microseconds), with a fixed relative error and a fixed memory footprint.
//
// Layout (as HdrHistogram's): values below 2 * sub_bucket_half_count are counted exactly, one
// counter each. Above that, every power-of-two range [2^k, 2^(k+1)) is split into
// sub_bucket_half_count equal counters, so a counter's width is at most 1/sub_bucket_half_count
// of its values: with sub_bucket_bits = 7 the error of any reported value is below 0.79%.
// Values above value_max are counted in the top counter (and recorded as saturated); max()
// stays exact.
//
// Quantiles report the highest value equivalent to the counter that holds the rank, capped by
// the exact max(), so a percentile never understates the latency it summarises.
//
// Thread safety: none; one writer, or a lock held by the owner. Copy to take a snapshot.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qrpay::loadgen {

class LatencyHistogram {
public:
    static constexpr int sub_bucket_bits = 7;  // 128 counters per power of two
    static constexpr std::uint64_t sub_bucket_half_count = std::uint64_t{1} << sub_bucket_bits;
    static constexpr std::uint64_t sub_bucket_count = 2 * sub_bucket_half_count;
    // 2^40 us is about 12.7 days: far above any wait a benchmark allows.
    static constexpr int value_bits_max = 40;
    static constexpr std::uint64_t value_max = (std::uint64_t{1} << value_bits_max) - 1;

    LatencyHistogram();

    void record(std::uint64_t value);
    // Adds every count of `other` (same layout, so no precision is lost).
    void merge(const LatencyHistogram& other);
    void reset();

    [[nodiscard]] std::uint64_t count() const { return count_; }
    [[nodiscard]] std::uint64_t saturated() const { return saturated_; }  // values above value_max
    [[nodiscard]] std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
    [[nodiscard]] std::uint64_t max() const { return max_; }
    [[nodiscard]] double mean() const;
    // The value at `quantile` (0 to 1; 0.999 is p99.9). 0 when empty.
    [[nodiscard]] std::uint64_t value_at_quantile(double quantile) const;

    // The counter index of `value`, and the lowest and highest values it holds (for tests).
    static std::size_t index_of(std::uint64_t value);
    static std::uint64_t lowest_equivalent(std::size_t index);
    static std::uint64_t highest_equivalent(std::size_t index);
    static std::size_t counter_count();

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t saturated_ = 0;
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

}  // namespace qrpay::loadgen
