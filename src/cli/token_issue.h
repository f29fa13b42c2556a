#pragma once
// `qrpay token issue`: prints a bearer token signed with the data directory's key. The key is
// the one `qrpay serve` created on its first start: a data directory or key file that does not
// exist is refused (a typo would otherwise sign with a new key that no server knows), unless
// --create asks for both to be created here.

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
    bool create = false;  // create the data directory and jwt.key when missing
};

void add_token_issue(CLI::App& root, TokenIssueConfig& config);
int run_token_issue(const TokenIssueConfig& config);

}  // namespace qrpay::cli
