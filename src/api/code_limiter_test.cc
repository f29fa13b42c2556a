// CodeLimiter with a hand-driven clock: the burst, the refill, the open-code cap, Retry-After
// and the bound on tracked subjects.
#include "api/code_limiter.h"

#include <gtest/gtest.h>

namespace qrpay::api {
namespace {

using namespace std::chrono_literals;
using Verdict = CodeLimiter::Verdict;

const CodeLimiter::Clock::time_point t0{std::chrono::hours(1)};

TEST(CodeLimiter, ABurstThenOneCodePerRefillInterval) {
    CodeLimiter limiter({.burst_max = 3, .refill_interval = 2s, .open_codes_max = 100});
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(limiter.take("alice", t0).verdict, Verdict::allowed) << i;
    }
    auto refused = limiter.take("alice", t0);
    EXPECT_EQ(refused.verdict, Verdict::rate_exceeded);
    EXPECT_EQ(refused.retry_after, 2s);
    EXPECT_EQ(limiter.take("bob", t0).verdict, Verdict::allowed);  // per subject
    EXPECT_EQ(limiter.take("alice", t0 + 1s).verdict, Verdict::rate_exceeded);
    EXPECT_EQ(limiter.take("alice", t0 + 2s).verdict, Verdict::allowed);
}

TEST(CodeLimiter, OpenCodesAreCappedUntilTheOldestExpires) {
    CodeLimiter limiter(
        {.burst_max = 100, .refill_interval = 1ms, .open_codes_max = 2, .code_ttl = 300s});
    EXPECT_EQ(limiter.take("alice", t0).verdict, Verdict::allowed);
    EXPECT_EQ(limiter.take("alice", t0 + 10s).verdict, Verdict::allowed);
    auto refused = limiter.take("alice", t0 + 20s);
    EXPECT_EQ(refused.verdict, Verdict::open_codes_exceeded);
    EXPECT_EQ(refused.retry_after, 280s);
    EXPECT_EQ(limiter.take("alice", t0 + 300s).verdict, Verdict::allowed);  // the first expired
}

TEST(CodeLimiter, ACodeWhoseIssueFailedIsGivenBack) {
    CodeLimiter limiter({.burst_max = 1, .refill_interval = 1h, .open_codes_max = 1});
    EXPECT_EQ(limiter.take("alice", t0).verdict, Verdict::allowed);
    limiter.give_back("alice");  // the store refused the write: nothing was issued
    EXPECT_EQ(limiter.take("alice", t0).verdict, Verdict::allowed);
    EXPECT_NE(limiter.take("alice", t0).verdict, Verdict::allowed);
    limiter.give_back("nobody");  // unknown subjects are ignored
}

TEST(CodeLimiter, TracksAtMostSubjectsMaxForgettingIdleOnes) {
    CodeLimiter limiter({.burst_max = 1, .refill_interval = 1s, .code_ttl = 5s, .subjects_max = 2});
    EXPECT_EQ(limiter.take("a", t0).verdict, Verdict::allowed);
    EXPECT_EQ(limiter.take("b", t0).verdict, Verdict::allowed);
    EXPECT_EQ(limiter.take("c", t0).verdict, Verdict::too_many_subjects);
    EXPECT_EQ(limiter.subjects_tracked(), 2U);
    // Once a and b have full allowances and no open codes, they are forgotten for c.
    EXPECT_EQ(limiter.take("c", t0 + 5s).verdict, Verdict::allowed);
    EXPECT_LE(limiter.subjects_tracked(), 2U);
}

}  // namespace
}  // namespace qrpay::api
