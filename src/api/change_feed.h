#pragma once
// ChangeFeed: lets a request wait until an entity persists a newer version, with a deadline
// (long-poll, and the bounded wait of POST /v1/payments). Fed by the runtime's persist
// listener; knows persistence ids and sequence numbers only.
//
// A waiter fires exactly once: with `true` when the entity persisted a sequence above
// `after_seq`, with `false` at its deadline or when the feed stops. Callers close the race
// between reading the version and registering by registering first, then reading.
//
// Thread safety: every method may be called from any thread. Callbacks run on the thread that
// fired them (an entity executor or the feed's scheduler) and must not block.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/strong_types.h"
#include "http/scheduler.h"

namespace qrpay::api {

class ChangeFeed {
public:
    using Fired = std::function<void(bool changed)>;
    using WaiterId = std::uint64_t;

    explicit ChangeFeed(std::size_t waiters_max = 10'000);
    ~ChangeFeed();

    // unavailable when waiters_max waiters are registered.
    Result<WaiterId> wait(const std::string& persistence_id,
                          SequenceNr after_seq,
                          std::chrono::milliseconds timeout,
                          Fired fired);
    // Fires the waiter now with `changed` = true if it has not fired yet (the caller saw the
    // change itself).
    void fire_now(const std::string& persistence_id, WaiterId id);

    // The runtime's persist listener.
    void on_persisted(const std::string& persistence_id, SequenceNr seq);

    void stop();

private:
    struct Waiter {
        WaiterId id;
        SequenceNr after_seq;
        Fired fired;
        http::TimerId timer;
    };
    Fired take(const std::string& persistence_id, WaiterId id);

    const std::size_t waiters_max_;
    http::Scheduler scheduler_;
    std::mutex mutex_;  // guards the fields below: executors, HTTP threads and the scheduler
    std::unordered_map<std::string, std::vector<Waiter>> waiters_;
    std::size_t waiter_count_ = 0;
    WaiterId next_id_ = 1;
};

}  // namespace qrpay::api
