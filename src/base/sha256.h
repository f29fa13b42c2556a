#pragma once
// SHA-256 as lowercase hex: fingerprints of requests and ids derived from secrets, where a
// stable, collision-resistant value of fixed length is needed (never for shard placement:
// hash.h).

#include <string>
#include <string_view>

namespace qrpay {

inline constexpr std::size_t sha256_hex_bytes = 64;

// The SHA-256 of `input`, 64 lowercase hex digits.
std::string sha256_hex(std::string_view input);

}  // namespace qrpay
