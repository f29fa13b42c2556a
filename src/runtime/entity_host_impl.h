#pragma once
// EntityHost<B> implementation; included by entity_host.h only. See that file for the contract.
//
// Threading: every Entity lives in the table of the executor its persistence id maps to and is
// touched only on that executor's thread, so no entity state is locked. Journal callbacks come
// back through Runtime::post_admitted to the same executor. The executor never calls a
// blocking journal method: appends use the journal's asynchronous path, recovery reads and
// snapshot writes run on the runtime's journal-I/O threads (Runtime::read_for_recovery,
// Runtime::save_snapshot), and only decoding and applying a recovery runs here.

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/assert.h"
#include "base/log.h"
#include "base/secret.h"

namespace qrpay::runtime {

template <Behavior B>
class EntityHost {
public:
    using State = typename B::State;
    using Command = typename B::Command;
    using Event = typename B::Event;
    using Reply = typename B::Reply;
    using ReplyCallback = std::function<void(Result<Reply>)>;

    // REQUIRES: made before the runtime serves, stops or hands off a shard by hand (it
    // registers as a shard listener).
    EntityHost(Runtime& runtime, const B& behavior)
        : runtime_(runtime), behavior_(behavior), tables_(runtime.executor_count()) {
        runtime_.add_shard_listener(
            {.busy = [this](ShardId shard,
                            std::size_t executor) { return shard_busy(shard, executor); },
             .evict = [this](ShardId shard, std::size_t executor) { evict_shard(shard, executor); },
             .served = [this](ShardId shard) { (void)wake_pending_in(shard); }});
        if constexpr (ForwardableBehavior<B>) {
            runtime_.add_forwarded_entry(B::type_name,
                                         [this](ForwardedCommand command, ForwardDone done) {
                                             receive_forwarded(std::move(command), std::move(done));
                                         });
        }
    }
    EntityHost(const EntityHost&) = delete;
    EntityHost& operator=(const EntityHost&) = delete;
    EntityHost(EntityHost&&) = delete;
    EntityHost& operator=(EntityHost&&) = delete;

    // REQUIRES: `done` does not block. It runs on the entity's executor, or on the calling
    // thread when the command is refused at the door (unavailable).
    void ask(const std::string& entity_id, Command command, ReplyCallback done) {
        deliver(entity_id, Message{std::move(command)}, std::move(done), Presume::nothing);
    }
    void ask_new(const std::string& entity_id, Command command, ReplyCallback done) {
        deliver(entity_id, Message{std::move(command)}, std::move(done), Presume::new_entity);
    }
    void tell(const std::string& entity_id, Command command) {
        deliver(entity_id, Message{std::move(command)}, nullptr, Presume::nothing);
    }

    // The id of the entity of this type that holds `key` now (a claim of Effect::claiming()
    // within the journal's key retention), or nullopt; the journal's error when it cannot
    // say. `done` runs once, on the calling thread for now: a point read of the journal's
    // index, which never waits for the journal's writer.
    using KeyHolderCallback = std::function<void(Result<std::optional<std::string>>)>;
    void find_key_holder(const std::string& key, const KeyHolderCallback& done) {
        Result<std::optional<journal::KeyClaim>> claim =
            runtime_.journal().find_key_claim(key, runtime_.clock().wall_now());
        if (!claim.ok()) {
            done(claim.status());
            return;
        }
        if (!*claim || !(*claim)->persistence_id.starts_with(prefix())) {
            done(std::optional<std::string>());
            return;
        }
        done(std::optional<std::string>((*claim)->persistence_id.substr(prefix().size())));
    }

    // Wakes every entity of this type in a shard served here whose last append left a
    // deadline. Call once, after Runtime::start(); a shard served later wakes its own. Returns
    // the journal's error if the index cannot be read.
    Status wake_pending() {
        for (std::uint32_t shard = 0; shard < runtime_.options().shard_count; ++shard) {
            if (!runtime_.serves(ShardId(shard))) {
                continue;
            }
            if (Status woken = wake_pending_in(ShardId(shard)); !woken.ok()) {
                return woken;
            }
        }
        QRPAY_LOG_INFO("%.*s: woke %llu entities with unfinished work",
                       static_cast<int>(B::type_name.size()), B::type_name.data(),
                       static_cast<unsigned long long>(woken_.load()));
        return {};
    }

    // Starts the periodic passivation sweep on every executor.
    void start_passivation() {
        for (std::size_t executor = 0; executor < tables_.size(); ++executor) {
            schedule_sweep(executor);
        }
    }

    [[nodiscard]] EntityHostStats stats() const {
        return EntityHostStats{.active_entities = active_.load(),
                               .commands = commands_.load(),
                               .events_persisted = events_persisted_.load(),
                               .recoveries = recoveries_.load(),
                               .presumed_new = presumed_new_.load(),
                               .presumed_new_wrong = presumed_new_wrong_.load(),
                               .passivations = passivations_.load(),
                               .write_failures = write_failures_.load(),
                               .resumes = resumes_.load(),
                               .forwarded_out = forwarded_out_.load(),
                               .forwarded_in = forwarded_in_.load()};
    }

    // Whether the entity's shard is served on this node now (else a command goes to its owner).
    [[nodiscard]] bool served_here(const std::string& entity_id) const {
        return runtime_.serves(runtime_.shard_of(persistence_id(entity_id)));
    }

    [[nodiscard]] std::string persistence_id(const std::string& entity_id) const {
        return prefix() + entity_id;
    }

    // The persistence id as logs may show it: redacted when the Behavior's ids are secrets.
    [[nodiscard]] std::string loggable_id(const std::string& entity_id) const {
        if constexpr (requires { B::entity_id_is_secret; }) {
            if (B::entity_id_is_secret) {
                return prefix() + Secret(entity_id).redacted();
            }
        }
        return persistence_id(entity_id);
    }

private:
    struct Wake {};
    using Message = std::variant<Command, Wake>;
    // What the caller knows of an entity that is not in memory.
    enum class Presume { nothing, new_entity };
    // What brings a message to an entity: a command (from a caller or the entity itself) or a
    // Wake (its timer, a resume, wake_pending). A Wake is the firing of a deadline itself; after
    // a command, a deadline already past arms a timer that fires at once (the entity's timer
    // may have been lost, or the deadline passed while the append was in flight).
    enum class Trigger { command, wake };
    static Trigger trigger_of(const Message& message) {
        return std::holds_alternative<Wake>(message) ? Trigger::wake : Trigger::command;
    }
    using TimePoint = std::chrono::steady_clock::time_point;  // of the runtime's Clock

    struct Pending {
        Message message;
        ReplyCallback done;
    };

    // Commands waiting behind a persist. Most entities never stash, and an empty std::deque
    // still allocates its first block (about 600 bytes in libstdc++), so the queue is made on
    // first use and dropped once empty: an idle entity pays one pointer.
    class Stash {
    public:
        [[nodiscard]] bool empty() const { return !queue_ || queue_->empty(); }
        [[nodiscard]] std::size_t size() const { return queue_ ? queue_->size() : 0; }
        void push_back(Pending pending) {
            if (!queue_) {
                queue_ = std::make_unique<std::deque<Pending>>();
            }
            queue_->push_back(std::move(pending));
        }
        void push_front(Pending pending) {
            if (!queue_) {
                queue_ = std::make_unique<std::deque<Pending>>();
            }
            queue_->push_front(std::move(pending));
        }
        [[nodiscard]] const Pending& front() const {
            QRPAY_ASSERT(!empty(), "front of an empty stash");
            return queue_->front();
        }
        [[nodiscard]] bool holds_a_wake() const {
            if (!queue_) {
                return false;
            }
            return std::any_of(queue_->begin(), queue_->end(), [](const Pending& pending) {
                return trigger_of(pending.message) == Trigger::wake;
            });
        }
        Pending pop_front() {
            QRPAY_ASSERT(!empty(), "pop from an empty stash");
            Pending next = std::move(queue_->front());
            queue_->pop_front();
            if (queue_->empty()) {
                queue_.reset();
            }
            return next;
        }

    private:
        std::unique_ptr<std::deque<Pending>> queue_;
    };

    struct Entity {
        State state{};
        SequenceNr seq;
        SequenceNr snapshot_seq;
        bool persisting = false;
        // Its journal reads run on a journal-I/O thread (needs_recovery is set too); messages
        // wait in the stash, the first of them the one that started the recovery.
        bool recovering = false;
        // Started empty on ask_new() without reading the journal; cleared by the first
        // successful append or by a real recovery.
        bool presumed_new = false;
        // The last append failed or may have: state and seq are not trusted until the entity
        // recovers from the journal, which the next message or the armed resume does first.
        bool needs_recovery = false;
        std::uint32_t failures_in_a_row = 0;  // failed appends and recoveries; resume backoff
        Stash stash;
        std::optional<TimePoint> wake_at;  // the one armed timer, if any
        std::uint64_t timer_generation = 0;
        TimePoint last_used;
    };

    using Table = std::unordered_map<std::string, std::unique_ptr<Entity>>;
    using EffectType = Effect<Event, Reply>;

    static const std::string& prefix() {
        static const std::string text = journal::persistence_id_of(B::type_name, "");
        return text;
    }

    [[nodiscard]] std::size_t table_capacity() const {
        return std::max<std::size_t>(1, runtime_.options().active_entities_max / tables_.size());
    }

    Table& table_of(const std::string& entity_id) {
        return tables_[runtime_.executor_of(persistence_id(entity_id))];
    }

    // Where a message may go: anywhere (a shard served elsewhere is forwarded to its owner), or
    // here only (a command another node forwarded: it never travels on).
    enum class Route { anywhere, here_only };

    void deliver(const std::string& entity_id,
                 Message message,
                 ReplyCallback done,
                 Presume presume,
                 Route route = Route::anywhere) {
        const std::string pid = persistence_id(entity_id);
        if (const ShardId shard = runtime_.shard_of(pid); !runtime_.serves(shard)) {
            if (route == Route::anywhere && forward(shard, entity_id, message, done, presume)) {
                return;
            }
            if (done) {
                done(Status(Errc::not_owner, "the entity's shard is not served here now"));
            }
            return;
        }
        auto shared_done = std::make_shared<ReplyCallback>(std::move(done));
        Status posted = runtime_.post(
            pid, [this, entity_id, message = std::move(message), shared_done, presume]() mutable {
                handle(entity_id, std::move(message), std::move(*shared_done), presume);
            });
        if (!posted.ok() && *shared_done) {
            (*shared_done)(posted);
        }
    }

    // Hands the command to the runtime's forwarder; false when it cannot travel (no forwarder,
    // a Wake, a command the Behavior keeps local), and then `done` is left to the caller.
    bool forward(ShardId shard,
                 const std::string& entity_id,
                 const Message& message,
                 ReplyCallback& done,
                 Presume presume) {
        if constexpr (ForwardableBehavior<B>) {
            Forwarder* forwarder = runtime_.forwarder();
            const Command* command = std::get_if<Command>(&message);
            if (forwarder == nullptr || command == nullptr) {
                return false;
            }
            std::optional<std::string> bytes = behavior_.encode_command(*command);
            if (!bytes) {
                return false;
            }
            ++forwarded_out_;
            const bool wants_reply = static_cast<bool>(done);
            forwarder->forward(shard,
                               ForwardedCommand{.type_name = std::string(B::type_name),
                                                .entity_id = entity_id,
                                                .presume_new = presume == Presume::new_entity,
                                                .wants_reply = wants_reply,
                                                .command = std::move(*bytes)},
                               [this, done = std::move(done)](Result<std::string> reply) {
                                   if (done) {
                                       done(decode_forwarded_reply(std::move(reply)));
                                   }
                               });
            return true;
        } else {
            (void)shard, (void)entity_id, (void)message, (void)done, (void)presume;
            return false;
        }
    }

    // The owner ran the command: a reply this node cannot read is an answer lost.
    Result<Reply> decode_forwarded_reply(Result<std::string> reply) const {
        if (!reply.ok()) {
            return reply.status();
        }
        Result<Reply> decoded = behavior_.decode_reply(*reply);
        if (!decoded.ok()) {
            return Status(Errc::unknown_outcome,
                          "the owner's reply cannot be read: " + decoded.status().message());
        }
        return decoded;
    }

    // A command another node forwarded here. A tell is acknowledged once it is queued for the
    // entity; an ask when the entity has answered.
    void receive_forwarded(ForwardedCommand forwarded, ForwardDone done) {
        ++forwarded_in_;
        Result<Command> command = behavior_.decode_command(forwarded.command);
        if (!command.ok()) {
            done(command.status());
            return;
        }
        const Presume presume = forwarded.presume_new ? Presume::new_entity : Presume::nothing;
        if (!forwarded.wants_reply) {
            if (!runtime_.serves(runtime_.shard_of(persistence_id(forwarded.entity_id)))) {
                done(Status(Errc::not_owner, "the entity's shard is not served here now"));
                return;
            }
            deliver(forwarded.entity_id, Message{std::move(*command)}, nullptr, presume,
                    Route::here_only);
            done(std::string());
            return;
        }
        deliver(
            forwarded.entity_id, Message{std::move(*command)},
            [this, done = std::move(done)](Result<Reply> reply) {
                if (!reply.ok()) {
                    done(reply.status());
                    return;
                }
                done(behavior_.encode_reply(*reply));
            },
            presume, Route::here_only);
    }

    [[nodiscard]] TimePoint now() const { return runtime_.clock().monotonic_now(); }

    void handle(const std::string& entity_id,
                Message message,
                ReplyCallback done,
                Presume presume) {
        ++commands_;
        auto found = find_or_start(entity_id, presume);
        if (!found.ok()) {
            if (done) {
                done(found.status());
            }
            return;
        }
        Entity& entity = **found;
        entity.last_used = now();
        if (entity.persisting || entity.recovering) {
            stash(entity, Pending{std::move(message), std::move(done)});
            return;
        }
        if (entity.needs_recovery) {
            // Not in memory yet, or untrusted after a failed write: the message waits for the
            // recovery, ahead of whatever arrives meanwhile.
            QRPAY_ASSERT(entity.stash.empty(), "an idle entity has drained its stash");
            entity.stash.push_back(Pending{std::move(message), std::move(done)});
            start_recovery(entity_id, entity);
            return;
        }
        process(entity_id, entity, std::move(message), std::move(done));
    }

    void stash(Entity& entity, Pending pending) {
        if (entity.stash.size() >= runtime_.options().stash_depth_max) {
            if (pending.done) {
                pending.done(Status(Errc::unavailable, "entity stash is full"));
            }
            return;
        }
        entity.stash.push_back(std::move(pending));
    }

    // The entity in memory; when absent, a new one marked for recovery, or started empty when
    // presumed new.
    Result<Entity*> find_or_start(const std::string& entity_id, Presume presume) {
        Table& table = table_of(entity_id);
        if (auto it = table.find(entity_id); it != table.end()) {
            return it->second.get();
        }
        if (table.size() >= table_capacity()) {
            passivate(table, now());
            if (table.size() >= table_capacity()) {
                return Status(Errc::unavailable, "active entity limit reached");
            }
        }
        auto owned = std::make_unique<Entity>();
        Entity& entity = *owned;
        table.emplace(entity_id, std::move(owned));
        ++active_;
        if (presume == Presume::new_entity) {
            entity.presumed_new = true;
            ++presumed_new_;
        } else {
            entity.needs_recovery = true;
        }
        return &entity;
    }

    // Starts reading the entity from the journal on a journal-I/O thread; the executor goes on
    // with other entities, and on_recovered applies the result here. A refusal (the recovery
    // queue is full, the runtime stops) fails the recovery at once.
    void start_recovery(const std::string& entity_id, Entity& entity) {
        QRPAY_ASSERT(entity.needs_recovery && !entity.persisting && !entity.recovering,
                     "only an untrusted entity with no append in flight recovers");
        QRPAY_ASSERT(!entity.stash.empty(), "a recovery has a message waiting for it");
        entity.recovering = true;
        Status admitted = runtime_.read_for_recovery(persistence_id(entity_id),
                                                     [this, entity_id](Result<RecoveryRead> read) {
                                                         on_recovered(entity_id, std::move(read));
                                                     });
        if (!admitted.ok()) {
            entity.recovering = false;
            fail_recovery(entity_id, entity, admitted);
        }
    }

    void on_recovered(const std::string& entity_id, Result<RecoveryRead> read) {
        Table& table = table_of(entity_id);
        auto it = table.find(entity_id);
        QRPAY_ASSERT(it != table.end(), "a recovering entity stays in memory");
        Entity& entity = *it->second;
        QRPAY_ASSERT(entity.recovering && entity.needs_recovery && !entity.persisting,
                     "one recovery at a time, with no append in flight");
        entity.recovering = false;
        if (!read.ok()) {
            QRPAY_LOG_ERROR("recovery of %s failed: %s", loggable_id(entity_id).c_str(),
                            read.status().to_string().c_str());
            fail_recovery(entity_id, entity, read.status());
            return;
        }
        apply_recovery(entity_id, entity, std::move(*read));
        drain_stash(entity_id, entity);
    }

    // Replays what the recovery read into the entity and arms its deadline (one already past
    // fires at once unless a Wake, its firing, is what waits).
    void apply_recovery(const std::string& entity_id, Entity& entity, RecoveryRead read) {
        State state{};
        SequenceNr seq;
        SequenceNr snapshot_seq;
        if (read.snapshot) {
            state = behavior_.decode_state(read.snapshot->payload);
            seq = read.snapshot->seq;
            snapshot_seq = seq;
        }
        for (const journal::StoredEvent& stored : read.events) {
            QRPAY_ASSERT(stored.seq == seq.next(), "replayed events are contiguous");
            state = behavior_.on_event(std::move(state), behavior_.decode_event(stored));
            seq = stored.seq;
        }
        const SequenceNr trusted_seq = entity.seq;
        QRPAY_ASSERT(seq >= trusted_seq, "the journal holds at least what the entity trusted");
        entity.state = std::move(state);
        entity.seq = seq;
        entity.snapshot_seq = snapshot_seq;
        entity.needs_recovery = false;
        entity.presumed_new = false;
        ++recoveries_;
        if (entity.failures_in_a_row > 0) {
            ++resumes_;
            if (entity.seq > trusted_seq) {
                // A write whose answer was lost had landed: tell whoever waits for it.
                runtime_.notify_persisted(persistence_id(entity_id), entity.seq);
            }
        }
        Trigger trigger =
            entity.stash.empty() ? Trigger::command : trigger_of(entity.stash.front().message);
        arm_timer(entity_id, entity, std::nullopt, trigger);
    }

    // A recovery failed or was refused: every message that waited for it gets the error. An
    // entity with work to do (a failed write to resume, a Wake among the waiting) stays in
    // memory, still marked, with a resume armed; one loaded only for commands leaves.
    void fail_recovery(const std::string& entity_id, Entity& entity, const Status& status) {
        QRPAY_ASSERT(entity.needs_recovery && !entity.recovering, "a failed recovery is over");
        Stash waiting = std::move(entity.stash);
        if (entity.failures_in_a_row > 0 || waiting.holds_a_wake()) {
            keep_resuming(entity_id, entity);
        } else {
            evict(entity_id);
        }
        while (!waiting.empty()) {
            Pending pending = waiting.pop_front();
            if (pending.done) {
                pending.done(status);
            }
        }
    }

    // A recovery failed: the entity tries again after a backoff, unless a resume is armed
    // already (then messages that meet the broken journal meanwhile do not lengthen it).
    void keep_resuming(const std::string& entity_id, Entity& entity) {
        if (entity.wake_at) {
            return;
        }
        ++entity.failures_in_a_row;
        arm_resume(entity_id, entity);
    }

    CommandContext<Command> context_for(const std::string& entity_id, const Entity& entity) {
        return CommandContext<Command>{
            .now = runtime_.clock().wall_now(),
            .entity_id = entity_id,
            .seq = entity.seq,
            .tell_self = [this,
                          entity_id](Command command) { tell(entity_id, std::move(command)); },
        };
    }

    void process(const std::string& entity_id,
                 Entity& entity,
                 Message message,
                 ReplyCallback done) {
        auto context = context_for(entity_id, entity);
        EffectType effect = decide(entity, message, context);
        if (entity.presumed_new && effect.events().empty()) {
            // Nothing to append means nothing checks the guess: answer from the journal. The
            // message runs again after a real recovery, ahead of anything stashed behind it.
            QRPAY_ASSERT(entity.seq.value == 0 && !entity.persisting, "a presumed entity is empty");
            entity.presumed_new = false;
            entity.needs_recovery = true;
            entity.stash.push_front(Pending{std::move(message), std::move(done)});
            start_recovery(entity_id, entity);
            return;
        }
        if (effect.is_rejected()) {
            finish_without_events(entity_id, entity);  // before the reply: callers may look
            if (done) {
                done(effect.rejection());
            }
            return;
        }
        if (effect.events().empty()) {
            run_side_effects(effect);
            arm_timer(entity_id, entity, effect.wake_delay(), trigger_of(message));
            finish_without_events(entity_id, entity);
            answer(done, effect);
            return;
        }
        start_persist(entity_id, entity, std::move(message), std::move(effect), std::move(done),
                      context.now);
    }

    EffectType decide(const Entity& entity,
                      const Message& message,
                      const CommandContext<Command>& context) const {
        return std::holds_alternative<Command>(message)
                   ? behavior_.on_command(entity.state, std::get<Command>(message), context)
                   : behavior_.on_wake(entity.state, context);
    }

    static void answer(const ReplyCallback& done, EffectType& effect) {
        if (!done) {
            return;
        }
        if (effect.reply()) {
            done(std::move(*effect.reply()));
        } else {
            done(Status(Errc::conflict, "the entity gave no reply to this command"));
        }
    }

    static void run_side_effects(EffectType& effect) {
        for (auto& side_effect : effect.side_effects()) {
            side_effect();
        }
    }

    // An entity that never persisted anything (a probe for an unknown id) leaves memory at
    // once, so unknown ids cannot fill the table.
    void finish_without_events(const std::string& entity_id, Entity& entity) {
        if (entity.seq.value == 0 && !entity.persisting && !entity.recovering &&
            entity.stash.empty() && !entity.wake_at) {
            evict(entity_id);
        }
    }

    struct InFlight {
        State next_state;
        SequenceNr next_seq;
        std::size_t event_count;
        EffectType effect;
        ReplyCallback done;
        // The message itself while the entity is only presumed new: if the append shows that
        // it existed after all, the message runs again on the recovered entity.
        std::optional<Message> retry;
        Trigger trigger;
    };

    void start_persist(const std::string& entity_id,
                       Entity& entity,
                       Message message,
                       EffectType effect,
                       ReplyCallback done,
                       UnixMs now) {
        const std::string pid = persistence_id(entity_id);
        journal::AppendRequest request;
        request.shard = runtime_.shard_of(pid);
        request.fencing = runtime_.fencing_of(request.shard);
        request.persistence_id = pid;
        request.expected_seq = entity.seq;
        request.written_at = now;
        State next = entity.state;
        for (const Event& event : effect.events()) {
            request.events.push_back(behavior_.encode_event(event));
            next = behavior_.on_event(std::move(next), event);
        }
        request.wake_at = behavior_.deadline(next);
        request.claimed_keys = std::move(effect.claimed_keys());
        std::size_t count = effect.events().size();
        Trigger trigger = trigger_of(message);
        std::optional<Message> retry;
        if (entity.presumed_new) {
            retry = std::move(message);
        }
        auto in_flight = std::make_shared<InFlight>(
            InFlight{std::move(next), SequenceNr(entity.seq.value + count), count,
                     std::move(effect), std::move(done), std::move(retry), trigger});
        entity.persisting = true;
        runtime_.append(std::move(request), [this, entity_id, in_flight](const Status& status) {
            on_persisted(entity_id, std::move(*in_flight), status);
        });
    }

    void on_persisted(const std::string& entity_id, InFlight in_flight, const Status& status) {
        Table& table = table_of(entity_id);
        auto it = table.find(entity_id);
        QRPAY_ASSERT(it != table.end(), "a persisting entity stays in memory");
        Entity& entity = *it->second;
        QRPAY_ASSERT(entity.persisting, "one persist at a time per entity");
        entity.persisting = false;
        if (!status.ok() && entity.presumed_new && status.code() == Errc::sequence_conflict) {
            ++presumed_new_wrong_;
            retry_recovered(entity_id, std::move(in_flight));
            return;
        }
        if (status.code() == Errc::key_taken) {
            refuse_persist(entity_id, entity, std::move(in_flight), status);
            return;
        }
        if (!status.ok()) {
            fail_persist(entity_id, std::move(in_flight), status);
            return;
        }
        entity.presumed_new = false;
        entity.failures_in_a_row = 0;
        entity.state = std::move(in_flight.next_state);
        entity.seq = in_flight.next_seq;
        events_persisted_ += in_flight.event_count;
        runtime_.notify_persisted(persistence_id(entity_id), entity.seq);
        answer(in_flight.done, in_flight.effect);
        run_side_effects(in_flight.effect);
        arm_timer(entity_id, entity, in_flight.effect.wake_delay(), in_flight.trigger);
        maybe_snapshot(entity_id, entity);
        drain_stash(entity_id, entity);
    }

    // The append failed or may have: the state in memory can no longer be trusted (Akka's
    // rule). The entity stays, marked for recovery, and resumes by itself after a backoff, so
    // unfinished work goes on once the journal takes writes again; the stashed messages run
    // now, each recovering it first. A fenced append means another owner has the shard: the
    // entity leaves memory and does not resume here.
    void fail_persist(const std::string& entity_id, InFlight in_flight, const Status& status) {
        ++write_failures_;
        QRPAY_LOG_ERROR("persist of %s failed: %s", loggable_id(entity_id).c_str(),
                        status.to_string().c_str());
        Entity& entity = *table_of(entity_id).at(entity_id);
        Stash stashed = std::move(entity.stash);
        if (status.code() == Errc::fenced) {
            evict(entity_id);
        } else {
            entity.needs_recovery = true;
            entity.presumed_new = false;
            ++entity.failures_in_a_row;
            arm_resume(entity_id, entity);
        }
        if (in_flight.done) {
            in_flight.done(status);
        }
        replay_stash(entity_id, std::move(stashed));
    }

    // The journal refused the append on a key another entity holds: nothing was stored and the
    // state in memory is still the truth, so the command is answered with the refusal and the
    // entity goes on with what waits behind it.
    void refuse_persist(const std::string& entity_id,
                        Entity& entity,
                        InFlight in_flight,
                        const Status& status) {
        if (in_flight.done) {
            in_flight.done(status);
        }
        drain_stash(entity_id, entity);
        if (table_of(entity_id).contains(entity_id)) {
            finish_without_events(entity_id, entity);
        }
    }

    // The entity presumed new existed after all: nothing of the refused append happened, so
    // the message runs again on the recovered entity, ahead of anything stashed behind it.
    void retry_recovered(const std::string& entity_id, InFlight in_flight) {
        QRPAY_ASSERT(in_flight.retry.has_value(), "a presumed-new append keeps its message");
        Stash stashed = std::move(table_of(entity_id).at(entity_id)->stash);
        evict(entity_id);
        handle(entity_id, std::move(*in_flight.retry), std::move(in_flight.done), Presume::nothing);
        replay_stash(entity_id, std::move(stashed));
    }

    void replay_stash(const std::string& entity_id, Stash stashed) {
        while (!stashed.empty()) {
            Pending pending = stashed.pop_front();
            handle(entity_id, std::move(pending.message), std::move(pending.done),
                   Presume::nothing);
        }
    }

    void drain_stash(const std::string& entity_id, Entity& entity) {
        while (!entity.persisting && !entity.recovering && !entity.stash.empty()) {
            Pending next = entity.stash.pop_front();
            process(entity_id, entity, std::move(next.message), std::move(next.done));
            if (!table_of(entity_id).contains(entity_id)) {
                return;  // evicted while processing
            }
        }
    }

    // Snapshots are written on a journal-I/O thread. snapshot_seq moves when the write is
    // queued, so one snapshot per interval is asked for; a write that fails puts it back, and
    // the next event asks again. A missed snapshot costs replay time, never correctness.
    void maybe_snapshot(const std::string& entity_id, Entity& entity) {
        if (entity.seq.value - entity.snapshot_seq.value <
            runtime_.options().snapshot_every_events) {
            return;
        }
        const SequenceNr previous = entity.snapshot_seq;
        const SequenceNr seq = entity.seq;
        Status queued = runtime_.save_snapshot(
            persistence_id(entity_id), journal::Snapshot{seq, behavior_.encode_state(entity.state)},
            [this, entity_id, seq, previous](const Status& saved) {
                on_snapshot_saved(entity_id, seq, previous, saved);
            });
        if (!queued.ok()) {
            QRPAY_LOG_WARN("snapshot of %s skipped: %s", loggable_id(entity_id).c_str(),
                           queued.to_string().c_str());
            return;
        }
        entity.snapshot_seq = seq;
    }

    void on_snapshot_saved(const std::string& entity_id,
                           SequenceNr seq,
                           SequenceNr previous,
                           const Status& saved) {
        if (saved.ok()) {
            return;
        }
        QRPAY_LOG_WARN("snapshot of %s failed: %s", loggable_id(entity_id).c_str(),
                       saved.to_string().c_str());
        Table& table = table_of(entity_id);
        auto it = table.find(entity_id);
        if (it != table.end() && it->second->snapshot_seq == seq) {
            it->second->snapshot_seq = previous;  // nothing newer asked since: ask again
        }
    }

    // Keeps at most one timer per entity, at the earliest of: the one already armed, the
    // handler's reminder, and the state's durable deadline if it is still ahead. A deadline
    // already past fires at once after a command when no timer is armed; after a Wake it does
    // not, since that Wake was its firing (and firing again would loop).
    void arm_timer(const std::string& entity_id,
                   Entity& entity,
                   std::optional<std::chrono::milliseconds> reminder,
                   Trigger trigger) {
        const TimePoint now = this->now();
        std::optional<TimePoint> want = entity.wake_at;
        auto consider = [&want](TimePoint at) {
            if (!want || at < *want) {
                want = at;
            }
        };
        if (reminder) {
            consider(now + *reminder);
        }
        if (auto deadline = behavior_.deadline(entity.state)) {
            std::int64_t ahead_ms = deadline->value - runtime_.clock().wall_now().value;
            if (ahead_ms > 0) {
                consider(now + std::chrono::milliseconds(ahead_ms));
            } else if (trigger == Trigger::command && !entity.wake_at) {
                consider(now);
            }
        }
        if (!want || want == entity.wake_at) {
            return;
        }
        set_timer(entity_id, entity, *want);
    }

    // Replaces whatever timer is armed by one at `at`.
    void set_timer(const std::string& entity_id, Entity& entity, TimePoint at) {
        entity.wake_at = at;
        // Unique across the host, so a timer of an evicted entity never matches a new one.
        std::uint64_t generation = ++timer_generations_;
        entity.timer_generation = generation;
        runtime_.post_at(persistence_id(entity_id), at,
                         [this, entity_id, generation] { on_timer(entity_id, generation); });
    }

    // Arms the resume of an entity marked needs_recovery: its timer's Wake recovers it first.
    // The backoff doubles with each failure in a row, up to resume_backoff_max.
    void arm_resume(const std::string& entity_id, Entity& entity) {
        const RuntimeOptions& options = runtime_.options();
        std::chrono::milliseconds backoff = options.resume_backoff_first;
        for (std::uint32_t failure = 1;
             failure < entity.failures_in_a_row && backoff < options.resume_backoff_max;
             ++failure) {
            backoff *= 2;
        }
        set_timer(entity_id, entity, now() + std::min(backoff, options.resume_backoff_max));
    }

    void on_timer(const std::string& entity_id, std::uint64_t generation) {
        Table& table = table_of(entity_id);
        auto it = table.find(entity_id);
        if (it == table.end() || it->second->timer_generation != generation) {
            return;  // replaced by a newer timer, or the entity left memory
        }
        it->second->wake_at.reset();
        handle(entity_id, Message{Wake{}}, nullptr, Presume::nothing);
    }

    Status wake_pending_in(ShardId shard) {
        auto pending = runtime_.journal().pending_wakeups(shard);
        if (!pending.ok()) {
            return pending.status();
        }
        for (const auto& entry : *pending) {
            std::string_view pid = entry.persistence_id;
            if (pid.substr(0, prefix().size()) != prefix()) {
                continue;
            }
            std::string id(pid.substr(prefix().size()));
            runtime_.post_admitted(entry.persistence_id, [this, id] {
                handle(id, Message{Wake{}}, nullptr, Presume::nothing);
            });
            ++woken_;
        }
        return {};
    }

    // Whether an entity of `shard` in `executor`'s table has work in flight. On that executor.
    bool shard_busy(ShardId shard, std::size_t executor) const {
        const Table& table = tables_[executor];
        return std::any_of(table.begin(), table.end(), [&](const auto& entry) {
            const Entity& entity = *entry.second;
            return (entity.persisting || entity.recovering || !entity.stash.empty()) &&
                   runtime_.shard_of(persistence_id(entry.first)) == shard;
        });
    }

    // Drops the entities of `shard` from `executor`'s table: another node serves them next,
    // and what this one holds in memory may be stale by then. On that executor; REQUIRES none
    // of them is busy (shard_busy).
    void evict_shard(ShardId shard, std::size_t executor) {
        Table& table = tables_[executor];
        for (auto it = table.begin(); it != table.end();) {
            if (runtime_.shard_of(persistence_id(it->first)) == shard && !it->second->persisting &&
                !it->second->recovering) {
                it = table.erase(it);
                --active_;
            } else {
                ++it;
            }
        }
    }

    void evict(const std::string& entity_id) {
        if (table_of(entity_id).erase(entity_id) > 0) {
            --active_;
        }
    }

    void schedule_sweep(std::size_t executor) {
        auto period =
            std::max(runtime_.options().passivate_after / 2, std::chrono::milliseconds(10));
        runtime_.post_to_executor(executor, now() + period, [this, executor] {
            sweep(executor);
            schedule_sweep(executor);
        });
    }

    // Passivation: entities idle longer than passivate_after leave memory, unless they have
    // unfinished work (a deadline, a persist in flight, stashed commands or an armed timer).
    void sweep(std::size_t executor) {
        passivate(tables_[executor], now() - runtime_.options().passivate_after);
    }

    // Removes the entities of `table` unused since `idle_since` that have no unfinished work.
    void passivate(Table& table, TimePoint idle_since) {
        for (auto it = table.begin(); it != table.end();) {
            const Entity& entity = *it->second;
            bool idle = entity.last_used <= idle_since && !entity.persisting &&
                        !entity.recovering && !entity.needs_recovery && entity.stash.empty() &&
                        !entity.wake_at && !behavior_.deadline(entity.state);
            if (idle) {
                it = table.erase(it);
                --active_;
                ++passivations_;
            } else {
                ++it;
            }
        }
    }

    Runtime& runtime_;
    const B& behavior_;
    std::vector<Table> tables_;  // one per executor, touched only on that executor's thread
    std::atomic<std::size_t> active_{0};
    std::atomic<std::uint64_t> commands_{0};
    std::atomic<std::uint64_t> events_persisted_{0};
    std::atomic<std::uint64_t> recoveries_{0};
    std::atomic<std::uint64_t> presumed_new_{0};
    std::atomic<std::uint64_t> presumed_new_wrong_{0};
    std::atomic<std::uint64_t> passivations_{0};
    std::atomic<std::uint64_t> write_failures_{0};
    std::atomic<std::uint64_t> resumes_{0};
    std::atomic<std::uint64_t> forwarded_out_{0};
    std::atomic<std::uint64_t> forwarded_in_{0};
    std::atomic<std::uint64_t> timer_generations_{0};
    std::atomic<std::uint64_t> woken_{0};
};

}  // namespace qrpay::runtime
