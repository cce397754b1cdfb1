#include "modes/handoff.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "macp/modes/handoff/v1/handoff.pb.h"
#include "modes/commitment.hpp"
#include "modes/mode_support.hpp"
#include "util/json_write.hpp"
#include "policy/handoff_evaluator.hpp"
#include "util/json.hpp"

namespace macp::modes {

using protocol::Error;
using protocol::ErrorKind;

namespace {

namespace pb = macp::modes::handoff::v1;

// ---- State (MODE-HOFF-8) ----------------------------------------------------------------------

enum class Disposition { Offered, Accepted, Declined };

const char* disposition_name(Disposition d) {
    switch (d) {
        case Disposition::Offered: return "Offered";
        case Disposition::Accepted: return "Accepted";
        case Disposition::Declined: return "Declined";
    }
    return "Offered";
}

std::optional<Disposition> parse_disposition(const std::string& s) {
    if (s == "Offered") return Disposition::Offered;
    if (s == "Accepted") return Disposition::Accepted;
    if (s == "Declined") return Disposition::Declined;
    return std::nullopt;
}

struct Offer {
    std::string handoff_id;
    std::string target_participant;
    std::string scope;
    std::string reason;
    std::string offered_by;
    Disposition disposition = Disposition::Offered;
    std::optional<std::string> accepted_by;
    std::optional<std::string> declined_by;
    std::optional<std::string> outcome_reason;
    int64_t offered_at_ms = 0;
    // Proto 0.1.6 `HandoffAcceptPayload.implicit`: true when the offer became Accepted through the
    // policy's implicit-accept timeout rather than a HandoffAccept from the target.
    bool implicit = false;
};

struct ContextRecord {
    std::string content_type;
    std::string context;  // bytes
    std::string sender;
};

struct State {
    std::map<std::string, Offer> offers;  // key-sorted (MODE-GEN-2)
    std::map<std::string, std::vector<ContextRecord>> contexts;

    // Derived from `offers`, never encoded (rebuilt by reindex() on decode): the offer rules ask
    // "is any offer still Offered / already Accepted or Declined" on every message, and offers
    // pile up as they are declined, so scanning them would make a message cost grow with the
    // session's length (issue #8 case 5).
    std::set<std::string> outstanding;  // keys of the offers still Offered
    size_t accepted = 0;
    size_t declined = 0;
};

void reindex(State& s) {
    s.outstanding.clear();
    s.accepted = s.declined = 0;
    for (const auto& [id, o] : s.offers) {
        switch (o.disposition) {
            case Disposition::Offered: s.outstanding.insert(id); break;
            case Disposition::Accepted: ++s.accepted; break;
            case Disposition::Declined: ++s.declined; break;
        }
    }
}

// The only disposition change there is: an Offered offer gets answered. Keeps the index in step.
void settle(State& s, const std::string& key, Offer& o, Disposition d) {
    s.outstanding.erase(key);
    ++(d == Disposition::Accepted ? s.accepted : s.declined);
    o.disposition = d;
}

using util::json::put;
using util::json::put_value;
using util::json::Writer;

void put_opt(Writer& w, const char* key, const std::optional<std::string>& v) {
    w.Key(key);
    if (v) {
        put_value(w, *v);
    } else {
        w.Null();
    }
}

// The state JSON: offer fields in the MODE-HOFF-8 order (plus `implicit`), maps key-sorted, absent
// optionals as null, byte fields as base64 strings.
std::string encode_state(const State& s) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("offers");
    w.StartObject();
    for (const auto& [id, o] : s.offers) {
        w.Key(id.data(), static_cast<rapidjson::SizeType>(id.size()));
        w.StartObject();
        put(w, "handoff_id", o.handoff_id);
        put(w, "target_participant", o.target_participant);
        put(w, "scope", o.scope);
        put(w, "reason", o.reason);
        put(w, "offered_by", o.offered_by);
        w.Key("disposition");
        w.String(disposition_name(o.disposition));
        put_opt(w, "accepted_by", o.accepted_by);
        put_opt(w, "declined_by", o.declined_by);
        put_opt(w, "outcome_reason", o.outcome_reason);
        w.Key("offered_at_ms");
        w.Int64(o.offered_at_ms);
        w.Key("implicit");
        w.Bool(o.implicit);
        w.EndObject();
    }
    w.EndObject();
    w.Key("contexts");
    w.StartObject();
    for (const auto& [id, list] : s.contexts) {
        w.Key(id.data(), static_cast<rapidjson::SizeType>(id.size()));
        w.StartArray();
        for (const auto& c : list) {
            w.StartObject();
            put(w, "content_type", c.content_type);
            put(w, "context", util::base64_encode(c.context));
            put(w, "sender", c.sender);
            w.EndObject();
        }
        w.EndArray();
    }
    w.EndObject();
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

// Readers for the state JSON: an absent member keeps the default, a mistyped one fails.
bool get_str(const rapidjson::Value& o, const char* key, std::string& out) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd()) return true;
    if (!it->value.IsString()) return false;
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
}

bool get_opt(const rapidjson::Value& o, const char* key, std::optional<std::string>& out) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd() || it->value.IsNull()) return true;
    if (!it->value.IsString()) return false;
    out = std::string(it->value.GetString(), it->value.GetStringLength());
    return true;
}

using HandoffState = StateOf<State, &encode_state>;

Result<State, Error> decode_state_bytes(const std::string& bytes) {
    State s;
    if (bytes.empty()) return s;  // a session without state yet starts from the initial state
    rapidjson::Document d;
    // Bytes this runtime wrote: no size cap, a state it accepted must read back (issue #8 case 1).
    if (!util::parse_json_stored(bytes, d) || !d.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
    bool bad = false;
    auto offers = d.FindMember("offers");
    if (offers != d.MemberEnd()) {
        if (!offers->value.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
        for (const auto& m : offers->value.GetObject()) {
            if (!m.value.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
            const auto& v = m.value;
            Offer o;
            std::string disposition = "Offered";
            bad |= !get_str(v, "handoff_id", o.handoff_id) || !get_str(v, "target_participant", o.target_participant) ||
                   !get_str(v, "scope", o.scope) || !get_str(v, "reason", o.reason) ||
                   !get_str(v, "offered_by", o.offered_by) || !get_str(v, "disposition", disposition) ||
                   !get_opt(v, "accepted_by", o.accepted_by) || !get_opt(v, "declined_by", o.declined_by) ||
                   !get_opt(v, "outcome_reason", o.outcome_reason);
            auto parsed = parse_disposition(disposition);
            if (!parsed) return fail(Error(ErrorKind::InvalidModeState));
            o.disposition = *parsed;
            auto at = v.FindMember("offered_at_ms");  // absent in legacy states: 0
            if (at != v.MemberEnd()) {
                if (!at->value.IsInt64()) return fail(Error(ErrorKind::InvalidModeState));
                o.offered_at_ms = at->value.GetInt64();
            }
            auto imp = v.FindMember("implicit");
            if (imp != v.MemberEnd()) {
                if (!imp->value.IsBool()) return fail(Error(ErrorKind::InvalidModeState));
                o.implicit = imp->value.GetBool();
            }
            s.offers.emplace(std::string(m.name.GetString(), m.name.GetStringLength()), std::move(o));
        }
    }
    auto contexts = d.FindMember("contexts");
    if (contexts != d.MemberEnd()) {
        if (!contexts->value.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
        for (const auto& m : contexts->value.GetObject()) {
            if (!m.value.IsArray()) return fail(Error(ErrorKind::InvalidModeState));
            auto& list = s.contexts[std::string(m.name.GetString(), m.name.GetStringLength())];
            for (const auto& v : m.value.GetArray()) {
                if (!v.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
                ContextRecord c;
                std::string text;
                bad |= !get_str(v, "content_type", c.content_type) || !get_str(v, "context", text) ||
                       !util::base64_decode(text, c.context) || !get_str(v, "sender", c.sender);
                list.push_back(std::move(c));
            }
        }
    }
    if (bad) return fail(Error(ErrorKind::InvalidModeState));
    reindex(s);
    return s;
}

// ---- Rules ------------------------------------------------------------------------------------

HandoffState& handoff_state(ModeState& st) {
    return static_cast<HandoffState&>(st);  // the kernel commits onto the state apply() validated
}

ModeResult<Outcome> on_offer(const MessageContext& ctx, const State& s) {
    // MODE-HOFF-2: authorize() already refused non-initiators; repeated here so apply() is safe alone.
    if (ctx.sender != ctx.session.initiator) return fail(Error(ErrorKind::Forbidden));
    auto p = decode_payload<pb::HandoffOfferPayload>(ctx.payload, "handoff payload does not decode");
    if (!p) return fail(p.error());
    // MODE-HOFF-3 (RFC-MACP-0010 §5.5: at most one outstanding offer, none after an accept).
    if (p->handoff_id().empty()) return fail(invalid("handoff_id is empty"));
    if (p->target_participant().empty()) return fail(invalid("target_participant is empty"));
    if (s.offers.count(p->handoff_id()) != 0) return fail(invalid("handoff_id already used"));
    if (!ctx.session.is_participant(p->target_participant())) {
        return fail(invalid("target_participant is not a declared participant"));
    }
    if (p->target_participant() == ctx.sender) return fail(invalid("an owner cannot hand off to itself"));
    if (!s.outstanding.empty()) return fail(invalid("another offer is still outstanding"));
    if (s.accepted != 0) return fail(invalid("an offer was already accepted"));
    Offer o;
    o.handoff_id = p->handoff_id();
    o.target_participant = p->target_participant();
    o.scope = p->scope();
    o.reason = p->reason();
    o.offered_by = ctx.sender;  // MODE-HOFF-4
    o.disposition = Disposition::Offered;
    // MODE-HOFF-4/9 (0.6): the runtime acceptance clock, which a client cannot back-date. Rev 0
    // sessions used the envelope timestamp in the reference; the mode only sees the acceptance clock.
    o.offered_at_ms = ctx.accepted_at_ms;
    return Outcome{[o = std::move(o)](ModeState& st) {
                       auto& v = handoff_state(st).value;
                       v.outstanding.insert(o.handoff_id);
                       v.offers.emplace(o.handoff_id, o);
                   },
                   std::nullopt};
}

ModeResult<Outcome> on_context(const MessageContext& ctx, const State& s) {
    auto p = decode_payload<pb::HandoffContextPayload>(ctx.payload, "handoff payload does not decode");
    if (!p) return fail(p.error());
    // MODE-HOFF-5: the offer must exist, only its offerer may attach context, in any disposition
    // (RFC-MACP-0010 §2.1: late context is supplementary documentation).
    auto it = s.offers.find(p->handoff_id());
    if (it == s.offers.end()) return fail(invalid("unknown handoff_id"));
    if (it->second.offered_by != ctx.sender) return fail(Error(ErrorKind::Forbidden));
    return Outcome{[id = p->handoff_id(), c = ContextRecord{p->content_type(), p->context(), ctx.sender}](
                       ModeState& st) { handoff_state(st).value.contexts[id].push_back(c); },
                   std::nullopt};
}

// MODE-HOFF-6, shared by accept and decline: fails unless the target may still answer the offer.
Result<void, Error> check_answerable(const MessageContext& ctx, const State& s, const std::string& handoff_id,
                                     const std::string& claimed_by) {
    auto it = s.offers.find(handoff_id);
    if (it == s.offers.end()) return fail(invalid("unknown handoff_id"));
    if (it->second.target_participant != ctx.sender) return fail(Error(ErrorKind::Forbidden));
    if (!claimed_by.empty() && claimed_by != ctx.sender)
        return fail(invalid("accepted_by/declined_by differs from sender"));
    if (it->second.disposition != Disposition::Offered) return fail(invalid("the offer was already answered"));
    return {};
}

// The commit step of an accept or decline: `sender` answers the Offered offer `handoff_id`.
std::function<void(ModeState&)> answer(std::string handoff_id, Disposition d, std::string sender, std::string reason) {
    return
        [handoff_id = std::move(handoff_id), d, sender = std::move(sender), reason = std::move(reason)](ModeState& st) {
            auto& v = handoff_state(st).value;
            auto& o = v.offers.at(handoff_id);  // apply() checked it exists and is still Offered
            settle(v, handoff_id, o, d);
            (d == Disposition::Accepted ? o.accepted_by : o.declined_by) = sender;
            o.outcome_reason = reason;
            if (d == Disposition::Accepted) o.implicit = false;
        };
}

ModeResult<Outcome> on_accept(const MessageContext& ctx, const State& s) {
    auto p = decode_payload<pb::HandoffAcceptPayload>(ctx.payload, "handoff payload does not decode");
    if (!p) return fail(p.error());
    // Proto 0.1.6: `implicit` is reserved for runtime-synthesized accepts; a client-sent accept
    // carrying true is refused. This runtime synthesizes none (the timeout is applied lazily at
    // Commitment, MODE-HOFF-7), so every accept reaching the mode is client-sent.
    if (p->implicit()) return fail(invalid("a client HandoffAccept must not set implicit"));
    auto ok = check_answerable(ctx, s, p->handoff_id(), p->accepted_by());
    if (!ok) return fail(ok.error());
    return Outcome{answer(p->handoff_id(), Disposition::Accepted, ctx.sender, p->reason()), std::nullopt};
}  // NOLINT(clang-analyzer-cplusplus.NewDeleteLeaks): the analyzer loses the std::function it returns

ModeResult<Outcome> on_decline(const MessageContext& ctx, const State& s) {
    auto p = decode_payload<pb::HandoffDeclinePayload>(ctx.payload, "handoff payload does not decode");
    if (!p) return fail(p.error());
    auto ok = check_answerable(ctx, s, p->handoff_id(), p->declined_by());
    if (!ok) return fail(ok.error());
    return Outcome{answer(p->handoff_id(), Disposition::Declined, ctx.sender, p->reason()), std::nullopt};
}  // NOLINT(clang-analyzer-cplusplus.NewDeleteLeaks): the analyzer loses the std::function it returns

// MODE-HOFF-7 / MODE-HOFF-9: an offer still Offered becomes Accepted by its target once `timeout`
// ms of acceptance clock have passed since it was offered; a legacy offer without a clock never does.
bool timed_out(const Offer& o, uint64_t timeout, int64_t now_ms) {
    if (o.offered_at_ms <= 0 || now_ms < o.offered_at_ms) return false;
    return static_cast<uint64_t>(now_ms - o.offered_at_ms) >= timeout;
}

// Only a Commitment may find an offer timed out, and it resolves the session, so the implicit
// accepts are judged at that message's acceptance clock and persisted by its commit (replay passes
// the recorded clock again, MSG-4).
void apply_implicit_accepts(State& s, uint64_t timeout, int64_t now_ms) {
    const std::vector<std::string> open(s.outstanding.begin(), s.outstanding.end());
    for (const auto& id : open) {
        auto& o = s.offers.at(id);
        if (!timed_out(o, timeout, now_ms)) continue;
        settle(s, id, o, Disposition::Accepted);
        o.accepted_by = o.target_participant;
        o.outcome_reason = std::string("implicit accept (timeout)");
        o.implicit = true;
    }
}

bool any_timed_out(const State& s, uint64_t timeout, int64_t now_ms) {
    for (const auto& id : s.outstanding) {
        if (timed_out(s.offers.at(id), timeout, now_ms)) return true;
    }
    return false;
}

}  // namespace

HandoffMode::HandoffMode(ModeDescriptor descriptor) : descriptor_(std::move(descriptor)) {}

ModeResult<std::unique_ptr<ModeState>> HandoffMode::on_session_start(const SessionView& session) const {
    // MODE-HOFF-1 (unchanged in 0.6): ≥2 participants, the initiator (the current owner) among them.
    if (session.participants.size() < 2) {
        return fail(Error(ErrorKind::InvalidPayload, "handoff mode needs at least two participants"));
    }
    if (!session.is_participant(session.initiator)) {
        return fail(Error(ErrorKind::InvalidPayload, "the handoff initiator must be a participant"));
    }
    return std::unique_ptr<ModeState>(std::make_unique<HandoffState>());
}

ModeResult<std::unique_ptr<ModeState>> HandoffMode::decode_state(const std::string& bytes) const {
    auto s = decode_state_bytes(bytes);
    if (!s) return fail(s.error());
    return std::unique_ptr<ModeState>(std::make_unique<HandoffState>(std::move(s.value())));
}

ModeResult<bool> HandoffMode::authorize(const MessageContext& ctx) const {
    // MODE-HOFF-2
    if (ctx.message_type == "Commitment") {  // POL-AUTH-1..3
        return authorize_commitment(ctx);
    }
    if (ctx.message_type == "HandoffOffer") {
        if (ctx.sender != ctx.session.initiator) return fail(Error(ErrorKind::Forbidden));
        return true;
    }
    if (!ctx.session.is_participant(ctx.sender)) return fail(Error(ErrorKind::Forbidden));
    return true;
}

ModeResult<Outcome> HandoffMode::apply(const MessageContext& ctx) const {
    auto st = state_of<HandoffState>(ctx);
    if (!st) return fail(st.error());
    const State& s = (*st)->value;
    const auto& type = ctx.message_type;
    if (type == "Commitment") {
        // MODE-HOFF-7: shared validation, the lazy implicit accept, readiness, then the policy.
        auto c = validate_commitment(ctx.session, ctx.payload);
        if (!c) return fail(c.error());
        auto rules = policy::handoff_rules_or_default(ctx.session.bound_policy());
        const uint64_t timeout = rules.implicit_accept_timeout_ms;
        const int64_t now_ms = ctx.accepted_at_ms;
        // Readiness as if the timed-out offers were already Accepted (MODE-HOFF-9), without
        // touching the state: the accepts themselves happen in the commit.
        const bool implicit = timeout > 0 && any_timed_out(s, timeout, now_ms);
        if (s.accepted == 0 && s.declined == 0 && !implicit) {
            return fail(invalid("no accepted or declined offer yet"));
        }
        auto deny = policy::evaluate_handoff_commitment(ctx.session.bound_policy(), c->outcome_positive());
        if (!deny.empty()) return fail(Error::denied(std::move(deny)));  // POL-EVAL-2
        std::function<void(ModeState&)> commit;
        if (implicit) {
            commit = [timeout, now_ms](ModeState& m) {
                apply_implicit_accepts(handoff_state(m).value, timeout, now_ms);  // MODE-HOFF-9
            };
        }
        return Outcome{std::move(commit), ctx.payload};  // LIFE-4: resolution = the raw commitment bytes
    }
    // MODE-GEN-5: only a Commitment resolves.
    if (type == "HandoffOffer") return on_offer(ctx, s);
    if (type == "HandoffContext") return on_context(ctx, s);
    if (type == "HandoffAccept") return on_accept(ctx, s);
    if (type == "HandoffDecline") return on_decline(ctx, s);
    return fail(invalid("unknown handoff message type"));
}

}  // namespace macp::modes
