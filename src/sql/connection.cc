#include "sql/connection.h"

#include <limits>
#include <utility>

#include "base/assert.h"

namespace qrpay::sql {

std::int64_t to_column(std::uint64_t value) {
    QRPAY_ASSERT(value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                 "a number above INT64_MAX reached a column");
    return static_cast<std::int64_t>(value);
}

std::uint64_t from_column(std::int64_t value) {
    QRPAY_ASSERT(value >= 0, "a negative number in an unsigned column");
    return static_cast<std::uint64_t>(value);
}

void Statement::bind_optional_text(int index, const std::optional<std::string>& value) {
    if (value) {
        bind_text(index, *value);
    } else {
        bind_null(index);
    }
}

Status Statement::run(std::string_view what) {
    for (;;) {
        switch (step()) {
            case Step::row:
                continue;
            case Step::done:
                return {};
            case Step::error:
                return error(what);
        }
    }
}

std::optional<std::int64_t> Statement::column_optional_int(int index) const {
    if (column_is_null(index)) {
        return std::nullopt;
    }
    return column_int(index);
}

std::optional<std::string> Statement::column_optional_text(int index) const {
    if (column_is_null(index)) {
        return std::nullopt;
    }
    return column_text(index);
}

bool is_postgres_url(std::string_view location) {
    return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

Status Connection::run(std::string_view sql) {
    Result<Statement> statement = prepare(sql);
    if (!statement.ok()) {
        return statement.status();
    }
    return statement->run(sql);
}

Pool::Lease::~Lease() {
    if (pool_ != nullptr && connection_ != nullptr) {
        pool_->give_back(std::move(connection_));
    }
}

Result<Pool::Lease> Pool::acquire() {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + wait_max_;
    for (;;) {
        const bool free = returned_.wait_until(
            lock, deadline, [this] { return !idle_.empty() || open_ < connections_max_; });
        if (!free) {
            return Status(Errc::unavailable, "no free read connection within " +
                                                 std::to_string(wait_max_.count()) + " ms");
        }
        if (std::unique_ptr<Connection> live = take_live_idle(lock)) {
            return Lease(*this, std::move(live));
        }
        if (open_ < connections_max_) {
            break;
        }
    }
    ++open_;
    lock.unlock();  // opening may take a round trip; others may use idle connections meanwhile
    Result<std::unique_ptr<Connection>> opened = opener_();
    if (!opened.ok()) {
        std::lock_guard relock(mutex_);
        --open_;
        returned_.notify_one();
        return opened.status();
    }
    return Lease(*this, std::move(opened).value());
}

std::unique_ptr<Connection> Pool::take_live_idle(std::unique_lock<std::mutex>& lock) {
    while (!idle_.empty()) {
        Idle idle = std::move(idle_.back());
        idle_.pop_back();
        const bool check = idle.connection->dialect() == Dialect::postgres &&
                           std::chrono::steady_clock::now() - idle.since >= liveness_check_after_;
        if (!check) {
            return std::move(idle.connection);
        }
        lock.unlock();  // a round trip; the connection is this caller's meanwhile
        const bool alive = idle.connection->run("SELECT 1").ok();
        if (alive) {
            lock.lock();
            return std::move(idle.connection);
        }
        idle.connection.reset();  // closed outside the lock
        lock.lock();
        --open_;
    }
    return nullptr;
}

void Pool::give_back(std::unique_ptr<Connection> connection) {
    std::unique_ptr<Connection> lost;  // closed once the lock is released
    {
        std::lock_guard lock(mutex_);
        if (connection->broken()) {
            --open_;
            lost = std::move(connection);
        } else {
            idle_.push_back({std::move(connection), std::chrono::steady_clock::now()});
        }
    }
    returned_.notify_one();
}

}  // namespace qrpay::sql
