#include "api/code_limiter.h"

#include <algorithm>

#include "base/assert.h"

namespace qrpay::api {
namespace {

std::chrono::seconds seconds_until(CodeLimiter::Clock::time_point now,
                                   CodeLimiter::Clock::time_point at) {
    auto wait = std::chrono::ceil<std::chrono::seconds>(at - now);
    return std::max(wait, std::chrono::seconds(1));
}

}  // namespace

CodeLimiter::CodeLimiter(CodeLimits limits) : limits_(limits) {
    QRPAY_ASSERT(limits_.burst_max >= 1 && limits_.open_codes_max >= 1,
                 "a consumer may have at least one code");
    QRPAY_ASSERT(limits_.refill_interval.count() > 0 && limits_.code_ttl.count() > 0,
                 "positive intervals");
    QRPAY_ASSERT(limits_.subjects_max >= 1, "at least one subject is tracked");
}

void CodeLimiter::refill(Allowance& allowance, Clock::time_point now) const {
    auto elapsed = std::chrono::duration<double, std::milli>(now - allowance.refilled_at);
    double earned = elapsed.count() / static_cast<double>(limits_.refill_interval.count());
    allowance.tokens =
        std::min(static_cast<double>(limits_.burst_max), allowance.tokens + std::max(earned, 0.0));
    allowance.refilled_at = now;
}

void CodeLimiter::forget_expired(Allowance& allowance, Clock::time_point now) const {
    while (!allowance.issued.empty() && allowance.issued.front() + limits_.code_ttl <= now) {
        allowance.issued.pop_front();
    }
}

bool CodeLimiter::make_room(Clock::time_point now) {
    constexpr std::chrono::seconds sweep_interval_min{1};
    if (swept_at_ && now - *swept_at_ < sweep_interval_min) {
        return false;
    }
    swept_at_ = now;
    std::size_t before = allowances_.size();
    for (auto it = allowances_.begin(); it != allowances_.end();) {
        Allowance& allowance = it->second;
        refill(allowance, now);
        forget_expired(allowance, now);
        bool idle =
            allowance.issued.empty() && allowance.tokens >= static_cast<double>(limits_.burst_max);
        it = idle ? allowances_.erase(it) : std::next(it);
    }
    return allowances_.size() < before;
}

CodeLimiter::Decision CodeLimiter::take(const std::string& subject, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto it = allowances_.find(subject);
    if (it == allowances_.end()) {
        if (allowances_.size() >= limits_.subjects_max && !make_room(now)) {
            return {Verdict::too_many_subjects, std::chrono::seconds(1)};
        }
        it = allowances_
                 .emplace(subject, Allowance{.tokens = static_cast<double>(limits_.burst_max),
                                             .refilled_at = now,
                                             .issued = {}})
                 .first;
    }
    Allowance& allowance = it->second;
    refill(allowance, now);
    forget_expired(allowance, now);
    if (allowance.issued.size() >= limits_.open_codes_max) {
        return {Verdict::open_codes_exceeded,
                seconds_until(now, allowance.issued.front() + limits_.code_ttl)};
    }
    if (allowance.tokens < 1.0) {
        auto missing = std::chrono::duration<double, std::milli>(
            (1.0 - allowance.tokens) * static_cast<double>(limits_.refill_interval.count()));
        return {Verdict::rate_exceeded,
                seconds_until(now, now + std::chrono::duration_cast<Clock::duration>(missing))};
    }
    allowance.tokens -= 1.0;
    allowance.issued.push_back(now);
    QRPAY_ASSERT(allowance.issued.size() <= limits_.open_codes_max, "open codes stay bounded");
    return {};
}

void CodeLimiter::give_back(const std::string& subject) {
    std::lock_guard lock(mutex_);
    auto it = allowances_.find(subject);
    if (it == allowances_.end() || it->second.issued.empty()) {
        return;
    }
    Allowance& allowance = it->second;
    allowance.issued.pop_back();
    allowance.tokens = std::min(static_cast<double>(limits_.burst_max), allowance.tokens + 1.0);
}

std::size_t CodeLimiter::subjects_tracked() const {
    std::lock_guard lock(mutex_);
    return allowances_.size();
}

}  // namespace qrpay::api
