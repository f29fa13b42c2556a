#pragma once
// Test-only: a raw TCP connection to a server on loopback, for what an HTTP client library
// would never send (half requests, silence, malformed bytes) and to come from a chosen address
// of 127.0.0.0/8 (per-address limits). Header-only, like base/testing/eventually.h.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>

namespace qrpay::http::testing {

// A TCP connection to 127.0.0.1:port from `source` (an address of 127.0.0.0/8), closed on
// destruction. Reads give up after 20 s, which only stops a hang.
class RawConnection {
public:
    RawConnection(std::uint16_t port, const char* source) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        timeval receive_timeout{20, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof receive_timeout);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        ::inet_pton(AF_INET, source, &from.sin_addr);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0 &&
                     ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
    }
    ~RawConnection() { ::close(fd_); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;
    RawConnection(RawConnection&&) = delete;
    RawConnection& operator=(RawConnection&&) = delete;

    [[nodiscard]] bool connected() const { return connected_; }
    void send(const std::string& bytes) const {
        (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    // What the server sends up to and including `end` (or until it closes or 20 s pass).
    std::string read_through(std::string_view end) const {
        std::string received;
        char byte = 0;
        while (!received.ends_with(end) && ::recv(fd_, &byte, 1, 0) == 1) {
            received += byte;
        }
        return received;
    }
    // Everything the server sends until it closes; `closed` tells whether it did (false: the
    // read gave up).
    std::string read_until_closed(bool* closed = nullptr) const {
        std::string received;
        char buffer[4096];
        for (;;) {
            ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
            if (got <= 0) {
                if (closed != nullptr) {
                    *closed = got == 0 || errno == ECONNRESET;
                }
                return received;
            }
            received.append(buffer, static_cast<std::size_t>(got));
        }
    }

private:
    int fd_;
    bool connected_ = false;
};

// One answer as read off the wire.
struct WireAnswer {
    int status = 0;    // 0 when what came back is no HTTP answer
    std::string head;  // status line and headers, lower-cased
    std::string body;
};

inline WireAnswer parse_wire_answer(const std::string& raw) {
    WireAnswer answer;
    std::size_t head_end = raw.find("\r\n\r\n");
    if (raw.size() < 12 || head_end == std::string::npos) {
        return answer;
    }
    answer.status = std::stoi(raw.substr(9, 3));
    answer.head = raw.substr(0, head_end);
    for (char& c : answer.head) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    answer.body = raw.substr(head_end + 4);
    return answer;
}

// Sends `bytes` from `source` on a new connection and reads the answer until the server closes.
// `connected` is false when the connection could not be made.
inline WireAnswer exchange(std::uint16_t port,
                           const std::string& bytes,
                           const char* source,
                           bool* connected = nullptr) {
    RawConnection connection(port, source);
    if (connected != nullptr) {
        *connected = connection.connected();
    }
    connection.send(bytes);
    return parse_wire_answer(connection.read_until_closed());
}

}  // namespace qrpay::http::testing
