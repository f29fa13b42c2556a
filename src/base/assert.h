#pragma once
// QRPAY_ASSERT: for broken invariants only (STYLE 2.3, kind 3). On in every build type;
// NDEBUG does not remove it. Logs file, line and the reason, then aborts.

namespace qrpay::detail {
[[noreturn]] void assert_failed(const char* condition, const char* why, const char* file, int line);
}  // namespace qrpay::detail

#define QRPAY_ASSERT(condition, why)                                               \
    do {                                                                           \
        if (!(condition)) [[unlikely]] {                                           \
            ::qrpay::detail::assert_failed(#condition, (why), __FILE__, __LINE__); \
        }                                                                          \
    } while (false)
