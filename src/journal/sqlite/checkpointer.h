#pragma once
// Checkpointer: copies the journal's WAL into its database file on a thread of its own, so the
// writer seldom does it between two groups (a checkpoint there delays every append queued
// behind it by the page writes and the database file's sync).
//
// After each committed group the writer calls wake(); the thread then runs a PASSIVE
// checkpoint on its own connection, at most once per interval_min. PASSIVE never waits for the
// writer or the readers; it copies what it can. The writer keeps SQLite's own checkpoint at
// SqliteJournalOptions::wal_backstop_bytes as the backstop that bounds the WAL: when it runs,
// most frames are copied already, and it lets the WAL start over from its beginning.
//
// Thread safety: wake() and stats() from any thread; start() and the destructor from one.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "base/status.h"

namespace qrpay::sqlite {
class Connection;
}  // namespace qrpay::sqlite

namespace qrpay::journal::sqlite {

struct CheckpointerStats {
    std::uint64_t checkpoints = 0;  // PASSIVE checkpoints run
    std::uint64_t failures = 0;     // checkpoints that failed (logged)
    std::uint64_t cpu_us = 0;       // CPU time of the thread's checkpoints, sync calls included
};

class Checkpointer {
public:
    // REQUIRES: `connection` is a read-write connection of the journal's file, for this object
    // alone.
    Checkpointer(std::unique_ptr<qrpay::sqlite::Connection> connection,
                 std::chrono::milliseconds interval_min);
    ~Checkpointer();  // stops and joins the thread
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;
    Checkpointer(Checkpointer&&) = delete;
    Checkpointer& operator=(Checkpointer&&) = delete;

    Status start();
    void wake();
    [[nodiscard]] CheckpointerStats stats() const;

private:
    void run();
    void checkpoint_once();

    std::unique_ptr<qrpay::sqlite::Connection> connection_;  // the thread's only
    const std::chrono::milliseconds interval_min_;

    std::mutex mutex_;
    std::condition_variable woken_;
    bool wanted_ = false;    // guarded by mutex_
    bool stopping_ = false;  // guarded by mutex_

    std::atomic<std::uint64_t> checkpoints_{0};
    std::atomic<std::uint64_t> failures_{0};
    std::atomic<std::uint64_t> cpu_us_{0};
    std::thread thread_;
};

}  // namespace qrpay::journal::sqlite
