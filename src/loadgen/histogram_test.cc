// Tests of LatencyHistogram: layout, precision bound, quantiles, merge. No timing involved.

#include "loadgen/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace qrpay::loadgen {
namespace {

TEST(LatencyHistogram, EmptyReportsZeros) {
    LatencyHistogram histogram;
    EXPECT_EQ(histogram.count(), 0U);
    EXPECT_EQ(histogram.min(), 0U);
    EXPECT_EQ(histogram.max(), 0U);
    EXPECT_EQ(histogram.value_at_quantile(0.99), 0U);
    EXPECT_EQ(histogram.mean(), 0.0);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
    LatencyHistogram histogram;
    for (std::uint64_t value = 0; value < LatencyHistogram::sub_bucket_count; ++value) {
        histogram.record(value);
    }
    EXPECT_EQ(histogram.value_at_quantile(0.0), 0U);
    EXPECT_EQ(histogram.value_at_quantile(0.5), 127U);
    EXPECT_EQ(histogram.value_at_quantile(1.0), 255U);
    EXPECT_EQ(histogram.min(), 0U);
    EXPECT_EQ(histogram.max(), 255U);
}

TEST(LatencyHistogram, CountersTileTheRangeWithoutGaps) {
    for (std::size_t i = 0; i + 1 < LatencyHistogram::counter_count(); ++i) {
        ASSERT_EQ(LatencyHistogram::highest_equivalent(i) + 1,
                  LatencyHistogram::lowest_equivalent(i + 1))
            << "counter " << i;
        ASSERT_EQ(LatencyHistogram::index_of(LatencyHistogram::lowest_equivalent(i)), i);
        ASSERT_EQ(LatencyHistogram::index_of(LatencyHistogram::highest_equivalent(i)), i);
    }
    const std::size_t top = LatencyHistogram::counter_count() - 1;
    EXPECT_EQ(LatencyHistogram::highest_equivalent(top), LatencyHistogram::value_max);
}

TEST(LatencyHistogram, RelativeErrorStaysBelowOnePercent) {
    std::mt19937_64 random(42);
    std::uniform_int_distribution<int> bits(0, LatencyHistogram::value_bits_max - 1);
    for (int i = 0; i < 100'000; ++i) {
        std::uint64_t value = random() >> (64 - bits(random) - 1);
        std::size_t index = LatencyHistogram::index_of(value);
        std::uint64_t low = LatencyHistogram::lowest_equivalent(index);
        std::uint64_t high = LatencyHistogram::highest_equivalent(index);
        ASSERT_LE(low, value);
        ASSERT_GE(high, value);
        ASSERT_LE(static_cast<double>(high - low),
                  static_cast<double>(value) / LatencyHistogram::sub_bucket_half_count);
    }
}

TEST(LatencyHistogram, QuantilesMatchASortedListWithinPrecision) {
    std::mt19937_64 random(7);
    std::lognormal_distribution<double> latency(8.0, 1.5);  // around 3 ms, long tail
    LatencyHistogram histogram;
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 50'000; ++i) {
        auto value = static_cast<std::uint64_t>(latency(random));
        values.push_back(value);
        histogram.record(value);
    }
    std::sort(values.begin(), values.end());
    for (double quantile : {0.5, 0.9, 0.99, 0.999}) {
        auto rank =
            static_cast<std::size_t>(std::ceil(quantile * static_cast<double>(values.size())));
        std::uint64_t exact = values[rank - 1];
        std::uint64_t reported = histogram.value_at_quantile(quantile);
        EXPECT_GE(reported, exact) << quantile;  // never understates
        EXPECT_LE(static_cast<double>(reported), static_cast<double>(exact) * 1.008 + 1)
            << quantile;
    }
    EXPECT_EQ(histogram.max(), values.back());
    EXPECT_EQ(histogram.value_at_quantile(1.0), values.back());
    EXPECT_EQ(histogram.min(), values.front());
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
    LatencyHistogram left;
    LatencyHistogram right;
    LatencyHistogram both;
    for (std::uint64_t value = 1; value < 1'000'000; value += 997) {
        (value % 2 == 0 ? left : right).record(value);
        both.record(value);
    }
    left.merge(right);
    EXPECT_EQ(left.count(), both.count());
    EXPECT_EQ(left.min(), both.min());
    EXPECT_EQ(left.max(), both.max());
    EXPECT_DOUBLE_EQ(left.mean(), both.mean());
    for (double quantile : {0.1, 0.5, 0.99, 0.999}) {
        EXPECT_EQ(left.value_at_quantile(quantile), both.value_at_quantile(quantile));
    }
    left.reset();
    EXPECT_EQ(left.count(), 0U);
    EXPECT_EQ(left.value_at_quantile(0.5), 0U);
}

TEST(LatencyHistogram, ValuesAboveTheRangeSaturateButMaxStaysExact) {
    LatencyHistogram histogram;
    const std::uint64_t huge = LatencyHistogram::value_max * 4;
    histogram.record(huge);
    histogram.record(5);
    EXPECT_EQ(histogram.saturated(), 1U);
    EXPECT_EQ(histogram.max(), huge);
    EXPECT_EQ(histogram.value_at_quantile(1.0), LatencyHistogram::value_max);
    EXPECT_EQ(histogram.value_at_quantile(0.5), 5U);
}

}  // namespace
}  // namespace qrpay::loadgen
