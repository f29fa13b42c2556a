#include "journal/highest_seq_cache.h"

#include <utility>

#include "base/assert.h"

namespace qrpay::journal {

void HighestSeqCache::begin_pass() {
    for (EntitySlot* slot : staged_) {
        slot->staged.reset();
    }
    staged_.clear();
    if (young_.size() >= generation_entries_max_) {
        old_.clear();
        std::swap(old_, young_);
    }
    QRPAY_ASSERT(young_.size() < generation_entries_max_ || generation_entries_max_ == 0,
                 "a pass began without room for one new entity");
}

// Node handles keep their allocation when they move between generations, so a slot's address
// stays valid for the whole pass.
EntitySlot* HighestSeqCache::slot(std::string_view persistence_id) {
    if (auto young = young_.find(persistence_id); young != young_.end()) {
        return &young->second;
    }
    const bool room = young_.size() < generation_entries_max_;
    auto old = old_.find(persistence_id);
    if (old != old_.end() && !room) {
        return &old->second;
    }
    if (!room) {
        return nullptr;
    }
    auto inserted = old != old_.end() ? young_.insert(old_.extract(old)).position
                                      : young_.try_emplace(std::string(persistence_id)).first;
    QRPAY_ASSERT(young_.size() <= generation_entries_max_ && old_.size() <= generation_entries_max_,
                 "the cache outgrew its bound");
    return &inserted->second;
}

void HighestSeqCache::stage(EntitySlot& slot, const EntityTip& tip) {
    if (!slot.staged) {
        staged_.push_back(&slot);
    }
    slot.staged = tip;
}

void HighestSeqCache::publish_staged() {
    for (EntitySlot* slot : staged_) {
        QRPAY_ASSERT(slot->staged.has_value(), "a staged slot without a tip");
        slot->committed = std::exchange(slot->staged, std::nullopt);
    }
    staged_.clear();
}

void HighestSeqCache::forget_staged() {
    for (EntitySlot* slot : staged_) {
        slot->committed.reset();
        slot->staged.reset();
    }
    staged_.clear();
}

void HighestSeqCache::forget(std::string_view persistence_id) {
    if (auto young = young_.find(persistence_id); young != young_.end()) {
        young->second.committed.reset();
    } else if (auto old = old_.find(persistence_id); old != old_.end()) {
        old->second.committed.reset();
    }
}

}  // namespace qrpay::journal
