#pragma once
// Test-only: reads testdata/events_v1.jsonl, one stored event per line, written once and never
// regenerated, so that every later codec version proves it still reads version 1:
//   {"type":"<DESIGN event name>","payload":<the payload bytes exactly as stored>}

#include <gtest/gtest.h>

#include <cstddef>
#include <fstream>
#include <map>
#include <string>

#include "journal/journal.h"

namespace qrpay::domain::testing {

inline constexpr std::size_t fixture_lines_max = 64;

// The fixture's lines by event type, byte for byte.
inline std::map<std::string, std::string> events_v1_lines() {
    std::ifstream file(QRPAY_DOMAIN_TESTDATA_DIR "/events_v1.jsonl", std::ios::binary);
    EXPECT_TRUE(file.is_open()) << "cannot open events_v1.jsonl";
    std::map<std::string, std::string> lines;
    std::string line;
    while (lines.size() < fixture_lines_max && std::getline(file, line)) {
        std::string prefix = R"({"type":")";
        std::size_t type_end = line.find('"', prefix.size());
        EXPECT_EQ(line.rfind(prefix, 0), 0U) << line;
        EXPECT_NE(type_end, std::string::npos) << line;
        lines[line.substr(prefix.size(), type_end - prefix.size())] = line;
    }
    return lines;
}

// The fixture line an encoded event must equal.
inline std::string fixture_line_of(const journal::EventData& data) {
    return R"({"type":")" + data.type + R"(","payload":)" + data.payload + "}";
}

// The stored event a fixture line holds: its type and its payload bytes, verbatim.
inline journal::StoredEvent stored_event_of(const std::string& line) {
    std::string prefix = R"({"type":")";
    std::size_t type_end = line.find('"', prefix.size());
    std::string marker = R"(","payload":)";
    std::size_t payload_begin = type_end + marker.size();
    EXPECT_EQ(line.compare(type_end, marker.size(), marker), 0) << line;
    EXPECT_EQ(line.back(), '}') << line;
    return journal::StoredEvent{
        .seq = SequenceNr(1),
        .type = line.substr(prefix.size(), type_end - prefix.size()),
        .payload = line.substr(payload_begin, line.size() - payload_begin - 1),
        .written_at = UnixMs{0}};
}

}  // namespace qrpay::domain::testing
