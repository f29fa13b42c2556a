#include "cli/token_issue.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "api/auth.h"
#include "cli/flags.h"

namespace qrpay::cli {

void add_token_issue(CLI::App& root, TokenIssueConfig& config) {
    CLI::App* token = root.add_subcommand("token", "bearer tokens");
    token->require_subcommand(1);
    CLI::App* issue = token->add_subcommand("issue", "print a signed bearer token");
    issue->add_option("--data-dir", config.data_dir, "data directory holding jwt.key")
        ->capture_default_str();
    issue->add_option("--jwt-key", config.jwt_key, "HS256 key instead of DATA_DIR/jwt.key");
    issue->add_option("--role", config.role, "consumer, merchant or admin")
        ->required()
        ->check(CLI::IsMember({"consumer", "merchant", "admin"}));
    issue->add_option("--sub", config.subject, "the consumer or merchant id")->required();
    add_duration(*issue, "--ttl", config.ttl, "validity (24h)");
    add_environment_names(*issue);
}

int run_token_issue(const TokenIssueConfig& config) {
    if (config.subject.empty() || config.subject.size() > 128) {
        std::fprintf(stderr, "qrpay: --sub must be 1 to 128 bytes\n");
        return 2;
    }
    std::string key = config.jwt_key;
    if (key.empty()) {
        std::error_code error;
        std::filesystem::create_directories(config.data_dir, error);
        auto loaded = api::load_or_create_key(config.data_dir);
        if (!loaded.ok()) {
            std::fprintf(stderr, "qrpay: %s\n", loaded.status().to_string().c_str());
            return 1;
        }
        key = *loaded;
    }
    auto role = api::parse_role(config.role);
    if (!role.ok()) {
        std::fprintf(stderr, "qrpay: %s\n", role.status().message().c_str());
        return 2;
    }
    SystemClock clock;
    api::TokenSigner signer(key);
    UnixMs expires_at{clock.wall_now().value + config.ttl.count()};
    std::printf("%s\n", signer.issue({config.subject, *role}, expires_at).c_str());
    return 0;
}

}  // namespace qrpay::cli
