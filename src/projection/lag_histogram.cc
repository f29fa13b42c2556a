#include "projection/lag_histogram.h"

#include <algorithm>

namespace qrpay::projection {

void LagHistogram::observe(std::chrono::milliseconds lag) {
    std::int64_t lag_ms = std::max<std::int64_t>(0, lag.count());
    auto bucket = static_cast<std::size_t>(
        std::lower_bound(bucket_bounds_ms.begin(), bucket_bounds_ms.end(), lag_ms) -
        bucket_bounds_ms.begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_ms_.fetch_add(lag_ms, std::memory_order_relaxed);
    std::int64_t seen = max_ms_.load(std::memory_order_relaxed);
    while (lag_ms > seen && !max_ms_.compare_exchange_weak(seen, lag_ms)) {
    }
}

LagHistogram::Snapshot LagHistogram::snapshot() const {
    Snapshot out;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        out.counts[i] = counts_[i].load(std::memory_order_relaxed);
    }
    out.count = count_.load(std::memory_order_relaxed);
    out.sum_ms = sum_ms_.load(std::memory_order_relaxed);
    out.max_ms = max_ms_.load(std::memory_order_relaxed);
    return out;
}

}  // namespace qrpay::projection
