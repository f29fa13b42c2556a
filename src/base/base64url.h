#pragma once
// base64url without padding (RFC 4648 §5): JWT parts and the query API's page cursors.

#include <optional>
#include <string>
#include <string_view>

namespace qrpay {

std::string base64url_encode(std::string_view bytes);

// nullopt when `text` holds a character outside the alphabet. Trailing bits that make no
// whole byte are dropped, as encoders that omit padding leave them.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace qrpay
