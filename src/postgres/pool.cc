#include "postgres/pool.h"

#include <utility>

namespace qrpay::postgres {

Pool::Lease::~Lease() {
    if (pool_ != nullptr && connection_ != nullptr) {
        pool_->give_back(std::move(connection_));
    }
}

Result<Pool::Lease> Pool::acquire() {
    std::unique_lock lock(mutex_);
    const bool free = returned_.wait_for(lock, options_.wait_max, [this] {
        return !idle_.empty() || open_ < options_.connections_max;
    });
    if (!free) {
        return Status{Errc::unavailable, "postgres: no free connection within " +
                                             std::to_string(options_.wait_max.count()) + " ms"};
    }
    if (!idle_.empty()) {
        std::unique_ptr<Connection> connection = std::move(idle_.back());
        idle_.pop_back();
        return Lease(*this, std::move(connection));
    }
    ++open_;
    lock.unlock();  // connecting takes a round trip or more; others may use idle ones meanwhile
    Result<std::unique_ptr<Connection>> opened = Connection::open(options_.url, options_.connect);
    if (!opened.ok()) {
        std::lock_guard relock(mutex_);
        --open_;
        returned_.notify_one();
        return opened.status();
    }
    return Lease(*this, std::move(*opened));
}

void Pool::give_back(std::unique_ptr<Connection> connection) {
    std::unique_ptr<Connection> lost;  // closed once the lock is released
    {
        std::lock_guard lock(mutex_);
        if (connection->broken()) {
            --open_;
            lost = std::move(connection);
        } else {
            idle_.push_back(std::move(connection));
        }
    }
    returned_.notify_one();
}

}  // namespace qrpay::postgres
