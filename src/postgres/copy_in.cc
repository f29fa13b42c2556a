// Connection::CopyIn: COPY ... FROM STDIN in PostgreSQL's binary format, streamed.
//
// The format: a signature, flags and a header extension length; per row the field count
// (int16) and each field as its length (int32) and bytes (a bigint as 8 bytes in network
// order, a text or bytea as its bytes); then -1 (int16).

#include <libpq-fe.h>

#include <array>
#include <bit>
#include <cstring>

#include "postgres/connection.h"

namespace qrpay::postgres {

namespace {

// "PGCOPY\n\377\r\n" and a \0.
constexpr std::array<char, 11> copy_signature = {'P',  'G',    'C',  'O',  'P', 'Y',
                                                 '\n', '\377', '\r', '\n', '\0'};

template <class Int>
void put_big_endian(std::string& out, Int value) {
    using Bits = std::make_unsigned_t<Int>;
    auto bits = static_cast<Bits>(value);
    if constexpr (std::endian::native == std::endian::little) {
        if constexpr (sizeof bits == 8) {
            bits = __builtin_bswap64(bits);
        } else if constexpr (sizeof bits == 4) {
            bits = __builtin_bswap32(bits);
        } else {
            bits = __builtin_bswap16(bits);
        }
    }
    std::array<char, sizeof bits> bytes{};
    std::memcpy(bytes.data(), &bits, sizeof bits);
    out.append(bytes.data(), bytes.size());
}

}  // namespace

Connection::CopyIn::CopyIn(Connection& connection, std::string_view copy_sql)
    : connection_(connection), sql_(copy_sql) {
    buffer_.reserve(chunk_bytes + 4096);
    buffer_.append(copy_signature.data(), copy_signature.size());
    put_big_endian<std::int32_t>(buffer_, 0);  // flags
    put_big_endian<std::int32_t>(buffer_, 0);  // header extension length
}

Status Connection::CopyIn::start() {
    Connection& c = connection_;
    if (c.broken()) {
        return c.lost(sql_);
    }
    pg_result* result = PQexec(c.conn_, sql_.c_str());
    if (result != nullptr && PQresultStatus(result) == PGRES_COPY_IN) {
        PQclear(result);
        started_ = true;
        return {};
    }
    Result<Rows> refused = c.take_result(result, sql_);
    return refused.ok() ? Status(Errc::io_error, "postgres: " + sql_ + " did not start a COPY")
                        : refused.status();
}

void Connection::CopyIn::begin_row(int columns) {
    if (buffer_.size() >= chunk_bytes) {
        flush();
    }
    put_big_endian(buffer_, static_cast<std::int16_t>(columns));
}

void Connection::CopyIn::add_int(std::int64_t value) {
    put_big_endian<std::int32_t>(buffer_, sizeof value);
    put_big_endian(buffer_, value);
}

void Connection::CopyIn::add_bytes(std::string_view value) {
    put_big_endian(buffer_, static_cast<std::int32_t>(value.size()));
    buffer_.append(value);
}

// Sends the buffer. After a failure rows are dropped; finish() reports it.
void Connection::CopyIn::flush() {
    if (failed_.ok() && !started_) {
        failed_ = start();
    }
    if (failed_.ok() && !server_ended_ &&
        PQputCopyData(connection_.conn_, buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
        // Lost, or the server refused a row and ended the COPY: its answer tells which.
        server_ended_ = true;
    }
    buffer_.clear();
}

Result<std::int64_t> Connection::CopyIn::finish() {
    put_big_endian<std::int16_t>(buffer_, -1);
    flush();
    if (!failed_.ok()) {
        return failed_;
    }
    Connection& c = connection_;
    if (!server_ended_ && PQputCopyEnd(c.conn_, nullptr) != 1 && c.broken()) {
        return c.lost(sql_);
    }
    pg_result* result = PQgetResult(c.conn_);
    Result<Rows> answer = c.take_result(result, sql_);
    while (pg_result* extra = PQgetResult(c.conn_)) {
        PQclear(extra);
    }
    if (!answer.ok()) {
        return answer.status();
    }
    return answer->changed();
}

}  // namespace qrpay::postgres
