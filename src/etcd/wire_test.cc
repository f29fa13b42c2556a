// The JSON gateway's wire format without a server: request bodies, answers and the
// errors they map to.

#include "etcd/wire.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "base/base64.h"

namespace qrpay::etcd {
namespace {

using wire::Json;
using wire::Repeat;

TEST(PrefixEnd, IncrementsTheLastByteBelowFf) {
    EXPECT_EQ(wire::prefix_end("a/"), "a0");
    EXPECT_EQ(wire::prefix_end("a\xff"), "b");
    EXPECT_EQ(wire::prefix_end("a\xfe\xff\xff"), "a\xff");
    EXPECT_EQ(wire::prefix_end("\xff\xff"), std::string(1, '\0')) << "to the keyspace's end";
}

Json parsed(const std::string& body) {
    Json json = Json::parse(body, nullptr, false);
    EXPECT_FALSE(json.is_discarded()) << body;
    return json;
}

TEST(RequestBodies, CarryBase64BytesAndInt64Strings) {
    EXPECT_EQ(parsed(wire::grant_body(std::chrono::seconds(2))), Json({{"TTL", "2"}}));
    EXPECT_EQ(parsed(wire::lease_body(9007199254740993)), Json({{"ID", "9007199254740993"}}));
    EXPECT_EQ(parsed(wire::put_body("k", "v", 0)), Json({{"key", "aw=="}, {"value", "dg=="}}))
        << "no lease field for lease 0";
    EXPECT_EQ(parsed(wire::put_body("k", "", 7)),
              Json({{"key", "aw=="}, {"value", ""}, {"lease", "7"}}));
    EXPECT_EQ(parsed(wire::range_body("k", "", 0)), Json({{"key", "aw=="}}));
    EXPECT_EQ(parsed(wire::range_body("a/", "a0", 10)),
              Json({{"key", "YS8="}, {"range_end", "YTA="}, {"limit", "10"}}));
}

TEST(RequestBodies, CreateIsATxnOnTheCreateRevision) {
    const Json body = parsed(wire::create_body("k", "v", 5));
    EXPECT_EQ(body["compare"], Json::parse(R"([{"key":"aw==","target":"CREATE",
        "result":"EQUAL","create_revision":"0"}])"));
    EXPECT_EQ(body["success"],
              Json::parse(R"([{"request_put":{"key":"aw==","value":"dg==","lease":"5"}}])"));
    EXPECT_EQ(body["failure"], Json::parse(R"([{"request_range":{"key":"aw=="}}])"));
}

TEST(RequestBodies, DeleteIfUnchangedIsATxnOnTheModRevision) {
    const Json body = parsed(wire::delete_if_unchanged_body("k", 42));
    EXPECT_EQ(body["compare"], Json::parse(R"([{"key":"aw==","target":"MOD",
        "result":"EQUAL","mod_revision":"42"}])"));
    EXPECT_EQ(body["success"], Json::parse(R"([{"request_delete_range":{"key":"aw=="}}])"));
    EXPECT_FALSE(body.contains("failure"));
}

TEST(Interpret, UnwrapsAStreamedResultAndKeepsAPlainAnswer) {
    Result<Json> streamed = wire::interpret(200,
                                            R"({"result":{"ID":"1","TTL":"2"}})"
                                            "\n",
                                            Repeat::safe);
    ASSERT_TRUE(streamed.ok()) << streamed.status().to_string();
    EXPECT_EQ((*streamed)["TTL"], "2");
    Result<Json> plain = wire::interpret(200, R"({"header":{"revision":"3"}})", Repeat::unsafe);
    ASSERT_TRUE(plain.ok());
    EXPECT_TRUE(plain->contains("header"));
}

Errc code_of(int http_status, const std::string& body, Repeat repeat) {
    Result<Json> answer = wire::interpret(http_status, body, repeat);
    EXPECT_FALSE(answer.ok()) << body;
    return answer.status().code();
}

std::string grpc_error(int code, const std::string& message) {
    return Json({{"error", message}, {"message", message}, {"code", code}}).dump();
}

TEST(Interpret, MapsEtcdErrorsByGrpcCode) {
    EXPECT_EQ(code_of(400, grpc_error(3, "etcdserver: key is not provided"), Repeat::unsafe),
              Errc::invalid_argument);
    EXPECT_EQ(code_of(400, grpc_error(11, "etcdserver: too large lease TTL"), Repeat::unsafe),
              Errc::invalid_argument);
    EXPECT_EQ(code_of(404, grpc_error(5, "etcdserver: requested lease not found"), Repeat::unsafe),
              Errc::not_found);
    EXPECT_EQ(code_of(429, grpc_error(8, "etcdserver: too many requests"), Repeat::unsafe),
              Errc::unavailable);
    EXPECT_EQ(code_of(504, grpc_error(4, "context deadline exceeded"), Repeat::safe),
              Errc::timeout);
    EXPECT_EQ(code_of(403, grpc_error(7, "etcdserver: permission denied"), Repeat::unsafe),
              Errc::remote_error);
}

TEST(Interpret, AnUnavailableWriteIsUnknownUnlessEtcdSurelyDidNotApplyIt) {
    for (const char* never :
         {"etcdserver: no leader", "etcdserver: not capable", "etcdserver: unhealthy cluster"}) {
        EXPECT_EQ(code_of(503, grpc_error(14, never), Repeat::unsafe), Errc::unavailable) << never;
    }
    for (const char* maybe : {"etcdserver: request timed out", "etcdserver: leader changed",
                              "etcdserver: server stopped",
                              "etcdserver: request timed out, possibly due to previous leader "
                              "failure"}) {
        EXPECT_EQ(code_of(503, grpc_error(14, maybe), Repeat::unsafe), Errc::unknown_outcome)
            << maybe;
        EXPECT_EQ(code_of(503, grpc_error(14, maybe), Repeat::safe), Errc::unavailable) << maybe;
    }
    EXPECT_EQ(code_of(500, grpc_error(2, "etcdserver: corrupt cluster"), Repeat::unsafe),
              Errc::unknown_outcome);
    EXPECT_EQ(code_of(500, grpc_error(2, "etcdserver: corrupt cluster"), Repeat::safe),
              Errc::remote_error);
}

TEST(Interpret, MapsAStreamedErrorInA200Answer) {
    const std::string body =
        R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader",)"
        R"("http_status":"Service Unavailable"}})";
    EXPECT_EQ(code_of(200, body, Repeat::safe), Errc::unavailable);
}

TEST(Interpret, AnswersThatAreNotEtcdsAreUnknownForWritesOnly) {
    EXPECT_EQ(code_of(502, "Bad Gateway", Repeat::unsafe), Errc::unknown_outcome);
    EXPECT_EQ(code_of(502, "Bad Gateway", Repeat::safe), Errc::remote_error);
    EXPECT_EQ(code_of(404, "404 page not found", Repeat::unsafe), Errc::remote_error);
    EXPECT_EQ(code_of(200, "not json", Repeat::unsafe), Errc::unknown_outcome);
    EXPECT_EQ(code_of(200, "[1,2]", Repeat::safe), Errc::remote_error);
    EXPECT_EQ(code_of(200, "", Repeat::safe), Errc::remote_error);
}

Json kv(const std::string& key,
        const std::string& value,
        const std::string& create,
        const std::string& mod) {
    return {{"key", base64_encode(key)},
            {"value", base64_encode(value)},
            {"create_revision", create},
            {"mod_revision", mod}};
}

TEST(Readers, ReadAKeyValueWithDefaultsLeftOut) {
    Result<KeyValue> read = wire::key_value(kv("k", "", "3", "5"));
    ASSERT_TRUE(read.ok()) << read.status().to_string();
    EXPECT_EQ(read->key, "k");
    EXPECT_EQ(read->value, "");
    EXPECT_EQ(read->create_revision, 3);
    EXPECT_EQ(read->mod_revision, 5);
    EXPECT_EQ(read->lease, 0);
    Json numeric = kv("k", "v", "3", "3");
    numeric["lease"] = 12;  // a number instead of a string is read too
    EXPECT_EQ(wire::key_value(numeric)->lease, 12);
}

TEST(Readers, RefuseMalformedKeyValues) {
    std::vector<Json> bad = {Json::array(),           kv("", "v", "1", "1"),
                             kv("k", "v", "0", "1"),  kv("k", "v", "4", "3"),
                             kv("k", "v", "1x", "1"), kv("k", "v", "1", "99999999999999999999")};
    bad.push_back(kv("k", "v", "1", "1"));
    bad.back()["key"] = "not base64!";
    bad.push_back(kv("k", "v", "1", "1"));
    bad.back()["lease"] = true;
    bad.push_back(kv("k", "v", "1", "1"));
    bad.back()["lease"] = 18446744073709551615ULL;
    for (const Json& json : bad) {
        EXPECT_EQ(wire::key_value(json).status().code(), Errc::remote_error) << json.dump();
    }
}

TEST(Readers, HeaderRevisionMustBePositive) {
    EXPECT_EQ(*wire::header_revision(parsed(R"({"header":{"revision":"8"}})")), 8);
    for (const char* body :
         {R"({})", R"({"header":{}})", R"({"header":{"revision":"-1"}})", R"({"header":"x"})"}) {
        EXPECT_EQ(wire::header_revision(parsed(body)).status().code(), Errc::remote_error) << body;
    }
}

TEST(Readers, GrantedLeaseAndKeepAliveTtl) {
    Result<Lease> lease = wire::granted_lease(parsed(R"({"ID":"77","TTL":"2"})"));
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ(lease->id, 77);
    EXPECT_EQ(lease->ttl, std::chrono::seconds(2));
    EXPECT_EQ(wire::granted_lease(parsed(R"({"ID":"77","TTL":"2","error":"no"})")).status().code(),
              Errc::remote_error);
    EXPECT_EQ(wire::granted_lease(parsed(R"({"TTL":"2"})")).status().code(), Errc::remote_error);
    EXPECT_EQ(*wire::kept_alive_ttl(parsed(R"({"ID":"77","TTL":"1"})")), std::chrono::seconds(1));
    EXPECT_EQ(wire::kept_alive_ttl(parsed(R"({"ID":"77"})")).status().code(), Errc::not_found);
    EXPECT_EQ(wire::kept_alive_ttl(parsed(R"({"ID":"77","TTL":"0"})")).status().code(),
              Errc::not_found);
}

TEST(Readers, CreateResultOfAWonAndALostTxn) {
    Result<CreateResult> won =
        wire::create_result(parsed(R"({"header":{"revision":"9"},"succeeded":true})"));
    ASSERT_TRUE(won.ok());
    EXPECT_TRUE(won->created);
    EXPECT_EQ(won->revision, 9);
    EXPECT_FALSE(won->existing.has_value());
    Json lost{{"header", {{"revision", "10"}}},
              {"responses", {{{"response_range", {{"kvs", {kv("k", "first", "9", "9")}}}}}}}};
    Result<CreateResult> second = wire::create_result(lost);
    ASSERT_TRUE(second.ok()) << second.status().to_string();
    EXPECT_FALSE(second->created) << "no \"succeeded\" field means false";
    ASSERT_TRUE(second->existing.has_value());
    EXPECT_EQ(second->existing->value, "first");
    EXPECT_EQ(second->existing->create_revision, 9);
    EXPECT_EQ(wire::create_result(parsed(R"({"header":{"revision":"10"}})")).status().code(),
              Errc::remote_error)
        << "a lost create must show the key";
}

TEST(Readers, RangeResultIsSortedAndRefusesMore) {
    Json answer{{"header", {{"revision", "12"}}},
                {"kvs", {kv("a", "1", "2", "2"), kv("b", "2", "3", "4")}}};
    Result<RangeResult> range = wire::range_result(answer);
    ASSERT_TRUE(range.ok()) << range.status().to_string();
    EXPECT_EQ(range->revision, 12);
    ASSERT_EQ(range->kvs.size(), 2U);
    EXPECT_EQ(range->kvs[1].key, "b");
    Result<RangeResult> empty = wire::range_result(parsed(R"({"header":{"revision":"12"}})"));
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->kvs.empty());
    Json more = answer;
    more["more"] = true;
    EXPECT_EQ(wire::range_result(more).status().code(), Errc::invalid_argument);
    Json unsorted{{"header", {{"revision", "12"}}},
                  {"kvs", {kv("b", "1", "2", "2"), kv("a", "2", "3", "4")}}};
    EXPECT_EQ(wire::range_result(unsorted).status().code(), Errc::remote_error);
}

}  // namespace
}  // namespace qrpay::etcd
