#pragma once
// Minimal structured logging to stderr: one line per message with level and UTC time.
// printf-style so that call sites stay cheap to compile. Thread-safe.

#include <cstdarg>

namespace qrpay::log {

enum class Level { debug, info, warn, error };

void set_min_level(Level level);
void write(Level level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace qrpay::log

#define QRPAY_LOG_DEBUG(...) ::qrpay::log::write(::qrpay::log::Level::debug, __VA_ARGS__)
#define QRPAY_LOG_INFO(...) ::qrpay::log::write(::qrpay::log::Level::info, __VA_ARGS__)
#define QRPAY_LOG_WARN(...) ::qrpay::log::write(::qrpay::log::Level::warn, __VA_ARGS__)
#define QRPAY_LOG_ERROR(...) ::qrpay::log::write(::qrpay::log::Level::error, __VA_ARGS__)
