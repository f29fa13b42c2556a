#include "journal/partitioned_journal.h"

#include <utility>

#include "base/assert.h"

namespace qrpay::journal {

std::size_t partition_of(ShardId shard, std::uint32_t shard_count, std::size_t partition_count) {
    return static_cast<std::size_t>(shard.value) * partition_count / shard_count;
}

namespace {

class PartitionedJournal final : public Journal {
public:
    PartitionedJournal(std::vector<std::unique_ptr<Journal>> partitions,
                       std::uint32_t shard_count,
                       ShardOf shard_of)
        : partitions_(std::move(partitions)),
          shard_count_(shard_count),
          shard_of_(std::move(shard_of)) {}

    void append(AppendRequest request, AppendCallback done) override {
        if (request.shard.value >= shard_count_) {
            done(shard_out_of_range(request.shard));
            return;
        }
        partition(request.shard).append(std::move(request), std::move(done));
    }

    Result<std::vector<StoredEvent>> read_events(const std::string& persistence_id,
                                                 SequenceNr from,
                                                 std::size_t max_count) override {
        Result<Journal*> holder = holder_of(persistence_id);
        if (!holder.ok()) {
            return holder.status();
        }
        return (*holder)->read_events(persistence_id, from, max_count);
    }

    Result<SequenceNr> highest_seq(const std::string& persistence_id) override {
        Result<Journal*> holder = holder_of(persistence_id);
        if (!holder.ok()) {
            return holder.status();
        }
        return (*holder)->highest_seq(persistence_id);
    }

    Result<std::vector<ShardEvent>> read_shard(ShardId shard,
                                               ShardOffset from,
                                               std::size_t max_count) override {
        if (shard.value >= shard_count_) {
            return std::vector<ShardEvent>();  // no such shard: nothing in it
        }
        return partition(shard).read_shard(shard, from, max_count);
    }

    // One read_shards per partition, each with that partition's reads, reassembled in order.
    Result<std::vector<std::vector<ShardEvent>>> read_shards(
        const std::vector<ShardRead>& reads) override {
        std::vector<std::vector<ShardRead>> by_partition(partitions_.size());
        std::vector<std::pair<std::size_t, std::size_t>> where(reads.size());  // partition, i
        for (std::size_t i = 0; i < reads.size(); ++i) {
            const ShardId shard(reads[i].shard.value < shard_count_ ? reads[i].shard.value : 0);
            const std::size_t at = partition_of(shard, shard_count_, partitions_.size());
            ShardRead read = reads[i];
            read.max_count = reads[i].shard.value < shard_count_ ? read.max_count : 0;
            where[i] = {at, by_partition[at].size()};
            by_partition[at].push_back(read);
        }
        std::vector<std::vector<std::vector<ShardEvent>>> answers(partitions_.size());
        for (std::size_t at = 0; at < partitions_.size(); ++at) {
            if (by_partition[at].empty()) {
                continue;
            }
            auto answer = partitions_[at]->read_shards(by_partition[at]);
            if (!answer.ok()) {
                return answer.status();
            }
            answers[at] = std::move(answer).value();
        }
        std::vector<std::vector<ShardEvent>> out(reads.size());
        for (std::size_t i = 0; i < reads.size(); ++i) {
            out[i] = std::move(answers[where[i].first][where[i].second]);
        }
        return out;
    }

    Status save_snapshot(const std::string& persistence_id, const Snapshot& snapshot) override {
        Result<Journal*> holder = holder_of(persistence_id);
        if (!holder.ok()) {
            return holder.status();
        }
        return (*holder)->save_snapshot(persistence_id, snapshot);
    }

    Result<std::optional<Snapshot>> load_snapshot(const std::string& persistence_id) override {
        Result<Journal*> holder = holder_of(persistence_id);
        if (!holder.ok()) {
            return holder.status();
        }
        return (*holder)->load_snapshot(persistence_id);
    }

    Result<std::optional<KeyClaim>> find_key_claim(const std::string& key, UnixMs now) override {
        for (const auto& each : partitions_) {
            auto claim = each->find_key_claim(key, now);
            if (!claim.ok() || claim->has_value()) {
                return claim;
            }
        }
        return std::optional<KeyClaim>();
    }

    Result<std::size_t> key_claim_count() override {
        std::size_t total = 0;
        for (const auto& each : partitions_) {
            auto count = each->key_claim_count();
            if (!count.ok()) {
                return count.status();
            }
            total += *count;
        }
        return total;
    }

    Status claim_shard(ShardId shard, FencingToken token) override {
        if (shard.value >= shard_count_) {
            return shard_out_of_range(shard);
        }
        return partition(shard).claim_shard(shard, token);
    }

    Result<FencingToken> current_fencing(ShardId shard) override {
        if (shard.value >= shard_count_) {
            return shard_out_of_range(shard);
        }
        return partition(shard).current_fencing(shard);
    }

    Result<std::vector<WakeEntry>> pending_wakeups(ShardId shard) override {
        if (shard.value >= shard_count_) {
            return std::vector<WakeEntry>();
        }
        return partition(shard).pending_wakeups(shard);
    }

    void set_commit_listener(CommitListener listener) override {
        for (const auto& each : partitions_) {
            each->set_commit_listener(listener);
        }
    }

    [[nodiscard]] std::vector<const Journal*> partitions() const {
        std::vector<const Journal*> out;
        for (const auto& each : partitions_) {
            out.push_back(each.get());
        }
        return out;
    }

private:
    Journal& partition(ShardId shard) {
        return *partitions_[partition_of(shard, shard_count_, partitions_.size())];
    }

    Status shard_out_of_range(ShardId shard) const {
        return {Errc::invalid_argument, "shard " + std::to_string(shard.value) +
                                            " is not below the shard count " +
                                            std::to_string(shard_count_)};
    }

    // The partition that holds the entity's events: its shard's, when shard_of is known; else
    // the one that has any (the first partition for an entity nobody has yet).
    Result<Journal*> holder_of(const std::string& persistence_id) {
        if (shard_of_) {
            return &partition(shard_of_(persistence_id));
        }
        for (const auto& each : partitions_) {
            auto highest = each->highest_seq(persistence_id);
            if (!highest.ok()) {
                return highest.status();
            }
            if (highest->value > 0) {
                return each.get();
            }
        }
        return partitions_.front().get();
    }

    std::vector<std::unique_ptr<Journal>> partitions_;
    const std::uint32_t shard_count_;
    const ShardOf shard_of_;
};

}  // namespace

std::unique_ptr<Journal> make_partitioned_journal(std::vector<std::unique_ptr<Journal>> partitions,
                                                  std::uint32_t shard_count,
                                                  ShardOf shard_of) {
    QRPAY_ASSERT(!partitions.empty() && shard_count >= partitions.size(),
                 "a partitioned journal needs partitions, no more than shards");
    return std::make_unique<PartitionedJournal>(std::move(partitions), shard_count,
                                                std::move(shard_of));
}

std::vector<const Journal*> partitions_of(const Journal& journal) {
    if (const auto* partitioned = dynamic_cast<const PartitionedJournal*>(&journal)) {
        return partitioned->partitions();
    }
    return {&journal};
}

}  // namespace qrpay::journal
