#include "base/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace qrpay::log {
namespace {

// The logger is the one process-wide state qrpay keeps: every thread writes to the same
// stderr, so its level and its lock are process-wide too.
// NOLINTBEGIN(cppcoreguidelines-avoid-non-const-global-variables)
std::atomic<Level> min_level{Level::info};
std::mutex write_mutex;  // keeps lines whole when several threads log at once
// NOLINTEND(cppcoreguidelines-avoid-non-const-global-variables)

const char* level_name(Level level) {
    switch (level) {
        case Level::debug:
            return "DEBUG";
        case Level::info:
            return "INFO";
        case Level::warn:
            return "WARN";
        case Level::error:
            return "ERROR";
    }
    return "?";
}

}  // namespace

void set_min_level(Level level) { min_level = level; }

void write(Level level, const char* format, ...) {
    if (level < min_level.load()) {
        return;
    }
    char message[2048];
    va_list args;
    va_start(args, format);
    std::vsnprintf(message, sizeof message, format, args);
    va_end(args);

    auto now = std::chrono::system_clock::now();
    std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);

    std::lock_guard lock(write_mutex);
    std::fprintf(stderr, "%s.%03dZ %-5s %s\n", stamp, static_cast<int>(ms.count()),
                 level_name(level), message);
}

}  // namespace qrpay::log
