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
    QRPAY_ASSERT(options_.resume_backoff_first.count() > 0 &&
                     options_.resume_backoff_first <= options_.resume_backoff_max,
                 "0 < resume_backoff_first <= resume_backoff_max");
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
    for (std::size_t i = 0; i < executors_.size(); ++i) {
        executors_[i]->start("executor-" + std::to_string(i));
    }
    QRPAY_LOG_INFO("runtime started: %u executors, %u shards claimed", options_.executor_count,
                   options_.shard_count);
    return {};
}

void Runtime::stop() {
    // Appends in flight report to an executor: let them land before the executors stop, and
    // wait once more for any that the last queued tasks started, so that no journal callback
    // can reach this object after it is gone.
    wait_for_appends();
    for (auto& executor : executors_) {
        executor->stop();
    }
    wait_for_appends();
}

void Runtime::wait_for_appends() {
    constexpr auto appends_wait_max = std::chrono::seconds(30);
    std::unique_lock lock(appends_mutex_);
    bool drained =
        appends_done_.wait_for(lock, appends_wait_max, [this] { return appends_in_flight_ == 0; });
    QRPAY_ASSERT(drained, "the journal answers every append it accepted");
}

void Runtime::append(journal::AppendRequest request, std::function<void(const Status&)> done) {
    {
        std::lock_guard lock(appends_mutex_);
        ++appends_in_flight_;
    }
    std::string pid = request.persistence_id;
    journal_.append(std::move(request),
                    [this, pid = std::move(pid), done = std::move(done)](Status status) {
                        record_append_outcome(status);
                        post_admitted(pid, [done, status = std::move(status)] { done(status); });
                        std::lock_guard lock(appends_mutex_);
                        if (--appends_in_flight_ == 0) {
                            appends_done_.notify_all();
                        }
                    });
}

namespace {
std::int64_t steady_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

void Runtime::record_append_outcome(const Status& status) {
    if (status.ok()) {
        last_good_append_ms_.store(steady_now_ms());
    } else if (status.code() == Errc::io_error || status.code() == Errc::unknown_outcome) {
        last_failed_append_ms_.store(steady_now_ms());
    }
}

bool Runtime::writes_failing(std::chrono::milliseconds window) const {
    std::int64_t failed = last_failed_append_ms_.load();
    return failed != 0 && failed >= last_good_append_ms_.load() &&
           steady_now_ms() - failed < window.count();
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
