#include "journal/writer_front.h"

#include <future>
#include <memory>
#include <utility>

#include "base/assert.h"
#include "journal/validation.h"

namespace qrpay::journal {

void WriterFront::append(AppendRequest request, Journal::AppendCallback done) {
    QRPAY_ASSERT(done != nullptr, "append without a callback");
    if (Status valid = validate_append(request); !valid.ok()) {
        done(std::move(valid));
        return;
    }
    appended_any_.store(true, std::memory_order_relaxed);
    PendingWrite write = make_pending_write(std::move(request), std::move(done));
    if (!queue_.try_push(write)) {
        write.done(Status(Errc::unavailable, "journal write queue is full or closing"));
    }
}

Status WriterFront::save_snapshot(const std::string& persistence_id,
                                  const Snapshot& snapshot,
                                  std::thread::id writer) {
    if (Status valid = validate_snapshot(persistence_id, snapshot); !valid.ok()) {
        return valid;
    }
    return write_and_wait(SnapshotOp{persistence_id, snapshot}, writer);
}

Status WriterFront::claim_shard(ShardId shard, FencingToken token, std::thread::id writer) {
    if (Status valid = validate_fencing(token); !valid.ok()) {
        return valid;
    }
    return write_and_wait(ClaimOp{shard, token}, writer);
}

// The writer answers every queued write, also while the journal closes, so the wait ends.
Status WriterFront::write_and_wait(WriteOp op, std::thread::id writer) {
    QRPAY_ASSERT(std::this_thread::get_id() != writer,
                 "a journal callback waited for the journal writer");
    auto outcome = std::make_shared<std::promise<Status>>();
    std::future<Status> future = outcome->get_future();
    PendingWrite write = make_pending_write(
        std::move(op), [outcome](Status status) { outcome->set_value(std::move(status)); });
    if (!queue_.try_push(write)) {
        return {Errc::unavailable, "journal write queue is full or closing"};
    }
    try {
        return future.get();
    } catch (const std::future_error&) {
        QRPAY_ASSERT(false, "a write callback was destroyed without running");
    }
    return {Errc::unknown_outcome, "unreachable"};
}

void WriterFront::set_commit_listener(Journal::CommitListener listener) {
    QRPAY_ASSERT(!appended_any_.load(), "set_commit_listener after the first append");
    std::lock_guard lock(listener_mutex_);
    listener_ = std::move(listener);
}

Journal::CommitListener WriterFront::commit_listener() {
    std::lock_guard lock(listener_mutex_);
    return listener_;
}

}  // namespace qrpay::journal
