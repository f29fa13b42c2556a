#pragma once
// base64 in its two forms (RFC 4648): base64url without padding (§5) for JWT parts and the
// query API's page cursors, and standard padded base64 (§4) as etcd's JSON gateway carries
// keys and values. One encoder and decoder; the forms differ in alphabet and padding only.

#include <optional>
#include <string>
#include <string_view>

namespace qrpay {

std::string base64url_encode(std::string_view bytes);
// nullopt when `text` holds a character outside the alphabet. Trailing bits that make no
// whole byte are dropped, as encoders that omit padding leave them.
std::optional<std::string> base64url_decode(std::string_view text);

std::string base64_encode(std::string_view bytes);
// nullopt unless `text` is canonical padded base64: a length that is a multiple of 4, only
// alphabet characters, '=' only as the last one or two, and zero bits after the last byte.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace qrpay
