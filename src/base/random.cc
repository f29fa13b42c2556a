#include "base/random.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <span>

#include "base/assert.h"

namespace qrpay {

std::uint64_t RandomSource::next_u64() {
    std::uint64_t value = 0;
    fill(&value, sizeof value);
    return value;
}

std::string RandomSource::decimal_digits(int digits) {
    QRPAY_ASSERT(digits > 0 && digits <= 64, "digit count out of range");
    const auto wanted = static_cast<std::size_t>(digits);
    std::string out;
    out.reserve(wanted);
    // One fill for all the digits and their expected rejections (2.3 %); rarely a second.
    std::array<unsigned char, 80> bytes{};
    while (out.size() < wanted) {
        std::span<unsigned char> batch(bytes.data(),
                                       std::min(bytes.size(), wanted - out.size() + 8));
        fill(batch.data(), batch.size());
        for (unsigned char byte : batch) {
            if (byte < 250 && out.size() < wanted) {  // 250 = 25 * 10: above would bias a digit
                out.push_back(static_cast<char>('0' + byte % 10));
            }
        }
    }
    return out;
}

std::string RandomSource::hex(std::size_t bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string raw(bytes, '\0');
    fill(raw.data(), raw.size());
    std::string out;
    out.reserve(bytes * 2);
    for (unsigned char c : raw) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

void SecureRandom::fill(void* out, std::size_t size) {
    auto* cursor = static_cast<unsigned char*>(out);
    while (size > 0) {
        ssize_t got = getrandom(cursor, size, 0);
        if (got < 0) {
            QRPAY_ASSERT(errno == EINTR, "getrandom failed");
            continue;
        }
        cursor += got;
        size -= static_cast<std::size_t>(got);
    }
}

}  // namespace qrpay
