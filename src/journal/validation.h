#pragma once
// Input checks every journal backend shares, so that each refuses the same requests with
// Errc::invalid_argument (journal.h, "Error codes"). Private to the journal module.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "base/status.h"
#include "journal/journal.h"

namespace qrpay::journal {

// The largest sequence number, offset or fencing token a journal stores: backends keep them in
// signed 64-bit columns.
inline constexpr std::uint64_t stored_number_max =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// invalid_argument when the id is empty or longer than persistence_id_bytes_max.
Status validate_persistence_id(const std::string& persistence_id);

// invalid_argument when the request breaks a bound of journal.h: no events, more than
// events_per_append_max, an oversized id or payload, or a number above stored_number_max.
Status validate_append(const AppendRequest& request);

// invalid_argument when the id is bad or snapshot.seq is above stored_number_max.
Status validate_snapshot(const std::string& persistence_id, const Snapshot& snapshot);

// invalid_argument when the token is above stored_number_max.
Status validate_fencing(FencingToken token);

// The bytes a request holds in memory while queued: id, types and payloads.
std::size_t append_bytes(const AppendRequest& request);

}  // namespace qrpay::journal
