#pragma once
// Shared flag helpers of the subcommands (CLI11).

#include <chrono>
#include <string>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace qrpay::cli {

// A duration flag that takes "250ms", "10s", "5m", "24h".
CLI::Option* add_duration(CLI::App& app,
                          const std::string& name,
                          std::chrono::milliseconds& target,
                          const std::string& help);

// Gives every option of `app` the environment variable QRPAY_<LONG_NAME> ('-' as '_').
void add_environment_names(CLI::App& app);

}  // namespace qrpay::cli
