#include "sqlite/read_pool.h"

#include <utility>

#include "base/assert.h"

namespace qrpay::sqlite {

ReadPool::ReadPool(ReadPoolOptions options) : options_(std::move(options)) {
    QRPAY_ASSERT(options_.connections_max >= 1, "a read pool needs a connection");
    QRPAY_ASSERT(options_.wait_max.count() >= 0, "a read pool's wait_max is negative");
}

ReadPool::Lease::~Lease() {
    if (connection_ != nullptr) {
        pool_->give_back(std::move(connection_));
    }
}

Result<ReadPool::Lease> ReadPool::acquire() {
    std::unique_lock lock(mutex_);
    bool ready = returned_.wait_for(lock, options_.wait_max, [this] {
        return !idle_.empty() || open_count_ < options_.connections_max;
    });
    if (!ready) {
        return Status(Errc::unavailable, "no read connection free within " +
                                             std::to_string(options_.wait_max.count()) + " ms");
    }
    if (!idle_.empty()) {
        std::unique_ptr<Connection> connection = std::move(idle_.back());
        idle_.pop_back();
        return Lease(*this, std::move(connection));
    }
    ++open_count_;  // reserves the slot while the connection opens outside the lock
    lock.unlock();
    return open_new();
}

// REQUIRES: a slot reserved in open_count_; releases it when the open fails.
Result<ReadPool::Lease> ReadPool::open_new() {
    Result<std::unique_ptr<Connection>> opened =
        Connection::open(options_.path, OpenMode::reader, options_.lock_wait_max);
    if (!opened.ok()) {
        {
            std::lock_guard lock(mutex_);
            QRPAY_ASSERT(open_count_ > 0, "read pool slot count drifted");
            --open_count_;
        }
        returned_.notify_one();
        return opened.status();
    }
    return Lease(*this, std::move(opened).value());
}

void ReadPool::give_back(std::unique_ptr<Connection> connection) {
    QRPAY_ASSERT(!connection->in_transaction(), "read connection returned inside a transaction");
    {
        std::lock_guard lock(mutex_);
        QRPAY_ASSERT(idle_.size() < open_count_, "more idle read connections than open ones");
        idle_.push_back(std::move(connection));
    }
    returned_.notify_one();
}

}  // namespace qrpay::sqlite
