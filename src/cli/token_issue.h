#pragma once
// `qrpay token issue`: prints a bearer token signed with the data directory's key.

#include <chrono>
#include <string>

namespace CLI {
class App;
}

namespace qrpay::cli {

struct TokenIssueConfig {
    std::string data_dir = "./data";
    std::string jwt_key;
    std::string role;
    std::string subject;
    std::chrono::milliseconds ttl{std::chrono::hours(24)};
};

void add_token_issue(CLI::App& root, TokenIssueConfig& config);
int run_token_issue(const TokenIssueConfig& config);

}  // namespace qrpay::cli
