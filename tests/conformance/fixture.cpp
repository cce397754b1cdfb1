#include "fixture.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include <catch2/catch.hpp>
#include <google/protobuf/util/json_util.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "macp/modes/decision/v1/decision.pb.h"
#include "macp/modes/handoff/v1/handoff.pb.h"
#include "macp/modes/multi_round/v1/multi_round.pb.h"
#include "macp/modes/proposal/v1/proposal.pb.h"
#include "macp/modes/quorum/v1/quorum.pb.h"
#include "macp/modes/task/v1/task.pb.h"

namespace macp::conformance {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

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

std::string full_type_name(const std::string& payload_type) {
    if (payload_type == "Commitment") return "macp.v1.CommitmentPayload";
    if (payload_type.rfind("macp.", 0) == 0) return payload_type;
    auto dot = payload_type.find('.');
    return "macp.modes." + payload_type.substr(0, dot) + ".v1." + payload_type.substr(dot + 1) + "Payload";
}

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
        if (c >= 'A' && c <= 'Z')
            d = c - 'A';
        else if (c >= 'a' && c <= 'z')
            d = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            d = c - '0' + 52;
        else if (c == '+')
            d = 62;
        else if (c == '/')
            d = 63;
        else
            break;
        val = (val << 6) + d;
        bits += 6;
        if (bits >= 0) {
            out.push_back(char((val >> bits) & 0xff));
            bits -= 8;
        }
    }
    return out;
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

std::string fixture_name(const fs::path& file) {
    return file.parent_path().filename().string() + "/" + file.filename().string();
}

macp::v1::SessionState state_from_name(const std::string& name) {
    static const std::map<std::string, macp::v1::SessionState> states{{"Open", macp::v1::SESSION_STATE_OPEN},
                                                                      {"Resolved", macp::v1::SESSION_STATE_RESOLVED},
                                                                      {"Expired", macp::v1::SESSION_STATE_EXPIRED},
                                                                      {"Suspended", macp::v1::SESSION_STATE_SUSPENDED},
                                                                      {"Cancelled", macp::v1::SESSION_STATE_CANCELLED}};
    return states.at(name);
}

macp::v1::RegisterPolicyRequest policy_request(const rapidjson::Value& fx) {
    const auto& p = fx["policy"];
    macp::v1::RegisterPolicyRequest req;
    auto* d = req.mutable_policy_descriptor();
    d->set_policy_id(str(p, "policy_id"));
    d->set_mode(str(p, "mode"));
    d->set_description(str(p, "description"));
    d->set_rules(p.HasMember("rules") ? to_json(p["rules"]) : "{}");
    d->set_schema_version(p.HasMember("schema_version") ? p["schema_version"].GetUint() : 1);
    return req;
}

macp::v1::SessionStartPayload session_start(const rapidjson::Value& fx) {
    macp::v1::SessionStartPayload start;
    start.set_intent("conformance");
    for (const auto& p : fx["participants"].GetArray()) start.add_participants(p.GetString());
    start.set_mode_version(str(fx, "mode_version"));
    start.set_configuration_version(str(fx, "configuration_version"));
    start.set_policy_version(str(fx, "policy_version"));
    start.set_ttl_ms(fx["ttl_ms"].GetInt64());
    return start;
}

std::map<std::string, std::string> server_env() {
    return {{"MACP_ALLOW_INSECURE", "1"},
            {"MACP_MESSAGE_LIMIT_PER_MINUTE", "100000"},
            {"MACP_SESSION_START_LIMIT_PER_MINUTE", "100000"},
            {"MACP_SHUTDOWN_DRAIN_SECS", "1"},
            {"MACP_CHECKPOINT_INTERVAL", "1"}};
}

std::string final_snapshot(const std::filesystem::path& data, const std::string& sid) {
    const auto dir = data / "sessions" / sid;
    std::string snapshot = slurp(dir / "session.json");
    rapidjson::Document d;
    d.Parse(snapshot.c_str());
    const std::string state = !d.HasParseError() && d.IsObject() ? str(d, "state") : "";
    if (state == "Resolved" || state == "Expired" || state == "Cancelled") return snapshot;
    std::istringstream log(slurp(dir / "log.jsonl"));
    std::string line;
    std::string last;
    while (std::getline(log, line)) {
        rapidjson::Document e;
        e.Parse(line.c_str());
        if (!e.HasParseError() && e.IsObject() && str(e, "entry_kind") == "Checkpoint") {
            last = b64decode(str(e, "payload_b64"));
        }
    }
    return last.empty() ? snapshot : last;
}

}  // namespace macp::conformance
