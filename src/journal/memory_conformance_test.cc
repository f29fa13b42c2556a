// The in-memory journal against the conformance suite.

#include <memory>
#include <string>

#include "journal/conformance/journal_conformance.h"
#include "journal/journal.h"

namespace qrpay::journal::conformance {

namespace {

struct MemoryBackend {
    static std::unique_ptr<Journal> open(const std::string& /*dir*/) {
        return make_memory_journal();
    }
    static constexpr bool durable = false;
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, JournalConformance, MemoryBackend);

}  // namespace qrpay::journal::conformance
