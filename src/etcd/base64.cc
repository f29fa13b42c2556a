#include "etcd/base64.h"

#include <cstddef>
#include <cstdint>

namespace qrpay::etcd {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The 6-bit value of `c`, or -1 outside the alphabet.
int sextet(char c) {
    const std::size_t index = alphabet.find(c);
    return index == std::string_view::npos ? -1 : static_cast<int>(index);
}

// How many '=' end `text` (0, 1 or 2 in valid input; 3 or more is reported as is).
std::size_t padding_of(std::string_view text) {
    std::size_t count = 0;
    while (count < text.size() && text[text.size() - 1 - count] == '=') {
        ++count;
    }
    return count;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::uint32_t buffer = 0;  // only the low `bits` bits are pending
    int bits = 0;
    for (char c : bytes) {
        buffer = (buffer << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += alphabet[(buffer >> bits) & 0x3F];
        }
    }
    if (bits > 0) {
        out += alphabet[(buffer << (6 - bits)) & 0x3F];
    }
    while (out.size() % 4 != 0) {
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    const std::size_t padding = padding_of(text);
    if (text.size() % 4 != 0 || padding > 2) {
        return std::nullopt;
    }
    const std::string_view digits = text.substr(0, text.size() - padding);
    std::string out;
    out.reserve(digits.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : digits) {
        const int value = sextet(c);
        if (value < 0) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    // Left-over bits must be zero, or two texts would decode to the same bytes.
    if ((buffer & ((1U << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

}  // namespace qrpay::etcd
