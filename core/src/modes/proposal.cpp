#include "modes/proposal.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "macp/modes/proposal/v1/proposal.pb.h"
#include "modes/commitment.hpp"
#include "modes/mode_support.hpp"
#include "util/json_write.hpp"
#include "policy/proposal_evaluator.hpp"
#include "util/json.hpp"

namespace macp::modes {

using kernel::Error;
using kernel::ErrorKind;

namespace {

namespace pb = macp::modes::proposal::v1;

// MODE-PROP-12: the state's shape. Struct members are written in the reference's field order and
// maps are key-sorted (MODE-GEN-2), so the bytes match the reference's serde output for the same
// history and replay reproduces them exactly.
struct ProposalRecord {
    std::string proposal_id;
    std::string title;
    std::string summary;
    std::string details;  // bytes; JSON array of integers (MODE-GEN-2)
    std::vector<std::string> tags;
    std::string proposer;
    std::optional<std::string> supersedes_proposal_id;  // null for an original Proposal
    bool withdrawn = false;                             // disposition "Live" / "Withdrawn"
};

struct TerminalRejection {
    std::string proposal_id;
    std::string sender;
    std::string reason;
};

struct Rejection {
    std::string proposal_id;
    std::string sender;
    std::string reason;
    bool terminal = false;
};

enum class Phase { Negotiating, Converged, TerminalRejected, Committed };

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::Negotiating: return "Negotiating";
        case Phase::Converged: return "Converged";
        case Phase::TerminalRejected: return "TerminalRejected";
        case Phase::Committed: return "Committed";
    }
    return "Negotiating";
}

std::optional<Phase> parse_phase(std::string_view s) {
    if (s == "Negotiating") return Phase::Negotiating;
    if (s == "Converged") return Phase::Converged;
    if (s == "TerminalRejected") return Phase::TerminalRejected;
    if (s == "Committed") return Phase::Committed;
    return std::nullopt;
}

struct State {
    std::map<std::string, ProposalRecord> proposals;
    std::map<std::string, std::string> accepts;  // sender -> proposal_id
    std::vector<TerminalRejection> terminal_rejections;
    std::vector<Rejection> rejections;
    Phase phase = Phase::Negotiating;
};

using util::json::put;
using util::json::put_key;
using util::json::put_value;
using util::json::Writer;

std::string encode(const State& s) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("proposals");
    w.StartObject();
    for (const auto& [pid, p] : s.proposals) {
        put_key(w, pid);
        w.StartObject();
        put(w, "proposal_id", p.proposal_id);
        put(w, "title", p.title);
        put(w, "summary", p.summary);
        w.Key("details");
        w.StartArray();
        for (unsigned char c : p.details) w.Uint(c);
        w.EndArray();
        w.Key("tags");
        w.StartArray();
        for (const auto& t : p.tags) w.String(t.data(), static_cast<rapidjson::SizeType>(t.size()));
        w.EndArray();
        put(w, "proposer", p.proposer);
        w.Key("supersedes_proposal_id");
        if (p.supersedes_proposal_id) {
            w.String(p.supersedes_proposal_id->data(),
                     static_cast<rapidjson::SizeType>(p.supersedes_proposal_id->size()));
        } else {
            w.Null();
        }
        w.Key("disposition");
        w.String(p.withdrawn ? "Withdrawn" : "Live");
        w.EndObject();
    }
    w.EndObject();
    w.Key("accepts");
    w.StartObject();
    for (const auto& [sender, pid] : s.accepts) {
        put_key(w, sender);
        w.String(pid.data(), static_cast<rapidjson::SizeType>(pid.size()));
    }
    w.EndObject();
    w.Key("terminal_rejections");
    w.StartArray();
    for (const auto& r : s.terminal_rejections) {
        w.StartObject();
        put(w, "proposal_id", r.proposal_id);
        put(w, "sender", r.sender);
        put(w, "reason", r.reason);
        w.EndObject();
    }
    w.EndArray();
    w.Key("rejections");
    w.StartArray();
    for (const auto& r : s.rejections) {
        w.StartObject();
        put(w, "proposal_id", r.proposal_id);
        put(w, "sender", r.sender);
        put(w, "reason", r.reason);
        w.Key("terminal");
        w.Bool(r.terminal);
        w.EndObject();
    }
    w.EndArray();
    w.Key("phase");
    w.String(phase_name(s.phase));
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

bool read_string(const rapidjson::Value& obj, const char* key, std::string& out) {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return false;
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
}

bool read_record(const rapidjson::Value& v, ProposalRecord& p) {
    if (!v.IsObject() || !read_string(v, "proposal_id", p.proposal_id) || !read_string(v, "title", p.title) ||
        !read_string(v, "summary", p.summary) || !read_string(v, "proposer", p.proposer)) {
        return false;
    }
    auto details = v.FindMember("details");
    if (details == v.MemberEnd() || !details->value.IsArray()) return false;
    for (const auto& b : details->value.GetArray()) {
        if (!b.IsUint() || b.GetUint() > 255) return false;
        p.details.push_back(static_cast<char>(b.GetUint()));
    }
    auto tags = v.FindMember("tags");
    if (tags == v.MemberEnd() || !tags->value.IsArray()) return false;
    for (const auto& t : tags->value.GetArray()) {
        if (!t.IsString()) return false;
        p.tags.emplace_back(t.GetString(), t.GetStringLength());
    }
    auto sup = v.FindMember("supersedes_proposal_id");
    if (sup != v.MemberEnd() && !sup->value.IsNull()) {
        if (!sup->value.IsString()) return false;
        p.supersedes_proposal_id.emplace(sup->value.GetString(), sup->value.GetStringLength());
    }
    std::string disposition;
    if (!read_string(v, "disposition", disposition)) return false;
    if (disposition == "Withdrawn") {
        p.withdrawn = true;
    } else if (disposition != "Live") {
        return false;
    }
    return true;
}

Result<State, Error> decode(const std::string& bytes) {
    State s;
    if (bytes.empty()) return s;  // the reference treats empty state bytes as the initial state
    rapidjson::Document d;
    const Error bad(ErrorKind::InvalidModeState, "proposal mode state does not decode");
    if (!util::parse_json_untrusted(bytes, d) || !d.IsObject()) return fail(bad);
    auto proposals = d.FindMember("proposals");
    auto accepts = d.FindMember("accepts");
    auto terminal = d.FindMember("terminal_rejections");
    if (proposals == d.MemberEnd() || !proposals->value.IsObject() || accepts == d.MemberEnd() ||
        !accepts->value.IsObject() || terminal == d.MemberEnd() || !terminal->value.IsArray()) {
        return fail(bad);
    }
    for (const auto& m : proposals->value.GetObject()) {
        ProposalRecord p;
        if (!read_record(m.value, p)) return fail(bad);
        s.proposals[std::string(m.name.GetString(), m.name.GetStringLength())] = std::move(p);
    }
    for (const auto& m : accepts->value.GetObject()) {
        if (!m.value.IsString()) return fail(bad);
        s.accepts[std::string(m.name.GetString(), m.name.GetStringLength())] =
            std::string(m.value.GetString(), m.value.GetStringLength());
    }
    for (const auto& r : terminal->value.GetArray()) {
        TerminalRejection t;
        if (!r.IsObject() || !read_string(r, "proposal_id", t.proposal_id) || !read_string(r, "sender", t.sender) ||
            !read_string(r, "reason", t.reason)) {
            return fail(bad);
        }
        s.terminal_rejections.push_back(std::move(t));
    }
    auto rejections = d.FindMember("rejections");  // defaults to [] like the reference's serde(default)
    if (rejections != d.MemberEnd()) {
        if (!rejections->value.IsArray()) return fail(bad);
        for (const auto& r : rejections->value.GetArray()) {
            Rejection x;
            if (!r.IsObject() || !read_string(r, "proposal_id", x.proposal_id) || !read_string(r, "sender", x.sender) ||
                !read_string(r, "reason", x.reason)) {
                return fail(bad);
            }
            auto t = r.FindMember("terminal");
            if (t == r.MemberEnd() || !t->value.IsBool()) return fail(bad);
            x.terminal = t->value.GetBool();
            s.rejections.push_back(std::move(x));
        }
    }
    auto phase = d.FindMember("phase");  // defaults to Negotiating like the reference's serde(default)
    if (phase != d.MemberEnd()) {
        if (!phase->value.IsString()) return fail(bad);
        auto p = parse_phase({phase->value.GetString(), phase->value.GetStringLength()});
        if (!p) return fail(bad);
        s.phase = *p;
    }
    return s;
}

bool accepts_is(const State& s, const std::string& sender, const std::string& pid) {
    auto it = s.accepts.find(sender);
    return it != s.accepts.end() && it->second == pid;
}

// MODE-PROP-10: the acceptance criterion for one live proposal.
bool meets_criterion(const std::string& criterion, const kernel::Session& session, const State& s,
                     const ProposalRecord& p) {
    if (criterion == "counterparty") {  // every participant except the proposer (vacuous if alone, Q-33)
        return std::all_of(session.participants.begin(), session.participants.end(),
                           [&](const std::string& x) { return x == p.proposer || accepts_is(s, x, p.proposal_id); });
    }
    if (criterion == "initiator") return accepts_is(s, session.initiator, p.proposal_id);
    // "all_parties" and unknown values: every declared participant, the proposer included.
    return !session.participants.empty() &&
           std::all_of(session.participants.begin(), session.participants.end(),
                       [&](const std::string& x) { return accepts_is(s, x, p.proposal_id); });
}

// MODE-PROP-9: the phase is recomputed after every message.
void refresh_phase(const kernel::Session& session, State& s) {
    if (!s.terminal_rejections.empty()) {
        s.phase = Phase::TerminalRejected;
        return;
    }
    // MODE-PROP-10: policy acceptance.criterion, default all_parties (rules that fail to parse
    // fall back to the defaults, POL-SCH-8).
    const auto criterion = policy::proposal_rules_or_default(session.bound_policy()).acceptance_criterion;
    bool converged = std::any_of(s.proposals.begin(), s.proposals.end(), [&](const auto& kv) {
        return !kv.second.withdrawn && meets_criterion(criterion, session, s, kv.second);
    });
    s.phase = converged ? Phase::Converged : Phase::Negotiating;
}

uint64_t counter_proposal_count(const State& s) {
    return static_cast<uint64_t>(std::count_if(s.proposals.begin(), s.proposals.end(), [](const auto& kv) {
        return kv.second.supersedes_proposal_id.has_value();
    }));
}

bool is_live(const State& s, const std::string& pid) {
    auto it = s.proposals.find(pid);
    return it != s.proposals.end() && !it->second.withdrawn;
}

}  // namespace

ProposalMode::ProposalMode(ModeDescriptor descriptor) : descriptor_(std::move(descriptor)) {}

ModeResult<std::string> ProposalMode::on_session_start(const kernel::Session& session) const {
    // MODE-PROP-1: at least one participant; the initial state has every collection empty.
    if (session.participants.empty()) return fail(invalid("proposal mode needs participants"));
    return encode(State{});
}

ModeResult<bool> ProposalMode::authorize(const MessageContext& ctx) const {
    const auto& session = ctx.session;
    if (ctx.message_type == "Commitment") {
        // MODE-PROP-2, POL-AUTH-1..3: the bound policy's commitment authority.
        return authorize_commitment(ctx);
    }
    // MODE-PROP-2: every other type (unknown ones included) from any declared participant.
    if (!session.is_participant(ctx.sender)) return fail(Error(ErrorKind::Forbidden, "sender is not a participant"));
    return true;
}

ModeResult<Outcome> ProposalMode::apply(const MessageContext& ctx) const {
    const auto& session = ctx.session;
    auto decoded = decode(session.mode_state);
    if (!decoded) return fail(decoded.error());
    State s = std::move(decoded.value());
    // A committed proposal state is immutable (the reference's ensure_mutable).
    if (s.phase == Phase::Committed) return fail(Error(ErrorKind::SessionNotOpen, "proposal already committed"));
    const auto& type = ctx.message_type;

    if (type == "Proposal") {
        pb::ProposalPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Proposal payload does not decode"));  // MODE-GEN-4
        // MODE-PROP-3: non-blank, unique proposal_id.
        if (is_blank(p.proposal_id()) || s.proposals.count(p.proposal_id()) != 0) {
            return fail(invalid("Proposal needs a new non-blank proposal_id"));
        }
        ProposalRecord r;
        r.proposal_id = p.proposal_id();
        r.title = p.title();
        r.summary = p.summary();
        r.details = p.details();
        r.tags.assign(p.tags().begin(), p.tags().end());
        r.proposer = ctx.sender;
        s.proposals[r.proposal_id] = std::move(r);
    } else if (type == "CounterProposal") {
        pb::CounterProposalPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("CounterProposal payload does not decode"));
        // MODE-PROP-4: new non-blank id; non-blank supersedes naming any existing (even withdrawn) proposal.
        if (is_blank(p.proposal_id()) || is_blank(p.supersedes_proposal_id()) ||
            s.proposals.count(p.proposal_id()) != 0 || s.proposals.count(p.supersedes_proposal_id()) == 0) {
            return fail(invalid("CounterProposal needs a new id and an existing superseded proposal"));
        }
        // MODE-PROP-5: counter_proposal.max_rounds > 0 caps the number of counter-proposals.
        if (session.bound_policy() != nullptr) {
            auto max_rounds = policy::proposal_rules_or_default(session.bound_policy()).counter_proposal_max_rounds;
            if (max_rounds > 0 && counter_proposal_count(s) >= max_rounds) {
                return fail(invalid("counter-proposal limit reached"));
            }
        }
        ProposalRecord r;
        r.proposal_id = p.proposal_id();
        r.title = p.title();
        r.summary = p.summary();
        r.details = p.details();
        r.proposer = ctx.sender;
        r.supersedes_proposal_id = p.supersedes_proposal_id();  // the superseded proposal stays live
        s.proposals[r.proposal_id] = std::move(r);
    } else if (type == "Accept") {
        pb::AcceptPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Accept payload does not decode"));
        // MODE-PROP-6: an existing Live proposal; replaces the sender's previous accept.
        if (!is_live(s, p.proposal_id())) return fail(invalid("Accept target is not a live proposal"));
        s.accepts[ctx.sender] = p.proposal_id();
    } else if (type == "Reject") {
        pb::RejectPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Reject payload does not decode"));
        // MODE-PROP-7: an existing Live proposal; terminal = payload.terminal OR terminal_on_any_reject.
        if (!is_live(s, p.proposal_id())) return fail(invalid("Reject target is not a live proposal"));
        const bool terminal =
            p.terminal() || policy::proposal_rules_or_default(session.bound_policy()).rejection_terminal_on_any_reject;
        s.rejections.push_back({p.proposal_id(), ctx.sender, p.reason(), terminal});
        if (terminal) s.terminal_rejections.push_back({p.proposal_id(), ctx.sender, p.reason()});
    } else if (type == "Withdraw") {
        pb::WithdrawPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Withdraw payload does not decode"));
        // MODE-PROP-8, in the reference's order: blank/unknown id → INVALID_ENVELOPE; not the proposer →
        // FORBIDDEN; already withdrawn → INVALID_ENVELOPE.
        if (is_blank(p.proposal_id())) return fail(invalid("Withdraw needs a proposal_id"));
        auto it = s.proposals.find(p.proposal_id());
        if (it == s.proposals.end()) return fail(invalid("Withdraw target does not exist"));
        if (it->second.proposer != ctx.sender)
            return fail(Error(ErrorKind::Forbidden, "only the proposer may withdraw"));
        if (it->second.withdrawn) return fail(invalid("proposal already withdrawn"));
        it->second.withdrawn = true;
        const auto& pid = p.proposal_id();
        for (auto a = s.accepts.begin(); a != s.accepts.end();) {
            a = a->second == pid ? s.accepts.erase(a) : std::next(a);
        }
        s.terminal_rejections.erase(std::remove_if(s.terminal_rejections.begin(), s.terminal_rejections.end(),
                                                   [&](const TerminalRejection& r) { return r.proposal_id == pid; }),
                                    s.terminal_rejections.end());
    } else if (type == "Commitment") {
        // MODE-PROP-11: shared validation (MODE-CMT-*), phase recomputed, Converged or TerminalRejected.
        auto c = validate_commitment(session, ctx.payload);
        if (!c) return fail(c.error());
        refresh_phase(session, s);
        if (s.phase != Phase::Converged && s.phase != Phase::TerminalRejected) {
            return fail(invalid("proposal session is neither converged nor terminally rejected"));
        }
        // POL-PROP-1 (0.6) via the bound policy.
        auto deny = policy::evaluate_proposal_commitment(session.bound_policy(), counter_proposal_count(s),
                                                         c.value().outcome_positive());
        if (!deny.empty()) return fail(Error::denied(std::move(deny)));
        s.phase = Phase::Committed;
        return Outcome{encode(s), ctx.payload};  // LIFE-4: resolution = the raw commitment bytes
    } else {
        return fail(invalid("unknown proposal message type"));  // MODE-PROP-2
    }
    refresh_phase(session, s);  // MODE-PROP-9
    return Outcome{encode(s), std::nullopt};
}

}  // namespace macp::modes
