// Conformance runner (BEHAVIOR.md §12 CONF-*): every fixture of both sets in
// ../shared/conformance (the spec's canonical set and the 0.6.1 runtime's set) is replayed against
// the real server over gRPC: inline policy registered, session started, each message sent as its
// sender (dev-mode bearer = sender), accept/reject and error codes checked, then the final state,
// the resolution and the mode state (read from the snapshot the server writes at shutdown).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <google/protobuf/util/json_util.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "harness.hpp"
#include "macp/modes/decision/v1/decision.pb.h"
#include "macp/modes/handoff/v1/handoff.pb.h"
#include "macp/modes/multi_round/v1/multi_round.pb.h"
#include "macp/modes/proposal/v1/proposal.pb.h"
#include "macp/modes/quorum/v1/quorum.pb.h"
#include "macp/modes/task/v1/task.pb.h"

using namespace macp::test;
namespace fs = std::filesystem;
namespace pb = google::protobuf;

namespace {

// The generated descriptors of every payload message, so the pool can find them by name.
void link_descriptors() {
    (void)macp::modes::decision::v1::ProposalPayload::descriptor();
    (void)macp::modes::proposal::v1::ProposalPayload::descriptor();
    (void)macp::modes::task::v1::TaskRequestPayload::descriptor();
    (void)macp::modes::handoff::v1::HandoffOfferPayload::descriptor();
    (void)macp::modes::quorum::v1::ApprovalRequestPayload::descriptor();
    (void)macp::modes::multi_round::v1::ContributePayload::descriptor();
    (void)macp::v1::CommitmentPayload::descriptor();
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string to_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return {buf.GetString(), buf.GetSize()};
}

std::string str(const rapidjson::Value& obj, const char* key) {
    auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

// Both spellings of payload_type (README of the fixtures): "decision.Proposal" / "Commitment"
// and "macp.modes.decision.v1.ProposalPayload" / "macp.v1.CommitmentPayload".
std::string full_type_name(const std::string& payload_type) {
    if (payload_type == "Commitment") return "macp.v1.CommitmentPayload";
    if (payload_type.rfind("macp.", 0) == 0) return payload_type;
    auto dot = payload_type.find('.');
    return "macp.modes." + payload_type.substr(0, dot) + ".v1." + payload_type.substr(dot + 1) + "Payload";
}

// Encodes a fixture payload. The spec set's multi_round Contribute is the JSON form (CONF-12);
// bytes fields given as JSON strings carry their UTF-8 bytes (CONF-11); a Commitment without
// outcome_positive defaults to true (CONF-7).
std::string encode_payload(const std::string& payload_type, rapidjson::Value& payload,
                           rapidjson::Document::AllocatorType& alloc) {
    if (payload_type == "multi_round.Contribute") return to_json(payload);
    const auto name = full_type_name(payload_type);
    const auto* desc = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
    if (desc == nullptr) FAIL("unknown payload_type " << payload_type << " (" << name << ")");
    if (name == "macp.v1.CommitmentPayload" && !payload.HasMember("outcome_positive")) {
        payload.AddMember("outcome_positive", true, alloc);
    }
    for (int i = 0; i < desc->field_count(); ++i) {
        const auto* f = desc->field(i);
        if (f->type() != pb::FieldDescriptor::TYPE_BYTES) continue;
        auto it = payload.FindMember(f->name().c_str());
        if (it == payload.MemberEnd()) continue;
        std::string raw = it->value.IsString() ? it->value.GetString() : to_json(it->value);
        // JSON mapping of bytes is base64.
        static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string b64;
        size_t k = 0;
        for (; k + 2 < raw.size(); k += 3) {
            uint32_t n = (uint8_t(raw[k]) << 16) | (uint8_t(raw[k + 1]) << 8) | uint8_t(raw[k + 2]);
            for (int s = 18; s >= 0; s -= 6) b64 += tbl[(n >> s) & 63];
        }
        if (k + 1 == raw.size()) {
            uint32_t n = uint8_t(raw[k]) << 16;
            b64 += tbl[(n >> 18) & 63];
            b64 += tbl[(n >> 12) & 63];
            b64 += "==";
        } else if (k + 2 == raw.size()) {
            uint32_t n = (uint8_t(raw[k]) << 16) | (uint8_t(raw[k + 1]) << 8);
            b64 += tbl[(n >> 18) & 63];
            b64 += tbl[(n >> 12) & 63];
            b64 += tbl[(n >> 6) & 63];
            b64 += '=';
        }
        it->value.SetString(b64.c_str(), static_cast<rapidjson::SizeType>(b64.size()), alloc);
    }
    std::unique_ptr<pb::Message> msg(pb::MessageFactory::generated_factory()->GetPrototype(desc)->New());
    pb::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    auto st = pb::util::JsonStringToMessage(to_json(payload), msg.get(), opts);
    if (!st.ok()) FAIL("payload does not map onto " << name << ": " << st.ToString());
    return msg->SerializeAsString();
}

// CONF-15: objects match key by key recursively, arrays by prefix, scalars by equality.
bool subset_match(const rapidjson::Value& expected, const rapidjson::Value& actual, std::string& where) {
    if (expected.IsObject()) {
        if (!actual.IsObject()) return false;
        for (const auto& m : expected.GetObject()) {
            auto it = actual.FindMember(m.name);
            if (it == actual.MemberEnd() || !subset_match(m.value, it->value, where)) {
                where = std::string(m.name.GetString()) + (where.empty() ? "" : "." + where);
                return false;
            }
        }
        return true;
    }
    if (expected.IsArray()) {
        if (!actual.IsArray() || actual.Size() < expected.Size()) return false;
        for (rapidjson::SizeType i = 0; i < expected.Size(); ++i) {
            if (!subset_match(expected[i], actual[i], where)) return false;
        }
        return true;
    }
    if (expected.IsNumber() && actual.IsNumber()) return expected.GetDouble() == actual.GetDouble();
    return expected == actual;
}

std::string b64decode(const std::string& in) {
    std::string out;
    int val = 0;
    int bits = -8;
    for (unsigned char c : in) {
        int d;
        if (c >= 'A' && c <= 'Z') d = c - 'A';
        else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
        else if (c >= '0' && c <= '9') d = c - '0' + 52;
        else if (c == '+') d = 62;
        else if (c == '/') d = 63;
        else break;
        val = (val << 6) + d;
        bits += 6;
        if (bits >= 0) {
            out.push_back(char((val >> bits) & 0xff));
            bits -= 8;
        }
    }
    return out;
}

void run_fixture(const fs::path& file) {
    rapidjson::Document fx;
    fx.Parse(slurp(file).c_str());
    REQUIRE_FALSE(fx.HasParseError());
    TempDir dir;
    const auto data = dir.path() / "data";
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"},
                          {"MACP_MESSAGE_LIMIT_PER_MINUTE", "100000"},
                          {"MACP_SESSION_START_LIMIT_PER_MINUTE", "100000"},
                          {"MACP_SHUTDOWN_DRAIN_SECS", "1"}},
                         data);
    REQUIRE(server.start());
    const std::string mode = str(fx, "mode");
    const std::string initiator = str(fx, "initiator");

    if (fx.HasMember("policy")) {  // CONF-4
        const auto& p = fx["policy"];
        Client admin(server.address(), initiator);
        macp::v1::RegisterPolicyRequest req;
        auto* d = req.mutable_policy_descriptor();
        d->set_policy_id(str(p, "policy_id"));
        d->set_mode(str(p, "mode"));
        d->set_description(str(p, "description"));
        d->set_rules(p.HasMember("rules") ? to_json(p["rules"]) : "{}");
        d->set_schema_version(p.HasMember("schema_version") ? p["schema_version"].GetUint() : 1);
        macp::v1::RegisterPolicyResponse resp;
        auto ctx = admin.context();
        auto st = admin.stub().RegisterPolicy(ctx.get(), req, &resp);
        REQUIRE(st.ok());
        INFO("RegisterPolicy error: " << resp.error());
        REQUIRE(resp.ok());
    }

    const auto sid = new_session_id();
    std::vector<std::string> participants;
    for (const auto& p : fx["participants"].GetArray()) participants.emplace_back(p.GetString());
    macp::v1::SessionStartPayload start;  // CONF-5
    start.set_intent("conformance");
    for (const auto& p : participants) start.add_participants(p);
    start.set_mode_version(str(fx, "mode_version"));
    start.set_configuration_version(str(fx, "configuration_version"));
    start.set_policy_version(str(fx, "policy_version"));
    start.set_ttl_ms(fx["ttl_ms"].GetInt64());
    Client init(server.address(), initiator);
    auto ack = init.send(envelope("SessionStart", sid, mode, "m0", start.SerializeAsString()));
    INFO("SessionStart: " << ack.error().code());
    REQUIRE(ack.ok());

    int i = 0;
    for (auto& m : fx["messages"].GetArray()) {  // CONF-6, CONF-13
        ++i;
        const std::string sender = str(m, "sender");
        const std::string type = str(m, "message_type");
        const std::string payload = encode_payload(str(m, "payload_type"), m["payload"], fx.GetAllocator());
        Client c(server.address(), sender);
        auto a = c.send(envelope(type, sid, mode, "m" + std::to_string(i), payload));
        INFO("message " << i << " " << type << " from " << sender << " -> ok=" << a.ok() << " code="
                        << a.error().code() << " (" << a.error().message() << ")");
        if (str(m, "expect") == "accept") {
            CHECK(a.ok());
        } else {
            CHECK_FALSE(a.ok());
            if (m.HasMember("expected_error_code")) CHECK(a.error().code() == str(m, "expected_error_code"));
        }
    }

    macp::v1::SessionMetadata md;  // CONF-14
    REQUIRE(init.get_session(sid, &md).ok());
    const std::string expected_state = str(fx, "expected_final_state");
    const std::map<std::string, macp::v1::SessionState> states{{"Open", macp::v1::SESSION_STATE_OPEN},
                                                               {"Resolved", macp::v1::SESSION_STATE_RESOLVED},
                                                               {"Expired", macp::v1::SESSION_STATE_EXPIRED},
                                                               {"Suspended", macp::v1::SESSION_STATE_SUSPENDED},
                                                               {"Cancelled", macp::v1::SESSION_STATE_CANCELLED}};
    CHECK(md.state() == states.at(expected_state));

    // The graceful stop writes every snapshot; resolution and mode state are read from it.
    REQUIRE(server.stop(15) == 0);
    rapidjson::Document snap;
    snap.Parse(slurp(data / "sessions" / sid / "session.json").c_str());
    REQUIRE_FALSE(snap.HasParseError());
    const bool has_resolution = snap.HasMember("resolution_b64") && snap["resolution_b64"].IsString();
    if (fx.HasMember("expect_resolution_present")) CHECK(has_resolution == fx["expect_resolution_present"].GetBool());
    if (fx.HasMember("expected_resolution") && has_resolution) {
        macp::v1::CommitmentPayload c;
        REQUIRE(c.ParseFromString(b64decode(snap["resolution_b64"].GetString())));
        std::string json;
        pb::util::JsonPrintOptions po;
        po.preserve_proto_field_names = true;
        po.always_print_primitive_fields = true;
        REQUIRE(pb::util::MessageToJsonString(c, &json, po).ok());
        rapidjson::Document actual;
        actual.Parse(json.c_str());
        std::string where;
        INFO("resolution " << json);
        CHECK(subset_match(fx["expected_resolution"], actual, where));
    }
    if (fx.HasMember("expected_mode_state")) {  // CONF-15
        rapidjson::Document state;
        state.Parse(b64decode(str(snap, "mode_state_b64")).c_str());
        std::string where;
        INFO("mode state " << b64decode(str(snap, "mode_state_b64")));
        CHECK(subset_match(fx["expected_mode_state"], state, where));
        INFO("first mismatch at " << where);
    }
}

std::vector<fs::path> fixtures() {
    std::vector<fs::path> out;
    const char* dir = std::getenv("MACP_CONFORMANCE_DIR");
    if (dir == nullptr || !fs::exists(dir)) return out;
    for (const auto* set : {"spec", "runtime-0.6.1"}) {
        if (!fs::exists(fs::path(dir) / set)) continue;
        for (const auto& e : fs::directory_iterator(fs::path(dir) / set)) {
            if (e.path().extension() == ".json" && e.path().filename() != "schema.json") out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("conformance fixtures pass against the real server", "[conformance]") {
    link_descriptors();
    auto files = fixtures();
    if (files.empty()) {
        WARN("conformance fixtures not found (MACP_CONFORMANCE_DIR=" << (std::getenv("MACP_CONFORMANCE_DIR") ? std::getenv("MACP_CONFORMANCE_DIR") : "")
                                                                       << "): SKIPPED");
        return;
    }
    const char* only = std::getenv("MACP_CONFORMANCE_ONLY");  // substring filter for debugging
    for (const auto& f : files) {
        const auto name = f.parent_path().filename().string() + "/" + f.filename().string();
        if (only != nullptr && name.find(only) == std::string::npos) continue;
        SECTION(name) { run_fixture(f); }
    }
}
