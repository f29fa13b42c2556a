#pragma once
// Durations on the command line and in configuration: an integer with a unit suffix,
// "250ms", "10s", "5m", "24h". A bare integer is refused: the unit must be said.

#include <chrono>
#include <string>
#include <string_view>

#include "base/status.h"

namespace qrpay::cli {

Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest text parse_duration reads back as `duration`, in the largest exact unit:
// "24h", "5m", "10s", "250ms", "0ms". REQUIRES: duration >= 0.
std::string format_duration(std::chrono::milliseconds duration);

}  // namespace qrpay::cli
