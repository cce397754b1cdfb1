#include "modes/multi_round.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "macp/modes/multi_round/v1/multi_round.pb.h"
#include "modes/commitment.hpp"
#include "modes/mode_support.hpp"
#include "util/json.hpp"
#include "util/utf8.hpp"

namespace macp::modes {

using protocol::Error;
using protocol::ErrorKind;

namespace {

struct State {
    int64_t round = 0;
    std::vector<std::string> participants;
    std::map<std::string, std::string> contributions;  // sorted: stable encoding
    bool converged = false;
};

std::string encode_state(const State& s) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("round");
    w.Int64(s.round);
    w.Key("participants");
    w.StartArray();
    for (const auto& p : s.participants) w.String(p.data(), static_cast<rapidjson::SizeType>(p.size()));
    w.EndArray();
    w.Key("contributions");
    w.StartObject();
    for (const auto& [k, v] : s.contributions) {
        w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    }
    w.EndObject();
    w.Key("convergence_type");
    w.String("all_equal");
    w.Key("converged");
    w.Bool(s.converged);
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

using MultiRoundState = StateOf<State, &encode_state>;

Result<State, Error> decode_state_bytes(const std::string& bytes) {
    rapidjson::Document d;
    // Bytes this runtime wrote: no size cap, a state it accepted must read back (issue #8 case 1).
    if (!util::parse_json_stored(bytes, d) || !d.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
    State s;
    s.round = util::get_int(d, "round");
    s.converged = util::get_bool(d, "converged");
    if (d.HasMember("participants") && d["participants"].IsArray()) {
        for (const auto& p : d["participants"].GetArray()) {
            if (p.IsString()) s.participants.emplace_back(p.GetString(), p.GetStringLength());
        }
    }
    if (d.HasMember("contributions") && d["contributions"].IsObject()) {
        for (const auto& m : d["contributions"].GetObject()) {
            if (!m.value.IsString()) return fail(Error(ErrorKind::InvalidModeState));
            s.contributions.emplace(std::string(m.name.GetString(), m.name.GetStringLength()),
                                    std::string(m.value.GetString(), m.value.GetStringLength()));
        }
    }
    // Convergence needs contributions; a state claiming otherwise is foreign or corrupt, and a
    // Commitment would read a value that does not exist.
    if (s.converged && s.contributions.empty()) return fail(Error(ErrorKind::InvalidModeState));
    return s;
}

// MODE-MR-3 (0.6): JSON {"value": "<string>"} first (old histories replay byte-identically),
// then protobuf ContributePayload. Unlike the reference, a protobuf that carries no
// value field at all is rejected instead of being read as "".
std::optional<std::string> contribution_value(const std::string& payload) {
    if (payload.empty()) return std::nullopt;
    // Issue #15: the value is text. The JSON reader does not check the encoding, and a protobuf
    // string is not checked here either, so bytes that are no UTF-8 are refused explicitly.
    rapidjson::Document d;
    if (util::parse_json_untrusted(payload, d)) {
        if (d.IsObject() && util::valid_utf8(payload)) {
            auto it = d.FindMember("value");
            if (it != d.MemberEnd() && it->value.IsString()) {
                return std::string(it->value.GetString(), it->value.GetStringLength());
            }
        }
        return std::nullopt;
    }
    macp::modes::multi_round::v1::ContributePayload p;
    // proto3 omits an empty string, so a decodable payload without a value carried only unknown
    // fields: reject it rather than read it as "".
    if (!p.ParseFromString(payload) || p.value().empty() || !util::valid_utf8(p.value())) return std::nullopt;
    return p.value();
}

// MODE-MR-6, decided by the spec's canonical fixtures: the initiator coordinates and need not
// contribute even when listed as a participant (the 0.4 reference required every participant,
// so those fixtures could never converge; docs/compatibility.md). Every value given, the
// initiator's included, must be equal. Judged on the state as it will be once `sender`'s
// contribution is `value`, so apply() needs no modified copy of the state.
bool converges_with(const State& s, const std::string& initiator, const std::string& sender, const std::string& value) {
    std::vector<const std::string*> required;
    for (const auto& p : s.participants) {
        if (p != initiator) required.push_back(&p);
    }
    if (required.empty()) {
        for (const auto& p : s.participants) required.push_back(&p);
    }
    if (required.empty()) return false;
    for (const auto* p : required) {
        if (*p != sender && s.contributions.count(*p) == 0) return false;
    }
    // All values equal one another iff they all equal the sender's, which is among them.
    for (const auto& [who, v] : s.contributions) {
        if (who != sender && v != value) return false;
    }
    return true;
}

}  // namespace

MultiRoundMode::MultiRoundMode() {
    descriptor_ = ModeDescriptor{
        "ext.multi_round.v1",
        "1.0.0",
        "Multi-Round Mode",
        "Participants revise contributions over rounds until every value agrees; the initiator then commits.",
        "semantic-deterministic",
        "peer",
        {"SessionStart", "Contribute", "Commitment"},
        {"Commitment"},
        {{"protobuf", "buf.build/multiagentcoordinationprotocol/macp"}}};  // reference key
}

ModeResult<std::unique_ptr<ModeState>> MultiRoundMode::on_session_start(const SessionView& session) const {
    if (session.participants.empty())
        return fail(Error(ErrorKind::InvalidPayload, "multi_round needs participants"));  // MODE-MR-1
    State s;
    s.participants = session.participants;
    return std::unique_ptr<ModeState>(std::make_unique<MultiRoundState>(std::move(s)));  // MODE-MR-2
}

ModeResult<std::unique_ptr<ModeState>> MultiRoundMode::decode_state(const std::string& bytes) const {
    auto s = decode_state_bytes(bytes);
    if (!s) return fail(s.error());
    return std::unique_ptr<ModeState>(std::make_unique<MultiRoundState>(std::move(s.value())));
}

ModeResult<bool> MultiRoundMode::authorize(const MessageContext& ctx) const {
    if (ctx.message_type == "Contribute") {
        if (!ctx.session.is_participant(ctx.sender)) return fail(Error(ErrorKind::Forbidden));  // MODE-MR-4
        return true;
    }
    if (ctx.message_type == "Commitment") {
        // MODE-MR-4 / Q-34: initiator only, the bound policy's authority is not consulted.
        if (ctx.sender != ctx.session.initiator) return fail(Error(ErrorKind::Forbidden));
        return true;
    }
    return fail(Error(ErrorKind::InvalidPayload, "unknown multi_round message type"));  // MODE-MR-1
}

ModeResult<Outcome> MultiRoundMode::apply(const MessageContext& ctx) const {
    auto st = state_of<MultiRoundState>(ctx);
    if (!st) return fail(st.error());
    const State& s = (*st)->value;
    if (ctx.message_type == "Contribute") {
        if (s.converged) return fail(Error(ErrorKind::InvalidPayload, "already converged"));  // MODE-MR-6
        auto value = contribution_value(ctx.payload);
        if (!value) return fail(Error(ErrorKind::InvalidPayload, "Contribute payload has no string value"));
        auto it = s.contributions.find(ctx.sender);
        const bool revised = it == s.contributions.end() || it->second != *value;  // MODE-MR-5
        const bool converged = converges_with(s, ctx.session.initiator, ctx.sender, *value);
        return Outcome{[revised, converged, sender = ctx.sender, value = std::move(*value)](ModeState& m) {
                           auto& v = static_cast<MultiRoundState&>(m).value;  // the state apply() validated
                           if (revised) {
                               ++v.round;
                               v.contributions[sender] = value;
                           }
                           v.converged = converged;
                       },
                       std::nullopt};
    }
    // Commitment (MODE-MR-7): convergence is checked before the payload.
    if (!s.converged) return fail(Error(ErrorKind::InvalidPayload, "not converged"));
    auto c = validate_commitment(ctx.session, ctx.payload);
    if (!c) return fail(c.error());
    // MODE-MR-8: the resolution is a JSON summary, not the commitment.
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("converged_value");
    const auto& first = s.contributions.begin()->second;  // all values are equal once converged
    w.String(first.data(), static_cast<rapidjson::SizeType>(first.size()));
    w.Key("round");
    w.Int64(s.round);
    w.Key("final");
    w.StartObject();
    for (const auto& [k, v] : s.contributions) {
        w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    }
    w.EndObject();
    w.EndObject();
    return Outcome{nullptr, std::string(buf.GetString(), buf.GetSize())};  // the state stays as it is
}

}  // namespace macp::modes
