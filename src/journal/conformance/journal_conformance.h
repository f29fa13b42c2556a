#pragma once
// The journal conformance suite (STYLE 2.7): one GoogleTest typed suite every backend passes.
//
// A backend instantiates it with a fixture parameter type:
//
//   struct SqliteBackend {
//       // A journal stored in `dir` (an empty temporary directory the suite owns). Called
//       // again on the same dir after the previous journal was destroyed: a durable backend
//       // then finds its data again. Never returns nullptr.
//       static std::unique_ptr<Journal> open(const std::string& dir);
//       static constexpr bool durable = true;  // data survives close and reopen
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, JournalConformance, SqliteBackend);
//
// in namespace qrpay::journal::conformance. Each case runs on a fresh journal and calls one
// check_* function of journal_conformance.cc, so the bodies compile once.

#include <gtest/gtest.h>

#include <concepts>
#include <functional>
#include <memory>
#include <string>

#include "journal/conformance/journal_test_support.h"
#include "journal/journal.h"

namespace qrpay::journal::conformance {

template <class B>
concept JournalBackend = requires(const std::string& dir) {
    { B::open(dir) } -> std::same_as<std::unique_ptr<Journal>>;
    { B::durable } -> std::convertible_to<bool>;
};

// Reopens the journal under test on the same directory and returns the new one.
using Reopen = std::function<Journal&()>;

void check_append_then_read_back(Journal& journal);
void check_stale_expected_seq_refused(Journal& journal);
void check_future_expected_seq_refused(Journal& journal);
void check_concurrent_appends_with_one_expected_seq(Journal& journal);
void check_stale_fencing_token_refused(Journal& journal);
void check_claim_with_lower_or_equal_token_refused(Journal& journal);
void check_multi_event_append_is_atomic(Journal& journal);
void check_read_range_edges(Journal& journal);
void check_highest_seq_kept_across_snapshot(Journal& journal);
void check_snapshot_replaced_only_by_newer(Journal& journal);
void check_data_kept_across_reopen(Journal& journal, const Reopen& reopen);
void check_shard_order_under_concurrency(Journal& journal);
void check_every_append_answered_once(Journal& journal);
void check_wake_at_set_cleared_listed(Journal& journal);
void check_commit_listener(Journal& journal);
void check_bad_inputs_refused(Journal& journal);
void check_bounds_accepted(Journal& journal);
void check_key_claims_bind_once(Journal& journal);
void check_key_claims_race(Journal& journal);
void check_key_claims_expire_and_are_forgotten(Journal& journal);

template <class Backend>
class JournalConformance : public ::testing::Test {
    static_assert(JournalBackend<Backend>, "see the fixture parameter in this header");

protected:
    void SetUp() override {
        journal_ = Backend::open(dir_.path());
        ASSERT_NE(journal_, nullptr);
    }
    Journal& journal() { return *journal_; }
    Journal& reopen() {
        journal_.reset();  // closes before the next open of the same directory
        journal_ = Backend::open(dir_.path());
        return *journal_;
    }

private:
    TempDir dir_;  // declared first: outlives the journal stored in it
    std::unique_ptr<Journal> journal_;
};

TYPED_TEST_SUITE_P(JournalConformance);

TYPED_TEST_P(JournalConformance, AppendThenReadBack) {
    check_append_then_read_back(this->journal());
}
TYPED_TEST_P(JournalConformance, StaleExpectedSeqRefused) {
    check_stale_expected_seq_refused(this->journal());
}
TYPED_TEST_P(JournalConformance, FutureExpectedSeqRefused) {
    check_future_expected_seq_refused(this->journal());
}
TYPED_TEST_P(JournalConformance, ConcurrentAppendsWithOneExpectedSeq) {
    check_concurrent_appends_with_one_expected_seq(this->journal());
}
TYPED_TEST_P(JournalConformance, StaleFencingTokenRefused) {
    check_stale_fencing_token_refused(this->journal());
}
TYPED_TEST_P(JournalConformance, ClaimWithLowerOrEqualTokenRefused) {
    check_claim_with_lower_or_equal_token_refused(this->journal());
}
TYPED_TEST_P(JournalConformance, MultiEventAppendIsAtomic) {
    check_multi_event_append_is_atomic(this->journal());
}
TYPED_TEST_P(JournalConformance, ReadRangeEdges) { check_read_range_edges(this->journal()); }
TYPED_TEST_P(JournalConformance, HighestSeqKeptAcrossSnapshot) {
    check_highest_seq_kept_across_snapshot(this->journal());
}
TYPED_TEST_P(JournalConformance, SnapshotReplacedOnlyByNewer) {
    check_snapshot_replaced_only_by_newer(this->journal());
}
TYPED_TEST_P(JournalConformance, DataKeptAcrossReopen) {
    if constexpr (!TypeParam::durable) {
        GTEST_SKIP() << "the backend is not durable";
    } else {
        check_data_kept_across_reopen(this->journal(),
                                      [this]() -> Journal& { return this->reopen(); });
    }
}
TYPED_TEST_P(JournalConformance, ShardOrderGapFreeUnderConcurrency) {
    check_shard_order_under_concurrency(this->journal());
}
TYPED_TEST_P(JournalConformance, EveryAppendAnsweredOnce) {
    check_every_append_answered_once(this->journal());
}
TYPED_TEST_P(JournalConformance, WakeAtSetClearedListedPerShard) {
    check_wake_at_set_cleared_listed(this->journal());
}
TYPED_TEST_P(JournalConformance, CommitListenerGetsShardAndOffset) {
    check_commit_listener(this->journal());
}
TYPED_TEST_P(JournalConformance, BadInputsRefused) { check_bad_inputs_refused(this->journal()); }
TYPED_TEST_P(JournalConformance, BoundsAccepted) { check_bounds_accepted(this->journal()); }
TYPED_TEST_P(JournalConformance, KeyClaimsBindOnce) { check_key_claims_bind_once(this->journal()); }
TYPED_TEST_P(JournalConformance, KeyClaimsRaceHasOneWinner) {
    check_key_claims_race(this->journal());
}
TYPED_TEST_P(JournalConformance, KeyClaimsExpireAndAreForgotten) {
    check_key_claims_expire_and_are_forgotten(this->journal());
}

REGISTER_TYPED_TEST_SUITE_P(JournalConformance,
                            AppendThenReadBack,
                            StaleExpectedSeqRefused,
                            FutureExpectedSeqRefused,
                            ConcurrentAppendsWithOneExpectedSeq,
                            StaleFencingTokenRefused,
                            ClaimWithLowerOrEqualTokenRefused,
                            MultiEventAppendIsAtomic,
                            ReadRangeEdges,
                            HighestSeqKeptAcrossSnapshot,
                            SnapshotReplacedOnlyByNewer,
                            DataKeptAcrossReopen,
                            ShardOrderGapFreeUnderConcurrency,
                            EveryAppendAnsweredOnce,
                            WakeAtSetClearedListedPerShard,
                            CommitListenerGetsShardAndOffset,
                            BadInputsRefused,
                            BoundsAccepted,
                            KeyClaimsBindOnce,
                            KeyClaimsRaceHasOneWinner,
                            KeyClaimsExpireAndAreForgotten);

}  // namespace qrpay::journal::conformance
