#include "cli/duration.h"

#include <charconv>
#include <utility>

#include "base/assert.h"

namespace qrpay::cli {

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
    std::int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || value < 0) {
        return Status(Errc::invalid_argument, "duration must start with a non-negative integer");
    }
    std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
    std::int64_t scale_ms = 0;
    if (unit == "ms") {
        scale_ms = 1;
    } else if (unit == "s") {
        scale_ms = 1000;
    } else if (unit == "m") {
        scale_ms = 60'000;
    } else if (unit == "h") {
        scale_ms = 3'600'000;
    } else {
        return Status(Errc::invalid_argument, "duration unit must be ms, s, m or h");
    }
    if (value > INT64_MAX / scale_ms / 1000) {
        return Status(Errc::invalid_argument, "duration is too long");
    }
    return std::chrono::milliseconds(value * scale_ms);
}

std::string format_duration(std::chrono::milliseconds duration) {
    QRPAY_ASSERT(duration.count() >= 0, "a duration flag is never negative");
    const std::int64_t ms = duration.count();
    if (ms == 0) {
        return "0ms";
    }
    for (const auto& [scale_ms, unit] :
         {std::pair<std::int64_t, const char*>{3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}}) {
        if (ms % scale_ms == 0) {
            return std::to_string(ms / scale_ms) + unit;
        }
    }
    return std::to_string(ms) + "ms";
}

}  // namespace qrpay::cli
