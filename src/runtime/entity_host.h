#pragma once
// EntityHost<B>: hosts every entity of one type on a Runtime (STYLE 2.6).
//
//   ask(id, command, done)  delivers the command to the entity (recovering it from its
//                           snapshot and events first if it is not in memory). `done` gets the
//                           reply once the effect's events are durable, or the rejection, or
//                           an error (unavailable: mailbox or stash full; io_error /
//                           unknown_outcome: the journal failed, the entity is dropped from
//                           memory and recovers from the journal on its next command).
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
//   wake_pending()          at start-up: wakes every entity whose last append left a deadline.
//
// Persistence id = "<B::type_name>|<entity id>".

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
};

template <Behavior B>
class EntityHost;

}  // namespace qrpay::runtime

#include "runtime/entity_host_impl.h"
