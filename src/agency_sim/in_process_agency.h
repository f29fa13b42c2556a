#pragma once
// An AgencyPort that calls a Simulator directly, without HTTP: what `qrpay serve` uses when no
// agency URL is configured. The simulated latency and failures apply as over HTTP; a simulated
// timeout (charge recorded, answer late) reaches the caller as verdict unknown, like a client
// timeout would. `done` runs on the simulator's worker (or the caller's thread when the
// simulator is stopped or full, with verdict unknown).

#include <memory>

#include "agency_sim/simulator.h"
#include "domain/agency_port.h"

namespace qrpay::agency_sim {

// REQUIRES: `simulator` outlives the returned port.
std::unique_ptr<domain::AgencyPort> make_in_process_agency(Simulator& simulator);

}  // namespace qrpay::agency_sim
