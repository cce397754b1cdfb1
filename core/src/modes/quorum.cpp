#include "modes/quorum.hpp"

#include <map>
#include <memory>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "macp/modes/quorum/v1/quorum.pb.h"
#include "modes/commitment.hpp"
#include "modes/mode_support.hpp"
#include "util/json_write.hpp"
#include "policy/quorum_evaluator.hpp"
#include "util/json.hpp"

namespace macp::modes {

using protocol::Error;
using protocol::ErrorKind;

namespace {

namespace pb = macp::modes::quorum::v1;

// MODE-QUO-8: the state's shape. Struct members are written in the reference's field order and
// ballots are key-sorted (MODE-GEN-2), so the bytes match the reference's serde output for the
// same history and replay reproduces them exactly.
struct Request {
    std::string request_id;
    std::string action;
    std::string summary;
    std::string details;  // bytes; JSON array of integers (MODE-GEN-2)
    uint32_t required_approvals = 0;
    std::string requested_by;
};

enum class Choice { Approve, Reject, Abstain };

const char* choice_name(Choice c) {
    switch (c) {
        case Choice::Approve: return "Approve";
        case Choice::Reject: return "Reject";
        case Choice::Abstain: return "Abstain";
    }
    return "Approve";
}

struct Ballot {
    std::string request_id;
    Choice choice = Choice::Approve;
    std::string sender;
    std::string reason;
};

// `has_request` + a plain member rather than std::optional<Request>: g++ 12 reports a false
// -Wmaybe-uninitialized on moving an optional of this struct under -O1 with sanitizers.
struct State {
    bool has_request = false;  // "request": null when false
    Request request;
    std::map<std::string, Ballot> ballots;  // sender -> ballot
};

using util::json::put;
using util::json::Writer;

std::string encode(const State& s) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("request");
    if (s.has_request) {
        const auto& r = s.request;
        w.StartObject();
        put(w, "request_id", r.request_id);
        put(w, "action", r.action);
        put(w, "summary", r.summary);
        w.Key("details");
        w.StartArray();
        for (unsigned char c : r.details) w.Uint(c);
        w.EndArray();
        w.Key("required_approvals");
        w.Uint(r.required_approvals);
        put(w, "requested_by", r.requested_by);
        w.EndObject();
    } else {
        w.Null();
    }
    w.Key("ballots");
    w.StartObject();
    for (const auto& [sender, b] : s.ballots) {
        w.Key(sender.data(), static_cast<rapidjson::SizeType>(sender.size()));
        w.StartObject();
        put(w, "request_id", b.request_id);
        w.Key("choice");
        w.String(choice_name(b.choice));
        put(w, "sender", b.sender);
        put(w, "reason", b.reason);
        w.EndObject();
    }
    w.EndObject();
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

bool read_string(const rapidjson::Value& obj, const char* key, std::string& out) {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return false;
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
}

Result<State, Error> decode(const std::string& bytes) {
    State s;
    if (bytes.empty()) return s;  // the reference treats empty state bytes as the initial state
    rapidjson::Document d;
    const Error bad(ErrorKind::InvalidModeState, "quorum mode state does not decode");
    // Bytes this mode wrote: no size cap, or an accepted state could not be read back (issue #8).
    if (!util::parse_json_stored(bytes, d) || !d.IsObject()) return fail(bad);
    auto request = d.FindMember("request");
    auto ballots = d.FindMember("ballots");
    if (request == d.MemberEnd() || ballots == d.MemberEnd() || !ballots->value.IsObject()) return fail(bad);
    if (!request->value.IsNull()) {
        const auto& v = request->value;
        Request r;
        if (!v.IsObject() || !read_string(v, "request_id", r.request_id) || !read_string(v, "action", r.action) ||
            !read_string(v, "summary", r.summary) || !read_string(v, "requested_by", r.requested_by)) {
            return fail(bad);
        }
        auto details = v.FindMember("details");
        if (details == v.MemberEnd() || !details->value.IsArray()) return fail(bad);
        for (const auto& b : details->value.GetArray()) {
            if (!b.IsUint() || b.GetUint() > 255) return fail(bad);
            r.details.push_back(static_cast<char>(b.GetUint()));
        }
        auto required = v.FindMember("required_approvals");
        if (required == v.MemberEnd() || !required->value.IsUint()) return fail(bad);
        r.required_approvals = required->value.GetUint();
        s.request = std::move(r);
        s.has_request = true;
    }
    for (const auto& m : ballots->value.GetObject()) {
        Ballot b;
        std::string choice;
        if (!m.value.IsObject() || !read_string(m.value, "request_id", b.request_id) ||
            !read_string(m.value, "choice", choice) || !read_string(m.value, "sender", b.sender) ||
            !read_string(m.value, "reason", b.reason)) {
            return fail(bad);
        }
        if (choice == "Approve") {
            b.choice = Choice::Approve;
        } else if (choice == "Reject") {
            b.choice = Choice::Reject;
        } else if (choice == "Abstain") {
            b.choice = Choice::Abstain;
        } else {
            return fail(bad);
        }
        s.ballots[std::string(m.name.GetString(), m.name.GetStringLength())] = std::move(b);
    }
    return s;
}

using QuorumState = StateOf<State, &encode>;

// The kernel hands a commit step the very state apply() validated through state_of(), so the
// type is already known.
State& held_state(ModeState& m) {
    return static_cast<QuorumState&>(m).value;
}

policy::QuorumTally tally(const State& s) {
    policy::QuorumTally t;
    for (const auto& [sender, b] : s.ballots) {
        switch (b.choice) {
            case Choice::Approve: ++t.approve; break;
            case Choice::Reject: ++t.reject; break;
            case Choice::Abstain: ++t.abstain; break;
        }
    }
    return t;
}

// MODE-QUO-5: a policy threshold with value > 0 replaces required_approvals. Rules that fail to
// parse fall back to the defaults here (POL-SCH-8). Q-47: non-percentage values are rounded up, as
// in the evaluator (the reference mode truncates).
uint64_t effective_threshold(const SessionView& session, const Request& request) {
    if (session.bound_policy() != nullptr) {
        auto rules = policy::quorum_rules_or_default(session.bound_policy());
        if (auto required = policy::quorum_policy_required_approvals(rules, session.participants.size())) {
            return *required;
        }
    }
    return request.required_approvals;
}

// MODE-QUO-6: the threshold is reached, or it can no longer be reached (abstentions and rejects
// both remove a potential approver).
bool commitment_ready(const SessionView& session, const State& s) {
    if (!s.has_request) return false;
    const uint64_t required = effective_threshold(session, s.request);
    const uint64_t approvals = tally(s).approve;
    const uint64_t eligible = session.participants.size();
    const uint64_t counted = s.ballots.size();
    const uint64_t remaining = eligible > counted ? eligible - counted : 0;
    return approvals >= required || approvals + remaining < required;
}

// MODE-QUO-4: one ballot per sender across Approve/Reject/Abstain, for the current request. The
// commit step records it.
ModeResult<Outcome> cast_ballot(const State& s, const std::string& sender, const std::string& request_id,
                                const std::string& reason, Choice choice) {
    if (!s.has_request) return fail(invalid("no ApprovalRequest yet"));
    if (request_id != s.request.request_id) return fail(invalid("request_id does not match the request"));
    if (s.ballots.count(sender) != 0) return fail(invalid("sender already cast a ballot"));
    return Outcome{[ballot = Ballot{request_id, choice, sender, reason}](ModeState& m) mutable {
                       auto& slot = held_state(m).ballots[ballot.sender];
                       slot = std::move(ballot);
                   },
                   std::nullopt};
}

}  // namespace

QuorumMode::QuorumMode(ModeDescriptor descriptor) : descriptor_(std::move(descriptor)) {}

ModeResult<std::unique_ptr<ModeState>> QuorumMode::on_session_start(const SessionView& session) const {
    // MODE-QUO-1: at least one participant (the initiator need not be one); state {"request":null,"ballots":{}}.
    if (session.participants.empty()) return fail(invalid("quorum mode needs participants"));
    std::unique_ptr<ModeState> state = std::make_unique<QuorumState>();
    return state;
}

ModeResult<std::unique_ptr<ModeState>> QuorumMode::decode_state(const std::string& bytes) const {
    auto decoded = decode(bytes);
    if (!decoded) return fail(decoded.error());
    std::unique_ptr<ModeState> state = std::make_unique<QuorumState>(std::move(decoded.value()));
    return state;
}

ModeResult<bool> QuorumMode::authorize(const MessageContext& ctx) const {
    const auto& session = ctx.session;
    // MODE-QUO-2: ApprovalRequest only from the initiator.
    if (ctx.message_type == "ApprovalRequest") {
        if (ctx.sender != session.initiator)
            return fail(Error(ErrorKind::Forbidden, "only the initiator may request approval"));
        return true;
    }
    // MODE-QUO-2, POL-AUTH-1..3: Commitment per the bound policy's commitment authority.
    if (ctx.message_type == "Commitment") {
        return authorize_commitment(ctx);
    }
    // MODE-QUO-2: ballots (and unknown types) only from declared participants; an initiator outside
    // the list cannot vote.
    if (!session.is_participant(ctx.sender)) return fail(Error(ErrorKind::Forbidden, "sender is not a participant"));
    return true;
}

ModeResult<Outcome> QuorumMode::apply(const MessageContext& ctx) const {
    const auto& session = ctx.session;
    auto held = state_of<QuorumState>(ctx);
    if (!held) return fail(held.error());
    const State& s = held.value()->value;
    const auto& type = ctx.message_type;

    if (type == "ApprovalRequest") {
        if (ctx.sender != session.initiator) return fail(Error(ErrorKind::Forbidden));  // MODE-QUO-2 (re-checked)
        pb::ApprovalRequestPayload p;
        if (!p.ParseFromString(ctx.payload))
            return fail(invalid("ApprovalRequest payload does not decode"));  // MODE-GEN-4
        // MODE-QUO-3: one per session; non-empty request_id; required_approvals in [1, participants].
        if (s.has_request || p.request_id().empty() || p.required_approvals() == 0 ||
            p.required_approvals() > session.participants.size()) {
            return fail(invalid("invalid or repeated ApprovalRequest"));
        }
        Request request{p.request_id(), p.action(), p.summary(), p.details(), p.required_approvals(), ctx.sender};
        return Outcome{[request = std::move(request)](ModeState& m) mutable {
                           auto& st = held_state(m);
                           st.request = std::move(request);
                           st.has_request = true;
                       },
                       std::nullopt};
    }
    if (type == "Approve") {
        pb::ApprovePayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Approve payload does not decode"));
        return cast_ballot(s, ctx.sender, p.request_id(), p.reason(), Choice::Approve);
    }
    if (type == "Reject") {
        pb::RejectPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Reject payload does not decode"));
        return cast_ballot(s, ctx.sender, p.request_id(), p.reason(), Choice::Reject);
    }
    if (type == "Abstain") {
        pb::AbstainPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Abstain payload does not decode"));
        return cast_ballot(s, ctx.sender, p.request_id(), p.reason(), Choice::Abstain);
    }
    if (type == "Commitment") {
        // MODE-QUO-7: shared validation (MODE-CMT-*), then eligibility (MODE-QUO-6), then policy.
        auto c = validate_commitment(session, ctx.payload);
        if (!c) return fail(c.error());
        if (!commitment_ready(session, s)) return fail(invalid("approval threshold neither reached nor unreachable"));
        // POL-QUO-1/2 (0.6) via the bound policy.
        auto deny = policy::evaluate_quorum_commitment(session.bound_policy(), tally(s), session.participants,
                                                       c.value().outcome_positive());
        if (!deny.empty()) return fail(Error::denied(std::move(deny)));
        return Outcome{{}, ctx.payload};  // LIFE-4: resolution = the raw commitment bytes; state unchanged
    }
    return fail(invalid("unknown quorum message type"));
}

}  // namespace macp::modes
