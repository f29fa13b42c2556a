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

}  // namespace qrpay
