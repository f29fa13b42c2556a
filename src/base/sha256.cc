#include "base/sha256.h"

#include <openssl/evp.h>

#include <array>

#include "base/assert.h"

namespace qrpay {

std::string sha256_hex(std::string_view input) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    int done =
        EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha256(), nullptr);
    QRPAY_ASSERT(done == 1 && length * 2 == sha256_hex_bytes, "SHA-256 cannot fail");
    constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    out.reserve(sha256_hex_bytes);
    for (std::size_t i = 0; i < length; ++i) {
        out.push_back(hex[digest[i] >> 4U]);
        out.push_back(hex[digest[i] & 15U]);
    }
    return out;
}

}  // namespace qrpay
