#include "cli/agency_sim.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "agency_sim/run.h"
#include "cli/flags.h"

namespace qrpay::cli {

void add_agency_sim(CLI::App& root, AgencySimConfig& config) {
    CLI::App* sim = root.add_subcommand("agency-sim", "run the simulated payment agency");
    auto& options = config.simulator;
    options.data_dir = "./agency-data";
    sim->add_option("--listen", config.listen, "HOST:PORT");
    sim->add_option("--data-dir", options.data_dir, "where the ledger lives");
    add_duration(*sim, "--latency", options.latency, "response time of each call");
    sim->add_option("--decline-rate", options.decline_rate, "share of payments declined")
        ->check(CLI::Range(0.0, 1.0));
    sim->add_option("--error-5xx-rate", options.error_5xx_rate, "share of calls failing with 5xx")
        ->check(CLI::Range(0.0, 1.0));
    sim->add_option("--timeout-rate", options.timeout_rate,
                    "share of calls that charge but answer too late")
        ->check(CLI::Range(0.0, 1.0));
    add_duration(*sim, "--timeout-delay", options.timeout_delay, "how late");
    sim->add_option("--seed", options.seed, "seed of the failure injection");
    add_environment_names(*sim);
}

int run_agency_sim(const AgencySimConfig& config) {
    Status status = agency_sim::run_agency_sim(config.simulator, config.listen);
    if (!status.ok()) {
        std::fprintf(stderr, "qrpay agency-sim: %s\n", status.to_string().c_str());
        return 1;
    }
    return 0;
}

}  // namespace qrpay::cli
