#pragma once
// QR images of a payment code (libqrencode): SVG text and PNG bytes.

#include <string>

#include "base/status.h"

namespace qrpay::api {

// REQUIRES: text is at most 64 bytes (a payment code is 20 digits).
Result<std::string> qr_svg(const std::string& text);
// PNG, 8 pixels per module, 4-module quiet zone, grayscale.
Result<std::string> qr_png(const std::string& text);

}  // namespace qrpay::api
