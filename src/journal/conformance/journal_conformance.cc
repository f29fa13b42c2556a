// The checks behind each case of the conformance suite (journal_conformance.h). Every check
// gets a fresh journal whose commit listener is not yet set.

#include "journal/conformance/journal_conformance.h"

#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace qrpay::journal::conformance {

namespace {

std::vector<StoredEvent> read_all(Journal& journal, const std::string& persistence_id) {
    Result<std::vector<StoredEvent>> events =
        journal.read_events(persistence_id, SequenceNr(1), events_per_append_max * 1000);
    EXPECT_TRUE(events.ok()) << events.status().to_string();
    return events.ok() ? std::move(events).value() : std::vector<StoredEvent>();
}

std::vector<ShardEvent> read_whole_shard(Journal& journal, ShardId shard) {
    Result<std::vector<ShardEvent>> events = journal.read_shard(shard, ShardOffset(1), 1'000'000);
    EXPECT_TRUE(events.ok()) << events.status().to_string();
    return events.ok() ? std::move(events).value() : std::vector<ShardEvent>();
}

SequenceNr highest(Journal& journal, const std::string& persistence_id) {
    Result<SequenceNr> seq = journal.highest_seq(persistence_id);
    EXPECT_TRUE(seq.ok()) << seq.status().to_string();
    return seq.ok() ? *seq : SequenceNr();
}

void expect_code(const Status& status, Errc code, const char* what) {
    EXPECT_EQ(status.code(), code) << what << ": " << status.to_string();
}

// Events of one entity as make_append() writes them: seq 1..count in order.
void expect_events(const std::vector<StoredEvent>& events,
                   const std::string& persistence_id,
                   std::size_t count) {
    ASSERT_EQ(events.size(), count) << persistence_id;
    for (std::size_t i = 0; i < count; ++i) {
        SequenceNr seq(i + 1);
        EXPECT_EQ(events[i].seq, seq);
        EXPECT_EQ(events[i].type, "Event");
        EXPECT_EQ(events[i].payload, payload_of(persistence_id, seq));
        EXPECT_EQ(events[i].written_at, UnixMs{1000});
    }
}

}  // namespace

void check_append_then_read_back(Journal& journal) {
    const std::string id = "conf|read-back";
    AppendRequest first = make_append(id, SequenceNr(0), 3);
    first.events[1].payload = std::string("\0\x01\xff", 3);  // payloads are opaque bytes
    first.events[2].payload.clear();
    first.events[2].type = "Other";
    Status appended = journal.append_and_wait(first);
    ASSERT_TRUE(appended.ok()) << appended.to_string();
    std::vector<StoredEvent> events = read_all(journal, id);
    ASSERT_EQ(events.size(), 3U);
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].seq, SequenceNr(i + 1));
        EXPECT_EQ(events[i].type, first.events[i].type);
        EXPECT_EQ(events[i].payload, first.events[i].payload);
        EXPECT_EQ(events[i].written_at, UnixMs{1000});
    }
    EXPECT_EQ(highest(journal, id), SequenceNr(3));

    Status again = journal.append_and_wait(make_append(id, SequenceNr(3), 1));
    ASSERT_TRUE(again.ok()) << again.to_string();
    EXPECT_EQ(highest(journal, id), SequenceNr(4));
    Result<std::vector<StoredEvent>> middle = journal.read_events(id, SequenceNr(2), 2);
    ASSERT_TRUE(middle.ok());
    ASSERT_EQ(middle->size(), 2U);
    EXPECT_EQ((*middle)[0].seq, SequenceNr(2));
    EXPECT_EQ((*middle)[1].seq, SequenceNr(3));

    std::vector<ShardEvent> shard = read_whole_shard(journal, ShardId(1));
    ASSERT_EQ(shard.size(), 4U);
    for (std::size_t i = 0; i < shard.size(); ++i) {
        EXPECT_EQ(shard[i].offset, ShardOffset(i + 1));
        EXPECT_EQ(shard[i].persistence_id, id);
        EXPECT_EQ(shard[i].seq, SequenceNr(i + 1));
    }
    EXPECT_EQ(shard[1].payload, first.events[1].payload);
    EXPECT_EQ(shard[3].payload, payload_of(id, SequenceNr(4)));
}

void check_stale_expected_seq_refused(Journal& journal) {
    const std::string id = "conf|stale-seq";
    ASSERT_TRUE(journal.append_and_wait(make_append(id, SequenceNr(0), 2)).ok());
    expect_code(journal.append_and_wait(make_append(id, SequenceNr(1), 1)), Errc::sequence_conflict,
                "expected 1 of 2");
    expect_code(journal.append_and_wait(make_append(id, SequenceNr(0), 3)), Errc::sequence_conflict,
                "expected 0 of 2");
    EXPECT_EQ(highest(journal, id), SequenceNr(2));
    expect_events(read_all(journal, id), id, 2);
    EXPECT_EQ(read_whole_shard(journal, ShardId(1)).size(), 2U);
}

void check_future_expected_seq_refused(Journal& journal) {
    const std::string id = "conf|future-seq";
    expect_code(journal.append_and_wait(make_append(id, SequenceNr(5), 1)), Errc::sequence_conflict,
                "expected 5 of nothing");
    EXPECT_EQ(highest(journal, id), SequenceNr(0));
    ASSERT_TRUE(journal.append_and_wait(make_append(id, SequenceNr(0), 1)).ok());
    expect_code(journal.append_and_wait(make_append(id, SequenceNr(2), 1)), Errc::sequence_conflict,
                "expected 2 of 1");
    EXPECT_EQ(highest(journal, id), SequenceNr(1));
    EXPECT_EQ(read_whole_shard(journal, ShardId(1)).size(), 1U);
}

// Several writers race with the same expected seq: exactly one wins, all of its events land.
void check_concurrent_appends_with_one_expected_seq(Journal& journal) {
    const std::string id = "conf|race";
    constexpr std::size_t racers = 10;
    OutcomeLog outcomes(racers);
    for (std::size_t i = 0; i < racers; ++i) {
        AppendRequest request = make_append(id, SequenceNr(0), 2);
        for (EventData& event : request.events) {
            event.type = "Racer" + std::to_string(i);
        }
        journal.append(std::move(request), outcomes.callback(i));
    }
    ASSERT_TRUE(outcomes.wait_all());
    std::size_t winners = 0;
    for (const Status& status : outcomes.statuses()) {
        if (status.ok()) {
            ++winners;
        } else {
            expect_code(status, Errc::sequence_conflict, "a losing racer");
        }
    }
    EXPECT_EQ(winners, 1U);
    std::vector<StoredEvent> events = read_all(journal, id);
    ASSERT_EQ(events.size(), 2U);
    EXPECT_EQ(events[0].type, events[1].type) << "events of two appends mixed";
}

void check_stale_fencing_token_refused(Journal& journal) {
    const std::string id = "conf|fenced";
    ASSERT_TRUE(journal.append_and_wait(make_append(id, SequenceNr(0), 1)).ok());  // token 0
    ASSERT_TRUE(journal.claim_shard(ShardId(1), FencingToken(5)).ok());
    Result<FencingToken> current = journal.current_fencing(ShardId(1));
    ASSERT_TRUE(current.ok());
    EXPECT_EQ(*current, FencingToken(5));
    expect_code(journal.append_and_wait(make_append(id, SequenceNr(1), 1)), Errc::fenced,
                "token 0 after a claim with 5");
    ASSERT_TRUE(
        journal.append_and_wait(make_append(id, SequenceNr(1), 1, ShardId(1), FencingToken(5)))
            .ok());
    ASSERT_TRUE(journal.claim_shard(ShardId(1), FencingToken(7)).ok());
    expect_code(
        journal.append_and_wait(make_append(id, SequenceNr(2), 1, ShardId(1), FencingToken(5))),
        Errc::fenced, "token 5 after a claim with 7");
    expect_code(
        journal.append_and_wait(make_append(id, SequenceNr(2), 1, ShardId(1), FencingToken(9))),
        Errc::fenced, "token 9 above the current 7");
    EXPECT_EQ(highest(journal, id), SequenceNr(2));
    EXPECT_EQ(read_whole_shard(journal, ShardId(1)).size(), 2U);
    // Fencing is per shard: shard 2 was never claimed and still takes token 0.
    EXPECT_TRUE(
        journal.append_and_wait(make_append("conf|other", SequenceNr(0), 1, ShardId(2))).ok());
}

void check_claim_with_lower_or_equal_token_refused(Journal& journal) {
    Result<FencingToken> initial = journal.current_fencing(ShardId(1));
    ASSERT_TRUE(initial.ok());
    EXPECT_EQ(*initial, FencingToken(0));
    expect_code(journal.claim_shard(ShardId(1), FencingToken(0)), Errc::fenced, "claim with 0");
    ASSERT_TRUE(journal.claim_shard(ShardId(1), FencingToken(5)).ok());
    expect_code(journal.claim_shard(ShardId(1), FencingToken(5)), Errc::fenced, "equal token");
    expect_code(journal.claim_shard(ShardId(1), FencingToken(3)), Errc::fenced, "lower token");
    Result<FencingToken> current = journal.current_fencing(ShardId(1));
    ASSERT_TRUE(current.ok());
    EXPECT_EQ(*current, FencingToken(5));
    EXPECT_TRUE(journal.claim_shard(ShardId(2), FencingToken(1)).ok()) << "shards are separate";
    EXPECT_TRUE(journal.claim_shard(ShardId(1), FencingToken(6)).ok());
}

void check_multi_event_append_is_atomic(Journal& journal) {
    const std::string id = "conf|atomic";
    ASSERT_TRUE(journal.append_and_wait(make_append(id, SequenceNr(0), 2)).ok());
    expect_code(journal.append_and_wait(make_append(id, SequenceNr(1), 5)), Errc::sequence_conflict,
                "stale five-event append");
    AppendRequest oversized = make_append(id, SequenceNr(2), 3);
    oversized.events[2].payload.assign(event_payload_bytes_max + 1, 'x');
    expect_code(journal.append_and_wait(std::move(oversized)), Errc::invalid_argument,
                "third event oversized");
    ASSERT_TRUE(journal.claim_shard(ShardId(1), FencingToken(1)).ok());
    expect_code(journal.append_and_wait(make_append(id, SequenceNr(2), 4)), Errc::fenced,
                "fenced four-event append");
    expect_events(read_all(journal, id), id, 2);
    EXPECT_EQ(read_whole_shard(journal, ShardId(1)).size(), 2U);
}

void check_read_range_edges(Journal& journal) {
    const std::string id = "conf|edges";
    ASSERT_TRUE(journal.append_and_wait(make_append(id, SequenceNr(0), 3)).ok());
    auto count = [&](std::uint64_t from, std::size_t max_count) -> std::size_t {
        Result<std::vector<StoredEvent>> events =
            journal.read_events(id, SequenceNr(from), max_count);
        EXPECT_TRUE(events.ok()) << events.status().to_string();
        return events.ok() ? events->size() : 0;
    };
    EXPECT_EQ(count(4, 10), 0U) << "from beyond the highest";
    EXPECT_EQ(count(1000, 10), 0U);
    EXPECT_EQ(count(std::numeric_limits<std::uint64_t>::max(), 10), 0U);
    EXPECT_EQ(count(1, 0), 0U) << "max_count 0";
    EXPECT_EQ(count(0, 10), 3U) << "from 0 reads from the first";
    EXPECT_EQ(count(3, 10), 1U) << "from the highest";
    EXPECT_EQ(count(1, 1), 1U) << "max_count 1";
    EXPECT_EQ(count(2, std::numeric_limits<std::size_t>::max()), 2U);
    EXPECT_TRUE(read_all(journal, "conf|unknown").empty());
    EXPECT_EQ(highest(journal, "conf|unknown"), SequenceNr(0));

    auto shard_count = [&](ShardId shard, std::uint64_t from, std::size_t max_count) {
        Result<std::vector<ShardEvent>> events =
            journal.read_shard(shard, ShardOffset(from), max_count);
        EXPECT_TRUE(events.ok()) << events.status().to_string();
        return events.ok() ? events->size() : 0;
    };
    EXPECT_EQ(shard_count(ShardId(1), 4, 10), 0U);
    EXPECT_EQ(shard_count(ShardId(1), 1, 0), 0U);
    EXPECT_EQ(shard_count(ShardId(99), 1, 10), 0U) << "unknown shard";
    EXPECT_EQ(shard_count(ShardId(1), 2, 1), 1U);
    Result<std::vector<ShardEvent>> second = journal.read_shard(ShardId(1), ShardOffset(2), 1);
    ASSERT_TRUE(second.ok());
    ASSERT_EQ(second->size(), 1U);
    EXPECT_EQ((*second)[0].offset, ShardOffset(2));
    EXPECT_EQ((*second)[0].seq, SequenceNr(2));

    // read_shards answers each read as read_shard would, in the order asked.
    std::vector<ShardRead> reads{{ShardId(1), ShardOffset(2), 1},
                                 {ShardId(99), ShardOffset(1), 10},
                                 {ShardId(1), ShardOffset(1), 10},
                                 {ShardId(1), ShardOffset(1), 0}};
    Result<std::vector<std::vector<ShardEvent>>> many = journal.read_shards(reads);
    ASSERT_TRUE(many.ok()) << many.status().to_string();
    ASSERT_EQ(many->size(), reads.size());
    ASSERT_EQ((*many)[0].size(), 1U);
    EXPECT_EQ((*many)[0][0].offset, ShardOffset(2));
    EXPECT_TRUE((*many)[1].empty());
    EXPECT_EQ((*many)[2].size(), 3U);
    EXPECT_TRUE((*many)[3].empty());
    EXPECT_TRUE(journal.read_shards({}).value().empty());
}

void check_highest_seq_kept_across_snapshot(Journal& journal) {
    const std::string id = "conf|snapshot-highest";
    ASSERT_TRUE(journal.append_and_wait(make_append(id, SequenceNr(0), 3)).ok());
    ASSERT_TRUE(journal.save_snapshot(id, {SequenceNr(3), "state@3"}).ok());
    EXPECT_EQ(highest(journal, id), SequenceNr(3));
    Result<std::optional<Snapshot>> loaded = journal.load_snapshot(id);
    ASSERT_TRUE(loaded.ok());
    ASSERT_TRUE(loaded->has_value());
    EXPECT_EQ((*loaded)->seq, SequenceNr(3));
    EXPECT_EQ((*loaded)->payload, "state@3");
    expect_events(read_all(journal, id), id, 3);
    ASSERT_TRUE(journal.append_and_wait(make_append(id, SequenceNr(3), 1)).ok());
    EXPECT_EQ(highest(journal, id), SequenceNr(4));
}

void check_snapshot_replaced_only_by_newer(Journal& journal) {
    const std::string id = "conf|snapshot-newer";
    auto loaded = [&]() -> Snapshot {
        Result<std::optional<Snapshot>> snapshot = journal.load_snapshot(id);
        EXPECT_TRUE(snapshot.ok() && snapshot->has_value());
        return snapshot.ok() && snapshot->has_value() ? **snapshot : Snapshot{};
    };
    Result<std::optional<Snapshot>> none = journal.load_snapshot(id);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(journal.save_snapshot(id, {SequenceNr(2), "a"}).ok());
    EXPECT_TRUE(journal.save_snapshot(id, {SequenceNr(1), "older"}).ok());
    EXPECT_EQ(loaded().payload, "a");
    EXPECT_TRUE(journal.save_snapshot(id, {SequenceNr(2), "same seq"}).ok());
    EXPECT_EQ(loaded().payload, "a");
    ASSERT_TRUE(journal.save_snapshot(id, {SequenceNr(3), std::string("\0b", 2)}).ok());
    EXPECT_EQ(loaded().seq, SequenceNr(3));
    EXPECT_EQ(loaded().payload, std::string("\0b", 2));
}

void check_data_kept_across_reopen(Journal& journal, const Reopen& reopen) {
    const std::string a = "conf|durable-a";
    const std::string b = "conf|durable-b";
    ASSERT_TRUE(journal.claim_shard(ShardId(2), FencingToken(7)).ok());
    AppendRequest first = make_append(a, SequenceNr(0), 3);
    first.wake_at = UnixMs{500};
    ASSERT_TRUE(journal.append_and_wait(first).ok());
    ASSERT_TRUE(
        journal.append_and_wait(make_append(b, SequenceNr(0), 2, ShardId(2), FencingToken(7)))
            .ok());
    ASSERT_TRUE(journal.save_snapshot(a, {SequenceNr(2), "snap"}).ok());

    Journal& reopened = reopen();
    expect_events(read_all(reopened, a), a, 3);
    expect_events(read_all(reopened, b), b, 2);
    EXPECT_EQ(highest(reopened, a), SequenceNr(3));
    EXPECT_EQ(read_whole_shard(reopened, ShardId(1)).size(), 3U);
    EXPECT_EQ(read_whole_shard(reopened, ShardId(2)).size(), 2U);
    Result<FencingToken> token = reopened.current_fencing(ShardId(2));
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(*token, FencingToken(7));
    Result<std::optional<Snapshot>> snapshot = reopened.load_snapshot(a);
    ASSERT_TRUE(snapshot.ok() && snapshot->has_value());
    EXPECT_EQ((*snapshot)->seq, SequenceNr(2));
    EXPECT_EQ((*snapshot)->payload, "snap");
    Result<std::vector<WakeEntry>> wakeups = reopened.pending_wakeups(ShardId(1));
    ASSERT_TRUE(wakeups.ok());
    ASSERT_EQ(wakeups->size(), 1U);
    EXPECT_EQ((*wakeups)[0].persistence_id, a);
    EXPECT_EQ((*wakeups)[0].wake_at, UnixMs{500});

    ASSERT_TRUE(reopened.append_and_wait(make_append(a, SequenceNr(3), 1)).ok());
    Result<std::vector<ShardEvent>> tail = reopened.read_shard(ShardId(1), ShardOffset(4), 10);
    ASSERT_TRUE(tail.ok());
    ASSERT_EQ(tail->size(), 1U) << "shard offsets continue after reopen";
    EXPECT_EQ((*tail)[0].seq, SequenceNr(4));
    expect_code(reopened.append_and_wait(make_append(b, SequenceNr(2), 1, ShardId(2))),
                Errc::fenced, "the token survives reopen");
}

namespace {

constexpr std::size_t concurrent_writers = 8;
constexpr std::size_t appends_per_writer = 200;
constexpr std::size_t entities_per_writer = 4;
constexpr std::uint32_t concurrent_shards = 2;

ShardId shard_of_writer(std::size_t writer) {
    return ShardId(1 + static_cast<std::uint32_t>(writer % concurrent_shards));
}

// Events append number `i` of a writer carries: 1, 2 or 3, so offsets advance unevenly.
std::size_t events_of_append(std::size_t i) { return 1 + i % 3; }

// One writer thread: appends_per_writer appends over its own entities, each waited for.
// Returns the number of appends that failed.
std::size_t run_writer(Journal& journal, std::size_t writer) {
    std::vector<SequenceNr> highest(entities_per_writer);
    std::size_t failures = 0;
    for (std::size_t i = 0; i < appends_per_writer; ++i) {
        std::size_t entity = i % entities_per_writer;
        std::string id = "conc|w" + std::to_string(writer) + "-e" + std::to_string(entity);
        AppendRequest request =
            make_append(id, highest[entity], events_of_append(i), shard_of_writer(writer));
        if (journal.append_and_wait(std::move(request)).ok()) {
            highest[entity] = SequenceNr(highest[entity].value + events_of_append(i));
        } else {
            ++failures;
        }
    }
    return failures;
}

// Follows one shard as a projection would: reads from the next offset and checks that offsets
// are contiguous and every entity's events arrive in sequence.
class ShardFollower {
public:
    explicit ShardFollower(ShardId shard) : shard_(shard) {}

    // Reads what is there now; returns how many events it read.
    std::size_t poll(Journal& journal) {
        Result<std::vector<ShardEvent>> batch = journal.read_shard(shard_, next_, 256);
        EXPECT_TRUE(batch.ok()) << batch.status().to_string();
        if (!batch.ok()) {
            return 0;
        }
        for (const ShardEvent& event : *batch) {
            EXPECT_EQ(event.offset, next_) << "gap or reorder on shard " << shard_.value;
            SequenceNr& last = last_seq_[event.persistence_id];
            EXPECT_EQ(event.seq, last.next()) << event.persistence_id;
            last = event.seq;
            next_ = event.offset.next();
        }
        return batch->size();
    }
    [[nodiscard]] std::uint64_t seen() const { return next_.value - 1; }

private:
    ShardId shard_;
    ShardOffset next_{1};
    std::map<std::string, SequenceNr> last_seq_;
};

std::uint64_t expected_events_on(ShardId shard) {
    std::uint64_t total = 0;
    for (std::size_t writer = 0; writer < concurrent_writers; ++writer) {
        if (shard_of_writer(writer) != shard) {
            continue;
        }
        for (std::size_t i = 0; i < appends_per_writer; ++i) {
            total += events_of_append(i);
        }
    }
    return total;
}

}  // namespace

// Many entities append from several threads while a reader polls each shard: the reader never
// sees offset N + 1 before N, and in the end every event is there exactly once.
void check_shard_order_under_concurrency(Journal& journal) {
    std::atomic<std::size_t> failures{0};
    std::atomic<std::size_t> writers_done{0};
    std::vector<std::thread> writers;
    for (std::size_t writer = 0; writer < concurrent_writers; ++writer) {
        writers.emplace_back([&journal, &failures, &writers_done, writer] {
            failures += run_writer(journal, writer);
            ++writers_done;
        });
    }
    std::vector<ShardFollower> followers;
    for (std::uint32_t shard = 1; shard <= concurrent_shards; ++shard) {
        followers.emplace_back(ShardId(shard));
    }
    auto deadline = std::chrono::steady_clock::now() + answer_wait_max;
    bool finished = false;
    while (!finished && std::chrono::steady_clock::now() < deadline) {
        finished = writers_done.load() == concurrent_writers;  // read before the last poll
        for (ShardFollower& follower : followers) {
            while (follower.poll(journal) > 0 && finished) {
                // after the writers finished, drain the shard completely
            }
        }
        std::this_thread::yield();
    }
    for (std::thread& writer : writers) {
        writer.join();
    }
    EXPECT_TRUE(finished) << "writers did not finish within answer_wait_max";
    EXPECT_EQ(failures.load(), 0U);
    for (std::uint32_t shard = 1; shard <= concurrent_shards; ++shard) {
        EXPECT_EQ(followers[shard - 1].seen(), expected_events_on(ShardId(shard)));
        std::vector<ShardEvent> all = read_whole_shard(journal, ShardId(shard));
        ASSERT_EQ(all.size(), expected_events_on(ShardId(shard)));
        EXPECT_EQ(all.back().offset, ShardOffset(all.size()));
    }
}

void check_every_append_answered_once(Journal& journal) {
    constexpr std::size_t appends = 500;
    OutcomeLog outcomes(appends);
    for (std::size_t i = 0; i < appends; ++i) {
        std::string id = "conf|many-" + std::to_string(i);
        journal.append(make_append(id, SequenceNr(0), 1, ShardId(1 + i % 2)), outcomes.callback(i));
    }
    ASSERT_TRUE(outcomes.wait_all());
    for (const Status& status : outcomes.statuses()) {
        EXPECT_TRUE(status.ok()) << status.to_string();
    }
    EXPECT_EQ(
        read_whole_shard(journal, ShardId(1)).size() + read_whole_shard(journal, ShardId(2)).size(),
        appends);
}

void check_wake_at_set_cleared_listed(Journal& journal) {
    auto append_with = [&](const std::string& id, SequenceNr expected, ShardId shard,
                           std::optional<UnixMs> wake_at) {
        AppendRequest request = make_append(id, expected, 1, shard);
        request.wake_at = wake_at;
        return journal.append_and_wait(std::move(request));
    };
    auto listed = [&](ShardId shard) {
        Result<std::vector<WakeEntry>> wakeups = journal.pending_wakeups(shard);
        EXPECT_TRUE(wakeups.ok()) << wakeups.status().to_string();
        std::vector<std::pair<std::string, std::int64_t>> out;
        for (const WakeEntry& entry : wakeups.ok() ? *wakeups : std::vector<WakeEntry>()) {
            out.emplace_back(entry.persistence_id, entry.wake_at.value);
        }
        return out;
    };
    using Listed = std::vector<std::pair<std::string, std::int64_t>>;
    ASSERT_TRUE(append_with("wake|a", SequenceNr(0), ShardId(1), UnixMs{300}).ok());
    ASSERT_TRUE(append_with("wake|b", SequenceNr(0), ShardId(1), UnixMs{100}).ok());
    ASSERT_TRUE(append_with("wake|c", SequenceNr(0), ShardId(2), UnixMs{50}).ok());
    ASSERT_TRUE(append_with("wake|d", SequenceNr(0), ShardId(1), std::nullopt).ok());
    EXPECT_EQ(listed(ShardId(1)), (Listed{{"wake|b", 100}, {"wake|a", 300}})) << "oldest first";
    EXPECT_EQ(listed(ShardId(2)), (Listed{{"wake|c", 50}}));
    EXPECT_TRUE(listed(ShardId(3)).empty());

    ASSERT_TRUE(append_with("wake|a", SequenceNr(1), ShardId(1), std::nullopt).ok());
    EXPECT_EQ(listed(ShardId(1)), (Listed{{"wake|b", 100}})) << "nullopt clears";
    ASSERT_TRUE(append_with("wake|b", SequenceNr(1), ShardId(1), UnixMs{500}).ok());
    EXPECT_EQ(listed(ShardId(1)), (Listed{{"wake|b", 500}})) << "a later append replaces";
    expect_code(append_with("wake|b", SequenceNr(0), ShardId(1), std::nullopt),
                Errc::sequence_conflict, "stale append");
    EXPECT_EQ(listed(ShardId(1)), (Listed{{"wake|b", 500}})) << "a refused append changes none";
}

void check_commit_listener(Journal& journal) {
    ListenerLog log;
    journal.set_commit_listener(log.listener());
    ASSERT_TRUE(
        journal.append_and_wait(make_append("listen|a", SequenceNr(0), 2, ShardId(3))).ok());
    ASSERT_TRUE(
        journal.append_and_wait(make_append("listen|b", SequenceNr(0), 1, ShardId(4))).ok());
    ASSERT_TRUE(
        journal.append_and_wait(make_append("listen|a", SequenceNr(2), 1, ShardId(3))).ok());
    EXPECT_TRUE(log.wait_for(ShardId(3), ShardOffset(3)));
    EXPECT_TRUE(log.wait_for(ShardId(4), ShardOffset(1)));
    expect_code(journal.append_and_wait(make_append("listen|a", SequenceNr(0), 1, ShardId(3))),
                Errc::sequence_conflict, "stale append");
    ASSERT_TRUE(
        journal.append_and_wait(make_append("listen|b", SequenceNr(1), 1, ShardId(4))).ok());
    EXPECT_TRUE(log.wait_for(ShardId(4), ShardOffset(2)));
    for (const auto& [shard, offset] : log.calls()) {
        EXPECT_TRUE(shard == ShardId(3) || shard == ShardId(4)) << "untouched shard reported";
        EXPECT_LE(offset, shard == ShardId(3) ? ShardOffset(3) : ShardOffset(2))
            << "an offset that was never committed";
    }
}

void check_bad_inputs_refused(Journal& journal) {
    const std::string id = "conf|bad";
    auto refused = [&](AppendRequest request, const char* what) {
        expect_code(journal.append_and_wait(std::move(request)), Errc::invalid_argument, what);
    };
    refused(make_append(id, SequenceNr(0), 0), "no events");
    refused(make_append(id, SequenceNr(0), events_per_append_max + 1), "too many events");
    refused(make_append(std::string(persistence_id_bytes_max + 1, 'x'), SequenceNr(0), 1),
            "long id");
    refused(make_append("", SequenceNr(0), 1), "empty id");
    AppendRequest big = make_append(id, SequenceNr(0), 1);
    big.events[0].payload.assign(event_payload_bytes_max + 1, 'p');
    refused(std::move(big), "oversized payload");
    constexpr std::uint64_t above_int64 =
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
    refused(make_append(id, SequenceNr(above_int64), 1), "seq out of range");
    refused(make_append(id, SequenceNr(0), 1, ShardId(1), FencingToken(above_int64)),
            "token out of range");
    AppendRequest empty_key = make_append(id, SequenceNr(0), 1);
    empty_key.claimed_keys = {""};
    refused(std::move(empty_key), "empty claimed key");
    AppendRequest long_key = make_append(id, SequenceNr(0), 1);
    long_key.claimed_keys = {std::string(claimed_key_bytes_max + 1, 'k')};
    refused(std::move(long_key), "long claimed key");
    AppendRequest many_keys = make_append(id, SequenceNr(0), 1);
    for (std::size_t i = 0; i <= claimed_keys_per_append_max; ++i) {
        many_keys.claimed_keys.push_back("key-" + std::to_string(i));
    }
    refused(std::move(many_keys), "too many claimed keys");
    EXPECT_EQ(highest(journal, id), SequenceNr(0));
    EXPECT_TRUE(read_whole_shard(journal, ShardId(1)).empty()) << "a refused append stored";

    const std::string long_id(persistence_id_bytes_max + 1, 'x');
    expect_code(journal.read_events(long_id, SequenceNr(1), 10).status(), Errc::invalid_argument,
                "read_events with a long id");
    expect_code(journal.highest_seq("").status(), Errc::invalid_argument, "highest_seq of ''");
    expect_code(journal.save_snapshot(long_id, {SequenceNr(1), "s"}), Errc::invalid_argument,
                "save_snapshot with a long id");
    expect_code(journal.load_snapshot("").status(), Errc::invalid_argument, "load_snapshot ''");
    expect_code(journal.claim_shard(ShardId(1), FencingToken(above_int64)), Errc::invalid_argument,
                "claim with a token out of range");
    Result<FencingToken> token = journal.current_fencing(ShardId(1));
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(*token, FencingToken(0));
}

// Requests exactly at each bound are accepted and read back whole.
void check_bounds_accepted(Journal& journal) {
    const std::string long_id(persistence_id_bytes_max, 'i');
    Status many =
        journal.append_and_wait(make_append(long_id, SequenceNr(0), events_per_append_max));
    ASSERT_TRUE(many.ok()) << many.to_string();
    expect_events(read_all(journal, long_id), long_id, events_per_append_max);

    AppendRequest big = make_append("conf|big", SequenceNr(0), 1);
    big.events[0].payload.assign(event_payload_bytes_max, 'p');
    Status appended = journal.append_and_wait(big);
    ASSERT_TRUE(appended.ok()) << appended.to_string();
    std::vector<StoredEvent> events = read_all(journal, "conf|big");
    ASSERT_EQ(events.size(), 1U);
    EXPECT_EQ(events[0].payload, big.events[0].payload);
}

}  // namespace qrpay::journal::conformance

namespace qrpay::journal::conformance {

namespace {

AppendRequest claiming(const std::string& persistence_id,
                       SequenceNr expected_seq,
                       std::vector<std::string> keys,
                       UnixMs written_at = UnixMs{1000}) {
    AppendRequest request = make_append(persistence_id, expected_seq, 1);
    request.claimed_keys = std::move(keys);
    request.written_at = written_at;
    return request;
}

std::optional<KeyClaim> claim_of(Journal& journal, const std::string& key, UnixMs now) {
    Result<std::optional<KeyClaim>> claim = journal.find_key_claim(key, now);
    EXPECT_TRUE(claim.ok()) << claim.status().to_string();
    return claim.ok() ? *claim : std::nullopt;
}

}  // namespace

// A key binds to the first entity that claims it; that entity may claim it again, another is
// refused whole (key_taken), also when it claims a free key in the same append.
void check_key_claims_bind_once(Journal& journal) {
    ASSERT_TRUE(journal.append_and_wait(claiming("conf|a", SequenceNr(0), {"k1"})).ok());
    std::optional<KeyClaim> claim = claim_of(journal, "k1", UnixMs{1000});
    ASSERT_TRUE(claim.has_value());
    EXPECT_EQ(claim->persistence_id, "conf|a");
    EXPECT_EQ(claim->claimed_at, UnixMs{1000});
    EXPECT_FALSE(claim_of(journal, "never", UnixMs{1000}).has_value());

    Status again = journal.append_and_wait(claiming("conf|a", SequenceNr(1), {"k1"}, {2000}));
    ASSERT_TRUE(again.ok()) << again.to_string();
    EXPECT_EQ(claim_of(journal, "k1", UnixMs{2000})->claimed_at, UnixMs{1000})
        << "a claim keeps its first time";

    expect_code(journal.append_and_wait(claiming("conf|b", SequenceNr(0), {"k1"})), Errc::key_taken,
                "another entity's key");
    expect_code(journal.append_and_wait(claiming("conf|b", SequenceNr(0), {"k2", "k1"})),
                Errc::key_taken, "a free key with a taken one");
    EXPECT_EQ(highest(journal, "conf|b"), SequenceNr(0)) << "a refused append stored events";
    EXPECT_FALSE(claim_of(journal, "k2", UnixMs{1000}).has_value())
        << "a refused append claimed a key";
    EXPECT_EQ(read_whole_shard(journal, ShardId(1)).size(), 2U);
    Result<std::size_t> count = journal.key_claim_count();
    ASSERT_TRUE(count.ok());
    EXPECT_EQ(*count, 1U);
}

// Entities racing for one key, their appends possibly in one group: exactly one wins, and
// every loser stored nothing.
void check_key_claims_race(Journal& journal) {
    constexpr std::size_t racers = 16;
    auto racer = [](std::size_t i) { return "conf|racer-" + std::to_string(i); };
    OutcomeLog outcomes(racers);
    for (std::size_t i = 0; i < racers; ++i) {
        journal.append(claiming(racer(i), SequenceNr(0), {"contested"}), outcomes.callback(i));
    }
    ASSERT_TRUE(outcomes.wait_all());
    std::vector<Status> statuses = outcomes.statuses();
    int winners = 0;
    for (std::size_t i = 0; i < racers; ++i) {
        if (statuses[i].ok()) {
            ++winners;
            EXPECT_EQ(claim_of(journal, "contested", UnixMs{1000})->persistence_id, racer(i));
        } else {
            expect_code(statuses[i], Errc::key_taken, "a racer that lost");
            EXPECT_EQ(highest(journal, racer(i)), SequenceNr(0));
        }
    }
    EXPECT_EQ(winners, 1);
}

// A claim holds for the key retention after its written_at; then the key is free, another
// entity may claim it, and the journal forgets expired claims as written_at moves on, so the
// claims stay bounded by about a retention's worth.
void check_key_claims_expire_and_are_forgotten(Journal& journal) {
    const std::int64_t retention_ms = key_retention_default.count();
    const UnixMs start{1000};
    for (int i = 0; i < 10; ++i) {
        const std::string key = "old-" + std::to_string(i);
        ASSERT_TRUE(
            journal.append_and_wait(claiming("conf|old-" + std::to_string(i), SequenceNr(0), {key}))
                .ok());
    }
    EXPECT_TRUE(claim_of(journal, "old-0", UnixMs{start.value + retention_ms - 1}).has_value());
    EXPECT_FALSE(claim_of(journal, "old-0", UnixMs{start.value + retention_ms}).has_value());

    const UnixMs later{start.value + retention_ms + 10 * 60 * 1000};
    Status taken_over =
        journal.append_and_wait(claiming("conf|new", SequenceNr(0), {"old-0"}, later));
    ASSERT_TRUE(taken_over.ok()) << taken_over.to_string();
    EXPECT_EQ(claim_of(journal, "old-0", later)->persistence_id, "conf|new");
    // Another append after it: a backend may forget between groups.
    ASSERT_TRUE(journal.append_and_wait(claiming("conf|new", SequenceNr(1), {}, later)).ok());
    Result<std::size_t> count = journal.key_claim_count();
    ASSERT_TRUE(count.ok());
    EXPECT_EQ(*count, 1U) << "expired claims were not forgotten";
}

}  // namespace qrpay::journal::conformance
