// The log record codec (STO-LOG-1): decode_entry's one-pass reader for the records encode_entry
// writes (issue #13, recovery speed) must read every record exactly as the document reader does.
// Each record is decoded as written (the one-pass reader), again with the document reader alone,
// and again with an ignored member added that only the document reader accepts (an escaped
// string), and the results must agree; decoding into a reused entry leaves nothing behind; records
// the one-pass reader does not take (the reference's byte arrays, object rules, repeated keys,
// defaulted types) must read as before.
#include <catch2/catch.hpp>

#include <string>

#include "kernel/records.hpp"

using macp::kernel::decode_entry;
using macp::kernel::encode_entry;
using macp::kernel::EntryKind;
using macp::kernel::LogEntry;

namespace {

// The same record with a member only the document reader takes (an escape in an ignored key's
// value), so decode_entry goes the slow way.
std::string via_dom(const std::string& record) {
    REQUIRE(record.back() == '}');
    return record.substr(0, record.size() - 1) + R"(,"zz_ignored":"\u0041"})";
}

void require_same(const LogEntry& a, const LogEntry& b) {
    CHECK(a.message_id == b.message_id);
    CHECK(a.received_at_ms == b.received_at_ms);
    CHECK(a.sender == b.sender);
    CHECK(a.message_type == b.message_type);
    CHECK(a.payload == b.payload);
    CHECK(a.kind == b.kind);
    CHECK(a.session_id == b.session_id);
    CHECK(a.mode == b.mode);
    CHECK(a.macp_version == b.macp_version);
    CHECK(a.timestamp_unix_ms == b.timestamp_unix_ms);
    CHECK(a.bound_mode_version == b.bound_mode_version);
    CHECK(a.bound_max_suspend_ms == b.bound_max_suspend_ms);
    CHECK(a.semantics_rev == b.semantics_rev);
    CHECK(a.bound_ttl_expiry_ms == b.bound_ttl_expiry_ms);
    CHECK(a.bound_definition == b.bound_definition);
    REQUIRE(a.bound_policy.has_value() == b.bound_policy.has_value());
    if (a.bound_policy) {
        CHECK(a.bound_policy->policy_id == b.bound_policy->policy_id);
        CHECK(a.bound_policy->mode == b.bound_policy->mode);
        CHECK(a.bound_policy->description == b.bound_policy->description);
        CHECK(a.bound_policy->rules == b.bound_policy->rules);
        CHECK(a.bound_policy->schema_version == b.bound_policy->schema_version);
    }
}

LogEntry decoded(const std::string& record) {
    auto e = decode_entry(record);
    REQUIRE(e);
    auto dom = decode_entry(record, false);
    REQUIRE(dom);
    require_same(e.value(), dom.value());
    return e.value();
}

LogEntry start_entry() {
    LogEntry e;
    e.message_id = "m-0b7c3f0e-5a55-4d7e-9b1e-4c6f2a9d8e01";
    e.received_at_ms = 1764680000123;
    e.sender = "agent://initiator";
    e.message_type = "SessionStart";
    e.payload = std::string("\x0a\x05hello\x12\x00\xff tail", 15);
    e.session_id = "0b7c3f0e-5a55-4d7e-9b1e-4c6f2a9d8e01";
    e.mode = "macp.mode.decision.v1";
    e.macp_version = "1.0";
    e.timestamp_unix_ms = 1764680000000;
    e.bound_mode_version = "1.0.0";
    e.bound_max_suspend_ms = 604800000;
    e.semantics_rev = 1;
    e.bound_ttl_expiry_ms = 1764680060123;
    macp::policy::PolicyDefinition p;
    p.policy_id = "policy.default";
    p.mode = "*";
    p.description = "Default policy \u2014 no constraints";
    p.rules = R"({"commitment":{"authority":"initiator_only"}})";
    e.bound_policy = p;
    e.bound_definition = R"({"builtin":"macp.mode.decision.v1"})";
    return e;
}

}  // namespace

TEST_CASE("records: the one-pass reader agrees with the document reader on what encode_entry writes") {
    SECTION("a SessionStart with every binding (escapes inside the rules and the definition)") {
        const auto record = encode_entry(start_entry());
        auto fast = decoded(record);
        require_same(fast, decoded(via_dom(record)));
        require_same(fast, start_entry());
    }
    SECTION("payload lengths 0..5 (every base64 padding)") {
        for (size_t n = 0; n <= 5; ++n) {
            LogEntry e;
            e.message_id = "m" + std::to_string(n);
            e.message_type = "Evaluation";
            e.payload = std::string(n, '\xfe');
            const auto record = encode_entry(e);
            require_same(decoded(record), decoded(via_dom(record)));
            CHECK(decoded(record).payload == e.payload);
        }
    }
    SECTION("internal and checkpoint entries, negative and zero integers") {
        LogEntry e;
        e.kind = EntryKind::Internal;
        e.message_type = "TtlExpired";
        e.sender = "_runtime";
        e.received_at_ms = -5;
        e.timestamp_unix_ms = 0;
        const auto record = encode_entry(e);
        require_same(decoded(record), decoded(via_dom(record)));
        e.kind = EntryKind::Checkpoint;
        const auto checkpoint = encode_entry(e);
        require_same(decoded(checkpoint), decoded(via_dom(checkpoint)));
        CHECK(decoded(checkpoint).kind == EntryKind::Checkpoint);
    }
}

TEST_CASE("records: decoding into a reused entry leaves nothing of the previous record") {
    LogEntry reused;
    REQUIRE(macp::kernel::decode_entry_into(encode_entry(start_entry()), reused));
    require_same(reused, start_entry());
    LogEntry plain;
    plain.message_id = "e1";
    plain.message_type = "Evaluation";
    plain.payload = "x";
    REQUIRE(macp::kernel::decode_entry_into(encode_entry(plain), reused));
    require_same(reused, plain);
    // The document reader's way (an escape) into the same entry.
    REQUIRE(macp::kernel::decode_entry_into(via_dom(encode_entry(start_entry())), reused));
    require_same(reused, start_entry());
    CHECK_FALSE(macp::kernel::decode_entry_into("not json", reused));
}

TEST_CASE("records: shapes the one-pass reader leaves to the document reader read as before") {
    SECTION("the reference's byte arrays and object rules") {
        auto e = decoded(
            R"({"message_id":"r1","sender":"a","message_type":"SessionStart","raw_payload":[1,2,255],)"
            R"("entry_kind":"Incoming","session_id":"s","mode":"m","bound_policy":{"policy_id":"p","rules":{"b":1,"a":[true]}}})");
        CHECK(e.payload == std::string("\x01\x02\xff", 3));
        REQUIRE(e.bound_policy);
        CHECK(e.bound_policy->rules == R"({"b":1,"a":[true]})");
        CHECK(e.bound_policy->schema_version == 1);
    }
    SECTION("a repeated key keeps its first value") {
        auto e = decoded(R"({"message_id":"first","message_id":"second"})");
        CHECK(e.message_id == "first");
    }
    SECTION("mistyped members take the defaults, a present binding of the wrong type is still present") {
        auto e = decoded(R"({"received_at_ms":1.5,"timestamp_unix_ms":"7","bound_mode_version":3,"sender":null})");
        CHECK(e.received_at_ms == 0);
        CHECK(e.timestamp_unix_ms == 0);
        CHECK(e.sender.empty());
        REQUIRE(e.bound_mode_version);
        CHECK(e.bound_mode_version->empty());
    }
    SECTION("leading zeros, -0 and huge integers") {
        CHECK_FALSE(decode_entry(R"({"received_at_ms":01})"));
        CHECK(decoded(R"({"received_at_ms":-0})").received_at_ms == 0);
        CHECK(decoded(R"({"received_at_ms":9223372036854775807})").received_at_ms == 9223372036854775807LL);
        CHECK(decoded(R"({"received_at_ms":9223372036854775808})").received_at_ms == 0);
    }
    SECTION("what neither reader accepts") {
        CHECK_FALSE(decode_entry(R"({"payload_b64":"abc"})"));
        CHECK_FALSE(decode_entry(R"({"payload_b64":"ab=c"})"));
        CHECK_FALSE(decode_entry(R"({"entry_kind":"Other"})"));
        CHECK_FALSE(decode_entry(R"({"message_id":"x"} trailing)"));
        CHECK_FALSE(decode_entry(R"(["not an object"])"));
        CHECK_FALSE(decode_entry(std::string("{\"message_id\":\"a\nb\"}")));
    }
}
