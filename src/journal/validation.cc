#include "journal/validation.h"

namespace qrpay::journal {

namespace {

Status refuse(std::string message) { return {Errc::invalid_argument, std::move(message)}; }

}  // namespace

Status validate_persistence_id(const std::string& persistence_id) {
    if (persistence_id.empty()) {
        return refuse("empty persistence id");
    }
    if (persistence_id.size() > persistence_id_bytes_max) {
        return refuse("persistence id of " + std::to_string(persistence_id.size()) +
                      " bytes exceeds persistence_id_bytes_max");
    }
    return {};
}

Status validate_append(const AppendRequest& request) {
    if (Status id = validate_persistence_id(request.persistence_id); !id.ok()) {
        return id;
    }
    if (request.events.empty()) {
        return refuse("append without events");
    }
    if (request.events.size() > events_per_append_max) {
        return refuse(std::to_string(request.events.size()) +
                      " events exceed events_per_append_max");
    }
    for (const EventData& event : request.events) {
        if (event.payload.size() > event_payload_bytes_max) {
            return refuse("payload of " + std::to_string(event.payload.size()) +
                          " bytes exceeds event_payload_bytes_max");
        }
    }
    if (request.claimed_keys.size() > claimed_keys_per_append_max) {
        return refuse(std::to_string(request.claimed_keys.size()) +
                      " claimed keys exceed claimed_keys_per_append_max");
    }
    for (const std::string& key : request.claimed_keys) {
        if (key.empty() || key.size() > claimed_key_bytes_max) {
            return refuse("a claimed key must have 1 to " + std::to_string(claimed_key_bytes_max) +
                          " bytes");
        }
    }
    if (request.expected_seq.value > stored_number_max - request.events.size()) {
        return refuse("sequence number out of range");
    }
    return validate_fencing(request.fencing);
}

Status validate_snapshot(const std::string& persistence_id, const Snapshot& snapshot) {
    if (Status id = validate_persistence_id(persistence_id); !id.ok()) {
        return id;
    }
    if (snapshot.seq.value > stored_number_max) {
        return refuse("snapshot sequence number out of range");
    }
    return {};
}

Status validate_fencing(FencingToken token) {
    if (token.value > stored_number_max) {
        return refuse("fencing token out of range");
    }
    return {};
}

std::size_t append_bytes(const AppendRequest& request) {
    std::size_t bytes = request.persistence_id.size();
    for (const EventData& event : request.events) {
        bytes += event.type.size() + event.payload.size();
    }
    return bytes;
}

}  // namespace qrpay::journal
