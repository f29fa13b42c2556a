// Journal::append_and_wait and the in-memory journal.
//
// The memory journal keeps every event in maps guarded by one mutex. append() checks and stores
// under that mutex, so the order of stores is the commit order and shard offsets are gap-free;
// the outcome then goes to a completion thread, which calls the commit listener and `done`
// (journal.h: `done` runs on a journal thread). It passes the conformance suite except
// durability across reopen: nothing survives the object.

#include "journal/journal.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "journal/validation.h"

namespace qrpay::journal {

Result<std::vector<std::vector<ShardEvent>>> Journal::read_shards(
    const std::vector<ShardRead>& reads) {
    std::vector<std::vector<ShardEvent>> answers;
    answers.reserve(reads.size());
    for (const ShardRead& read : reads) {
        Result<std::vector<ShardEvent>> events = read_shard(read.shard, read.from, read.max_count);
        if (!events.ok()) {
            return events.status();
        }
        answers.push_back(std::move(events).value());
    }
    return answers;
}

Status Journal::append_and_wait(AppendRequest request) {
    // Shared so that the promise outlives a callback that is still returning from set_value.
    auto outcome = std::make_shared<std::promise<Status>>();
    std::future<Status> future = outcome->get_future();
    append(std::move(request), [outcome](Status status) { outcome->set_value(std::move(status)); });
    try {
        return future.get();
    } catch (const std::future_error&) {
        QRPAY_ASSERT(false, "an append callback was destroyed without running");
    }
    return {Errc::unknown_outcome, "unreachable"};
}

namespace {

// Finished appends that may wait for the completion thread before append() answers
// unavailable: the memory journal's bounded queue.
constexpr std::size_t memory_completions_max = 100'000;

struct ShardTip {
    ShardId shard;
    ShardOffset offset;
};

struct MemoryShard {
    FencingToken fencing;
    std::vector<ShardEvent> log;  // log[i].offset == i + 1
};

struct MemoryWakeup {
    ShardId shard;
    UnixMs wake_at;
};

// An append whose outcome is decided but not yet reported.
struct Completion {
    Journal::AppendCallback done;
    Status status;
    std::optional<ShardTip> tip;  // set when the append was stored
};

class MemoryJournal final : public Journal {
public:
    explicit MemoryJournal(std::chrono::milliseconds key_retention)
        : key_retention_ms_(key_retention.count()) {
        completion_thread_ = std::thread([this] { run_completions(); });
    }

    // Reports every append already accepted, then joins the completion thread.
    ~MemoryJournal() override {
        {
            std::lock_guard lock(mutex_);
            closing_ = true;
        }
        completions_ready_.notify_one();
        completion_thread_.join();
    }

    MemoryJournal(const MemoryJournal&) = delete;
    MemoryJournal& operator=(const MemoryJournal&) = delete;
    MemoryJournal(MemoryJournal&&) = delete;
    MemoryJournal& operator=(MemoryJournal&&) = delete;

    void append(AppendRequest request, AppendCallback done) override;
    Result<std::vector<StoredEvent>> read_events(const std::string& persistence_id,
                                                 SequenceNr from,
                                                 std::size_t max_count) override;
    Result<SequenceNr> highest_seq(const std::string& persistence_id) override;
    Result<std::vector<ShardEvent>> read_shard(ShardId shard,
                                               ShardOffset from,
                                               std::size_t max_count) override;
    Status save_snapshot(const std::string& persistence_id, const Snapshot& snapshot) override;
    Result<std::optional<Snapshot>> load_snapshot(const std::string& persistence_id) override;
    Result<std::optional<KeyClaim>> find_key_claim(const std::string& key, UnixMs now) override;
    Result<std::size_t> key_claim_count() override;
    Status claim_shard(ShardId shard, FencingToken token) override;
    Result<FencingToken> current_fencing(ShardId shard) override;
    Result<std::vector<WakeEntry>> pending_wakeups(ShardId shard) override;
    void set_commit_listener(CommitListener listener) override;

private:
    // REQUIRES: mutex_ held. The claim of `key` still holding at `now`, or null.
    const KeyClaim* live_claim(const std::string& key, UnixMs now) const;
    void forget_expired_claims(UnixMs now);                   // REQUIRES: mutex_ held
    Status check_append(const AppendRequest& request) const;  // REQUIRES: mutex_ held
    ShardTip store_append(const AppendRequest& request);      // REQUIRES: mutex_ held
    void run_completions();
    bool take_completions(std::deque<Completion>& batch, CommitListener& listener);

    // Guards every member below. Shared because any caller thread reads and appends while the
    // completion thread takes finished appends.
    mutable std::mutex mutex_;
    std::condition_variable completions_ready_;
    std::unordered_map<std::string, std::vector<StoredEvent>> entities_;  // [i].seq == i + 1
    std::unordered_map<ShardId, MemoryShard> shards_;
    std::unordered_map<std::string, Snapshot> snapshots_;
    std::unordered_map<std::string, MemoryWakeup> wakeups_;
    std::unordered_map<std::string, KeyClaim> key_claims_;
    const std::int64_t key_retention_ms_;
    UnixMs claims_swept_at_;              // written_at of the last sweep of expired claims
    std::deque<Completion> completions_;  // at most memory_completions_max
    CommitListener listener_;
    bool appended_any_ = false;
    bool closing_ = false;

    std::thread completion_thread_;  // started in the constructor, joined in the destructor
};

void MemoryJournal::append(AppendRequest request, AppendCallback done) {
    QRPAY_ASSERT(done != nullptr, "append without a callback");
    if (Status valid = validate_append(request); !valid.ok()) {
        done(std::move(valid));
        return;
    }
    std::unique_lock lock(mutex_);
    if (closing_ || completions_.size() >= memory_completions_max) {
        lock.unlock();
        done(Status(Errc::unavailable, "memory journal queue is full or closing"));
        return;
    }
    appended_any_ = true;
    Completion completion{.done = std::move(done), .status = check_append(request), .tip = {}};
    if (completion.status.ok()) {
        completion.tip = store_append(request);
    }
    completions_.push_back(std::move(completion));
    lock.unlock();
    completions_ready_.notify_one();
}

Status MemoryJournal::check_append(const AppendRequest& request) const {
    auto shard = shards_.find(request.shard);
    FencingToken current = shard == shards_.end() ? FencingToken() : shard->second.fencing;
    if (request.fencing != current) {
        return {Errc::fenced, "shard " + std::to_string(request.shard.value) + " has token " +
                                  std::to_string(current.value)};
    }
    auto entity = entities_.find(request.persistence_id);
    SequenceNr highest(entity == entities_.end() ? 0 : entity->second.size());
    if (request.expected_seq != highest) {
        return {Errc::sequence_conflict, "expected " + std::to_string(request.expected_seq.value) +
                                             ", highest " + std::to_string(highest.value)};
    }
    for (const std::string& key : request.claimed_keys) {
        const KeyClaim* claim = live_claim(key, request.written_at);
        if (claim != nullptr && claim->persistence_id != request.persistence_id) {
            return {Errc::key_taken, "a claimed key is held by another entity"};
        }
    }
    return {};
}

const KeyClaim* MemoryJournal::live_claim(const std::string& key, UnixMs now) const {
    auto found = key_claims_.find(key);
    if (found == key_claims_.end() ||
        found->second.claimed_at.value + key_retention_ms_ <= now.value) {
        return nullptr;
    }
    return &found->second;
}

// Once per retention/24 of written_at time at most, so appends stay cheap on average.
void MemoryJournal::forget_expired_claims(UnixMs now) {
    if (now.value - claims_swept_at_.value < std::max<std::int64_t>(1, key_retention_ms_ / 24)) {
        return;
    }
    claims_swept_at_ = now;
    std::erase_if(key_claims_, [this, now](const auto& entry) {
        return entry.second.claimed_at.value + key_retention_ms_ <= now.value;
    });
}

ShardTip MemoryJournal::store_append(const AppendRequest& request) {
    std::vector<StoredEvent>& events = entities_[request.persistence_id];
    std::vector<ShardEvent>& log = shards_[request.shard].log;
    QRPAY_ASSERT(events.size() == request.expected_seq.value, "append stored without its check");
    SequenceNr seq = request.expected_seq;
    for (const EventData& event : request.events) {
        seq = seq.next();
        events.push_back({seq, event.type, event.payload, request.written_at});
        log.push_back({ShardOffset(log.size() + 1), request.persistence_id, seq, event.type,
                       event.payload, request.written_at});
    }
    QRPAY_ASSERT(events.back().seq.value == events.size(), "entity sequence has a gap");
    if (request.wake_at) {
        wakeups_[request.persistence_id] = {request.shard, *request.wake_at};
    } else {
        wakeups_.erase(request.persistence_id);
    }
    for (const std::string& key : request.claimed_keys) {
        if (live_claim(key, request.written_at) == nullptr) {
            key_claims_[key] = KeyClaim{request.persistence_id, request.written_at};
        }
    }
    forget_expired_claims(request.written_at);
    return {request.shard, log.back().offset};
}

Result<std::vector<StoredEvent>> MemoryJournal::read_events(const std::string& persistence_id,
                                                            SequenceNr from,
                                                            std::size_t max_count) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    std::lock_guard lock(mutex_);
    std::vector<StoredEvent> out;
    auto entity = entities_.find(persistence_id);
    if (entity == entities_.end()) {
        return out;
    }
    const std::vector<StoredEvent>& events = entity->second;
    std::size_t index = from.value == 0 ? 0 : from.value - 1;  // seq n sits at index n - 1
    for (; index < events.size() && out.size() < max_count; ++index) {
        out.push_back(events[index]);
    }
    return out;
}

Result<SequenceNr> MemoryJournal::highest_seq(const std::string& persistence_id) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    std::lock_guard lock(mutex_);
    auto entity = entities_.find(persistence_id);
    return SequenceNr(entity == entities_.end() ? 0 : entity->second.size());
}

Result<std::vector<ShardEvent>> MemoryJournal::read_shard(ShardId shard,
                                                          ShardOffset from,
                                                          std::size_t max_count) {
    std::lock_guard lock(mutex_);
    std::vector<ShardEvent> out;
    auto found = shards_.find(shard);
    if (found == shards_.end()) {
        return out;
    }
    const std::vector<ShardEvent>& log = found->second.log;
    std::size_t index = from.value == 0 ? 0 : from.value - 1;  // offset n sits at index n - 1
    for (; index < log.size() && out.size() < max_count; ++index) {
        out.push_back(log[index]);
    }
    return out;
}

Status MemoryJournal::save_snapshot(const std::string& persistence_id, const Snapshot& snapshot) {
    if (Status valid = validate_snapshot(persistence_id, snapshot); !valid.ok()) {
        return valid;
    }
    std::lock_guard lock(mutex_);
    auto [slot, inserted] = snapshots_.try_emplace(persistence_id, snapshot);
    if (!inserted && slot->second.seq < snapshot.seq) {
        slot->second = snapshot;
    }
    return {};
}

Result<std::optional<Snapshot>> MemoryJournal::load_snapshot(const std::string& persistence_id) {
    if (Status valid = validate_persistence_id(persistence_id); !valid.ok()) {
        return valid;
    }
    std::lock_guard lock(mutex_);
    auto found = snapshots_.find(persistence_id);
    if (found == snapshots_.end()) {
        return std::optional<Snapshot>();
    }
    return std::optional<Snapshot>(found->second);
}

Result<std::optional<KeyClaim>> MemoryJournal::find_key_claim(const std::string& key, UnixMs now) {
    std::lock_guard lock(mutex_);
    const KeyClaim* claim = live_claim(key, now);
    return claim == nullptr ? std::optional<KeyClaim>() : std::optional<KeyClaim>(*claim);
}

Result<std::size_t> MemoryJournal::key_claim_count() {
    std::lock_guard lock(mutex_);
    return key_claims_.size();
}

Status MemoryJournal::claim_shard(ShardId shard, FencingToken token) {
    if (Status valid = validate_fencing(token); !valid.ok()) {
        return valid;
    }
    std::lock_guard lock(mutex_);
    MemoryShard& state = shards_[shard];
    if (state.fencing >= token) {
        return {Errc::fenced, "shard " + std::to_string(shard.value) + " already has token " +
                                  std::to_string(state.fencing.value)};
    }
    state.fencing = token;
    return {};
}

Result<FencingToken> MemoryJournal::current_fencing(ShardId shard) {
    std::lock_guard lock(mutex_);
    auto found = shards_.find(shard);
    return found == shards_.end() ? FencingToken() : found->second.fencing;
}

Result<std::vector<WakeEntry>> MemoryJournal::pending_wakeups(ShardId shard) {
    std::vector<WakeEntry> out;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [persistence_id, wakeup] : wakeups_) {
            if (wakeup.shard == shard) {
                out.push_back({persistence_id, wakeup.wake_at});
            }
        }
    }
    std::sort(out.begin(), out.end(), [](const WakeEntry& a, const WakeEntry& b) {
        return std::tie(a.wake_at, a.persistence_id) < std::tie(b.wake_at, b.persistence_id);
    });
    return out;
}

void MemoryJournal::set_commit_listener(CommitListener listener) {
    std::lock_guard lock(mutex_);
    QRPAY_ASSERT(!appended_any_, "set_commit_listener after the first append");
    listener_ = std::move(listener);
}

void MemoryJournal::run_completions() {
    std::deque<Completion> batch;
    CommitListener listener;
    while (take_completions(batch, listener)) {
        for (Completion& completion : batch) {
            if (completion.tip && listener) {
                listener(completion.tip->shard, completion.tip->offset);
            }
            completion.done(std::move(completion.status));
        }
        batch.clear();
    }
}

// Waits for finished appends and moves them into `batch`; false once closing and none is left.
bool MemoryJournal::take_completions(std::deque<Completion>& batch, CommitListener& listener) {
    std::unique_lock lock(mutex_);
    completions_ready_.wait(lock, [this] { return closing_ || !completions_.empty(); });
    if (completions_.empty()) {
        return false;
    }
    batch.swap(completions_);
    listener = listener_;
    return true;
}

}  // namespace

std::unique_ptr<Journal> make_memory_journal(std::chrono::milliseconds key_retention) {
    QRPAY_ASSERT(key_retention.count() > 0, "key claims need a positive retention");
    return std::make_unique<MemoryJournal>(key_retention);
}

}  // namespace qrpay::journal
