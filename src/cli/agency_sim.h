#pragma once
// `qrpay agency-sim`: the simulated payment agency as its own process.

#include "agency_sim/simulator.h"

namespace CLI {
class App;
}

namespace qrpay::cli {

struct AgencySimConfig {
    std::string listen = "127.0.0.1:9090";
    agency_sim::SimulatorOptions simulator;
};

void add_agency_sim(CLI::App& root, AgencySimConfig& config);
int run_agency_sim(const AgencySimConfig& config);

}  // namespace qrpay::cli
