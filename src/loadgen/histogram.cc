#include "loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "base/assert.h"

namespace qrpay::loadgen {

namespace {

constexpr std::uint64_t shift_of(std::size_t index) {
    return index < LatencyHistogram::sub_bucket_count
               ? 0
               : (index - LatencyHistogram::sub_bucket_count) /
                         LatencyHistogram::sub_bucket_half_count +
                     1;
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(counter_count(), 0) {}

std::size_t LatencyHistogram::counter_count() {
    constexpr int shift_max = value_bits_max - 1 - sub_bucket_bits;
    static_assert(shift_max >= 1, "the value range must exceed the exact range");
    return static_cast<std::size_t>(sub_bucket_count + shift_max * sub_bucket_half_count);
}

std::size_t LatencyHistogram::index_of(std::uint64_t value) {
    value = std::min(value, value_max);
    if (value < sub_bucket_count) {
        return static_cast<std::size_t>(value);
    }
    const int shift = static_cast<int>(std::bit_width(value)) - 1 - sub_bucket_bits;
    QRPAY_ASSERT(shift >= 1, "values at or above the exact range shift by one or more");
    const std::uint64_t sub = value >> shift;
    QRPAY_ASSERT(sub >= sub_bucket_half_count && sub < sub_bucket_count,
                 "a shifted value lands in the upper half of a bucket");
    const auto shift_u = static_cast<std::uint64_t>(shift);
    return static_cast<std::size_t>(sub_bucket_count + (shift_u - 1) * sub_bucket_half_count +
                                    (sub - sub_bucket_half_count));
}

std::uint64_t LatencyHistogram::lowest_equivalent(std::size_t index) {
    QRPAY_ASSERT(index < counter_count(), "counter index out of range");
    const std::uint64_t shift = shift_of(index);
    if (shift == 0) {
        return index;
    }
    const std::uint64_t sub =
        (index - sub_bucket_count) % sub_bucket_half_count + sub_bucket_half_count;
    return sub << shift;
}

std::uint64_t LatencyHistogram::highest_equivalent(std::size_t index) {
    return lowest_equivalent(index) + (std::uint64_t{1} << shift_of(index)) - 1;
}

void LatencyHistogram::record(std::uint64_t value) {
    if (value > value_max) {
        ++saturated_;
    }
    ++counts_[index_of(value)];
    min_ = count_ == 0 ? value : std::min(min_, value);
    max_ = std::max(max_, value);
    sum_ += static_cast<long double>(value);
    ++count_;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    QRPAY_ASSERT(counts_.size() == other.counts_.size(), "histograms share one layout");
    if (other.count_ == 0) {
        return;
    }
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        counts_[i] += other.counts_[i];
    }
    min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
    count_ += other.count_;
    saturated_ += other.saturated_;
}

void LatencyHistogram::reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    saturated_ = 0;
    min_ = 0;
    max_ = 0;
    sum_ = 0;
}

double LatencyHistogram::mean() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::value_at_quantile(double quantile) const {
    if (count_ == 0) {
        return 0;
    }
    const double clamped = std::clamp(quantile, 0.0, 1.0);
    // The rank of the quantile, 1-based: the smallest value with at least this many at or below.
    auto rank = static_cast<std::uint64_t>(std::ceil(clamped * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            return std::min(highest_equivalent(i), max_);
        }
    }
    QRPAY_ASSERT(false, "the counters sum to count()");
    return max_;
}

}  // namespace qrpay::loadgen
