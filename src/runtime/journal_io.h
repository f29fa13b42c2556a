#pragma once
// JournalIo: the runtime's journal-I/O threads, so that an executor never waits on a disk
// (STYLE 2.5). The reads of a recovery and the snapshot writes run here; whoever submits a job
// posts its result back to the entity's executor. Runtime-internal; entity code never sees it.
//
// Bounds: at most recoveries_in_flight_max recoveries run at once; more wait in a FIFO of at
// most recovery_queue_depth_max, beyond which submit_recovery() answers unavailable, as a full
// mailbox does. Snapshot writes wait in their own FIFO of at most snapshot_queue_depth_max; a
// full one answers unavailable and the caller skips that snapshot (a missed snapshot costs
// replay time, never correctness). A free thread takes a waiting recovery before a snapshot:
// a recovery has callers waiting, a snapshot has none.
//
// Thread safety: every method may be called from any thread.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"

namespace qrpay::runtime {

struct JournalIoOptions {
    std::size_t threads = 2;
    std::size_t recoveries_in_flight_max = 2;  // REQUIRES: 0 < this <= threads
    std::size_t recovery_queue_depth_max = 4'096;
    std::size_t snapshot_queue_depth_max = 1'024;
};

class JournalIo {
public:
    using Job = std::function<void()>;

    explicit JournalIo(JournalIoOptions options);
    ~JournalIo();  // stop()
    JournalIo(const JournalIo&) = delete;
    JournalIo& operator=(const JournalIo&) = delete;
    JournalIo(JournalIo&&) = delete;
    JournalIo& operator=(JournalIo&&) = delete;

    void start(const std::string& thread_name = "journal-io");
    // Runs the jobs already queued, then joins the threads. Later submissions are refused.
    void stop();
    // Waits until no job is queued or running. Jobs submitted meanwhile are waited for too.
    void drain();

    // unavailable when the queue is full or the pool is stopping; the job then never runs.
    Status submit_recovery(Job job);
    Status submit_snapshot(Job job);

    // Recoveries running or waiting for a thread (for tests and metrics).
    [[nodiscard]] std::size_t recoveries_admitted() const;

private:
    enum class Kind { recovery, snapshot };
    bool next_job(Job& job, Kind& kind);
    void run();

    const JournalIoOptions options_;
    // Guards everything below; shared by the submitting executors and the I/O threads.
    mutable std::mutex mutex_;
    std::condition_variable work_ready_;
    std::condition_variable idle_;
    std::deque<Job> recoveries_;
    std::deque<Job> snapshots_;
    std::size_t recoveries_running_ = 0;
    std::size_t jobs_running_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace qrpay::runtime
