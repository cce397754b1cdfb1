#include "modes/decision.hpp"

#include <array>
#include <cmath>
#include <optional>
#include <string_view>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "macp/modes/decision/v1/decision.pb.h"
#include "modes/commitment.hpp"
#include "modes/mode_support.hpp"
#include "util/json_write.hpp"
#include "util/json.hpp"

namespace macp::modes {

using policy::DecisionEvaluation;
using policy::DecisionObjection;
using policy::DecisionProposal;
using policy::DecisionVote;
using protocol::Error;
using protocol::ErrorKind;

namespace {

namespace pb = macp::modes::decision::v1;
using rapidjson::Value;
using util::json::put;
using util::json::put_key;
using util::json::Writer;

// ---------------------------------------------------------------------------------------------
// Text helpers matching the reference's Rust string functions.

// Decodes one UTF-8 code point at s[i] (advancing i); invalid bytes yield U+FFFD.
char32_t next_code_point(std::string_view s, size_t& i) {
    auto b = static_cast<unsigned char>(s[i++]);
    if (b < 0x80) return b;
    int extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
    if (extra == 0) return 0xFFFD;
    char32_t cp = b & (0x3F >> extra);
    for (int k = 0; k < extra; ++k) {
        if (i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0xFFFD;
        cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
    }
    return cp;
}

// Rust char::is_whitespace (Unicode White_Space).
bool is_unicode_whitespace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Rust `s.trim().is_empty()`.
bool trimmed_empty(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        if (!is_unicode_whitespace(next_code_point(s, i))) return false;
    }
    return true;
}

// Rust `s.to_uppercase()` as far as it can matter for matching ASCII keywords: ASCII
// letters, plus the non-ASCII characters whose full upper-case mapping is pure ASCII (dotless i,
// long s and the Latin ligatures). Any other non-ASCII character is kept, so the result cannot
// equal a keyword, exactly as in the reference.
std::string to_upper_for_keywords(std::string_view s) {
    static const std::array<std::pair<std::string_view, std::string_view>, 9> kSpecial{{
        {"\u0131", "I"},   // dotless i
        {"\u017F", "S"},   // long s
        {"\uFB00", "FF"},  // ligatures ff, fi, fl, ffi, ffl, long-s t, st
        {"\uFB01", "FI"},
        {"\uFB02", "FL"},
        {"\uFB03", "FFI"},
        {"\uFB04", "FFL"},
        {"\uFB05", "ST"},
        {"\uFB06", "ST"},
    }};
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : static_cast<char>(c);
            ++i;
            continue;
        }
        bool mapped = false;
        for (const auto& [from, to] : kSpecial) {
            if (s.substr(i, from.size()) == from) {
                out += to;
                i += from.size();
                mapped = true;
                break;
            }
        }
        if (!mapped) out += s[i++];
    }
    return out;
}

// Rust `s.to_lowercase()` for matching the severity keywords: only ASCII letters can produce
// them (the Kelvin sign lowers to 'k', which no severity contains).
std::string to_lower_ascii(std::string_view s) {
    std::string out(s);
    for (auto& ch : out) {
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// State codec (MODE-DEC-11, MODE-GEN-2)

bool get_str(const Value& obj, const char* key, std::string& out) {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return false;
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
}

std::optional<DecisionPhase> parse_phase(std::string_view s) {
    if (s == "Proposal") return DecisionPhase::Proposal;
    if (s == "Evaluation") return DecisionPhase::Evaluation;
    if (s == "Voting") return DecisionPhase::Voting;
    if (s == "Committed") return DecisionPhase::Committed;
    return std::nullopt;
}

Error bad_state(const char* what) {
    return Error(ErrorKind::InvalidModeState, std::string("decision state: ") + what);
}

// The kernel hands a commit step the very state apply() validated through state_of(), so the
// type is already known.
DecisionState& held_state(ModeState& m) {
    return static_cast<DecisionModeState&>(m).value;
}

}  // namespace

std::string encode_decision_state(const DecisionState& s) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("proposals");
    w.StartObject();
    for (const auto& [pid, p] : s.proposals) {
        put_key(w, pid);
        w.StartObject();
        put(w, "proposal_id", p.proposal_id);
        put(w, "option", p.option);
        put(w, "rationale", p.rationale);
        put(w, "sender", p.sender);
        w.EndObject();
    }
    w.EndObject();
    w.Key("evaluations");
    w.StartArray();
    for (const auto& e : s.evaluations) {
        w.StartObject();
        put(w, "proposal_id", e.proposal_id);
        put(w, "recommendation", e.recommendation);
        w.Key("confidence");
        w.Double(e.confidence);  // always finite: NaN/inf never pass MODE-DEC-5
        put(w, "reason", e.reason);
        put(w, "sender", e.sender);
        w.EndObject();
    }
    w.EndArray();
    w.Key("objections");
    w.StartArray();
    for (const auto& o : s.objections) {
        w.StartObject();
        put(w, "proposal_id", o.proposal_id);
        put(w, "reason", o.reason);
        put(w, "severity", o.severity);
        put(w, "sender", o.sender);
        w.EndObject();
    }
    w.EndArray();
    w.Key("votes");
    w.StartObject();
    for (const auto& [pid, by_sender] : s.votes) {
        put_key(w, pid);
        w.StartObject();
        for (const auto& [sender, v] : by_sender) {
            put_key(w, sender);
            w.StartObject();
            put(w, "proposal_id", v.proposal_id);
            put(w, "vote", v.vote);
            put(w, "reason", v.reason);
            put(w, "sender", v.sender);
            w.EndObject();
        }
        w.EndObject();
    }
    w.EndObject();
    w.Key("phase");
    w.String(policy::phase_name(s.phase));
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

Result<DecisionState, Error> decode_decision_state(const std::string& bytes) {
    DecisionState s;
    if (bytes.empty()) return s;  // as the reference: no state yet is the initial state
    rapidjson::Document d;
    // Bytes this mode wrote: no size cap, or an accepted state could not be read back (issue #8);
    // full precision, so that confidences survive the round trip exactly.
    if (!util::parse_json_stored(bytes, d)) return fail(bad_state("not JSON"));
    if (!d.IsObject()) return fail(bad_state("not an object"));

    auto proposals = d.FindMember("proposals");
    auto evaluations = d.FindMember("evaluations");
    auto objections = d.FindMember("objections");
    auto votes = d.FindMember("votes");
    auto phase = d.FindMember("phase");
    if (proposals == d.MemberEnd() || !proposals->value.IsObject() || evaluations == d.MemberEnd() ||
        !evaluations->value.IsArray() || objections == d.MemberEnd() || !objections->value.IsArray() ||
        votes == d.MemberEnd() || !votes->value.IsObject() || phase == d.MemberEnd() || !phase->value.IsString()) {
        return fail(bad_state("missing or mistyped field"));
    }
    auto ph = parse_phase({phase->value.GetString(), phase->value.GetStringLength()});
    if (!ph) return fail(bad_state("unknown phase"));
    s.phase = *ph;

    for (const auto& m : proposals->value.GetObject()) {
        DecisionProposal p;
        if (!m.value.IsObject() || !get_str(m.value, "proposal_id", p.proposal_id) ||
            !get_str(m.value, "option", p.option) || !get_str(m.value, "rationale", p.rationale) ||
            !get_str(m.value, "sender", p.sender)) {
            return fail(bad_state("bad proposal"));
        }
        s.proposals[std::string(m.name.GetString(), m.name.GetStringLength())] = std::move(p);
    }
    for (const auto& v : evaluations->value.GetArray()) {
        DecisionEvaluation e;
        if (!v.IsObject() || !get_str(v, "proposal_id", e.proposal_id) ||
            !get_str(v, "recommendation", e.recommendation) || !get_str(v, "reason", e.reason) ||
            !get_str(v, "sender", e.sender)) {
            return fail(bad_state("bad evaluation"));
        }
        auto c = v.FindMember("confidence");
        if (c == v.MemberEnd() || !c->value.IsNumber()) return fail(bad_state("bad confidence"));
        e.confidence = c->value.GetDouble();
        s.evaluations.push_back(std::move(e));
    }
    for (const auto& v : objections->value.GetArray()) {
        DecisionObjection o;
        if (!v.IsObject() || !get_str(v, "proposal_id", o.proposal_id) || !get_str(v, "reason", o.reason) ||
            !get_str(v, "severity", o.severity) || !get_str(v, "sender", o.sender)) {
            return fail(bad_state("bad objection"));
        }
        s.objections.push_back(std::move(o));
    }
    for (const auto& m : votes->value.GetObject()) {
        if (!m.value.IsObject()) return fail(bad_state("bad votes"));
        auto& by_sender = s.votes[std::string(m.name.GetString(), m.name.GetStringLength())];
        for (const auto& vm : m.value.GetObject()) {
            DecisionVote v;
            if (!vm.value.IsObject() || !get_str(vm.value, "proposal_id", v.proposal_id) ||
                !get_str(vm.value, "vote", v.vote) || !get_str(vm.value, "reason", v.reason) ||
                !get_str(vm.value, "sender", v.sender)) {
                return fail(bad_state("bad vote"));
            }
            by_sender[std::string(vm.name.GetString(), vm.name.GetStringLength())] = std::move(v);
        }
    }
    return s;
}

DecisionMode::DecisionMode(ModeDescriptor descriptor) : descriptor_(std::move(descriptor)) {}

ModeResult<std::unique_ptr<ModeState>> DecisionMode::on_session_start(const SessionView& session) const {
    // MODE-DEC-1: at least one declared participant; the initiator need not be one.
    if (session.participants.empty()) return fail(Error(ErrorKind::InvalidPayload, "decision needs participants"));
    std::unique_ptr<ModeState> state = std::make_unique<DecisionModeState>();
    return state;
}

ModeResult<std::unique_ptr<ModeState>> DecisionMode::decode_state(const std::string& bytes) const {
    auto decoded = decode_decision_state(bytes);
    if (!decoded) return fail(decoded.error());
    std::unique_ptr<ModeState> state = std::make_unique<DecisionModeState>(std::move(decoded.value()));
    return state;
}

ModeResult<bool> DecisionMode::authorize(const MessageContext& ctx) const {
    const auto& type = ctx.message_type;
    if (type == "Commitment") {
        // MODE-DEC-2 via POL-AUTH-1..3: the bound policy's commitment authority.
        return authorize_commitment(ctx);
    }
    if (type == "Proposal" || type == "Evaluation" || type == "Objection" || type == "Vote") {
        // MODE-DEC-2: declared participants only.
        if (!ctx.session.is_participant(ctx.sender)) {
            return fail(Error(ErrorKind::Forbidden, "sender is not a declared participant"));
        }
        return true;
    }
    // MODE-DEC-2 / Q-12: any other message type is FORBIDDEN, even from a participant.
    return fail(Error(ErrorKind::Forbidden, "message type not part of decision mode"));
}

ModeResult<Outcome> DecisionMode::apply(const MessageContext& ctx) const {
    auto held = state_of<DecisionModeState>(ctx);
    if (!held) return fail(held.error());
    const DecisionState& s = held.value()->value;
    // A committed decision takes nothing more (the kernel also refuses non-OPEN sessions).
    if (s.phase == DecisionPhase::Committed) return fail(Error(ErrorKind::SessionNotOpen, "decision committed"));

    const auto& type = ctx.message_type;
    if (type == "Proposal") {
        // MODE-DEC-4 / MODE-DEC-8: the phase check precedes decoding; Voting closes proposals.
        if (s.phase == DecisionPhase::Voting) {
            return fail(Error(ErrorKind::InvalidPayload, "proposals are closed once voting started"));
        }
        pb::ProposalPayload p;
        if (!p.ParseFromString(ctx.payload)) {
            return fail(Error(ErrorKind::InvalidPayload, "Proposal does not decode"));  // MODE-GEN-4
        }
        // MODE-DEC-4: non-blank (Unicode trim) proposal_id and option, proposal_id not seen before.
        if (trimmed_empty(p.proposal_id()) || trimmed_empty(p.option())) {
            return fail(Error(ErrorKind::InvalidPayload, "proposal_id and option must be non-blank"));
        }
        if (s.proposals.count(p.proposal_id()) != 0) {
            return fail(Error(ErrorKind::InvalidPayload, "duplicate proposal_id"));
        }
        // MODE-DEC-4: supporting_data is not stored; MODE-DEC-3: phase becomes Evaluation.
        DecisionProposal proposal{p.proposal_id(), p.option(), p.rationale(), ctx.sender};
        return Outcome{[proposal = std::move(proposal)](ModeState& m) mutable {
                           auto& st = held_state(m);
                           auto& slot = st.proposals[proposal.proposal_id];
                           slot = std::move(proposal);
                           st.phase = DecisionPhase::Evaluation;
                       },
                       std::nullopt};
    }

    if (type == "Evaluation") {
        pb::EvaluationPayload p;
        if (!p.ParseFromString(ctx.payload)) {
            return fail(Error(ErrorKind::InvalidPayload, "Evaluation does not decode"));  // MODE-GEN-4
        }
        // MODE-DEC-5: value checks first. Recommendation is case-insensitive.
        std::string recommendation = to_upper_for_keywords(p.recommendation());
        if (recommendation != "APPROVE" && recommendation != "REVIEW" && recommendation != "BLOCK" &&
            recommendation != "REJECT") {
            return fail(Error(ErrorKind::InvalidPayload, "unknown recommendation"));
        }
        // MODE-DEC-5: confidence within [0, 1]. Deliberate difference: NaN is rejected
        // too; the reference lets it through and then can no longer decode its own state.
        if (std::isnan(p.confidence()) || p.confidence() < 0.0 || p.confidence() > 1.0) {
            return fail(Error(ErrorKind::InvalidPayload, "confidence outside [0, 1]"));
        }
        // MODE-DEC-5 / MODE-DEC-8: only in phase Evaluation, for a known proposal.
        if (s.phase != DecisionPhase::Evaluation) {
            return fail(Error(ErrorKind::InvalidPayload, "evaluations are accepted only in phase Evaluation"));
        }
        if (s.proposals.count(p.proposal_id()) == 0) return fail(Error(ErrorKind::InvalidPayload, "unknown proposal"));
        // MODE-DEC-5: stored upper-case; a sender may evaluate any number of times; phase unchanged.
        DecisionEvaluation evaluation{p.proposal_id(), std::move(recommendation), p.confidence(), p.reason(),
                                      ctx.sender};
        return Outcome{[evaluation = std::move(evaluation)](ModeState& m) mutable {
                           held_state(m).evaluations.push_back(std::move(evaluation));
                       },
                       std::nullopt};
    }

    if (type == "Objection") {
        pb::ObjectionPayload p;
        if (!p.ParseFromString(ctx.payload)) {
            return fail(Error(ErrorKind::InvalidPayload, "Objection does not decode"));  // MODE-GEN-4
        }
        // MODE-DEC-6: empty severity means "medium"; otherwise case-insensitive, stored lower-case.
        std::string severity = "medium";
        if (!p.severity().empty()) {
            severity = to_lower_ascii(p.severity());
            if (severity != "critical" && severity != "high" && severity != "medium" && severity != "low") {
                return fail(Error(ErrorKind::InvalidPayload, "unknown severity"));
            }
        }
        // MODE-DEC-6 / MODE-DEC-8: only in phase Evaluation, for a known proposal.
        if (s.phase != DecisionPhase::Evaluation) {
            return fail(Error(ErrorKind::InvalidPayload, "objections are accepted only in phase Evaluation"));
        }
        if (s.proposals.count(p.proposal_id()) == 0) return fail(Error(ErrorKind::InvalidPayload, "unknown proposal"));
        DecisionObjection objection{p.proposal_id(), p.reason(), std::move(severity), ctx.sender};
        return Outcome{[objection = std::move(objection)](ModeState& m) mutable {
                           held_state(m).objections.push_back(std::move(objection));
                       },
                       std::nullopt};
    }

    if (type == "Vote") {
        pb::VotePayload p;
        if (!p.ParseFromString(ctx.payload)) {
            return fail(Error(ErrorKind::InvalidPayload, "Vote does not decode"));  // MODE-GEN-4
        }
        // MODE-DEC-7: APPROVE, REJECT or ABSTAIN in any case, stored upper-case.
        std::string value = to_upper_for_keywords(p.vote());
        if (value != "APPROVE" && value != "REJECT" && value != "ABSTAIN") {
            return fail(Error(ErrorKind::InvalidPayload, "unknown vote"));
        }
        // MODE-DEC-7: phases Evaluation and Voting; known proposal; one vote per sender and proposal.
        if (s.phase == DecisionPhase::Proposal) {
            return fail(Error(ErrorKind::InvalidPayload, "no proposal to vote on yet"));
        }
        if (s.proposals.count(p.proposal_id()) == 0) return fail(Error(ErrorKind::InvalidPayload, "unknown proposal"));
        auto by_sender = s.votes.find(p.proposal_id());
        if (by_sender != s.votes.end() && by_sender->second.count(ctx.sender) != 0) {
            return fail(Error(ErrorKind::InvalidPayload, "sender already voted on this proposal"));
        }
        DecisionVote vote{p.proposal_id(), std::move(value), p.reason(), ctx.sender};
        return Outcome{[vote = std::move(vote)](ModeState& m) mutable {
                           auto& st = held_state(m);
                           auto& slot = st.votes[vote.proposal_id][vote.sender];
                           slot = std::move(vote);
                           st.phase = DecisionPhase::Voting;  // MODE-DEC-3
                       },
                       std::nullopt};
    }

    if (type == "Commitment") {
        // MODE-DEC-9: shared validation (MODE-CMT-*) first, ...
        auto c = validate_commitment(ctx.session, ctx.payload);
        if (!c) return fail(c.error());
        // ... then at least one proposal, ...
        if (s.proposals.empty()) return fail(Error(ErrorKind::InvalidPayload, "nothing proposed yet"));
        // ... then the bound policy with the commitment's outcome (POL-DEC-*, POL-EVAL-*).
        auto reasons = policy::evaluate_decision_commitment(ctx.session.bound_policy(), s, ctx.session.participants,
                                                            c->outcome_positive());
        if (!reasons.empty()) return fail(Error::denied(std::move(reasons)));
        // MODE-DEC-9 / MODE-DEC-10 / LIFE-4: Committed; the resolution is the raw commitment.
        return Outcome{[](ModeState& m) { held_state(m).phase = DecisionPhase::Committed; }, ctx.payload};
    }

    return fail(Error(ErrorKind::InvalidPayload, "unknown decision message type"));  // unreachable after authorize
}

}  // namespace macp::modes
