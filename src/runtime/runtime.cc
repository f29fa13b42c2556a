#include "runtime/runtime.h"

#include <thread>

#include "base/assert.h"
#include "base/hash.h"
#include "base/log.h"
#include "runtime/executor.h"

namespace qrpay::runtime {

Runtime::Runtime(journal::Journal& journal, const Clock& clock, RuntimeOptions options)
    : journal_(journal), clock_(clock), options_(options) {
    if (options_.executor_count == 0) {
        options_.executor_count = std::max(1U, std::thread::hardware_concurrency());
    }
    QRPAY_ASSERT(options_.shard_count > 0, "at least one shard");
    QRPAY_ASSERT(options_.snapshot_every_events > 0, "snapshot interval must be positive");
    executors_.reserve(options_.executor_count);
    for (std::uint32_t i = 0; i < options_.executor_count; ++i) {
        executors_.push_back(std::make_unique<Executor>(options_.mailbox_depth_max));
    }
}

Runtime::~Runtime() { stop(); }

Status Runtime::start() {
    fencing_.assign(options_.shard_count, FencingToken(0));
    for (std::uint32_t shard = 0; shard < options_.shard_count; ++shard) {
        auto current = journal_.current_fencing(ShardId(shard));
        if (!current.ok()) {
            return current.status();
        }
        FencingToken next = current->next();
        Status claimed = journal_.claim_shard(ShardId(shard), next);
        if (!claimed.ok()) {
            return claimed;
        }
        fencing_[shard] = next;
    }
    for (auto& executor : executors_) {
        executor->start();
    }
    QRPAY_LOG_INFO("runtime started: %u executors, %u shards claimed", options_.executor_count,
                   options_.shard_count);
    return {};
}

void Runtime::stop() {
    for (auto& executor : executors_) {
        executor->stop();
    }
}

ShardId Runtime::shard_of(const std::string& persistence_id) const {
    return qrpay::shard_of(persistence_id, options_.shard_count);
}

FencingToken Runtime::fencing_of(ShardId shard) const {
    QRPAY_ASSERT(shard.value < fencing_.size(), "shard out of range or runtime not started");
    return fencing_[shard.value];
}

std::size_t Runtime::executor_of(const std::string& persistence_id) const {
    // Executors follow shards, so a shard's entities share one thread (as they will on the
    // shard's owner in the cluster).
    return shard_of(persistence_id).value % executors_.size();
}

Status Runtime::post(const std::string& persistence_id, std::function<void()> task) {
    return executors_[executor_of(persistence_id)]->post(std::move(task));
}

void Runtime::post_admitted(const std::string& persistence_id, std::function<void()> task) {
    executors_[executor_of(persistence_id)]->post_admitted(std::move(task));
}

void Runtime::post_at(const std::string& persistence_id,
                      std::chrono::steady_clock::time_point when,
                      std::function<void()> task) {
    executors_[executor_of(persistence_id)]->post_at(when, std::move(task));
}

void Runtime::post_to_executor(std::size_t executor,
                               std::chrono::steady_clock::time_point when,
                               std::function<void()> task) {
    QRPAY_ASSERT(executor < executors_.size(), "executor index out of range");
    executors_[executor]->post_at(when, std::move(task));
}

void Runtime::add_persist_listener(PersistListener listener) {
    persist_listeners_.push_back(std::move(listener));
}

void Runtime::notify_persisted(const std::string& persistence_id, SequenceNr seq) const {
    for (const auto& listener : persist_listeners_) {
        listener(persistence_id, seq);
    }
}

}  // namespace qrpay::runtime
