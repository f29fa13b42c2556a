#pragma once
// Shared flag helpers of the subcommands (CLI11).

#include <chrono>
#include <string>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace qrpay::cli {

// A duration flag that takes "250ms", "10s", "5m", "24h"; its help shows target's value as the
// default.
CLI::Option* add_duration(CLI::App& app,
                          const std::string& name,
                          std::chrono::milliseconds& target,
                          const std::string& help);

// Gives every option of `app` the environment variable QRPAY_<LONG_NAME> ('-' as '_').
void add_environment_names(CLI::App& app);

// One way of showing defaults in help, for every option of `app` and its subcommands that takes
// a value and is not required: CLI11's "TYPE=DEFAULT" after the name, with "" for an empty
// text. Defaults are never written into the descriptions. Call after every option is added.
void show_every_default(CLI::App& app);

// Options for tests only (fault points) sit in this group, which help does not list.
inline constexpr const char* hidden_group = "";

}  // namespace qrpay::cli
