#pragma once
// BoundedPool<T>: at most connections_max objects (database connections) opened on demand by
// an Opener and lent to one caller at a time; acquire() waits at most wait_max for one to come
// back. Each database layer's pool is this one with its own hooks:
//   lost(T&)   true for one that must not be lent again (a dropped connection): given back,
//              it is closed and its slot freed;
//   alive(T&)  checked before lending one idle for check_idle_after or longer; false closes it
//              and the next idle one (or a new one) is tried.
//
// Thread safety: acquire() may be called from any thread; a Lease is used by one.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "base/status.h"

namespace qrpay {

template <class T>
class BoundedPool {
public:
    using Opener = std::function<Result<std::unique_ptr<T>>()>;
    using Check = std::function<bool(T&)>;

    struct Hooks {
        Check lost{};   // empty: never lost
        Check alive{};  // empty: never checked
        std::chrono::milliseconds check_idle_after{0};
    };

    BoundedPool(Opener opener,
                std::size_t connections_max,
                std::chrono::milliseconds wait_max,
                Hooks hooks = {})
        : opener_(std::move(opener)),
          connections_max_(connections_max),
          wait_max_(wait_max),
          hooks_(std::move(hooks)) {
        QRPAY_ASSERT(connections_max_ >= 1, "a pool needs a connection");
        QRPAY_ASSERT(wait_max_.count() >= 0, "a pool's wait_max is negative");
    }
    BoundedPool(const BoundedPool&) = delete;
    BoundedPool& operator=(const BoundedPool&) = delete;
    BoundedPool(BoundedPool&&) = delete;
    BoundedPool& operator=(BoundedPool&&) = delete;
    ~BoundedPool() = default;  // REQUIRES: no lease outstanding

    // One object lent to one caller; goes back to the pool when the lease is destroyed.
    class Lease {
    public:
        Lease(BoundedPool& pool, std::unique_ptr<T> object)
            : pool_(&pool), object_(std::move(object)) {}
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() {
            if (object_ != nullptr) {
                pool_->give_back(std::move(object_));
            }
        }
        T& operator*() const { return *object_; }
        T* operator->() const { return object_.get(); }

    private:
        BoundedPool* pool_;
        std::unique_ptr<T> object_;
    };

    // An idle object, or a new one while fewer than connections_max exist; else waits up to
    // wait_max (then unavailable). A failed open answers its own status.
    Result<Lease> acquire() {
        std::unique_lock lock(mutex_);
        const auto deadline = std::chrono::steady_clock::now() + wait_max_;
        for (;;) {
            if (!returned_.wait_until(lock, deadline, [this] {
                    return !idle_.empty() || open_ < connections_max_;
                })) {
                return Status(Errc::unavailable, "no free connection within " +
                                                     std::to_string(wait_max_.count()) + " ms");
            }
            if (std::unique_ptr<T> live = take_live_idle(lock)) {
                return Lease(*this, std::move(live));
            }
            if (open_ < connections_max_) {
                break;
            }
        }
        ++open_;        // reserves the slot while the object opens outside the lock
        lock.unlock();  // opening may take a round trip; others may use idle ones meanwhile
        Result<std::unique_ptr<T>> opened = opener_();
        if (!opened.ok()) {
            release_slot();
            return opened.status();
        }
        return Lease(*this, std::move(opened).value());
    }

private:
    struct Idle {
        std::unique_ptr<T> object;
        std::chrono::steady_clock::time_point since;
    };

    // An idle object that passes `alive` when due, or null; closes those that do not.
    // REQUIRES: `lock` held; released around each check.
    std::unique_ptr<T> take_live_idle(std::unique_lock<std::mutex>& lock) {
        while (!idle_.empty()) {
            Idle idle = std::move(idle_.back());
            idle_.pop_back();
            const bool due = hooks_.alive && std::chrono::steady_clock::now() - idle.since >=
                                                 hooks_.check_idle_after;
            if (!due) {
                return std::move(idle.object);
            }
            lock.unlock();  // a round trip; the object is this caller's meanwhile
            const bool alive = hooks_.alive(*idle.object);
            if (!alive) {
                idle.object.reset();  // closed outside the lock
            }
            lock.lock();
            if (alive) {
                return std::move(idle.object);
            }
            --open_;
        }
        return nullptr;
    }

    void give_back(std::unique_ptr<T> object) {
        if (hooks_.lost && hooks_.lost(*object)) {
            object.reset();  // closed outside the lock
            release_slot();
            return;
        }
        {
            std::lock_guard lock(mutex_);
            QRPAY_ASSERT(idle_.size() < open_, "more idle connections than open ones");
            idle_.push_back({std::move(object), std::chrono::steady_clock::now()});
        }
        returned_.notify_one();
    }

    void release_slot() {
        {
            std::lock_guard lock(mutex_);
            QRPAY_ASSERT(open_ > 0, "pool slot count drifted");
            --open_;
        }
        returned_.notify_one();
    }

    const Opener opener_;
    const std::size_t connections_max_;
    const std::chrono::milliseconds wait_max_;
    const Hooks hooks_;
    std::mutex mutex_;  // guards idle_ and open_; shared by every borrowing thread
    std::condition_variable returned_;
    std::vector<Idle> idle_;
    std::size_t open_ = 0;  // idle, lent or being opened; at most connections_max_
};

}  // namespace qrpay
