#pragma once
// The journal contract (STYLE 2.7): where every event of every entity is stored.
//
// Terms
//   persistence id  "<entity type>|<entity id>", at most persistence_id_bytes_max bytes.
//   sequence nr     per persistence id, 1 for the first event, contiguous.
//   shard offset    per shard, 1 for the first event appended to the shard, contiguous and
//                   gap-free in commit order: a reader at offset N never later finds an event
//                   with an offset below N that it did not see.
//   fencing token   per shard; claim_shard() raises it, and an append that carries any other
//                   token than the shard's current one is refused with Errc::fenced.
//   key claim       a unique name (a request's idempotency key, say) that an append binds to
//                   its persistence id atomically with its events. A claim holds for the
//                   journal's key retention after the claiming append's written_at (24 h by
//                   default); then find_key_claim() no longer sees it, another persistence id
//                   may claim the key, and the journal forgets it, so claims never pile up.
//
// Error codes returned by every backend:
//   sequence_conflict  expected_seq is not the highest stored sequence of the entity
//   fenced             the fencing token is not the shard's current token
//   key_taken          a key the append claims is held by another persistence id; nothing
//                      of the append is stored
//   invalid_argument   empty event list or persistence id, oversized id, payload or event
//                      count, a number above INT64_MAX; nothing changed
//   unavailable        the journal's bounded queue is full or it is closing; nothing stored
//   unreachable        the journal's server cannot be reached (a backend in another process:
//                      PostgreSQL); nothing of the append is stored, nothing was read
//   io_error           the store failed; nothing of the append is stored
//   unknown_outcome    the store failed at commit; the append may or may not be stored
//
// Thread safety: every method may be called from any thread.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/strong_types.h"

namespace qrpay::journal {

inline constexpr std::size_t persistence_id_bytes_max = 200;
inline constexpr std::size_t event_payload_bytes_max = 64 * 1024;
inline constexpr std::size_t events_per_append_max = 64;
inline constexpr std::size_t claimed_keys_per_append_max = 4;
inline constexpr std::size_t claimed_key_bytes_max = 128;
// How long a key claim holds when the backend's options do not say otherwise.
inline constexpr std::chrono::milliseconds key_retention_default = std::chrono::hours(24);

// "<entity type>|<entity id>": every persistence id is built here. With an empty id, the
// prefix all of a type's persistence ids share.
inline std::string persistence_id_of(std::string_view entity_type, std::string_view entity_id) {
    std::string id;
    id.reserve(entity_type.size() + 1 + entity_id.size());
    id.append(entity_type).append(1, '|').append(entity_id);
    return id;
}

// One event as the runtime hands it over: its type name and its encoded bytes.
struct EventData {
    std::string type;
    std::string payload;
};

// One event as read back for an entity.
struct StoredEvent {
    SequenceNr seq;
    std::string type;
    std::string payload;
    UnixMs written_at;
};

// One read of read_shards(): the events of `shard` with offset >= from, at most max_count.
struct ShardRead {
    ShardId shard;
    ShardOffset from;
    std::size_t max_count = 0;
};

// One event as read back in a shard's order (for projections).
struct ShardEvent {
    ShardOffset offset;
    std::string persistence_id;
    SequenceNr seq;
    std::string type;
    std::string payload;
    UnixMs written_at;
};

struct AppendRequest {
    ShardId shard;
    FencingToken fencing;
    std::string persistence_id;
    SequenceNr expected_seq;  // the highest stored sequence now; events get expected_seq + 1...
    std::vector<EventData> events;
    UnixMs written_at;
    // The entity's durable deadline after these events, stored atomically with them; nullopt
    // clears it. pending_wakeups() lists entities that have one.
    std::optional<UnixMs> wake_at;
    // Keys bound to persistence_id with the events (see "key claim"), at most
    // claimed_keys_per_append_max of 1..claimed_key_bytes_max bytes. A key this entity holds
    // already stays bound from its first claim.
    std::vector<std::string> claimed_keys;
};

// Who holds a key, and since when.
struct KeyClaim {
    std::string persistence_id;
    UnixMs claimed_at;  // the written_at of the append that claimed it
};

struct Snapshot {
    SequenceNr seq;  // the state includes every event up to and including seq
    std::string payload;
};

struct WakeEntry {
    std::string persistence_id;
    UnixMs wake_at;
};

class Journal {
public:
    using AppendCallback = std::function<void(Status)>;

    virtual ~Journal() = default;

    // Appends all events or none. `done` runs exactly once, on a journal thread, after the
    // events are durable (ok) or surely/possibly not (error, see codes above). A request
    // refused before it is queued (invalid_argument, unavailable) is the one exception: its
    // `done` runs on the calling thread before append() returns. `done` must not block.
    // Appends from many entities may be committed together (group commit).
    virtual void append(AppendRequest request, AppendCallback done) = 0;

    // Events of one entity with seq >= from, in order, at most max_count of them.
    virtual Result<std::vector<StoredEvent>> read_events(const std::string& persistence_id,
                                                         SequenceNr from,
                                                         std::size_t max_count) = 0;

    // The highest stored sequence of an entity; 0 when it has none. Kept after snapshots.
    virtual Result<SequenceNr> highest_seq(const std::string& persistence_id) = 0;

    // Events of one shard with offset >= from, in offset order, at most max_count of them.
    virtual Result<std::vector<ShardEvent>> read_shard(ShardId shard,
                                                       ShardOffset from,
                                                       std::size_t max_count) = 0;

    // Several read_shard() at once: answer[i] answers reads[i]. A backend may answer them
    // from one read transaction (the SQLite journal does: one lock and one page-cache check
    // instead of one per shard), which is what a projection round over many shards wants.
    // The default calls read_shard() for each. Fails whole when any read fails.
    virtual Result<std::vector<std::vector<ShardEvent>>> read_shards(
        const std::vector<ShardRead>& reads);

    // Replaces the entity's snapshot when `snapshot.seq` is newer than the stored one.
    virtual Status save_snapshot(const std::string& persistence_id, const Snapshot& snapshot) = 0;
    virtual Result<std::optional<Snapshot>> load_snapshot(const std::string& persistence_id) = 0;

    // The claim holding `key` at `now`: nullopt when the key was never claimed, or was claimed
    // a key retention or longer before `now`.
    virtual Result<std::optional<KeyClaim>> find_key_claim(const std::string& key, UnixMs now) = 0;

    // Claims stored, including expired ones not yet forgotten (a gauge for operators; tests
    // show that forgetting keeps it bounded).
    virtual Result<std::size_t> key_claim_count() = 0;

    // Makes `token` the shard's current fencing token. Refused (fenced) when the shard's
    // current token is already >= token. The shard's current token is 0 until claimed.
    virtual Status claim_shard(ShardId shard, FencingToken token) = 0;
    virtual Result<FencingToken> current_fencing(ShardId shard) = 0;

    // Entities of a shard whose last append left a wake_at (unfinished work), oldest first.
    virtual Result<std::vector<WakeEntry>> pending_wakeups(ShardId shard) = 0;

    // Registers a function called after every commit with the shards it touched and the
    // highest offset now durable in each. Runs on a journal thread; must not block. Set once,
    // before the first append.
    using CommitListener = std::function<void(ShardId shard, ShardOffset durable_offset)>;
    virtual void set_commit_listener(CommitListener listener) = 0;

    // Convenience: append and wait for the outcome.
    Status append_and_wait(AppendRequest request);
};

// A journal held in memory; passes the conformance suite except durability across reopen.
std::unique_ptr<Journal> make_memory_journal(
    std::chrono::milliseconds key_retention = key_retention_default);

}  // namespace qrpay::journal
