#pragma once
// A secret (payment code, key) that shows only a prefix when formatted for logs (DESIGN §5.7).

#include <string>
#include <utility>

namespace qrpay {

class Secret {
public:
    Secret() = default;
    explicit Secret(std::string value) : value_(std::move(value)) {}

    [[nodiscard]] const std::string& reveal() const { return value_; }
    // At most four leading characters then an ellipsis: safe for logs.
    [[nodiscard]] std::string redacted() const { return value_.substr(0, 4) + "…"; }
    bool operator==(const Secret&) const = default;

private:
    std::string value_;
};

// Turns a persistence id into what a log line, a metric label or /readyz may show. Code that
// cannot tell which entity types have secret ids (the projection engine) is given one by the
// code that can (cli, from the domain).
using LoggableId = std::string (*)(const std::string& persistence_id);

// A persistence id "<type>|<id>" with its id redacted as a Secret is.
inline std::string redacted_persistence_id(const std::string& persistence_id) {
    std::size_t bar = persistence_id.find('|');
    if (bar == std::string::npos) {
        return Secret(persistence_id).redacted();
    }
    return persistence_id.substr(0, bar + 1) + Secret(persistence_id.substr(bar + 1)).redacted();
}

}  // namespace qrpay
