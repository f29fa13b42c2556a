#pragma once
// Standard base64 with padding (RFC 4648 §4), as etcd's JSON gateway carries keys and values
// (protobuf `bytes` in proto3 JSON). Private to etcd/; base/base64url.h is the URL-safe,
// unpadded variant for JWTs and cursors.

#include <optional>
#include <string>
#include <string_view>

namespace qrpay::etcd {

std::string base64_encode(std::string_view bytes);

// nullopt unless `text` is canonical padded base64: a length that is a multiple of 4, only
// alphabet characters, '=' only as the last one or two, and zero bits after the last byte.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace qrpay::etcd
