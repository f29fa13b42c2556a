#pragma once
// The simulated agency's HTTP API (the wire format is in agency/wire.h): routes that turn
// requests into Simulator calls and outcomes into responses.

#include <memory>

#include "agency_sim/simulator.h"
#include "base/status.h"
#include "http/server.h"

namespace qrpay::agency_sim {

// The handler serving /v1/payments..., /ledger and /healthz. Answers asynchronously, from the
// simulator's worker. REQUIRES: `simulator` outlives every server using the handler.
http::Handler make_simulator_handler(Simulator& simulator);

// Starts an http::Server with that handler. Shut down in this order: simulator.stop() (answers
// pending requests, late ones included, then refuses new ones with 503), then stop or destroy
// the server, then destroy the simulator.
// Errors: those of http::Server::start.
Result<std::unique_ptr<http::Server>> serve_simulator(Simulator& simulator,
                                                      const http::ServerOptions& options);

}  // namespace qrpay::agency_sim
