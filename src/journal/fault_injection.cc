#include "journal/fault_injection.h"

#include <algorithm>
#include <charconv>
#include <thread>

namespace qrpay::journal {
namespace {

// "NAME@ARG*N" -> {ARG, N}; N >= 1.
struct Counted {
    std::string_view argument;
    std::uint64_t count = 0;
};

Result<Counted> parse_counted(std::string_view name, std::string_view rest) {
    std::size_t star = rest.rfind('*');
    std::string_view count_text = star == std::string_view::npos ? "" : rest.substr(star + 1);
    std::uint64_t count = 0;
    auto [end, error] =
        std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
    if (star == std::string_view::npos || star == 0 || error != std::errc() ||
        end != count_text.data() + count_text.size() || count == 0) {
        return Status(Errc::invalid_argument, std::string(name) + " needs @ARGUMENT*N with N >= 1");
    }
    return Counted{rest.substr(0, star), count};
}

Status apply_point(std::string_view item, FaultSpec& spec) {
    std::size_t at = item.find('@');
    std::string_view name = item.substr(0, at);
    if (at == std::string_view::npos) {
        return {Errc::invalid_argument, "journal fault point '" + std::string(name) +
                                            "' needs an argument (NAME@ARGUMENT*N)"};
    }
    auto counted = parse_counted(name, item.substr(at + 1));
    if (!counted.ok()) {
        return counted.status();
    }
    if (name == "fail_append" || name == "lose_commit_answer") {
        spec.append_rules.push_back(AppendFaultRule{
            .fault = name == "fail_append" ? AppendFault::fail : AppendFault::lose_commit_answer,
            .event_type = std::string(counted->argument),
            .count = counted->count});
        return {};
    }
    if (name == "stall_append") {
        const std::string_view argument = counted->argument;
        const std::size_t colon = argument.rfind(':');
        std::int64_t stall_ms = 0;
        const std::string_view ms =
            colon == std::string_view::npos ? "" : argument.substr(colon + 1);
        auto [end, error] = std::from_chars(ms.data(), ms.data() + ms.size(), stall_ms);
        if (colon == std::string_view::npos || colon == 0 || error != std::errc() ||
            end != ms.data() + ms.size() || stall_ms <= 0 || stall_ms > 60'000) {
            return {Errc::invalid_argument, "stall_append needs @TYPE:MS*N with 0 < MS <= 60000"};
        }
        spec.append_rules.push_back(
            AppendFaultRule{.fault = AppendFault::stall,
                            .event_type = std::string(argument.substr(0, colon)),
                            .count = counted->count,
                            .stall = std::chrono::milliseconds(stall_ms)});
        return {};
    }
    if (name == "stall_reads") {
        std::int64_t stall_ms = 0;
        std::string_view text = counted->argument;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), stall_ms);
        if (error != std::errc() || end != text.data() + text.size() || stall_ms <= 0 ||
            stall_ms > 60'000) {
            return {Errc::invalid_argument, "stall_reads needs @MS*N with 0 < MS <= 60000"};
        }
        spec.read_stall = std::chrono::milliseconds(stall_ms);
        spec.read_stall_count = counted->count;
        return {};
    }
    return {Errc::invalid_argument, "unknown journal fault point '" + std::string(name) + "'"};
}

bool carries(const AppendRequest& request, const std::string& event_type) {
    return std::ranges::any_of(request.events,
                               [&](const EventData& event) { return event.type == event_type; });
}

}  // namespace

Result<FaultSpec> parse_fault_spec(std::string_view spec) {
    FaultSpec parsed;
    while (!spec.empty()) {
        std::size_t comma = spec.find(',');
        if (Status applied = apply_point(spec.substr(0, comma), parsed); !applied.ok()) {
            return applied;
        }
        spec = comma == std::string_view::npos ? "" : spec.substr(comma + 1);
    }
    return parsed;
}

FaultInjectingJournal::FaultInjectingJournal(Journal& inner, FaultSpec spec)
    : inner_(inner), spec_(std::move(spec)) {}

std::optional<AppendFaultRule> FaultInjectingJournal::take_append_fault(
    const AppendRequest& request) {
    if (appends_fail_.load()) {
        return AppendFaultRule{.fault = AppendFault::fail, .event_type = "", .count = 1};
    }
    std::lock_guard lock(mutex_);
    for (AppendFaultRule& rule : spec_.append_rules) {
        if (rule.count > 0 && carries(request, rule.event_type)) {
            --rule.count;
            return rule;
        }
    }
    return std::nullopt;
}

void FaultInjectingJournal::append_late(AppendRequest request,
                                        AppendCallback done,
                                        std::chrono::milliseconds stall) {
    std::lock_guard lock(late_mutex_);
    late_appends_.emplace_back(
        [this, request = std::move(request), done = std::move(done), stall]() mutable {
            std::this_thread::sleep_for(stall);
            inner_.append(std::move(request), std::move(done));
        });
}

void FaultInjectingJournal::append(AppendRequest request, AppendCallback done) {
    std::optional<AppendFaultRule> fault = take_append_fault(request);
    if (!fault) {
        inner_.append(std::move(request), std::move(done));
        return;
    }
    ++faults_injected_;
    if (fault->fault == AppendFault::stall) {
        append_late(std::move(request), std::move(done), fault->stall);
        return;
    }
    if (fault->fault == AppendFault::fail) {
        done(Status(Errc::io_error, "injected fault: the append failed (fail_append)"));
        return;
    }
    inner_.append(std::move(request), [done = std::move(done)](const Status& stored) {
        if (!stored.ok()) {
            done(stored);
            return;
        }
        done(Status(Errc::unknown_outcome,
                    "injected fault: the commit's answer was lost (lose_commit_answer)"));
    });
}

void FaultInjectingJournal::hold_reads(bool on) {
    {
        std::lock_guard lock(hold_mutex_);
        hold_ = on;
    }
    hold_released_.notify_all();
}

std::size_t FaultInjectingJournal::reads_held() const {
    std::lock_guard lock(hold_mutex_);
    return reads_held_;
}

Status FaultInjectingJournal::before_entity_read() {
    {
        std::unique_lock lock(hold_mutex_);
        if (hold_) {
            ++faults_injected_;
            ++reads_held_;
            hold_released_.wait_for(lock, read_hold_max, [this] { return !hold_; });
            --reads_held_;
        }
    }
    if (reads_fail_.load()) {
        ++faults_injected_;
        return {Errc::io_error, "injected fault: the read failed"};
    }
    std::chrono::milliseconds stall{0};
    {
        std::lock_guard lock(mutex_);
        if (spec_.read_stall_count > 0) {
            --spec_.read_stall_count;
            stall = spec_.read_stall;
        }
    }
    if (stall.count() > 0) {
        ++faults_injected_;
        std::this_thread::sleep_for(stall);
    }
    return {};
}

Result<std::vector<StoredEvent>> FaultInjectingJournal::read_events(
    const std::string& persistence_id, SequenceNr from, std::size_t max_count) {
    if (Status status = before_entity_read(); !status.ok()) {
        return status;
    }
    return inner_.read_events(persistence_id, from, max_count);
}

Result<SequenceNr> FaultInjectingJournal::highest_seq(const std::string& persistence_id) {
    if (Status status = before_entity_read(); !status.ok()) {
        return status;
    }
    return inner_.highest_seq(persistence_id);
}

Result<std::vector<ShardEvent>> FaultInjectingJournal::read_shard(ShardId shard,
                                                                  ShardOffset from,
                                                                  std::size_t max_count) {
    return inner_.read_shard(shard, from, max_count);
}

Result<std::vector<std::vector<ShardEvent>>> FaultInjectingJournal::read_shards(
    const std::vector<ShardRead>& reads) {
    return inner_.read_shards(reads);
}

Status FaultInjectingJournal::save_snapshot(const std::string& persistence_id,
                                            const Snapshot& snapshot) {
    if (appends_fail_.load()) {
        ++faults_injected_;
        return {Errc::io_error, "injected fault: the snapshot write failed"};
    }
    return inner_.save_snapshot(persistence_id, snapshot);
}

Result<std::optional<Snapshot>> FaultInjectingJournal::load_snapshot(
    const std::string& persistence_id) {
    if (Status status = before_entity_read(); !status.ok()) {
        return status;
    }
    return inner_.load_snapshot(persistence_id);
}

Result<std::optional<KeyClaim>> FaultInjectingJournal::find_key_claim(const std::string& key,
                                                                      UnixMs now) {
    if (Status status = before_entity_read(); !status.ok()) {
        return status;
    }
    return inner_.find_key_claim(key, now);
}

Status FaultInjectingJournal::claim_shard(ShardId shard, FencingToken token) {
    return inner_.claim_shard(shard, token);
}

Result<FencingToken> FaultInjectingJournal::current_fencing(ShardId shard) {
    return inner_.current_fencing(shard);
}

Result<std::vector<WakeEntry>> FaultInjectingJournal::pending_wakeups(ShardId shard) {
    return inner_.pending_wakeups(shard);
}

void FaultInjectingJournal::set_commit_listener(CommitListener listener) {
    inner_.set_commit_listener(std::move(listener));
}

}  // namespace qrpay::journal
