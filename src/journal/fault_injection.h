#pragma once
// Named failure-injection points of the journal (STYLE 2.8), as a decorator over any backend,
// the way LevelDB's fault-injection Env wraps the real one. Off unless a test turns them on:
// in-process tests flip the switches, and `qrpay serve --journal-fault SPEC` (or
// QRPAY_JOURNAL_FAULT; hidden from --help) passes a spec to a real process.
//
// SPEC is a comma-separated list of:
//
//   fail_append@TYPE*N          the first N appends that carry an event of type TYPE fail
//                               with io_error; nothing of them is stored
//   lose_commit_answer@TYPE*N   the first N appends that carry an event of type TYPE are
//                               stored, and then answered unknown_outcome (the commit's
//                               answer was lost)
//   stall_append@TYPE:MS*N      the first N appends that carry an event of type TYPE reach the
//                               store MS milliseconds late, from a thread of their own (the
//                               caller goes on): the entity decided, its write not yet stored
//   stall_reads@MS*N            the first N entity reads (events, snapshot, highest sequence)
//                               wait MS milliseconds first
//
// Switches (any thread, any time): fail_appends (every append fails with io_error, as on a
// full disk), fail_reads (every entity read fails with io_error, as on a broken disk),
// hold_reads (every entity read waits until the switch is off again, as on a disk that hangs;
// a test holds a recovery as long as it needs, and reads_held() says when one is waiting).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "journal/journal.h"

namespace qrpay::journal {

enum class AppendFault { fail, lose_commit_answer, stall };

struct AppendFaultRule {
    AppendFault fault = AppendFault::fail;
    std::string event_type;
    std::uint64_t count = 0;             // how many matching appends it hits
    std::chrono::milliseconds stall{0};  // AppendFault::stall only
};

struct FaultSpec {
    std::vector<AppendFaultRule> append_rules;
    std::chrono::milliseconds read_stall{0};
    std::uint64_t read_stall_count = 0;

    [[nodiscard]] bool any() const { return !append_rules.empty() || read_stall_count > 0; }
};

// invalid_argument for an unknown point or a bad argument. An empty spec is all off.
Result<FaultSpec> parse_fault_spec(std::string_view spec);

class FaultInjectingJournal final : public Journal {
public:
    // REQUIRES: `inner` outlives this object.
    FaultInjectingJournal(Journal& inner, FaultSpec spec);

    // The switches: every append (every entity read) fails with io_error while on.
    void fail_appends(bool on) { appends_fail_ = on; }
    void fail_reads(bool on) { reads_fail_ = on; }
    // While on, every entity read waits until it is turned off (at most read_hold_max, since
    // every wait has a deadline), then goes on.
    void hold_reads(bool on);
    // How many entity reads are waiting on hold_reads now.
    [[nodiscard]] std::size_t reads_held() const;
    static constexpr std::chrono::seconds read_hold_max{120};

    // How many appends and reads a fault point has refused or stalled so far.
    [[nodiscard]] std::uint64_t faults_injected() const { return faults_injected_.load(); }

    void append(AppendRequest request, AppendCallback done) override;
    Result<std::vector<StoredEvent>> read_events(const std::string& persistence_id,
                                                 SequenceNr from,
                                                 std::size_t max_count) override;
    Result<SequenceNr> highest_seq(const std::string& persistence_id) override;
    Result<std::vector<ShardEvent>> read_shard(ShardId shard,
                                               ShardOffset from,
                                               std::size_t max_count) override;
    Result<std::vector<std::vector<ShardEvent>>> read_shards(
        const std::vector<ShardRead>& reads) override;
    Status save_snapshot(const std::string& persistence_id, const Snapshot& snapshot) override;
    Result<std::optional<Snapshot>> load_snapshot(const std::string& persistence_id) override;
    // A key lookup is an entity read: it fails and stalls with them.
    Result<std::optional<KeyClaim>> find_key_claim(const std::string& key, UnixMs now) override;
    Result<std::size_t> key_claim_count() override { return inner_.key_claim_count(); }
    Status claim_shard(ShardId shard, FencingToken token) override;
    Result<FencingToken> current_fencing(ShardId shard) override;
    Result<std::vector<WakeEntry>> pending_wakeups(ShardId shard) override;
    void set_commit_listener(CommitListener listener) override;

private:
    // The fault the rules give this append, if any; counts the hit.
    std::optional<AppendFaultRule> take_append_fault(const AppendRequest& request);
    // io_error when reads fail; stalls first while stalls are left.
    Status before_entity_read();

    // Sends `request` to the store after `stall`, from a thread of its own.
    void append_late(AppendRequest request, AppendCallback done, std::chrono::milliseconds stall);

    Journal& inner_;
    std::mutex late_mutex_;
    std::vector<std::jthread> late_appends_;  // joined when the journal goes
    std::atomic<bool> appends_fail_{false};
    std::atomic<bool> reads_fail_{false};
    std::mutex mutex_;  // guards spec_'s counters: appends come from every executor
    FaultSpec spec_;
    std::atomic<std::uint64_t> faults_injected_{0};
    // Guards the hold: the test's thread turns it on and off while readers wait on it.
    mutable std::mutex hold_mutex_;
    std::condition_variable hold_released_;
    bool hold_ = false;
    std::size_t reads_held_ = 0;
};

}  // namespace qrpay::journal
