#pragma once
// Shared flag helpers of the subcommands (CLI11).

#include <chrono>
#include <cstdint>
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

// One flag of add_node_flags bound to a command's field: `help` says what the flag means for
// that command; a null target leaves the flag out.
template <class T>
struct FlagTarget {
    T* target = nullptr;
    std::string help{};
};

// The flags that `qrpay serve` and `qrpay bench fill` share (both open a data directory's
// journal and run the entity runtime on it), each named, typed and checked once, here. The
// defaults are the targets' values when this is called; each command keeps its own help text,
// except --executors, which means the same everywhere.
struct NodeFlags {
    FlagTarget<std::string> data_dir{};                // --data-dir
    FlagTarget<std::chrono::milliseconds> code_ttl{};  // --code-ttl
    FlagTarget<std::uint32_t> shard_count{};           // --shard-count, 1 to 65536
    std::uint32_t* executors = nullptr;                // --executors; 0: one per core
};
void add_node_flags(CLI::App& app, const NodeFlags& flags);

// Options for tests only (fault points) sit in this group, which help does not list.
inline constexpr const char* hidden_group = "";

}  // namespace qrpay::cli
