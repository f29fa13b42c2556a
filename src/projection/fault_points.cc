#include "projection/fault_points.h"

#include <charconv>

namespace qrpay::projection {

namespace {

Status apply_point(std::string_view item, FaultPoints& points) {
    std::size_t at = item.find('@');
    std::string_view name = item.substr(0, at);
    std::string_view argument = at == std::string_view::npos ? "" : item.substr(at + 1);
    if (name == "crash_before_commit") {
        std::uint64_t event = 0;
        auto [end, error] =
            std::from_chars(argument.data(), argument.data() + argument.size(), event);
        if (argument.empty() || error != std::errc() || end != argument.data() + argument.size() ||
            event == 0) {
            return {Errc::invalid_argument, "crash_before_commit needs @N with N >= 1"};
        }
        points.crash_before_commit_at_event = event;
        return {};
    }
    if (name == "fail_apply") {
        if (argument.empty()) {
            return {Errc::invalid_argument, "fail_apply needs @TYPE"};
        }
        points.fail_apply_type = std::string(argument);
        return {};
    }
    return {Errc::invalid_argument, "unknown projection fault point '" + std::string(name) + "'"};
}

}  // namespace

Result<FaultPoints> parse_fault_points(std::string_view spec) {
    FaultPoints points;
    while (!spec.empty()) {
        std::size_t comma = spec.find(',');
        std::string_view item = spec.substr(0, comma);
        if (Status applied = apply_point(item, points); !applied.ok()) {
            return applied;
        }
        spec = comma == std::string_view::npos ? "" : spec.substr(comma + 1);
    }
    return points;
}

}  // namespace qrpay::projection
