#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace qrpay::detail {

void assert_failed(const char* condition, const char* why, const char* file, int line) {
    std::fprintf(stderr, "qrpay: assertion failed at %s:%d: %s (%s)\n", file, line, why, condition);
    std::fflush(stderr);
    std::abort();
}

}  // namespace qrpay::detail
