#include "cli/flags.h"

#include <CLI/CLI.hpp>
#include <cctype>

#include "cli/duration.h"

namespace qrpay::cli {

CLI::Option* add_duration(CLI::App& app,
                          const std::string& name,
                          std::chrono::milliseconds& target,
                          const std::string& help) {
    return app
        .add_option_function<std::string>(
            name,
            [&target, name](const std::string& text) {
                auto parsed = parse_duration(text);
                if (!parsed.ok()) {
                    throw CLI::ValidationError(name, parsed.status().message());
                }
                target = *parsed;
            },
            help)
        ->type_name("DURATION")
        ->default_str(format_duration(target));
}

void add_node_flags(CLI::App& app, const NodeFlags& flags) {
    if (flags.data_dir.target != nullptr) {
        app.add_option("--data-dir", *flags.data_dir.target, flags.data_dir.help);
    }
    if (flags.code_ttl.target != nullptr) {
        add_duration(app, "--code-ttl", *flags.code_ttl.target, flags.code_ttl.help);
    }
    if (flags.shard_count.target != nullptr) {
        app.add_option("--shard-count", *flags.shard_count.target, flags.shard_count.help)
            ->check(CLI::Range(1U, 65536U));
    }
    if (flags.executors != nullptr) {
        app.add_option("--executors", *flags.executors, "entity threads; 0: one per core");
    }
}

void add_environment_names(CLI::App& app) {
    for (CLI::Option* option : app.get_options()) {
        const std::string& name = option->get_single_name();
        if (name.empty() || name == "help" || name == "config") {
            continue;
        }
        std::string env = "QRPAY_";
        for (char c : name) {
            env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
        }
        option->envname(env);
    }
}

void show_every_default(CLI::App& app) {
    for (CLI::Option* option : app.get_options()) {
        // --config's default is the file CLI11 reads, not only a text for help: left alone.
        if (option->get_expected_max() == 0 || option->get_required() ||  // 0: a flag
            option->get_single_name() == "config") {
            continue;
        }
        if (option->get_default_str().empty()) {
            option->capture_default_str();
        }
        if (option->get_default_str().empty()) {
            option->default_str("\"\"");
        }
    }
    for (CLI::App* sub : app.get_subcommands({})) {
        show_every_default(*sub);
    }
}

}  // namespace qrpay::cli
