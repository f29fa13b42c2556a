#pragma once
// EntityHost<B>: hosts every entity of one type on a Runtime (STYLE 2.6).
//
//   ask(id, command, done)  delivers the command to the entity (recovering it from its
//                           snapshot and events first if it is not in memory). `done` gets the
//                           reply once the effect's events are durable, or the rejection, or
//                           an error (unavailable: mailbox, stash or recovery queue full;
//                           io_error / unknown_outcome: the journal failed or may have; see
//                           "Failed writes" below).
//                           `done` runs on the entity's executor and must not block.
//   ask_new(id, command, done)
//                           ask() for an id the caller just drew at random and expects to be
//                           new: when the entity is not in memory the host starts it from the
//                           empty state without reading the journal. The hint never changes an
//                           answer, it only saves the read: if the id exists after all, the
//                           first append is refused (sequence_conflict, the journal checks the
//                           expected seq) and the host recovers the entity and runs the command
//                           again; a command that persists nothing on the empty state is
//                           answered only after a real recovery.
//   tell(id, command)       the same without a reply.
//   (all three)             for an entity whose shard another node serves, the command goes
//                           through the runtime's Forwarder when the Behavior is a
//                           ForwardableBehavior (forwarding.h); else it is refused not_owner.
//   find_key_holder(key, done)
//                           the entity of this type holding a key it claimed with its events
//                           (Effect::claiming), within the journal's key retention.
//   wake_pending()          at start-up: wakes every entity whose last append left a deadline.
//
// Persistence id = "<B::type_name>|<entity id>". A Behavior whose ids are secrets (payment
// codes) declares `static constexpr bool entity_id_is_secret = true`; its ids are then
// redacted in every log line of the host.
//
// Failed writes: after an append that failed or may have (io_error, unknown_outcome, a full
// disk, a lost commit answer) the entity's state in memory is no longer trusted. The entity
// stays in its table marked for recovery, and resumes by itself: after a backoff that doubles
// from resume_backoff_first to resume_backoff_max for each failure in a row, it recovers from
// the journal and is woken, so work that was under way (a payment waiting on the agency) goes
// on without a restart and without a command. A message that arrives meanwhile recovers it
// first. Only a fenced append (another owner has the shard) drops the entity for good.
//
// Recovery is asynchronous: the journal reads run on the runtime's journal-I/O threads, never
// on the executor, which serves its other entities meanwhile. Messages for a recovering
// entity wait in its stash and run in arrival order once it is recovered; a failed recovery
// answers each of them with the error. Snapshot writes leave the executor the same way.
//
// Deadlines: an entity that is loaded with a deadline already past (its timer was lost with a
// failed write, or it was not in memory when the deadline passed) is woken at once.

#include <functional>
#include <string>

#include "runtime/behavior.h"
#include "runtime/runtime.h"

namespace qrpay::runtime {

struct EntityHostStats {
    std::size_t active_entities = 0;
    std::uint64_t commands = 0;
    std::uint64_t events_persisted = 0;
    std::uint64_t recoveries = 0;
    std::uint64_t presumed_new = 0;        // ask_new() starts that skipped the journal read
    std::uint64_t presumed_new_wrong = 0;  // of those, ids that existed after all
    std::uint64_t passivations = 0;
    std::uint64_t write_failures = 0;  // appends that failed or may have
    std::uint64_t resumes = 0;         // entities recovered and woken after a failed write
    std::uint64_t forwarded_out = 0;   // commands sent to the node serving their shard
    std::uint64_t forwarded_in = 0;    // commands another node forwarded here
};

template <Behavior B>
class EntityHost;

}  // namespace qrpay::runtime

#include "runtime/entity_host_impl.h"
