#pragma once
// Rebuilder: recomputes a projection from the journal, from scratch and online, into a fresh
// table set beside the live one (each table's base name + "_rebuild", offsets under the
// projection's rebuild key, the next generation's index names), then replaces the live tables
// with it in one transaction (`qrpay projection rebuild NAME`).
//
//   prepare()   drops what an earlier, unfinished rebuild left, creates the fresh tables and
//               zero offsets
//   catch_up()  runs an Engine in rebuild mode on this thread until it has read every shard
//               to the journal's end
//   swap()      in one transaction: drops the live tables, renames the rebuilt ones over them
//               and moves the rebuilt offsets to the live key. Only when every rebuilt offset
//               is at or past the live one (else it catches up again, at most swap_tries_max
//               times), so no event the live model showed goes missing.
//
// The live engine may keep running meanwhile, in this process or another: it compares its
// cursor with the stored offset inside each write transaction and reloads when the swap
// moved it, so it goes on from the rebuilt offsets and applies nothing twice.
//
// Thread safety: one thread drives a Rebuilder.

#include <cstddef>
#include <cstdint>

#include "base/clock.h"
#include "base/status.h"
#include "journal/journal.h"
#include "projection/projection.h"
#include "projection/store.h"

namespace qrpay::projection {

struct RebuildOptions {
    std::uint32_t shard_count = 64;
    std::size_t catch_up_rounds_max = 10'000'000;  // each round applies up to 4096 events
    std::size_t swap_tries_max = 100;
};

class Rebuilder {
public:
    // REQUIRES: journal, store, projection and clock outlive the rebuilder.
    Rebuilder(journal::Journal& journal,
              Store& store,
              const Projection& projection,
              const Clock& clock,
              RebuildOptions options);

    Status prepare();
    Status catch_up();
    Status swap();
    // prepare(), catch_up(), swap().
    Status run();

private:
    Status try_swap(bool& swapped);

    journal::Journal& journal_;
    Store& store_;
    const Projection& projection_;
    const Clock& clock_;
    const RebuildOptions options_;
};

}  // namespace qrpay::projection
