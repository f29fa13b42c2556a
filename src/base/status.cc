#include "base/status.h"

namespace qrpay {

std::string_view errc_name(Errc errc) {
    switch (errc) {
        case Errc::ok:
            return "ok";
        case Errc::invalid_argument:
            return "invalid_argument";
        case Errc::not_found:
            return "not_found";
        case Errc::conflict:
            return "conflict";
        case Errc::sequence_conflict:
            return "sequence_conflict";
        case Errc::fenced:
            return "fenced";
        case Errc::key_taken:
            return "key_taken";
        case Errc::unavailable:
            return "unavailable";
        case Errc::unreachable:
            return "unreachable";
        case Errc::io_error:
            return "io_error";
        case Errc::unknown_outcome:
            return "unknown_outcome";
        case Errc::timeout:
            return "timeout";
        case Errc::corruption:
            return "corruption";
        case Errc::remote_error:
            return "remote_error";
        case Errc::not_owner:
            return "not_owner";
        case Errc::aborted:
            return "aborted";
    }
    return "unknown";
}

std::optional<Errc> errc_named(std::string_view name) {
    for (int code = static_cast<int>(Errc::ok); code <= static_cast<int>(Errc::aborted); ++code) {
        if (errc_name(static_cast<Errc>(code)) == name) {
            return static_cast<Errc>(code);
        }
    }
    return std::nullopt;
}

std::string Status::to_string() const {
    if (ok()) {
        return "ok";
    }
    std::string text(errc_name(code_));
    if (!message_.empty()) {
        text += ": ";
        text += message_;
    }
    return text;
}

}  // namespace qrpay
