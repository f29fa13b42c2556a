#include "cli/token_issue.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "api/auth.h"
#include "cli/flags.h"

namespace qrpay::cli {

void add_token_issue(CLI::App& root, TokenIssueConfig& config) {
    CLI::App* token = root.add_subcommand("token", "bearer tokens");
    token->require_subcommand(1);
    CLI::App* issue = token->add_subcommand("issue", "print a signed bearer token");
    issue->add_option("--data-dir", config.data_dir, "data directory holding jwt.key");
    issue->add_option("--jwt-key", config.jwt_key, "HS256 key instead of DATA_DIR/jwt.key");
    issue->add_option("--role", config.role, "consumer, merchant or admin")
        ->required()
        ->check(CLI::IsMember({"consumer", "merchant", "admin"}));
    issue->add_option("--sub", config.subject, "the consumer or merchant id")->required();
    add_duration(*issue, "--ttl", config.ttl, "validity");
    issue->add_flag("--create", config.create,
                    "create DATA_DIR and its jwt.key when missing (`qrpay serve` does on first "
                    "start); without it a missing one is refused");
    add_environment_names(*issue);
}

namespace {

// The data directory's key; created only when asked. Prints why not and returns nullopt.
std::optional<std::string> data_dir_key(const TokenIssueConfig& config) {
    std::error_code error;
    if (config.create) {
        std::filesystem::create_directories(config.data_dir, error);
        auto created = api::load_or_create_key(config.data_dir);
        if (!created.ok()) {
            std::fprintf(stderr, "qrpay: %s\n", created.status().to_string().c_str());
            return std::nullopt;
        }
        return *created;
    }
    if (!std::filesystem::is_directory(config.data_dir, error)) {
        std::fprintf(stderr,
                     "qrpay: data directory %s does not exist; give the one `qrpay serve` uses, "
                     "or pass --create to create it and a new key\n",
                     config.data_dir.c_str());
        return std::nullopt;
    }
    auto loaded = api::load_key(config.data_dir);
    if (!loaded.ok() && loaded.status().code() != Errc::not_found) {
        std::fprintf(stderr, "qrpay: %s\n", loaded.status().to_string().c_str());
        return std::nullopt;
    }
    if (!loaded.ok()) {
        std::fprintf(stderr,
                     "qrpay: %s; `qrpay serve --data-dir %s` creates it on its first start, "
                     "or pass --create to create a new key here\n",
                     loaded.status().message().c_str(), config.data_dir.c_str());
        return std::nullopt;
    }
    return *loaded;
}

}  // namespace

int run_token_issue(const TokenIssueConfig& config) {
    if (!api::is_valid_subject(config.subject)) {
        std::fprintf(stderr,
                     "qrpay: --sub must be 1 to 128 printable ASCII characters, no spaces\n");
        return 2;
    }
    std::string key = config.jwt_key;
    if (key.empty()) {
        auto loaded = data_dir_key(config);
        if (!loaded) {
            return 1;
        }
        key = std::move(*loaded);
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
