#include "modes/proposal.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
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

using protocol::Error;
using protocol::ErrorKind;

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

    // Tallies of the above that the rules would otherwise recount over every proposal on every
    // message (issue #8 case 5). Never encoded: reindex() rebuilds them from the rest.
    uint64_t counter_proposals = 0;                        // MODE-PROP-5, POL-PROP-1
    uint64_t live = 0;                                     // proposals not withdrawn
    std::map<std::string, uint64_t> live_by_proposer;      // MODE-PROP-10 counterparty, Q-33
    std::map<std::string, uint64_t> terminal_by_proposal;  // MODE-PROP-8: what a Withdraw clears
};

using util::json::put;
using util::json::put_key;
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

void count_proposal(State& s, const ProposalRecord& p) {
    if (p.supersedes_proposal_id) ++s.counter_proposals;
    if (!p.withdrawn) {
        ++s.live;
        ++s.live_by_proposer[p.proposer];
    }
}

void reindex(State& s) {
    s.counter_proposals = 0;
    s.live = 0;
    s.live_by_proposer.clear();
    s.terminal_by_proposal.clear();
    for (const auto& [pid, p] : s.proposals) count_proposal(s, p);
    for (const auto& r : s.terminal_rejections) ++s.terminal_by_proposal[r.proposal_id];
}

// Reads what encode() wrote. parse_json_stored, not the untrusted parser: a state grown past that
// parser's size cap by accepted messages must still read back (issue #8 cases 1, 4).
Result<State, Error> decode(const std::string& bytes) {
    State s;
    if (bytes.empty()) return s;  // the reference treats empty state bytes as the initial state
    rapidjson::Document d;
    const Error bad(ErrorKind::InvalidModeState, "proposal mode state does not decode");
    if (!util::parse_json_stored(bytes, d) || !d.IsObject()) return fail(bad);
    auto proposals = d.FindMember("proposals");
    auto accepts = d.FindMember("accepts");
    auto terminal = d.FindMember("terminal_rejections");
    if (proposals == d.MemberEnd() || !proposals->value.IsObject() || accepts == d.MemberEnd() ||
        !accepts->value.IsObject() || terminal == d.MemberEnd() || !terminal->value.IsArray()) {
        return fail(bad);
    }
    for (const auto& m : proposals->value.GetObject()) {
        ProposalRecord p;
        std::string pid(m.name.GetString(), m.name.GetStringLength());
        // The phase rules look proposals up by key; apply() never files one under another id.
        if (!read_record(m.value, p) || p.proposal_id != pid) return fail(bad);
        s.proposals[std::move(pid)] = std::move(p);
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
    reindex(s);
    return s;
}

using ProposalState = StateOf<State, &encode>;
using Commit = std::function<void(ModeState&)>;

// Wraps a change to the typed state as the Outcome's commit step. The kernel hands the step the
// very object apply() validated against, which state_of() already found to be a ProposalState.
template <class F>
Commit commit_with(F change) {
    return [change = std::move(change)](ModeState& m) mutable { change(static_cast<ProposalState&>(m).value); };
}

// What one accepted message will change among the things MODE-PROP-9/10 read. apply() must
// compute the next phase without touching the state, which changes only in the commit step.
struct Pending {
    const ProposalRecord* added = nullptr;       // Proposal, CounterProposal
    const std::string* accept_sender = nullptr;  // Accept
    const std::string* accept_target = nullptr;
    bool terminal_reject = false;            // a terminal Reject
    const std::string* withdrawn = nullptr;  // Withdraw
};

// The state as it will be once a Pending is committed, for the reads the phase needs.
class After {
public:
    After(const State& s, const Pending& p) : s_(s), p_(p) {}

    // The proposal `sender` accepts, or nullptr.
    [[nodiscard]] const std::string* accept_of(const std::string& sender) const {
        if (p_.accept_sender != nullptr && *p_.accept_sender == sender) return p_.accept_target;
        auto it = s_.accepts.find(sender);
        if (it == s_.accepts.end() || (p_.withdrawn != nullptr && it->second == *p_.withdrawn)) return nullptr;
        return &it->second;
    }

    // The live (existing, not withdrawn) proposal `pid`, or nullptr.
    [[nodiscard]] const ProposalRecord* live(const std::string& pid) const {
        if (p_.added != nullptr && p_.added->proposal_id == pid) return p_.added;
        if (p_.withdrawn != nullptr && *p_.withdrawn == pid) return nullptr;
        auto it = s_.proposals.find(pid);
        return it != s_.proposals.end() && !it->second.withdrawn ? &it->second : nullptr;
    }

    [[nodiscard]] uint64_t live_count() const {
        return s_.live + (p_.added != nullptr ? 1 : 0) - (p_.withdrawn != nullptr ? 1 : 0);
    }

    [[nodiscard]] uint64_t live_by(const std::string& proposer) const {
        auto it = s_.live_by_proposer.find(proposer);
        uint64_t n = it == s_.live_by_proposer.end() ? 0 : it->second;
        if (p_.added != nullptr && p_.added->proposer == proposer) ++n;
        if (p_.withdrawn != nullptr && s_.proposals.at(*p_.withdrawn).proposer == proposer) --n;
        return n;
    }

    [[nodiscard]] bool terminally_rejected() const {
        if (p_.terminal_reject) return true;
        uint64_t n = s_.terminal_rejections.size();
        if (p_.withdrawn != nullptr) {
            auto it = s_.terminal_by_proposal.find(*p_.withdrawn);
            if (it != s_.terminal_by_proposal.end()) n -= it->second;
        }
        return n != 0;
    }

private:
    const State& s_;
    const Pending& p_;
};

// MODE-PROP-10: the acceptance criterion for one live proposal.
bool meets_criterion(const std::string& criterion, const SessionView& session, const After& s,
                     const ProposalRecord& p) {
    auto accepts_p = [&](const std::string& x) {
        const auto* a = s.accept_of(x);
        return a != nullptr && *a == p.proposal_id;
    };
    if (criterion == "counterparty") {  // every participant except the proposer (vacuous if alone, Q-33)
        return std::all_of(session.participants.begin(), session.participants.end(),
                           [&](const std::string& x) { return x == p.proposer || accepts_p(x); });
    }
    if (criterion == "initiator") return accepts_p(session.initiator);
    // "all_parties" and unknown values: every declared participant, the proposer included.
    return !session.participants.empty() &&
           std::all_of(session.participants.begin(), session.participants.end(), accepts_p);
}

// MODE-PROP-10: whether some live proposal meets the criterion. Each participant accepts at most
// one proposal, so only the proposals one or two participants accept can meet it; checking those
// keeps a message's cost independent of how many proposals the session holds.
bool converged(const std::string& criterion, const SessionView& session, const After& s) {
    auto meets_via = [&](const std::string& x) {
        const auto* a = s.accept_of(x);
        const auto* p = a != nullptr ? s.live(*a) : nullptr;
        return p != nullptr && meets_criterion(criterion, session, s, *p);
    };
    const auto& parts = session.participants;
    if (criterion == "initiator") return meets_via(session.initiator);
    if (criterion != "counterparty") return !parts.empty() && meets_via(parts.front());
    if (parts.empty()) return s.live_count() > 0;  // vacuous for every live proposal
    // A proposal not by parts[0] needs parts[0]'s accept; one by parts[0] needs the accept of any
    // other participant, or, if there is none, nothing at all.
    const auto& first = parts.front();
    if (meets_via(first)) return true;
    auto other = std::find_if(parts.begin(), parts.end(), [&](const std::string& x) { return x != first; });
    if (other == parts.end()) return s.live_by(first) > 0;
    return meets_via(*other);
}

// MODE-PROP-9: the phase is recomputed after every message.
Phase next_phase(const SessionView& session, const State& state, const Pending& pending) {
    const After s(state, pending);
    if (s.terminally_rejected()) return Phase::TerminalRejected;
    // MODE-PROP-10: policy acceptance.criterion, default all_parties (rules that fail to parse
    // fall back to the defaults, POL-SCH-8).
    const auto criterion = policy::proposal_rules_or_default(session.bound_policy()).acceptance_criterion;
    return converged(criterion, session, s) ? Phase::Converged : Phase::Negotiating;
}

// The commit step of a non-resolving message: its change, then the phase it leads to.
template <class F>
Outcome accepted(Phase next, F change) {
    return Outcome{commit_with([change = std::move(change), next](State& s) mutable {
                       change(s);
                       s.phase = next;  // MODE-PROP-9
                   }),
                   std::nullopt};
}  // NOLINT(clang-analyzer-cplusplus.NewDeleteLeaks): the analyzer loses the std::function it returns

void add_proposal(State& s, ProposalRecord r) {
    count_proposal(s, r);
    auto pid = r.proposal_id;
    s.proposals.emplace(std::move(pid), std::move(r));
}

// MODE-PROP-8: the proposal is withdrawn, its accepts and terminal rejections go, its rejections stay.
void withdraw(State& s, const std::string& pid) {
    auto& p = s.proposals.at(pid);
    p.withdrawn = true;
    --s.live;
    if (auto it = s.live_by_proposer.find(p.proposer); it != s.live_by_proposer.end() && --it->second == 0) {
        s.live_by_proposer.erase(it);
    }
    for (auto a = s.accepts.begin(); a != s.accepts.end();) {
        a = a->second == pid ? s.accepts.erase(a) : std::next(a);
    }
    if (auto it = s.terminal_by_proposal.find(pid); it != s.terminal_by_proposal.end()) {
        s.terminal_rejections.erase(std::remove_if(s.terminal_rejections.begin(), s.terminal_rejections.end(),
                                                   [&](const TerminalRejection& r) { return r.proposal_id == pid; }),
                                    s.terminal_rejections.end());
        s.terminal_by_proposal.erase(it);
    }
}

bool is_live(const State& s, const std::string& pid) {
    auto it = s.proposals.find(pid);
    return it != s.proposals.end() && !it->second.withdrawn;
}

}  // namespace

ProposalMode::ProposalMode(ModeDescriptor descriptor) : descriptor_(std::move(descriptor)) {}

ModeResult<std::unique_ptr<ModeState>> ProposalMode::on_session_start(const SessionView& session) const {
    // MODE-PROP-1: at least one participant; the initial state has every collection empty.
    if (session.participants.empty()) return fail(invalid("proposal mode needs participants"));
    return std::unique_ptr<ModeState>(std::make_unique<ProposalState>());
}

ModeResult<std::unique_ptr<ModeState>> ProposalMode::decode_state(const std::string& bytes) const {
    auto s = decode(bytes);
    if (!s) return fail(s.error());
    return std::unique_ptr<ModeState>(std::make_unique<ProposalState>(std::move(s.value())));
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
    auto held = state_of<ProposalState>(ctx);
    if (!held) return fail(held.error());
    const State& s = held.value()->value;
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
        const Phase next = next_phase(session, s, Pending{.added = &r});
        return accepted(next, [r = std::move(r)](State& st) mutable { add_proposal(st, std::move(r)); });
    }
    if (type == "CounterProposal") {
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
            if (max_rounds > 0 && s.counter_proposals >= max_rounds) {
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
        const Phase next = next_phase(session, s, Pending{.added = &r});
        return accepted(next, [r = std::move(r)](State& st) mutable { add_proposal(st, std::move(r)); });
    }
    if (type == "Accept") {
        pb::AcceptPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Accept payload does not decode"));
        // MODE-PROP-6: an existing Live proposal; replaces the sender's previous accept.
        if (!is_live(s, p.proposal_id())) return fail(invalid("Accept target is not a live proposal"));
        const Phase next =
            next_phase(session, s, Pending{.accept_sender = &ctx.sender, .accept_target = &p.proposal_id()});
        return accepted(next, [sender = ctx.sender, pid = p.proposal_id()](State& st) mutable {
            st.accepts[std::move(sender)] = std::move(pid);
        });
    }
    if (type == "Reject") {
        pb::RejectPayload p;
        if (!p.ParseFromString(ctx.payload)) return fail(invalid("Reject payload does not decode"));
        // MODE-PROP-7: an existing Live proposal; terminal = payload.terminal OR terminal_on_any_reject.
        if (!is_live(s, p.proposal_id())) return fail(invalid("Reject target is not a live proposal"));
        const bool terminal =
            p.terminal() || policy::proposal_rules_or_default(session.bound_policy()).rejection_terminal_on_any_reject;
        const Phase next = next_phase(session, s, Pending{.terminal_reject = terminal});
        return accepted(next, [r = Rejection{p.proposal_id(), ctx.sender, p.reason(), terminal}](State& st) mutable {
            if (r.terminal) {
                st.terminal_rejections.push_back({r.proposal_id, r.sender, r.reason});
                ++st.terminal_by_proposal[r.proposal_id];
            }
            st.rejections.push_back(std::move(r));
        });
    }
    if (type == "Withdraw") {
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
        const Phase next = next_phase(session, s, Pending{.withdrawn = &p.proposal_id()});
        return accepted(next, [pid = p.proposal_id()](State& st) { withdraw(st, pid); });
    }
    if (type == "Commitment") {
        // MODE-PROP-11: shared validation (MODE-CMT-*), phase recomputed, Converged or TerminalRejected.
        auto c = validate_commitment(session, ctx.payload);
        if (!c) return fail(c.error());
        const Phase phase = next_phase(session, s, Pending{});
        if (phase != Phase::Converged && phase != Phase::TerminalRejected) {
            return fail(invalid("proposal session is neither converged nor terminally rejected"));
        }
        // POL-PROP-1 (0.6) via the bound policy. Recomputing the phase changes no count it reads.
        auto deny = policy::evaluate_proposal_commitment(session.bound_policy(), s.counter_proposals,
                                                         c.value().outcome_positive());
        if (!deny.empty()) return fail(Error::denied(std::move(deny)));
        // LIFE-4: resolution = the raw commitment bytes.
        return Outcome{commit_with([](State& st) { st.phase = Phase::Committed; }), ctx.payload};
    }
    return fail(invalid("unknown proposal message type"));  // MODE-PROP-2
}

}  // namespace macp::modes
