#pragma once
// Status and Result<T>: the one way an expected failure travels in qrpay (STYLE 2.3).
// A Status is cheap on success (no allocation) and carries a code and a human message.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace qrpay {

// One enum for the whole code base keeps the mapping to HTTP in one place (api/problem.cc).
// Each module documents which of these its functions return.
enum class Errc {
    ok = 0,
    invalid_argument,   // the caller's input is wrong; nothing changed
    not_found,          // no such entity, code or record
    conflict,           // state forbids the command (e.g. code already read)
    sequence_conflict,  // journal: expected sequence number is not the highest stored
    fenced,             // journal: the shard's fencing token is stale
    key_taken,          // journal: a claimed key is held by another entity
    unavailable,        // overloaded or shutting down; retry later
    unreachable,        // a server the call needs (the PostgreSQL journal's) cannot be reached:
                        // no connection, or it was lost before COMMIT was sent; the write
                        // surely did not happen; retry later
    io_error,           // the store failed; the write surely did not happen
    unknown_outcome,    // the write or remote call may or may not have happened
    timeout,            // a deadline passed
    corruption,         // stored bytes cannot be decoded
    remote_error,       // a remote peer answered with an error
    not_owner,          // cluster: this node does not serve the entity's shard now (another
                        // does, or it is moving); nothing changed; retry later
    aborted,            // the store aborted the statement to break a deadlock or a
                        // serialization conflict with another transaction; it did nothing,
                        // and running it again (after its savepoint or transaction) is right
};

std::string_view errc_name(Errc errc);
// The code errc_name() gives `name`, or nullopt (a name from another process, maybe of another
// version).
std::optional<Errc> errc_named(std::string_view name);

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status ok_status() { return {}; }

    [[nodiscard]] bool ok() const { return code_ == Errc::ok; }
    [[nodiscard]] Errc code() const { return code_; }
    [[nodiscard]] const std::string& message() const { return message_; }
    [[nodiscard]] std::string to_string() const;

private:
    Errc code_ = Errc::ok;
    std::string message_;
};

// Result<T> holds a T or a non-ok Status.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
    Result(Status status) : value_(std::move(status)) {  // NOLINT(google-explicit-constructor)
        QRPAY_ASSERT(!std::get<Status>(value_).ok(), "Result built from an ok Status");
    }

    [[nodiscard]] bool ok() const { return std::holds_alternative<T>(value_); }
    [[nodiscard]] const Status& status() const {
        static const Status ok_status;
        return ok() ? ok_status : std::get<Status>(value_);
    }
    T& value() & {
        QRPAY_ASSERT(ok(), "value() of a failed Result");
        return std::get<T>(value_);
    }
    [[nodiscard]] const T& value() const& {
        QRPAY_ASSERT(ok(), "value() of a failed Result");
        return std::get<T>(value_);
    }
    T&& value() && {
        QRPAY_ASSERT(ok(), "value() of a failed Result");
        return std::get<T>(std::move(value_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

private:
    std::variant<T, Status> value_;
};

}  // namespace qrpay
