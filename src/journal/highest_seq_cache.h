#pragma once
// What a journal's writer thread remembers of recently appended entities, so that a
// conditional append needs no SELECT before its INSERTs (sqlite/group_commit.h says how it is
// used; the PostgreSQL writer uses it the same way).

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/strong_types.h"

namespace qrpay::journal {

// Whether the wakeups table holds a row for the entity.
enum class WakeupRow : std::uint8_t { unknown, absent, present };

// An entity as an append of this writer left it, and the shard token it was written under.
struct EntityTip {
    SequenceNr highest_seq;
    FencingToken fencing;
    ShardId shard;
    WakeupRow wakeup = WakeupRow::unknown;
};

// One entity's entry. `committed` is what the last successful COMMIT left; it may be behind
// another writer of the same file, so it may say yes to an append but never refuse one, and
// only while `shard` still has `fencing` as its token. `staged` is what the current pass wrote,
// as its open transaction sees it, so exact while that pass runs.
struct EntitySlot {
    std::optional<EntityTip> committed;
    std::optional<EntityTip> staged;
};

// A bounded map from persistence id to EntitySlot, in two generations: new entries go into the
// young one, and an entry used again moves there; when a pass begins with the young one full,
// the old one is dropped and the young one becomes old. So at most entries_max entries are held
// and those unused longest go first. Once the young generation fills up within a pass, slot()
// finds no room for new entities until the next pass; they are then not remembered, which
// costs a SELECT but is never wrong.
// Memory (measured with glibc): about 140 bytes of node, bucket and malloc overhead per entry,
// plus the id's bytes when longer than 15 (std::string's inline buffer): at 65'536 entries
// ~12 MiB with 30-byte ids, ~23 MiB with ids at persistence_id_bytes_max (200).
//
// Thread safety: none; the journal's writer thread owns it.
class HighestSeqCache {
public:
    // entries_max < 2 disables the cache: slot() then always answers null.
    explicit HighestSeqCache(std::size_t entries_max) : generation_entries_max_(entries_max / 2) {}

    // Starts a pass: drops what an unfinished pass staged, then ages the generations when the
    // young one is full. Invalidates every EntitySlot pointer.
    void begin_pass();
    // The entity's slot, created empty when it has none; null when there is no room in this
    // pass. Valid until the next begin_pass().
    EntitySlot* slot(std::string_view persistence_id);
    // Records the pass's tip of the entity whose slot this is.
    void stage(EntitySlot& slot, const EntityTip& tip);
    // After a successful COMMIT: every staged tip becomes committed.
    void publish_staged();
    // After a failed COMMIT, which may or may not have stored them: forgets every entity the
    // pass staged a tip for.
    void forget_staged();
    // Forgets the committed tip of an entity that SQL showed to be elsewhere.
    void forget(std::string_view persistence_id);

    [[nodiscard]] std::size_t size() const { return young_.size() + old_.size(); }

private:
    // Heterogeneous lookup: a string_view finds an entry without building a std::string.
    struct IdHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view id) const {
            return std::hash<std::string_view>{}(id);
        }
    };
    using Map = std::unordered_map<std::string, EntitySlot, IdHash, std::equal_to<>>;

    std::size_t generation_entries_max_;
    Map young_;
    Map old_;
    // The slots the current pass staged a tip in; nodes never move nor die within a pass.
    std::vector<EntitySlot*> staged_;
};

}  // namespace qrpay::journal
