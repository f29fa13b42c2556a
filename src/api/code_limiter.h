#pragma once
// CodeLimiter: how many payment codes one consumer may ask for (issue 10, finding 10). Each
// code costs two entities, their events and a slot in the code space, so one token must not
// be able to make tens of thousands of them.
//
// Two limits per subject (the token's `sub`), both answered 429 with Retry-After:
//   rate       a token bucket: `burst_max` codes at once, then one per `refill_interval`
//   open codes at most `open_codes_max` codes issued within the last `code_ttl`, whether read
//              since or not: a code counts until the moment it expires at the latest, so the
//              count never undercounts the codes still open
// The state lives in memory (a restart forgets it, which costs at most one more burst) and is
// bounded: at most `subjects_max` subjects are tracked; beyond, idle ones are forgotten (one
// sweep a second at most, so a full table costs no scan per request), and if none is idle the
// request is refused 503.
//
// Thread-safe.

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace qrpay::api {

struct CodeLimits {
    std::size_t burst_max = 10;
    std::chrono::milliseconds refill_interval{2'000};  // one more code per interval: 30/min
    std::size_t open_codes_max = 20;
    std::chrono::milliseconds code_ttl{std::chrono::minutes(5)};
    std::size_t subjects_max = 100'000;
};

class CodeLimiter {
public:
    using Clock = std::chrono::steady_clock;

    enum class Verdict { allowed, rate_exceeded, open_codes_exceeded, too_many_subjects };
    struct Decision {
        Verdict verdict = Verdict::allowed;
        std::chrono::seconds retry_after{0};  // when refused: when to try again
    };

    explicit CodeLimiter(CodeLimits limits);

    // Takes one code from `subject`'s allowance when both limits permit it.
    Decision take(const std::string& subject, Clock::time_point now);
    // Gives back the code last taken: its issue surely failed (nothing was stored), so it
    // must not count against the consumer after the store recovers.
    void give_back(const std::string& subject);

    [[nodiscard]] const CodeLimits& limits() const { return limits_; }
    [[nodiscard]] std::size_t subjects_tracked() const;

private:
    struct Allowance {
        double tokens = 0;
        Clock::time_point refilled_at;
        std::deque<Clock::time_point> issued;  // within the last code_ttl; at most open_codes_max
    };

    void refill(Allowance& allowance, Clock::time_point now) const;
    void forget_expired(Allowance& allowance, Clock::time_point now) const;
    // Forgets subjects whose allowance is back to full; false when none could go.
    bool make_room(Clock::time_point now);

    CodeLimits limits_;
    mutable std::mutex mutex_;  // guards the rest: requests arrive on every HTTP thread
    std::unordered_map<std::string, Allowance> allowances_;
    std::optional<Clock::time_point> swept_at_;
};

}  // namespace qrpay::api
