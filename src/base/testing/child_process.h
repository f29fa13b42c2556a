#pragma once
// Test-only (library qrpay_base_testing): what the real-server harnesses (postgres/testing,
// etcd/testing) need to run servers as this process's own children: spawn, reap, free ports,
// log tails, and a watchdog that cleans up after a test binary that died without its
// destructors.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace qrpay::testing {

// The file's text from byte `from` on ("" when it cannot be read).
std::string file_text(const std::string& path, std::uintmax_t from = 0);
std::uintmax_t file_size_or_zero(const std::string& path);
// At most the last `bytes_max` bytes of the file.
std::string file_tail(const std::string& path, std::size_t bytes_max);

// "exit code N", "signal N", or "reaped elsewhere" for -1.
std::string describe_exit(int status);
// The exit status once `pid` has exited (reaped here), nullopt while it runs; -1 when
// someone else reaped it (ECHILD): gone all the same.
std::optional<int> poll_exit(pid_t pid);
// poll_exit() until `wait_max` passes; nullopt if it still runs then.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds wait_max);

// Forks and execs `command` (found on PATH unless absolute) in `cwd`, with `input` as its
// stdin and its stdout and stderr appended to `output_path`, in a new session if
// `new_session`. The child makes only async-signal-safe calls before exec (the test binary may
// have threads) and keeps no descriptor of it. -1 when fork fails.
pid_t spawn(std::vector<std::string> command,
            int input,
            const std::string& output_path,
            const std::string& cwd,
            bool new_session);
// spawn() with /dev/null as stdin, in this session.
pid_t spawn(std::vector<std::string> command,
            const std::string& output_path,
            const std::string& cwd);

// The processes whose parent is `parent` now, from /proc.
std::vector<pid_t> children_of(pid_t parent);
// Gone: no such process, or a zombie (it has released its memory; its parent reaps it later).
bool process_gone(pid_t pid);

// A port on 127.0.0.1 that was free a moment ago; 0 when none could be had.
std::uint16_t free_port();

// A shell that reads a pipe only this process writes to, so its read ends when this process is
// gone, however it went (a crash, an abort, SIGKILL). It then kills every process working in
// `kill_in` or below it (its current directory) and removes `remove`, unless QRPAY_TEST_KEEP_DIRS
// is set. The harness's cleanup calls end() first, so it acts only when that cleanup never ran; the
// destructor does not (a forked child's exit must not end its parent's watchdog). Its own
// session and ignored signals keep it alive through a Ctrl-C or a kill of the group.
class Watchdog {
public:
    Watchdog() = default;
    ~Watchdog() = default;
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    Watchdog(Watchdog&&) = delete;
    Watchdog& operator=(Watchdog&&) = delete;

    // unavailable when the pipe or the fork fails. `name` shows in ps.
    Status start(const std::string& kill_in, const std::string& remove, std::string_view name);
    void end();

private:
    pid_t pid_ = -1;
    int lifeline_ = -1;  // the pipe's write end: EOF to the watchdog when closed
};

}  // namespace qrpay::testing
