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
        ->type_name("DURATION");
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

}  // namespace qrpay::cli
