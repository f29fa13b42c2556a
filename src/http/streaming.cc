// The streaming phase of a Session and the StreamWriter that feeds it (http/server.h,
// "Streamed responses"): the head goes out at once with chunked transfer coding (or, for
// HTTP/1.0, a body that ends at close) and `Connection: close`; writers queue pieces from any
// thread, bounded by stream_buffered_bytes_max; the session sends them one at a time, watches
// the peer so that a closed peer ends the stream, and closes the connection after the last.

#include <atomic>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "base/log.h"
#include "http/server.h"
#include "http/session.h"

namespace qrpay::http::detail {

struct StreamState {
    StreamState(std::weak_ptr<Session> session_in,
                std::shared_ptr<Gate> gate_in,
                std::shared_ptr<StreamShared> shared_in,
                std::size_t buffered_bytes_max_in)
        : session(std::move(session_in)),
          gate(std::move(gate_in)),
          shared(std::move(shared_in)),
          buffered_bytes_max(buffered_bytes_max_in) {}
    StreamState(const StreamState&) = delete;
    StreamState& operator=(const StreamState&) = delete;
    StreamState(StreamState&&) = delete;
    StreamState& operator=(StreamState&&) = delete;
    ~StreamState();  // ends the stream

    std::weak_ptr<Session> session;
    std::shared_ptr<Gate> gate;
    std::shared_ptr<StreamShared> shared;
    const std::size_t buffered_bytes_max;
    std::atomic<bool> ended{false};  // end() was called or the stream was cut
};

// Sends the head of a streamed response, then watches the connection while the application
// writes the body.
void Session::start_streaming(Response head, std::shared_ptr<StreamShared> shared) {
    stream_shared_ = std::move(shared);
    if (phase_ == Phase::closed) {
        stream_shared_->closed = true;
        return;
    }
    QRPAY_ASSERT(phase_ == Phase::handling, "a stream for a connection that has no request");
    response_timer_.cancel();
    if (!is_valid_head(head.status, head.headers)) {
        QRPAY_LOG_ERROR("http server: handler started a stream with an invalid status or header");
        stream_shared_->closed = true;
        answer_error(500, fault::internal, "the handler started a stream with an invalid head");
        return;
    }
    phase_ = Phase::streaming;
    keep_alive_ = false;
    stream_queue_.push_back(stream_head(head));
    stream_shared_->buffered_bytes += stream_queue_.back().size();
    stream_.expires_never();
    watch_peer();
    send_next_piece();
}

std::string Session::stream_head(const Response& head) const {
    std::string text = "HTTP/1.1 " + std::to_string(head.status) + " " +
                       std::string(reason_phrase(head.status)) + "\r\n";
    for (const auto& [name, value] : head.headers) {
        if (!is_transport_header(name)) {
            text += name + ": " + value + "\r\n";
        }
    }
    text += "Server: qrpay\r\nConnection: close\r\n";
    text += chunked_ ? "Transfer-Encoding: chunked\r\n\r\n" : "\r\n";
    return text;
}

void Session::queue_piece(std::string bytes) {
    if (phase_ != Phase::streaming || stream_ending_) {
        if (stream_shared_) {
            stream_shared_->buffered_bytes -= bytes.size();
        }
        return;
    }
    stream_queue_.push_back(std::move(bytes));
    send_next_piece();
}

void Session::end_streaming() {
    if (phase_ != Phase::streaming || stream_ending_) {
        return;
    }
    stream_ending_ = true;
    if (chunked_) {
        std::string last = "0\r\n\r\n";
        stream_shared_->buffered_bytes += last.size();
        stream_queue_.push_back(std::move(last));
    }
    send_next_piece();
}

// One write at a time; after the last piece of an ended stream, the connection closes.
void Session::send_next_piece() {
    if (phase_ != Phase::streaming || stream_sending_) {
        return;
    }
    if (stream_queue_.empty()) {
        if (stream_ending_) {
            error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            close();
        }
        return;
    }
    stream_sending_ = true;
    net::async_write(stream_, net::buffer(stream_queue_.front()),
                     [self = shared_from_this()](const error_code& error, std::size_t) {
                         self->stream_sending_ = false;
                         if (self->phase_ != Phase::streaming) {
                             return;
                         }
                         self->stream_shared_->buffered_bytes -= self->stream_queue_.front().size();
                         self->stream_queue_.pop_front();
                         if (error) {
                             self->close();
                             return;
                         }
                         self->send_next_piece();
                     });
}

// Reads (and discards, bounded) whatever the peer sends while the stream is open, so that a
// peer that closes its side ends the stream at once.
void Session::watch_peer() {
    stream_.async_read_some(
        net::buffer(drain_buffer_),
        [self = shared_from_this()](const error_code& error, std::size_t bytes) {
            self->drained_bytes_ += bytes;
            if (self->phase_ != Phase::streaming) {
                return;
            }
            if (error || self->drained_bytes_ > linger_bytes_max) {
                self->close();
                return;
            }
            self->watch_peer();
        });
}

StreamState::~StreamState() {
    if (!ended.exchange(true)) {
        std::shared_lock lock(gate->mutex);
        if (gate->open) {
            if (std::shared_ptr<Session> live = session.lock()) {
                live->stream_end();
            }
        }
    }
}

// Starts the stream of the request `state` answers; false when its connection is gone.
bool begin_stream(const ResponderState& state,
                  Response head,
                  const std::shared_ptr<StreamShared>& shared,
                  std::size_t& buffered_bytes_max) {
    return with_live_session(state, [&](Session& session) {
        buffered_bytes_max = session.stream_buffered_bytes_max();
        session.begin_stream(std::move(head), shared);
    });
}

}  // namespace qrpay::http::detail

namespace qrpay::http {

std::optional<StreamWriter> Responder::stream(int status, Headers headers) const {
    if (state_->answered->exchange(true)) {
        return std::nullopt;
    }
    Response head;
    head.status = status;
    head.headers = std::move(headers);
    auto shared = std::make_shared<detail::StreamShared>();
    std::size_t buffered_bytes_max = 0;
    if (!detail::begin_stream(*state_, std::move(head), shared, buffered_bytes_max)) {
        return std::nullopt;
    }
    return StreamWriter(std::make_shared<detail::StreamState>(state_->session, state_->gate, shared,
                                                              buffered_bytes_max));
}

StreamWriter::StreamWriter(std::shared_ptr<detail::StreamState> state) : state_(std::move(state)) {
    QRPAY_ASSERT(state_ != nullptr, "a StreamWriter needs a stream");
}

bool StreamWriter::write(std::string bytes) const {
    detail::StreamState& state = *state_;
    if (state.ended.load() || state.shared->closed.load()) {
        return false;
    }
    if (bytes.empty()) {
        return true;  // an empty chunk would end a chunked body
    }
    char size_line[24];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", bytes.size());
    std::string piece = std::string(size_line) + bytes + "\r\n";
    std::size_t queued = state.shared->buffered_bytes.fetch_add(piece.size()) + piece.size();
    std::shared_lock lock(state.gate->mutex);
    std::shared_ptr<detail::Session> session = state.gate->open ? state.session.lock() : nullptr;
    if (!session) {
        state.shared->buffered_bytes -= piece.size();
        return false;
    }
    if (queued > state.buffered_bytes_max) {
        state.shared->buffered_bytes -= piece.size();
        state.ended = true;
        QRPAY_LOG_WARN("http server: a stream's reader fell %zu bytes behind: cut", queued);
        session->force_close();
        return false;
    }
    session->stream_piece(std::move(piece));
    return true;
}

void StreamWriter::end() const {
    if (state_->ended.exchange(true)) {
        return;
    }
    std::shared_lock lock(state_->gate->mutex);
    if (!state_->gate->open) {
        return;
    }
    if (std::shared_ptr<detail::Session> session = state_->session.lock()) {
        session->stream_end();
    }
}

bool StreamWriter::open() const { return !state_->ended.load() && !state_->shared->closed.load(); }

}  // namespace qrpay::http
