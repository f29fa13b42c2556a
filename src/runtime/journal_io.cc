#include "runtime/journal_io.h"

#include <chrono>

#include "base/assert.h"
#include "base/thread_name.h"

namespace qrpay::runtime {

JournalIo::JournalIo(JournalIoOptions options) : options_(options) {
    QRPAY_ASSERT(options_.threads > 0, "at least one journal-I/O thread");
    QRPAY_ASSERT(options_.recoveries_in_flight_max > 0 &&
                     options_.recoveries_in_flight_max <= options_.threads,
                 "0 < recoveries_in_flight_max <= recovery_threads");
    QRPAY_ASSERT(options_.recovery_queue_depth_max > 0 && options_.snapshot_queue_depth_max > 0,
                 "the journal-I/O queues need room for one job");
}

JournalIo::~JournalIo() { stop(); }

void JournalIo::start(const std::string& thread_name) {
    QRPAY_ASSERT(threads_.empty(), "journal-I/O pool started twice");
    threads_.reserve(options_.threads);
    for (std::size_t i = 0; i < options_.threads; ++i) {
        threads_.emplace_back([this, name = thread_name + "-" + std::to_string(i)] {
            set_current_thread_name(name);
            run();
        });
    }
}

void JournalIo::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_ready_.notify_all();
    for (auto& thread : threads_) {
        QRPAY_ASSERT(thread.get_id() != std::this_thread::get_id(), "a pool cannot stop itself");
        thread.join();
    }
    threads_.clear();
}

void JournalIo::drain() {
    // Bounded like Runtime's wait for appends: a read held longer than this is a bug or a
    // hung disk, and shutdown must not hang on it silently.
    constexpr auto drain_wait_max = std::chrono::seconds(180);
    std::unique_lock lock(mutex_);
    bool drained = idle_.wait_for(lock, drain_wait_max, [this] {
        return jobs_running_ == 0 && recoveries_.empty() && snapshots_.empty();
    });
    QRPAY_ASSERT(drained, "journal-I/O jobs finish: every journal read and write returns");
}

Status JournalIo::submit_recovery(Job job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return {Errc::unavailable, "runtime is stopping"};
        }
        if (recoveries_.size() >= options_.recovery_queue_depth_max) {
            return {Errc::unavailable, "recovery queue is full"};
        }
        recoveries_.push_back(std::move(job));
    }
    work_ready_.notify_one();
    return {};
}

Status JournalIo::submit_snapshot(Job job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return {Errc::unavailable, "runtime is stopping"};
        }
        if (snapshots_.size() >= options_.snapshot_queue_depth_max) {
            return {Errc::unavailable, "snapshot queue is full"};
        }
        snapshots_.push_back(std::move(job));
    }
    work_ready_.notify_one();
    return {};
}

std::size_t JournalIo::recoveries_admitted() const {
    std::lock_guard lock(mutex_);
    return recoveries_running_ + recoveries_.size();
}

// Takes the next job: a recovery while fewer than recoveries_in_flight_max run, else a
// snapshot. False when stopping and nothing that may run is queued.
bool JournalIo::next_job(Job& job, Kind& kind) {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (!recoveries_.empty() && recoveries_running_ < options_.recoveries_in_flight_max) {
            job = std::move(recoveries_.front());
            recoveries_.pop_front();
            kind = Kind::recovery;
            ++recoveries_running_;
            ++jobs_running_;
            return true;
        }
        if (!snapshots_.empty()) {
            job = std::move(snapshots_.front());
            snapshots_.pop_front();
            kind = Kind::snapshot;
            ++jobs_running_;
            return true;
        }
        // Recoveries left waiting for a slot are taken by the thread that frees one.
        if (stopping_ && recoveries_.empty()) {
            return false;
        }
        work_ready_.wait(lock);
    }
}

void JournalIo::run() {
    Job job;
    Kind kind = Kind::snapshot;
    while (next_job(job, kind)) {
        job();
        job = nullptr;
        {
            std::lock_guard lock(mutex_);
            QRPAY_ASSERT(jobs_running_ > 0, "a job ends after it started");
            --jobs_running_;
            if (kind == Kind::recovery) {
                QRPAY_ASSERT(recoveries_running_ > 0, "a recovery ends after it started");
                --recoveries_running_;
            }
        }
        // A freed recovery slot may let another thread's waiting recovery run.
        work_ready_.notify_all();
        idle_.notify_all();
    }
}

}  // namespace qrpay::runtime
