#include "agency_sim/run.h"

#include <pthread.h>
#include <signal.h>

#include "agency_sim/simulator_http.h"
#include "base/log.h"
#include "http/message.h"

namespace qrpay::agency_sim {
namespace {

// Blocks SIGINT and SIGTERM for its lifetime, so sigwait() can take them.
class BlockedStopSignals {
public:
    BlockedStopSignals() {
        sigemptyset(&signals_);
        sigaddset(&signals_, SIGINT);
        sigaddset(&signals_, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
    }
    ~BlockedStopSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    BlockedStopSignals(const BlockedStopSignals&) = delete;
    BlockedStopSignals& operator=(const BlockedStopSignals&) = delete;

    int wait() const {
        int signal_number = 0;
        int error = sigwait(&signals_, &signal_number);
        QRPAY_ASSERT(error == 0, "sigwait with a valid signal set");
        return signal_number;
    }

private:
    sigset_t signals_{};
    sigset_t previous_{};
};

}  // namespace

Status run_agency_sim(const SimulatorOptions& options, const std::string& listen) {
    auto address = http::parse_host_port(listen);
    if (!address.ok()) {
        return address.status();
    }
    BlockedStopSignals signals;  // before any thread starts: they inherit the mask
    auto simulator = Simulator::open(options);
    if (!simulator.ok()) {
        return simulator.status();
    }
    auto server = serve_simulator(**simulator, {.host = address->host, .port = address->port});
    if (!server.ok()) {
        return server.status();
    }
    QRPAY_LOG_INFO("agency simulator listening on %s:%u (ledger in %s)", address->host.c_str(),
                   static_cast<unsigned>((*server)->port()), options.data_dir.c_str());
    int signal_number = signals.wait();
    QRPAY_LOG_INFO("agency simulator stopping on signal %d", signal_number);
    (*simulator)->stop();  // answers what is pending, then refuses with 503
    (*server)->stop();
    return {};
}

}  // namespace qrpay::agency_sim
