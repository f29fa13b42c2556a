#include "base/testing/child_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>  // POSIX: sigprocmask, kill
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>

namespace qrpay::testing {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds watchdog_gone_wait_max{10'000};

// Twice, in case a server forked between the first look and its death.
constexpr const char* watchdog_script = R"sh(trap '' INT TERM HUP
read -r _
for pass in 1 2; do
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/cwd" 2>/dev/null)" in
            "$1" | "$1"/*) kill -9 "${p#/proc/}" 2>/dev/null ;;
        esac
    done
    sleep 0.2
done
[ -n "$3" ] || rm -rf "$2")sh";

std::string errno_text() { return std::generic_category().message(errno); }

struct ProcessStat {
    char state = 0;  // 'Z': a zombie
    pid_t parent = 0;
};

// Process `pid`'s state and parent from /proc/<pid>/stat; nullopt when there is no such process.
std::optional<ProcessStat> process_stat(const std::string& pid) {
    std::string stat = file_text("/proc/" + pid + "/stat", 0);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    std::size_t comm_end = stat.rfind(')');
    if (comm_end == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream fields(stat.substr(comm_end + 1));
    ProcessStat result;
    if (!(fields >> result.state >> result.parent)) {
        return std::nullopt;
    }
    return result;
}

}  // namespace

std::string file_text(const std::string& path, std::uintmax_t from) {
    std::ifstream file(path, std::ios::binary);
    file.seekg(static_cast<std::streamoff>(from));
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

std::uintmax_t file_size_or_zero(const std::string& path) {
    std::error_code error;
    const std::uintmax_t size = std::filesystem::file_size(path, error);
    return error ? 0 : size;
}

std::string file_tail(const std::string& path, std::size_t bytes_max) {
    const std::uintmax_t size = file_size_or_zero(path);
    return file_text(path, size > bytes_max ? size - bytes_max : 0);
}

std::string describe_exit(int status) {
    if (status == -1) {
        return "reaped elsewhere";
    }
    if (WIFEXITED(status)) {
        return "exit code " + std::to_string(WEXITSTATUS(status));
    }
    return WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) : "unknown status";
}

std::optional<int> poll_exit(pid_t pid) {
    int status = 0;
    const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid) {
        return status;
    }
    if (reaped < 0 && errno != EINTR) {
        return -1;
    }
    return std::nullopt;
}

std::optional<int> wait_exit(pid_t pid, milliseconds wait_max) {
    const auto give_up = Clock::now() + wait_max;
    for (;;) {
        if (std::optional<int> status = poll_exit(pid)) {
            return status;
        }
        if (Clock::now() >= give_up) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(milliseconds(2));
    }
}

pid_t spawn(std::vector<std::string> command,
            int input,
            const std::string& output_path,
            const std::string& cwd,
            bool new_session) {
    std::vector<char*> argv;
    argv.reserve(command.size() + 1);
    for (std::string& arg : command) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid != 0) {
        return pid;
    }
    const int output = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    // A server may change back to its working directory, so `cwd` must be one it can enter.
    if (output < 0 || ::dup2(input, STDIN_FILENO) < 0 || ::dup2(output, STDOUT_FILENO) < 0 ||
        ::dup2(output, STDERR_FILENO) < 0 || ::chdir(cwd.c_str()) != 0) {
        ::_exit(127);
    }
    // No descriptor of the test binary (listening sockets, a watchdog's pipe) lives on.
    ::close_range(3, ~0U, 0);
    if (new_session) {
        ::setsid();
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the forking thread may block SIGINT
    ::execvp(argv[0], argv.data());
    for (const char* part : {"exec failed: ", static_cast<const char*>(argv[0]), "\n"}) {
        [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, part, std::strlen(part));
    }
    ::_exit(127);
}

pid_t spawn(std::vector<std::string> command,
            const std::string& output_path,
            const std::string& cwd) {
    const int input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (input < 0) {
        return -1;
    }
    const pid_t pid = spawn(std::move(command), input, output_path, cwd, false);
    ::close(input);
    return pid;
}

std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> children;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::optional<ProcessStat> stat = process_stat(name);
        if (stat && stat->parent == parent) {
            children.push_back(std::stoi(name));
        }
    }
    return children;
}

bool process_gone(pid_t pid) {
    std::optional<ProcessStat> stat = process_stat(std::to_string(pid));
    return !stat || stat->state == 'Z' || stat->state == 'X';
}

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                       ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    ::close(fd);
    return bound ? ntohs(address.sin_port) : 0;
}

Status Watchdog::start(const std::string& kill_in,
                       const std::string& remove,
                       std::string_view name) {
    std::array<int, 2> pipe_ends{};
    if (::pipe2(pipe_ends.data(), O_CLOEXEC) != 0) {
        return {Errc::unavailable, "pipe: " + errno_text()};
    }
    lifeline_ = pipe_ends[1];
    const char* keep = std::getenv("QRPAY_TEST_KEEP_DIRS");
    pid_ = spawn({"/bin/sh", "-c", watchdog_script, std::string(name), kill_in, remove,
                  keep != nullptr ? "keep" : ""},
                 pipe_ends[0], "/dev/null", "/", true);
    ::close(pipe_ends[0]);
    if (pid_ < 0) {
        return {Errc::unavailable, "fork for the watchdog: " + errno_text()};
    }
    return {};
}

void Watchdog::end() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        (void)wait_exit(pid_, watchdog_gone_wait_max);
    }
    if (lifeline_ >= 0) {
        ::close(lifeline_);
    }
    pid_ = -1;
    lifeline_ = -1;
}

}  // namespace qrpay::testing
