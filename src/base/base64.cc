#include "base/base64.h"

#include <cstddef>
#include <cstdint>

namespace qrpay {
namespace {

constexpr std::string_view url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view standard_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string encode(std::string_view bytes, std::string_view alphabet) {
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
    return out;
}

// The bytes of `digits` (no padding); nullopt for a character outside `alphabet`, or, when
// `canonical`, for set bits left over after the last whole byte (two texts for one value).
std::optional<std::string> decode(std::string_view digits,
                                  std::string_view alphabet,
                                  bool canonical) {
    std::string out;
    out.reserve(digits.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : digits) {
        const std::size_t index = alphabet.find(c);
        if (index == std::string_view::npos) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<std::uint32_t>(index);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    if (canonical && (buffer & ((1U << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) { return encode(bytes, url_alphabet); }

std::optional<std::string> base64url_decode(std::string_view text) {
    return decode(text, url_alphabet, /*canonical=*/false);
}

std::string base64_encode(std::string_view bytes) {
    std::string out = encode(bytes, standard_alphabet);
    out.append((4 - out.size() % 4) % 4, '=');
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::size_t padding = 0;
    while (padding < text.size() && text[text.size() - 1 - padding] == '=') {
        ++padding;
    }
    if (text.size() % 4 != 0 || padding > 2) {
        return std::nullopt;
    }
    return decode(text.substr(0, text.size() - padding), standard_alphabet, /*canonical=*/true);
}

}  // namespace qrpay
