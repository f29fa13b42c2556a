#pragma once
// Durations on the command line and in configuration: an integer with a unit suffix,
// "250ms", "10s", "5m", "24h". A bare integer is refused: the unit must be said.

#include <chrono>
#include <string_view>

#include "base/status.h"

namespace qrpay::cli {

Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace qrpay::cli
