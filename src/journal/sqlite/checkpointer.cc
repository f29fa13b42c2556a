#include "journal/sqlite/checkpointer.h"

#include <time.h>

#include <string>
#include <system_error>
#include <utility>

#include "base/assert.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "sqlite/connection.h"

namespace qrpay::journal::sqlite {

Checkpointer::Checkpointer(std::unique_ptr<qrpay::sqlite::Connection> connection,
                           std::chrono::milliseconds interval_min)
    : connection_(std::move(connection)), interval_min_(interval_min) {
    QRPAY_ASSERT(connection_ != nullptr, "a checkpointer needs its connection");
    QRPAY_ASSERT(interval_min.count() >= 0, "negative checkpoint interval");
}

Checkpointer::~Checkpointer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    woken_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

Status Checkpointer::start() {
    QRPAY_ASSERT(!thread_.joinable(), "checkpointer started twice");
    try {
        thread_ = std::thread([this] {
            set_current_thread_name("journal-ckpt");
            run();
        });
    } catch (const std::system_error& error) {
        return {Errc::unavailable, std::string("cannot start the checkpointer: ") + error.what()};
    }
    return {};
}

void Checkpointer::wake() {
    {
        std::lock_guard lock(mutex_);
        if (wanted_) {
            return;
        }
        wanted_ = true;
    }
    woken_.notify_one();
}

CheckpointerStats Checkpointer::stats() const {
    return {
        .checkpoints = checkpoints_.load(), .failures = failures_.load(), .cpu_us = cpu_us_.load()};
}

namespace {

std::uint64_t thread_cpu_us() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 +
           static_cast<std::uint64_t>(now.tv_nsec) / 1'000;
}

}  // namespace

void Checkpointer::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        woken_.wait(lock, [this] { return wanted_ || stopping_; });
        if (stopping_) {
            return;
        }
        wanted_ = false;
        lock.unlock();
        checkpoint_once();
        lock.lock();
        // Commits during the pause gather into one checkpoint after it.
        woken_.wait_for(lock, interval_min_, [this] { return stopping_; });
    }
}

void Checkpointer::checkpoint_once() {
    const std::uint64_t cpu_before = thread_cpu_us();
    Status checkpointed = connection_->checkpoint_passive();
    cpu_us_ += thread_cpu_us() - cpu_before;
    if (checkpointed.ok()) {
        ++checkpoints_;
        return;
    }
    if (checkpointed.code() != Errc::unavailable) {  // unavailable: the writer's own runs
        ++failures_;
        QRPAY_LOG_WARN("journal checkpoint: %s", checkpointed.to_string().c_str());
    }
}

}  // namespace qrpay::journal::sqlite
