#pragma once
// The body of `qrpay agency-sim`: serve the simulated agency until SIGINT or SIGTERM.

#include <string>

#include "agency_sim/simulator.h"
#include "base/status.h"

namespace qrpay::agency_sim {

// Opens the simulator, serves its HTTP API on `listen` ("host:port"; port 0 picks one, logged
// as "agency simulator listening on host:port"), blocks until SIGINT or SIGTERM, then stops
// the server and the simulator. SIGINT and SIGTERM are blocked in the calling thread (and so
// in every thread it starts) while it runs, and restored on return.
// REQUIRES: called before other threads that do not block these signals exist, or with them
// blocked there, so that the signal reaches this thread.
// Errors: invalid_argument (listen), those of Simulator::open and http::Server::start.
Status run_agency_sim(const SimulatorOptions& options, const std::string& listen);

}  // namespace qrpay::agency_sim
